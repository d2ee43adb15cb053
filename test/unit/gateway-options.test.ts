/**
 * `serve`'s parse step: flags into a checked options object, every usage
 * error a GwError with exit 2 (the end-to-end test spawns the CLI for a few
 * of them; the rest are checked here, without a process per case).
 */
import { describe, expect, test } from 'vitest';
import { parseServeOptions } from '../../src/commands/serve.js';
import { isGwError } from '../../src/core/errors/index.js';

const base = {
  upstream: 'http://127.0.0.1:3000',
  host: '127.0.0.1',
  port: 0,
  clockSkew: 30,
  maxTokenSize: 8192,
  upstreamTimeout: 30,
  tokenCacheSize: 10000,
  jwksCacheTtl: 600,
};

async function usageError(opts: Record<string, unknown>): Promise<string> {
  try {
    await parseServeOptions({ ...base, ...opts });
  } catch (error) {
    if (isGwError(error)) {
      expect(error.exitCode).toBe(2);
      return error.message;
    }
    throw error;
  }
  throw new Error('no error');
}

describe('parseServeOptions', () => {
  test('a full set of flags', async () => {
    const o = await parseServeOptions({
      ...base,
      upstream: 'https://api.internal:8443/base',
      issuer: ['https://a.example/', 'https://b.example/'],
      audience: ['api'],
      algs: 'RS256, ES256',
      requireClaim: ['tenant=acme', 'url=https://x/?a=b'],
      requireScope: ['read write', 'admin'],
      forwardClaim: ['X-User=sub', 'X_Tenant=tenant'],
      stripAuthorization: true,
    });
    expect(o.upstream?.href).toBe('https://api.internal:8443/base');
    expect(o.algs).toEqual(['RS256', 'ES256']);
    expect(o.requireClaims).toEqual([
      { name: 'tenant', value: 'acme' },
      { name: 'url', value: 'https://x/?a=b' },
    ]);
    expect(o.requireScopes).toEqual(['read', 'write', 'admin']);
    expect(o.forwardClaims).toEqual([
      { header: 'X-User', claim: 'sub' },
      { header: 'X_Tenant', claim: 'tenant' },
    ]);
    expect(o.stripAuthorization).toBe(true);
  });

  test('usage errors', async () => {
    expect(await usageError({ upstream: 'nope' })).toMatch(/not a URL/);
    expect(await usageError({ upstream: 'ftp://x' })).toMatch(/http:\/\/ or https:\/\//);
    expect(await usageError({ upstream: 'http://u:p@x/' })).toMatch(
      /no query, fragment or credentials/,
    );
    expect(await usageError({ upstream: 'http://x/?q=1' })).toMatch(/no query/);
    expect(await usageError({ algs: 'none' })).toMatch(/"none" can never be enabled/);
    expect(await usageError({ algs: 'NONE' })).toMatch(/"none" can never be enabled/);
    expect(await usageError({ algs: 'RS1' })).toMatch(/unknown algorithm/);
    expect(await usageError({ algs: 'HS256' })).toMatch(/HMAC needs --secret/);
    expect(await usageError({ secret: 's', secretFile: 'f' })).toMatch(/not both/);
    expect(await usageError({ secret: '' })).toMatch(/empty/);
    expect(await usageError({ forwardClaim: ['X User=sub'] })).toMatch(/not a valid header name/);
    expect(await usageError({ forwardClaim: ['X-User='] })).toMatch(/needs a claim name/);
    expect(await usageError({ forwardClaim: ['X-User=sub', 'x_user=email'] })).toMatch(
      /same header twice/,
    );
    for (const h of [
      'Authorization',
      'host',
      'Content-Length',
      'X-Forwarded-For',
      'x_forwarded_host',
      'Cookie',
    ]) {
      expect(await usageError({ forwardClaim: [`${h}=sub`] })).toMatch(/cannot set/);
    }
  });

  test('HS* in --algs is fine with --secret', async () => {
    const o = await parseServeOptions({ ...base, algs: 'HS256', secret: 'x'.repeat(32) });
    expect(o.algs).toEqual(['HS256']);
  });
});
