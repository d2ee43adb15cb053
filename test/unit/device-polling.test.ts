/**
 * The device grant's polling (RFC 8628 §3.4-3.5) with an injected clock:
 * the waits are checked exactly, without real time passing. The token
 * endpoint is a real HTTP server on 127.0.0.1 that answers from a script.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { buildClient, type Client } from '../../src/core/client.js';
import {
  pollDeviceToken,
  startDeviceAuthorization,
  type DeviceAuthorization,
  type PollOptions,
} from '../../src/core/flows/device-code.js';
import type { DiscoveredIssuer } from '../../src/core/issuer.js';

type Answer = { status: number; body: Record<string, unknown> } | 'reset';

let server: Server;
let issuer: string;
let script: Answer[] = [];
let polls: URLSearchParams[] = [];

const pending = (): Answer => ({ status: 400, body: { error: 'authorization_pending' } });
const slowDown = (): Answer => ({ status: 400, body: { error: 'slow_down' } });
const tokens = (): Answer => ({
  status: 200,
  body: {
    access_token: 'at-1',
    token_type: 'Bearer',
    expires_in: 3600,
    refresh_token: 'rt-1',
    scope: 'read',
  },
});

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      let answer: Answer;
      if (req.url === '/device') {
        answer = {
          status: 200,
          body: {
            device_code: 'dev-code-1',
            user_code: 'WDJB-MJHT',
            verification_uri: `${issuer}/activate`,
            verification_uri_complete: `${issuer}/activate?user_code=WDJB-MJHT`,
            expires_in: 1800,
            interval: 5,
          },
        };
      } else {
        polls.push(form);
        answer = script.shift() ?? {
          status: 500,
          body: { error: 'server_error', error_description: 'script ran out' },
        };
      }
      if (answer === 'reset') {
        req.socket.destroy();
        return;
      }
      res.writeHead(answer.status, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
      });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  script = [];
  polls = [];
});

function client(): Client {
  const discovered: DiscoveredIssuer = {
    issuer,
    metadata: {
      issuer,
      token_endpoint: `${issuer}/token`,
      device_authorization_endpoint: `${issuer}/device`,
    },
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    source: 'openid-configuration',
    notes: [],
    options: { timeoutSeconds: 5 },
  };
  return buildClient(discovered, { clientId: 'tv-app' });
}

/** A clock that only moves when the code under test sleeps. */
function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  const waits: number[] = [];
  const options: Pick<PollOptions, 'now' | 'sleep'> = {
    now: () => now,
    sleep: async (ms) => {
      waits.push(ms / 1000);
      now += ms;
    },
  };
  return { options, waits, advance: (ms: number) => (now += ms) };
}

function auth(overrides: Partial<DeviceAuthorization> = {}): DeviceAuthorization {
  return {
    deviceCode: 'dev-code-1',
    userCode: 'WDJB-MJHT',
    verificationUri: `${issuer}/activate`,
    verificationUriComplete: undefined,
    expiresIn: 1800,
    interval: 5,
    startedAt: 1_700_000_000_000,
    scope: 'openid',
    resource: [],
    ...overrides,
  };
}

describe('device authorization', () => {
  test('asks for the codes with scope, audience, resource and extra parameters', async () => {
    const clock = fakeClock();
    const a = await startDeviceAuthorization(
      client(),
      {
        scope: 'openid offline_access',
        audience: 'https://api/',
        resource: ['https://r/'],
        params: { x: '1' },
      },
      clock.options.now,
    );
    expect(a).toMatchObject({
      deviceCode: 'dev-code-1',
      userCode: 'WDJB-MJHT',
      verificationUri: `${issuer}/activate`,
      verificationUriComplete: `${issuer}/activate?user_code=WDJB-MJHT`,
      expiresIn: 1800,
      interval: 5,
      startedAt: 1_700_000_000_000,
    });
  });

  test('an IdP without a device endpoint gives ERR_DEVICE_UNSUPPORTED', async () => {
    const c = client();
    const noDevice = buildClient(
      { ...c.issuer, metadata: { ...c.issuer.metadata, device_authorization_endpoint: undefined } },
      { clientId: 'tv-app' },
    );
    await expect(
      startDeviceAuthorization(noDevice, { scope: 'openid' }, Date.now),
    ).rejects.toMatchObject({
      code: 'ERR_DEVICE_UNSUPPORTED',
      exitCode: 1,
    });
  });
});

