/**
 * `oidc-gw demo`: the whole chain on loopback, driven through the real CLI
 * (each step runs the `oidc-gw` command a user would type, shown on stderr):
 * dev IdP -> client-credentials token -> decode -> gateway -> echo upstream.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from '../context.js';
import { GwError } from '../core/errors/index.js';

export interface DemoOptions {
  readonly keep: boolean;
}

interface StepResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const START_TIMEOUT_MS = 30_000;
const STEP_TIMEOUT_MS = 30_000;

/** The identity headers the gateway forwards in the demo. */
const FORWARDED = { 'X-User': 'sub', 'X-Client-Id': 'client_id', 'X-Scope': 'scope' } as const;

function shortToken(token: string): string {
  return token.length > 16 ? `${token.slice(0, 12)}…` : token;
}

/** Changes the payload of a JWS and keeps its signature: what a forger would send. */
export function tamper(token: string): string {
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(Buffer.from(p ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  payload['sub'] = 'admin';
  payload['scope'] = 'read write admin';
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}

export async function runDemo(ctx: Context, options: DemoOptions): Promise<number> {
  const self = ctx.self;
  if (!self) throw new GwError('ERR_INTERNAL', 'demo needs to know how to run oidc-gw');
  const out = ctx.out;
  const s = out.style;
  const children = new Set<ChildProcess>();
  const servers: Server[] = [];
  const home = await mkdtemp(join(tmpdir(), 'oidc-gw-demo-'));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.env)) {
    if (v !== undefined && !k.startsWith('OIDC_GW_') && !/^(HTTPS?|ALL)_PROXY$/i.test(k))
      env[k] = v;
  }
  // The demo's token cache and config are its own: the user's are never touched.
  env['OIDC_GW_CACHE_DIR'] = join(home, 'cache');
  env['OIDC_GW_CONFIG'] = join(home, 'config.json');
  env['NO_COLOR'] = '1';
  env['NO_PROXY'] = '127.0.0.1,localhost';

  const say = (text = '') => {
    if (!out.json) out.info(text);
  };
  const shown = (args: readonly string[]) =>
    `$ oidc-gw ${args.map((a) => (/^[\w@%+=:,./…-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')}`;

  /** Runs oidc-gw ARGS to completion (bounded), capturing its output. */
  const run = (args: readonly string[]): Promise<Ran> =>
    new Promise((resolve, reject) => {
      const child = spawn(self.execPath, [self.script, ...args], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS);
      child.on('error', (e) => {
        clearTimeout(timer);
        children.delete(child);
        reject(e);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        children.delete(child);
        resolve({ code, stdout, stderr });
      });
    });

  /** Starts a long-running oidc-gw ARGS and waits until `ready` matches its output. */
  const startServer = (
    args: readonly string[],
    ready: (stdout: string, stderr: string) => string | undefined,
  ) =>
    new Promise<{ child: ChildProcess; value: string; stderr: () => string }>((resolve, reject) => {
      const child = spawn(self.execPath, [self.script, ...args], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(child);
      let stdout = '';
      let stderr = '';
      let done = false;
      const check = () => {
        if (done) return;
        const value = ready(stdout, stderr);
        if (value !== undefined) {
          done = true;
          clearTimeout(timer);
          resolve({ child, value, stderr: () => stderr });
        }
      };
      child.stdout?.on('data', (d: Buffer) => {
        stdout += d.toString();
        check();
      });
      child.stderr?.on('data', (d: Buffer) => {
        // Keep only the start of the log: enough to explain a failure, bounded for --keep.
        if (stderr.length < 64 * 1024) stderr += d.toString();
        check();
      });
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        reject(
          new GwError(
            'ERR_INTERNAL',
            `oidc-gw ${args[0]} did not start within ${START_TIMEOUT_MS / 1000} s: ${stderr.trim().split('\n').pop() ?? ''}`,
          ),
        );
      }, START_TIMEOUT_MS);
      child.on('exit', (code) => {
        children.delete(child);
        if (done) return;
        done = true;
        clearTimeout(timer);
        reject(
          new GwError(
            'ERR_INTERNAL',
            `oidc-gw ${args[0]} exited (${code}) before it was ready: ${stderr.trim().split('\n').pop() ?? ''}`,
          ),
        );
      });
    });

  const stopAll = async () => {
    for (const server of servers) server.close();
    await Promise.all(
      [...children].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill('SIGKILL'), 12_000);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
    await rm(home, { recursive: true, force: true });
  };

  const steps: StepResult[] = [];
  let upstreamRequests = 0;
  const record = (name: string, ok: boolean, detail: string) => {
    steps.push({ name, ok, detail });
    say(`  ${ok ? s.green('✓') : s.red('✗')} ${detail}`);
  };

  // The service client's secret: hidden in the walk-through, printed by --keep (a dev IdP's).
  const secret = randomBytes(18).toString('base64url');
  let interrupted = false;
  const offInterrupt = ctx.onShutdown(() => {
    interrupted = true;
    void stopAll();
  });

  try {
    say(s.bold('oidc-gw demo: IdP -> token -> gateway -> API, all on 127.0.0.1'));
    say();

    // 1. The IdP.
    say(
      s.bold('1. Start a local OpenID provider') +
        s.dim(' (oidc-provider, the certified implementation)'),
    );
    const idpArgs = ['idp', '--port', '0', '--json', '--client-secret', secret];
    say(s.dim(shown(['idp', '--port', '0', '--json', '--client-secret', '…'])));
    const idp = await startServer(idpArgs, (stdout) => {
      try {
        return JSON.stringify(JSON.parse(stdout));
      } catch {
        return undefined;
      }
    });
    const info = JSON.parse(idp.value) as { issuer: string; audience: string };
    const issuer = info.issuer;
    const audience = info.audience;
    record('idp', true, `issuer ${issuer}, API audience ${audience}`);

    // 2. The upstream.
    say();
    say(s.bold('2. Start an echo API') + s.dim(' (answers with the request it received)'));
    const upstream = createServer((req, res) => {
      upstreamRequests++;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (k === 'authorization') headers[k] = `${String(v).split(' ')[0]} …`;
        else if (typeof v === 'string') headers[k] = v;
      }
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify({ method: req.method, path: req.url, headers }, null, 2)}\n`);
      });
    });
    servers.push(upstream);
    await new Promise<void>((resolve, reject) => {
      upstream.once('error', reject);
      upstream.listen(0, '127.0.0.1', resolve);
    });
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    record('upstream', true, `echo API on ${upstreamUrl}`);

    // 3. The gateway.
    say();
    say(
      s.bold('3. Start oidc-gw serve in front of it') +
        s.dim(' (verifies every bearer JWT before forwarding)'),
    );
    const serveArgs = [
      'serve',
      '--upstream',
      upstreamUrl,
      '--port',
      '0',
      '--issuer',
      issuer,
      '--audience',
      audience,
      '--log-format',
      'json',
    ];
    for (const [header, claim] of Object.entries(FORWARDED))
      serveArgs.push('--forward-claim', `${header}=${claim}`);
    say(s.dim(shown(serveArgs)));
    const gw = await startServer(
      serveArgs,
      (_stdout, stderr) => /listening on (http:\/\/[^\s"]+)/.exec(stderr)?.[1],
    );
    const gateway = gw.value.replace(/\/$/, '');
    record('serve', true, `gateway on ${gateway}`);

    // 4. A token.
    say();
    say(
      s.bold('4. Get an access token') + s.dim(' (client credentials, as a backend service would)'),
    );
    const tokenArgs = [
      'token',
      '--client-credentials',
      '--issuer',
      issuer,
      '--client-id',
      'oidc-gw-service',
      '--client-secret',
      secret,
      '--audience',
      audience,
    ];
    say(s.dim(shown([...tokenArgs.slice(0, -3), '…', '--audience', audience])));
    const tokenRun = await run(tokenArgs);
    const token = tokenRun.stdout.trim();
    const tokenOk = tokenRun.code === 0 && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);
    record(
      'token',
      tokenOk,
      tokenOk
        ? `a JWT: ${shortToken(token)} (${token.length} characters)`
        : `failed (exit ${tokenRun.code}): ${tokenRun.stderr.trim()}`,
    );
    if (!tokenOk) throw new DemoStop();

    // 5. Decode.
    say();
    say(
      s.bold('5. Decode it as a gateway would') +
        s.dim(' (signature against the IdP keys, issuer, audience, expiry)'),
    );
    const decodeArgs = [
      'decode',
      token,
      '--verify',
      '--issuer',
      issuer,
      '--audience',
      audience,
      '--json',
    ];
    say(s.dim(shown(['decode', shortToken(token), ...decodeArgs.slice(2, -1)])));
    const decoded = await run(decodeArgs);
    let decodeOk = false;
    let decodeDetail = `failed (exit ${decoded.code}): ${decoded.stderr.trim()}`;
    try {
      const report = JSON.parse(decoded.stdout) as {
        verified: boolean | null;
        payload: Record<string, unknown>;
        checks: Array<{ name: string; status: string; message: string }>;
      };
      const p = report.payload;
      const failed = report.checks.filter((c) => c.status === 'fail');
      decodeOk = decoded.code === 0 && report.verified === true && failed.length === 0;
      const exp =
        typeof p['exp'] === 'number'
          ? new Date(p['exp'] * 1000).toISOString().replace('.000', '')
          : '?';
      decodeDetail = decodeOk
        ? `signature verified; iss ${String(p['iss'])}, aud ${JSON.stringify(p['aud'])}, sub ${String(p['sub'])}, expires ${exp}`
        : `checks failed: ${failed.map((c) => c.message).join('; ') || decodeDetail}`;
    } catch {
      /* decodeDetail says what happened */
    }
    record('decode', decodeOk, decodeDetail);

    // 6. A call through the gateway.
    const call = async (
      name: string,
      explain: string,
      args: string[],
      expect: number,
      check: (r: {
        status: number;
        head: string;
        body: string;
        reachedUpstream: boolean;
      }) => string | undefined,
    ) => {
      say();
      say(s.bold(explain));
      const callArgs = ['call', '-i', '-s', ...args.slice(1)];
      say(s.dim(shown(callArgs.map((a) => (a === token || a.length > 200 ? shortToken(a) : a)))));
      const seenBefore = upstreamRequests;
      const r = await run(callArgs);
      const reachedUpstream = upstreamRequests > seenBefore;
      const split =
        r.stdout.indexOf('\r\n\r\n') >= 0 ? r.stdout.indexOf('\r\n\r\n') : r.stdout.indexOf('\n\n');
      const head = split >= 0 ? r.stdout.slice(0, split) : r.stdout;
      const body = split >= 0 ? r.stdout.slice(split).trim() : '';
      const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(head)?.[1] ?? 0);
      let detail: string | undefined;
      try {
        detail = status === expect ? check({ status, head, body, reachedUpstream }) : undefined;
      } catch {
        detail = undefined; // a body that is not the expected JSON
      }
      const ok = status === expect && detail !== undefined;
      record(
        name,
        ok,
        ok
          ? `${status}: ${detail}`
          : `expected ${expect}, got ${status || `exit ${r.code}`}: ${(body || r.stderr).trim().split('\n')[0] ?? ''}`,
      );
    };

    const url = `${gateway}/orders?limit=1`;
    await call(
      'call',
      '6. Call the API through the gateway with the token',
      ['call', url, '--token', token],
      200,
      ({ body }) => {
        const echoed = JSON.parse(body) as { headers: Record<string, string> };
        const user = echoed.headers['x-user'];
        if (!user) return undefined;
        return `the API saw X-User: ${user}, X-Client-Id: ${echoed.headers['x-client-id'] ?? '-'}, X-Scope: ${echoed.headers['x-scope'] ?? '-'} (set by the gateway from the verified token)`;
      },
    );

    const forged = tamper(token);
    await call(
      'tampered',
      '7. Call with a tampered token (sub changed to "admin", signature kept)',
      ['call', url, '--token', forged],
      401,
      ({ head, body, reachedUpstream }) => {
        const reason = (JSON.parse(body) as { error_description?: string }).error_description;
        if (reachedUpstream || !/www-authenticate: Bearer/i.test(head) || !reason) return undefined;
        return `refused: ${reason}; the API never saw the request`;
      },
    );

    await call(
      'no-token',
      '8. Call without a token',
      ['call', url, '--no-auth'],
      401,
      ({ body, reachedUpstream }) => {
        const parsed = JSON.parse(body) as { error?: string; error_description?: string };
        if (reachedUpstream || !parsed.error) return undefined;
        return `refused: ${parsed.error_description ?? parsed.error}; the API never saw the request`;
      },
    );
  } catch (error) {
    if (!(error instanceof DemoStop)) {
      if (interrupted) return 130;
      record('error', false, error instanceof Error ? error.message : String(error));
    }
  }

  const ok = steps.every((step) => step.ok);
  say();
  say(
    ok
      ? s.green(s.bold('Every step behaved as expected.'))
      : s.red(s.bold('Some steps did not behave as expected.')),
  );
  if (out.json) out.printJson({ ok, steps });

  if (options.keep && ok && !interrupted) {
    offInterrupt();
    await keepRunning(ctx, steps, secret, stopAll);
    return 0;
  }
  offInterrupt();
  await stopAll();
  return interrupted ? 130 : ok ? 0 : 1;
}

class DemoStop extends Error {}

/** The profile the printed commands use, so that the user's own cached tokens are left alone. */
export const DEMO_PROFILE = 'demo';

/**
 * What `demo --keep` prints: where everything runs, the service client's
 * secret (a dev IdP's, made for this run) and commands that work as printed,
 * in the order to try them. The login commands ask for the API audience, so
 * their access tokens are JWTs the gateway verifies.
 */
export function keepLines(
  style: Context['out']['style'],
  where: { issuer: string; audience: string; gateway: string; api: string; secret: string },
): string[] {
  const { issuer, audience, gateway, api, secret } = where;
  const p = `--profile ${DEMO_PROFILE}`;
  return [
    '',
    style.bold('Still running (Ctrl-C stops everything):'),
    `  IdP      ${issuer}   users alice:alice; API audience ${audience}`,
    `           clients oidc-gw-cli (public: login, login --device) and`,
    `           oidc-gw-service (client credentials; secret ${secret})`,
    `  gateway  ${gateway}`,
    `  API      ${api}`,
    '',
    style.bold(
      `Try, in another terminal (profile "${DEMO_PROFILE}": your own cached tokens are left alone):`,
    ),
    `  oidc-gw discover ${issuer}`,
    `  oidc-gw token --client-credentials --issuer ${issuer} --client-id oidc-gw-service --client-secret ${secret} --audience ${audience} ${p}`,
    `  oidc-gw login --issuer ${issuer} --client-id oidc-gw-cli --audience ${audience} ${p}`,
    `  oidc-gw login --device --issuer ${issuer} --client-id oidc-gw-cli --audience ${audience} ${p}`,
    `  oidc-gw decode --issuer ${issuer} --audience ${audience} --verify ${p}`,
    `  oidc-gw call ${gateway}/hello ${p}`,
    '',
  ];
}

async function keepRunning(
  ctx: Context,
  steps: readonly StepResult[],
  secret: string,
  stopAll: () => Promise<void>,
): Promise<void> {
  const detail = (name: string) => steps.find((step) => step.name === name)?.detail ?? '';
  const lines = keepLines(ctx.out.style, {
    issuer: /issuer (\S+),/.exec(detail('idp'))?.[1] ?? '',
    audience: /audience (\S+)/.exec(detail('idp'))?.[1] ?? '',
    gateway: /gateway on (\S+)/.exec(detail('serve'))?.[1] ?? '',
    api: /echo API on (\S+)/.exec(detail('upstream'))?.[1] ?? '',
    secret,
  });
  ctx.out.info(lines.join('\n'));
  await new Promise<void>((resolve) => {
    const off = ctx.onShutdown(() => {
      off();
      resolve();
    });
  });
  ctx.out.info('stopping the IdP, the gateway and the API…');
  await stopAll();
}
