/** What `oidc-gw login` prints: the summary, the device code, IdP errors (sanitised). */
import { describe, expect, test } from 'vitest';
import { callbackError, hasDisplay, spacedCode, summaryLines } from '../../src/services/login.js';
import type { TokenSet } from '../../src/core/token-set.js';

const now = 1_700_000_000;
const tokens: TokenSet = {
  access_token: 'at',
  refresh_token: 'rt',
  id_token: 'x.y.z',
  scope: 'openid profile email offline_access',
  expires_at: now + 3600,
  expires_in: 3600,
  issuer: 'https://tenant.example.com/',
  client_id: 'cli',
  grant: 'authorization_code',
  obtained_at: now,
};

describe('summary', () => {
  test('who (sub, name, email), issuer, scopes, access-token expiry, refresh token, profile', () => {
    const lines = summaryLines(
      { tokens, claims: { sub: 'auth0|42', name: 'Ada Lovelace', email: 'ada@example.com' } },
      'work',
      now,
    );
    expect(lines[0]).toBe('Signed in as Ada Lovelace <ada@example.com> (sub auth0|42)');
    const text = lines.join('\n');
    expect(text).toContain('issuer:        https://tenant.example.com/');
    expect(text).toContain('scopes:        openid profile email offline_access');
    expect(text).toContain('access token:  expires 2023-11-14T23:13:20Z (in 1h)');
    expect(text).toContain('refresh token: yes');
    expect(text).toContain('cached for profile "work"');
  });

  test('only sub when there is no name or email; no ID token at all', () => {
    expect(summaryLines({ tokens, claims: { sub: 's1' } }, 'default', now)[0]).toBe(
      'Signed in as sub s1',
    );
    const bare = summaryLines(
      {
        tokens: { ...tokens, id_token: undefined, refresh_token: undefined, expires_at: undefined },
        claims: undefined,
      },
      'default',
      now,
    ).join('\n');
    expect(bare).toContain('no ID token');
    expect(bare).toContain('no expiry given');
    expect(bare).toContain('refresh token: none');
  });

  test('claims cannot inject terminal escapes', () => {
    const line = summaryLines(
      { tokens, claims: { sub: 'x', name: 'Eve\u001b[2J\u001b]0;pwned\u0007' } },
      'd',
      now,
    )[0];
    // eslint-disable-next-line no-control-regex
    expect(line).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(line).toContain('Eve');
  });
});

describe('device code display', () => {
  test('the user code is spaced out to be read across a room', () => {
    expect(spacedCode('WDJB-MJHT')).toBe('W D J B - M J H T');
  });
});

describe('IdP errors from the callback', () => {
  test('access_denied is ERR_ACCESS_DENIED (exit 1) with the description', () => {
    const e = callbackError('access_denied', 'End-User aborted interaction');
    expect(e.code).toBe('ERR_ACCESS_DENIED');
    expect(e.exitCode).toBe(1);
    expect(e.message).toBe(
      'the sign-in was refused at the IdP: access_denied: End-User aborted interaction',
    );
  });

  test('other errors are ERR_IDP with details, control characters removed', () => {
    const e = callbackError('invalid_scope', 'bad\u001b[31m scope\r\nINJECTED');
    expect(e.code).toBe('ERR_IDP');
    // eslint-disable-next-line no-control-regex
    expect(e.message).not.toMatch(/[\u0000-\u001f]/);
    expect(e.details).toMatchObject({ error: 'invalid_scope' });
    expect(e.hint).toContain('--scope');
  });

  test('long descriptions are cut', () => {
    const e = callbackError('invalid_request', 'x'.repeat(1000));
    expect(e.message).toContain(`${'x'.repeat(300)}…`);
    expect(e.message).not.toContain('x'.repeat(301));
  });
});

describe('display', () => {
  test('Linux needs DISPLAY or WAYLAND_DISPLAY; macOS and Windows always have one', () => {
    expect(hasDisplay({}, 'linux')).toBe(false);
    expect(hasDisplay({ DISPLAY: ':0' }, 'linux')).toBe(true);
    expect(hasDisplay({ WAYLAND_DISPLAY: 'wayland-0' }, 'linux')).toBe(true);
    expect(hasDisplay({}, 'darwin')).toBe(true);
    expect(hasDisplay({}, 'win32')).toBe(true);
  });
});