describe('polling', () => {
  test('waits 5, 5, 10, 10 s for interval 5 with slow_down on the second poll', async () => {
    script = [pending(), slowDown(), pending(), tokens()];
    const clock = fakeClock();
    const events: string[] = [];
    const result = await pollDeviceToken(client(), auth(), {
      ...clock.options,
      onEvent: (e) => events.push(e.type),
    });
    expect(clock.waits).toEqual([5, 5, 10, 10]);
    expect(polls).toHaveLength(4);
    for (const form of polls) {
      expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:device_code');
      expect(form.get('device_code')).toBe('dev-code-1');
      expect(form.get('client_id')).toBe('tv-app');
    }
    expect(result.tokens).toMatchObject({
      access_token: 'at-1',
      refresh_token: 'rt-1',
      grant: 'device_code',
      issuer,
      client_id: 'tv-app',
      expires_at: 1_700_000_000 + 30 + 3600,
    });
    expect(events).toEqual(['wait', 'pending', 'wait', 'slow_down', 'wait', 'pending', 'wait']);
  });

  test('slow_down adds 5 s each time it comes', async () => {
    script = [slowDown(), slowDown(), tokens()];
    const clock = fakeClock();
    await pollDeviceToken(client(), auth(), clock.options);
    expect(clock.waits).toEqual([5, 10, 15]);
  });

  test("the IdP's interval is used", async () => {
    script = [pending(), tokens()];
    const clock = fakeClock();
    await pollDeviceToken(client(), auth({ interval: 2 }), clock.options);
    expect(clock.waits).toEqual([2, 2]);
  });

  test('access_denied stops with ERR_ACCESS_DENIED (exit 1)', async () => {
    script = [pending(), { status: 400, body: { error: 'access_denied' } }, tokens()];
    const clock = fakeClock();
    await expect(pollDeviceToken(client(), auth(), clock.options)).rejects.toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      exitCode: 1,
      message: expect.stringContaining('denied'),
    });
    expect(polls).toHaveLength(2);
  });

  test('expired_token stops with ERR_DEVICE_EXPIRED', async () => {
    script = [{ status: 400, body: { error: 'expired_token' } }];
    const clock = fakeClock();
    await expect(pollDeviceToken(client(), auth(), clock.options)).rejects.toMatchObject({
      code: 'ERR_DEVICE_EXPIRED',
      exitCode: 1,
      message: expect.stringContaining('WDJB-MJHT expired'),
    });
  });

  test('polling stops at expires_in without another request', async () => {
    script = [pending(), pending(), pending(), pending(), pending()];
    const clock = fakeClock();
    await expect(
      pollDeviceToken(client(), auth({ expiresIn: 12 }), clock.options),
    ).rejects.toMatchObject({
      code: 'ERR_DEVICE_EXPIRED',
    });
    // Polls at 5 s and 10 s; the next wait ends at 15 s, past the 12 s expiry: no third poll.
    expect(polls).toHaveLength(2);
    expect(clock.waits).toEqual([5, 5, 5]);
  });

  test('a deadline before expires_in (--timeout) stops with ERR_LOGIN_TIMEOUT', async () => {
    script = [pending(), pending(), pending()];
    const clock = fakeClock();
    await expect(
      pollDeviceToken(client(), auth(), { ...clock.options, deadline: 1_700_000_000_000 + 8_000 }),
    ).rejects.toMatchObject({ code: 'ERR_LOGIN_TIMEOUT', exitCode: 1 });
    expect(polls).toHaveLength(1);
  });

  test('another IdP error stops with ERR_IDP and its error', async () => {
    script = [
      { status: 400, body: { error: 'invalid_client', error_description: 'unknown client' } },
    ];
    const clock = fakeClock();
    await expect(pollDeviceToken(client(), auth(), clock.options)).rejects.toMatchObject({
      code: 'ERR_IDP',
      details: { error: 'invalid_client', error_description: 'unknown client' },
    });
  });

  test('a connection failure doubles the interval and polling goes on (RFC 8628 §3.5)', async () => {
    script = ['reset', pending(), tokens()];
    const clock = fakeClock();
    const events: string[] = [];
    const result = await pollDeviceToken(client(), auth(), {
      ...clock.options,
      onEvent: (e) => events.push(e.type),
    });
    expect(result.tokens.access_token).toBe('at-1');
    expect(clock.waits).toEqual([5, 10, 10]);
    expect(events).toContain('network_error');
  });

  test('more than three connection failures in a row stop with ERR_NETWORK (exit 3)', async () => {
    script = ['reset', 'reset', 'reset', 'reset', tokens()];
    const clock = fakeClock();
    await expect(pollDeviceToken(client(), auth(), clock.options)).rejects.toMatchObject({
      code: 'ERR_NETWORK',
      exitCode: 3,
    });
    expect(clock.waits).toEqual([5, 10, 20, 40]);
  });

  test('an abort (Ctrl-C) stops the wait with ERR_INTERRUPTED (exit 130) and polls no more', async () => {
    script = [pending(), pending()];
    const controller = new AbortController();
    let now = 0;
    const result = pollDeviceToken(client(), auth({ startedAt: 0 }), {
      now: () => now,
      signal: controller.signal,
      sleep: (ms, signal) =>
        new Promise((resolve, reject) => {
          if (polls.length === 1) {
            signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
            setImmediate(() => controller.abort());
            return;
          }
          now += ms;
          resolve();
        }),
    });
    await expect(result).rejects.toMatchObject({ code: 'ERR_INTERRUPTED', exitCode: 130 });
    expect(polls).toHaveLength(1);
  });

  test('a clock that never moves still ends (the loop is bounded)', async () => {
    script = Array.from({ length: 10 }, pending);
    await expect(
      pollDeviceToken(client(), auth({ expiresIn: 20, interval: 5 }), {
        now: () => 1_700_000_000_000,
        sleep: async () => {},
      }),
    ).rejects.toMatchObject({ code: 'ERR_DEVICE_EXPIRED' });
    expect(polls.length).toBeLessThanOrEqual(5);
  });
});
