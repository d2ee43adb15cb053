/**
 * The gateway's remote key set with an injected fetch and clock: shared
 * re-fetches, the 30 s rate limit (failures included), the last good keys
 * after a failed refresh; plus header rewriting and log-path masking.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { RemoteKeySet, type JwksFetchError } from '../../src/core/gateway/jwks.js';
import { downstreamHeaders, upstreamHeaders } from '../../src/http/gateway/headers.js';
import { logPath } from '../../src/http/gateway/access-log.js';

const jwk = (kid: string) => ({
  ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }),
  kid,
});

function harness(initial: unknown) {
  const state = {
    doc: initial as unknown,
    fail: false,
    calls: 0,
    now: 0,
    logs: [] as string[],
    changes: 0,
  };
  const set = new RemoteKeySet({
    uri: 'https://idp.test/jwks',
    fetch: async () => {
      state.calls++;
      await new Promise((r) => setTimeout(r, 5));
      if (state.fail) throw new TypeError('fetch failed');
      return new Response(JSON.stringify(state.doc), { status: 200 });
    },
    timeoutMs: 1000,
    maxAgeMs: 600_000,
    cooldownMs: 30_000,
    now: () => state.now,
    log: (l) => state.logs.push(l),
    onChange: () => state.changes++,
  });
  return { set, state };
}

describe('RemoteKeySet', () => {
  test('concurrent unknown-kid refreshes share one fetch; then 30 s of nothing', async () => {
    const { set, state } = harness({ keys: [jwk('a')] });
    await set.load();
    expect(state.calls).toBe(1);
    expect(set.refreshForUnknownKid()).toBeUndefined(); // within 30 s of the load
    state.now = 30_000;
    state.doc = { keys: [jwk('a'), jwk('b')] };
    const waits = Array.from({ length: 100 }, () => set.refreshForUnknownKid());
    expect(waits.every((w) => w === waits[0] && w !== undefined)).toBe(true);
    await Promise.all(waits);
    expect(state.calls).toBe(2);
    expect([...set.kids].sort()).toEqual(['a', 'b']);
    expect(state.changes).toBe(1);
    state.now = 59_999;
    expect(set.refreshForUnknownKid()).toBeUndefined();
  });

  test('a failed refresh keeps the last good keys, and failures are rate-limited too', async () => {
    const { set, state } = harness({ keys: [jwk('a')] });
    await set.load();
    state.fail = true;
    state.now = 31_000;
    await set.refreshForUnknownKid();
    expect(state.calls).toBe(2);
    expect([...set.kids]).toEqual(['a']);
    expect(state.logs.some((l) => /refresh failed.*last good keys keep serving/.test(l))).toBe(
      true,
    );
    expect(set.refreshForUnknownKid()).toBeUndefined();
    state.now = 700_000; // stale and past the cooldown: one background attempt
    set.refreshIfStale();
    set.refreshIfStale();
    await new Promise((r) => setTimeout(r, 20));
    expect(state.calls).toBe(3);
    expect([...set.kids]).toEqual(['a']);
  });

  test('the first load fails loudly', async () => {
    const { set, state } = harness({ nope: true });
    await expect(set.load()).rejects.toMatchObject({
      kind: 'invalid',
    } satisfies Partial<JwksFetchError>);
    state.fail = true;
    await expect(set.load()).rejects.toMatchObject({ kind: 'network' });
  });
});

describe('header rewriting', () => {
  test('upstream: hop-by-hop, Connection-named, reserved and _ variants dropped; X-Forwarded-* set', () => {
    const out = upstreamHeaders(
      [
        'Host',
        'api.test',
        'Connection',
        'close, X-A',
        'X-A',
        '1',
        'X_A',
        '2',
        'Keep-Alive',
        'x',
        'X-User',
        'm',
        'x_user',
        'm',
        'X-Forwarded-For',
        '10.0.0.1',
        'X_Forwarded_For',
        '6.6.6.6',
        'Content-Length',
        '3',
        'Transfer-Encoding',
        'chunked',
        'Expect',
        '100-continue',
        'Upgrade',
        'h2c',
        'X-Ok',
        'y',
      ],
      {
        reserved: new Set(['x-user', 'x-forwarded-proto', 'x-forwarded-host']),
        stripAuthorization: false,
        clientAddress: '::ffff:127.0.0.1',
        extra: ['X-User', 'alice'],
      },
    );
    expect(out.hasBody).toBe(true);
    expect(out.upgrade).toBe('h2c');
    expect(out.headers).toEqual([
      'X-Ok',
      'y',
      'x-forwarded-for',
      '10.0.0.1, 127.0.0.1',
      'x-forwarded-proto',
      'http',
      'x-forwarded-host',
      'api.test',
      'X-User',
      'alice',
    ]);
  });
  test('downstream: hop-by-hop and Connection-named dropped', () => {
    expect(
      downstreamHeaders({
        connection: 'x-secret',
        'x-secret': '1',
        'transfer-encoding': 'chunked',
        'keep-alive': 't',
        'content-length': '3',
        a: ['1', '2'],
      }),
    ).toEqual({
      'content-length': '3',
      a: ['1', '2'],
    });
  });
});

test('log paths: no query string, JWT-looking parts masked, bounded', () => {
  expect(logPath('/a?access_token=x')).toBe('/a');
  expect(logPath('/t/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig/x')).toBe('/t/eyJhbG…/x');
  expect(logPath(`/${'a'.repeat(600)}`)).toHaveLength(513);
});
