import { describe, expect, it } from 'vitest';
import {
  mask,
  maskAuthorization,
  redactBody,
  redactForm,
  redactJson,
  redactUrl,
} from '../../src/output/redact.js';

describe('redaction', () => {
  it('shows at most 6 characters of a secret, never a short one whole', () => {
    expect(mask('eyJhbGciOiJSUzI1NiJ9.payload.sig')).toBe('eyJhbG…');
    expect(mask('abc')).toBe('…');
    expect(mask('abcdefgh')).toBe('ab…');
    expect(mask('')).toBe('');
  });

  it('keeps the scheme of an Authorization value readable', () => {
    expect(maskAuthorization('Bearer eyJhbGciOiJSUzI1NiJ9.x.y')).toBe('Bearer eyJhbG…');
    expect(maskAuthorization('Basic b2lkYy1ndy1zZXJ2aWNlOnNlY3JldA==')).toBe('Basic b2lkYy…');
  });

  it('masks every secret parameter (docs/configuration.md) in forms, URLs and JSON', () => {
    const secrets = {
      client_secret: 'sekret-sekret-sekret',
      code: 'code-code-code-code',
      code_verifier: 'verifier-verifier-verifier',
      refresh_token: 'refresh-refresh-refresh',
      access_token: 'access-access-access',
      id_token: 'idtoken-idtoken-idtoken',
      client_assertion: 'assertion-assertion-assertion',
    };
    const form = redactForm(new URLSearchParams({ ...secrets, grant_type: 'x' }).toString());
    const url = redactUrl(`https://idp/cb?${new URLSearchParams(secrets).toString()}&state=s1`);
    const json = JSON.stringify(redactJson({ nested: secrets, list: [secrets] }));
    for (const value of Object.values(secrets)) {
      expect(form).not.toContain(value);
      expect(url).not.toContain(value);
      expect(json).not.toContain(value);
    }
    expect(form).toContain('grant_type=x');
    expect(url).toContain('state=s1');
  });

  it('redacts JSON and form bodies by content type', () => {
    expect(
      redactBody(
        '{"access_token":"abcdefghijklmnopqrstuvwxyz","expires_in":3600}',
        'application/json',
      ),
    ).toBe('{"access_token":"abcdef…","expires_in":3600}');
    expect(
      redactBody('refresh_token=abcdefghijklmnopqrstuvwxyz', 'application/x-www-form-urlencoded'),
    ).toBe('refresh_token=abcdef…');
  });
});
