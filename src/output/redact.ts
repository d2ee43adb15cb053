/**
 * Redaction of secrets (docs/configuration.md, "Output conventions"):
 * client secret, Authorization values, code, code_verifier, refresh_token, access_token, id_token, client_assertion show
 * at most their first 6 characters followed by `…`. Short values show fewer
 * characters so that a short secret is never shown whole.
 */
export const SECRET_PARAMS: ReadonlySet<string> = new Set([
  'client_secret',
  'code',
  'code_verifier',
  'refresh_token',
  'access_token',
  'id_token',
  'client_assertion',
  'device_code',
  'user_code',
  'password',
  'token',
  'assertion',
  'subject_token',
  'actor_token',
  'secret',
  'clientSecret',
  'private_key',
]);

export function mask(value: string): string {
  if (value.length === 0) return '';
  const shown = Math.min(6, Math.floor(value.length / 4));
  return `${value.slice(0, shown)}…`;
}

/** `Bearer eyJhbG…`: the scheme stays readable, the credentials are masked. */
export function maskAuthorization(value: string): string {
  const space = value.indexOf(' ');
  if (space === -1) return mask(value);
  return `${value.slice(0, space)} ${mask(value.slice(space + 1).trim())}`;
}

/** An application/x-www-form-urlencoded body or query string with secret values masked. */
export function redactForm(body: string): string {
  const params = new URLSearchParams(body);
  const parts: string[] = [];
  for (const [k, v] of params) parts.push(`${k}=${SECRET_PARAMS.has(k) ? mask(v) : v}`);
  return parts.join('&');
}

export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const hash = url.indexOf('#', q);
  const query = hash === -1 ? url.slice(q + 1) : url.slice(q + 1, hash);
  return `${url.slice(0, q)}?${redactForm(query)}${hash === -1 ? '' : url.slice(hash)}`;
}

const SECRET_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'dpop',
]);

export function redactHeader(name: string, value: string): string {
  const lower = name.toLowerCase();
  if (lower === 'authorization' || lower === 'proxy-authorization') return maskAuthorization(value);
  if (SECRET_HEADERS.has(lower)) return mask(value);
  return value;
}

/** A deep copy of a JSON value with secret members masked. */
export function redactJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactJson);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_PARAMS.has(k) && typeof v === 'string' ? mask(v) : redactJson(v);
    }
    return out;
  }
  return value;
}

/** Redacts a response or request body for display: JSON or form-encoded, else masked whole when it looks like a token. */
export function redactBody(body: string, contentType: string | null | undefined): string {
  const type = (contentType ?? '').toLowerCase();
  if (type.includes('json') || /^\s*[{[]/.test(body)) {
    try {
      return JSON.stringify(redactJson(JSON.parse(body)));
    } catch {
      /* not JSON after all */
    }
  }
  if (type.includes('x-www-form-urlencoded')) return redactForm(body);
  return body;
}
