/** `oidc-gw discover`: fetch the metadata, summarise it, flag problems. */
import type { Context } from '../context.js';
import { GwError } from '../core/errors/index.js';
import type { DiscoveredIssuer } from '../core/issuer.js';
import { discover, openSession, type Session } from './session.js';

interface KeySummary {
  kid?: string;
  kty?: string;
  alg?: string;
  use?: string;
  crv?: string;
  bits?: number;
}

export interface Finding {
  level: 'warn' | 'fail';
  message: string;
}

async function fetchKeys(session: Session, jwksUri: string): Promise<KeySummary[]> {
  const fetch = await session.http();
  const response = await fetch(jwksUri, { headers: { accept: 'application/json' } });
  if (!response.ok)
    throw new GwError('ERR_DISCOVERY', `the JWKS at ${jwksUri} answered HTTP ${response.status}`);
  let body: { keys?: unknown };
  try {
    body = (await response.json()) as { keys?: unknown };
  } catch {
    throw new GwError('ERR_DISCOVERY', `the JWKS at ${jwksUri} is not JSON`);
  }
  if (!Array.isArray(body.keys))
    throw new GwError('ERR_DISCOVERY', `the JWKS at ${jwksUri} has no "keys" array`);
  return body.keys.map((k: Record<string, unknown>) => {
    const s: KeySummary = {};
    for (const name of ['kid', 'kty', 'alg', 'use', 'crv'] as const)
      if (typeof k[name] === 'string') s[name] = k[name] as string;
    if (typeof k['n'] === 'string') s.bits = Buffer.from(k['n'], 'base64url').length * 8;
    return s;
  });
}

export function findProblems(d: DiscoveredIssuer, keys: KeySummary[] | undefined): Finding[] {
  const m = d.metadata;
  const out: Finding[] = [];
  if (new URL(d.issuer).protocol === 'http:')
    out.push({
      level: 'warn',
      message: 'the issuer uses http: fine on loopback, never in production',
    });
  for (const [name, value] of Object.entries(m)) {
    if (name.endsWith('_endpoint') || name === 'jwks_uri') {
      if (typeof value === 'string' && value.startsWith('http:') && !d.issuer.startsWith('http:')) {
        out.push({ level: 'warn', message: `${name} uses http while the issuer uses https` });
      }
    }
  }
  if (!m.jwks_uri)
    out.push({
      level: 'warn',
      message: 'no jwks_uri: gateways cannot verify JWTs from this issuer by discovery',
    });
  const pkce = m.code_challenge_methods_supported;
  if (!pkce)
    out.push({
      level: 'warn',
      message: 'code_challenge_methods_supported is not advertised: PKCE support is unknown',
    });
  else if (!pkce.includes('S256'))
    out.push({
      level: 'warn',
      message: 'PKCE S256 is not supported (only: ' + pkce.join(', ') + ')',
    });
  const algs = m.id_token_signing_alg_values_supported;
  if (algs?.includes('none'))
    out.push({ level: 'warn', message: 'the IdP lists alg "none" for ID tokens' });
  if (keys) {
    if (keys.length === 0) out.push({ level: 'warn', message: 'the JWKS has no keys' });
    for (const k of keys) {
      if (k.kty === 'RSA' && k.bits !== undefined && k.bits < 2048) {
        out.push({
          level: 'warn',
          message: `key ${k.kid ?? '(no kid)'} is RSA ${k.bits} bits: gateways refuse RSA under 2048 bits`,
        });
      }
      if (!k.kid && keys.length > 1)
        out.push({ level: 'warn', message: 'a key without kid in a JWKS of several keys' });
    }
  }
  return out;
}

const ENDPOINTS = [
  'authorization_endpoint',
  'token_endpoint',
  'userinfo_endpoint',
  'jwks_uri',
  'revocation_endpoint',
  'introspection_endpoint',
  'device_authorization_endpoint',
  'pushed_authorization_request_endpoint',
  'end_session_endpoint',
  'registration_endpoint',
] as const;

export async function runDiscover(
  ctx: Context,
  argIssuer: string | undefined,
  opts: Readonly<Record<string, unknown>>,
): Promise<number> {
  const session = await openSession(ctx, opts);
  const out = ctx.out;
  const findings: Finding[] = [];
  const issuerArg = argIssuer ?? (typeof opts['issuer'] === 'string' ? opts['issuer'] : undefined);
  const discovered = await discover(session, issuerArg);
  let keys: KeySummary[] | undefined;
  if (opts['keys'] !== false && discovered.metadata.jwks_uri) {
    try {
      keys = await fetchKeys(session, discovered.metadata.jwks_uri);
    } catch (error) {
      if (!(error instanceof GwError)) throw error;
      findings.push({ level: 'fail', message: error.message });
    }
  }
  findings.push(...findProblems(discovered, keys));
  const failed = findings.some((f) => f.level === 'fail');
  if (out.json) {
    out.printJson(discovered.metadata);
    for (const f of findings) out.warn(f.message);
    return failed ? 1 : 0;
  }
  const s = out.styleOut;
  const m = discovered.metadata;
  const lines: string[] = [];
  const row = (label: string, value: string | undefined) => {
    if (value) lines.push(`  ${label.padEnd(24)} ${value}`);
  };
  lines.push(s.bold('Issuer'));
  row('issuer', discovered.issuer);
  row(
    'metadata',
    `${discovered.discoveryUrl} (${discovered.source === 'oauth-authorization-server' ? 'RFC 8414' : 'OpenID Connect discovery'})`,
  );
  lines.push('', s.bold('Endpoints'));
  for (const name of ENDPOINTS) row(name, m[name] as string | undefined);
  lines.push('', s.bold('Capabilities'));
  const list = (v: unknown) => (Array.isArray(v) && v.length ? v.join(', ') : undefined);
  row(
    'grant types',
    list(m.grant_types_supported) ?? '(not advertised; default authorization_code, implicit)',
  );
  row('response types', list(m.response_types_supported));
  row('PKCE methods', list(m.code_challenge_methods_supported) ?? '(not advertised)');
  row(
    'token auth methods',
    list(m.token_endpoint_auth_methods_supported) ??
      '(not advertised; default client_secret_basic)',
  );
  row('ID token algs', list(m.id_token_signing_alg_values_supported));
  row('scopes', list(m.scopes_supported));
  row('claims', list(m.claims_supported));
  if (m.authorization_response_iss_parameter_supported) row('RFC 9207 iss', 'supported');
  if (keys) {
    lines.push('', s.bold(`Keys (${keys.length})`));
    for (const k of keys) {
      const size = k.bits ? `${k.bits} bits` : k.crv;
      lines.push(
        `  ${[k.kid ? `kid=${k.kid}` : '(no kid)', k.kty, k.alg, k.use ? `use=${k.use}` : undefined, size].filter(Boolean).join('  ')}`,
      );
    }
  }
  lines.push('', s.bold('For a gateway'));
  row('issuer (exact iss)', discovered.issuer);
  row('JWKS URI', m.jwks_uri);
  row('discovery URL', discovered.discoveryUrl);
  out.data(`${lines.join('\n')}\n`);
  if (findings.length) {
    out.info('');
    for (const f of findings) {
      if (f.level === 'fail') out.info(`${out.style.red('problem:')} ${f.message}`);
      else out.warn(f.message);
    }
  }
  return failed ? 1 : 0;
}
