/** `oidc-gw demo` end to end: every step's outcome, exit code, and nothing left running. */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runCli, tempHome } from '../helpers/cli.js';

const home = tempHome();
afterAll(() => home.cleanup());

function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

interface Step {
  name: string;
  ok: boolean;
  detail: string;
}

function urlsOf(steps: Step[]): string[] {
  return steps.flatMap((step) =>
    [...step.detail.matchAll(/http:\/\/127\.0\.0\.1:\d+/g)].map((m) => m[0]),
  );
}

describe('demo', () => {
  it('runs the whole chain, explains each step, exits 0 and stops everything', async () => {
    const r = await runCli(['demo', '--json'], { env: home.env, timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { ok: boolean; steps: Step[] };
    expect(result.ok).toBe(true);
    expect(result.steps.map((s) => [s.name, s.ok])).toEqual([
      ['idp', true],
      ['upstream', true],
      ['serve', true],
      ['token', true],
      ['decode', true],
      ['call', true],
      ['tampered', true],
      ['no-token', true],
    ]);
    const detail = Object.fromEntries(result.steps.map((s) => [s.name, s.detail]));
    expect(detail['decode']).toMatch(
      /signature verified; iss http:\/\/127\.0\.0\.1:\d+, aud "https:\/\/api\.local\.test\/"/,
    );
    expect(detail['call']).toMatch(/^200: the API saw X-User: oidc-gw-service/);
    expect(detail['tampered']).toMatch(
      /^401: refused: .*signature.*; the API never saw the request$/,
    );
    expect(detail['no-token']).toMatch(
      /^401: refused: missing bearer token; the API never saw the request$/,
    );
    const urls = urlsOf(result.steps);
    expect(urls.length).toBeGreaterThanOrEqual(3);
    for (const url of urls) expect(await refused(url), `${url} still answers`).toBe(true);
  }, 120_000);

  it('prints a readable walk-through on stderr without --json', async () => {
    const r = await runCli(['demo'], { env: home.env, timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /\$ oidc-gw token --client-credentials --issuer http:\/\/127\.0\.0\.1:\d+ --client-id oidc-gw-service --client-secret …/,
    );
    expect(r.stderr).toMatch(/Every step behaved as expected\./);
    expect(r.stderr).not.toMatch(/✗/);
  }, 120_000);

  it('--keep leaves everything running until SIGTERM, then stops it all and exits 0', async () => {
    const child = spawn(process.execPath, [BIN, 'demo', '--keep'], {
      env: home.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "Still running" within 90 s: ${stderr}`)),
        90_000,
      );
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('oidc-gw call http')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    expect(stderr).toMatch(
      /oidc-gw login --issuer http:\/\/127\.0\.0\.1:\d+ --client-id oidc-gw-cli/,
    );
    const gateway = /gateway\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1];
    const issuer = /IdP\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1];
    expect(gateway && issuer).toBeTruthy();
    // The gateway still answers, and still refuses a request without a token.
    const response = await fetch(`${gateway}/x`);
    expect(response.status).toBe(401);
    expect((await fetch(`${issuer}/.well-known/openid-configuration`)).status).toBe(200);
    const exit = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(await refused(gateway!)).toBe(true);
    expect(await refused(issuer!)).toBe(true);
  }, 120_000);
});
