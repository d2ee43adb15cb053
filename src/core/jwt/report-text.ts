/**
 * The human form of a decode report: header and payload as indented JSON
 * (coloured when the caller's style has colour), the claims a gateway
 * checks, the checks, the signature verdict and the gateway settings.
 *
 * Pure text: colours come from the injected style (chalk at level 0 gives
 * plain text), so the core stays free of terminals.
 */
import type { Check, ClaimsSummary, Report } from './inspect.js';
import type { TimeView } from './time.js';
import { escapeControls } from '../terminal-text.js';

type Paint = (text: string) => string;

/** The colours used; a chalk instance fits. */
export interface Style {
  bold: Paint;
  dim: Paint;
  red: Paint;
  green: Paint;
  yellow: Paint;
  cyan: Paint;
  magenta: Paint;
}

export interface TextOptions {
  /** --verify was asked for. */
  verifyRequested: boolean;
  /** Where the verification keys came from, for the summary. */
  keySource?: string;
}

/** JSON.stringify(value, null, 2) with colours: keys, strings, numbers, literals. */
export function colorJson(value: unknown, style: Style, indent = ''): string {
  if (value === null) return style.magenta('null');
  if (typeof value === 'string') return style.green(escapeControls(JSON.stringify(value)));
  if (typeof value === 'number') return style.yellow(JSON.stringify(value));
  if (typeof value === 'boolean') return style.magenta(String(value));
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const inner = `${indent}  `;
    return `[\n${value.map((v) => `${inner}${colorJson(v, style, inner)}`).join(',\n')}\n${indent}]`;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return '{}';
    const inner = `${indent}  `;
    return `{\n${entries
      .map(
        ([k, v]) =>
          `${inner}${style.cyan(escapeControls(JSON.stringify(k)))}: ${colorJson(v, style, inner)}`,
      )
      .join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value) ?? String(value);
}

function show(value: unknown): string {
  if (typeof value === 'string') return escapeControls(value);
  return escapeControls(JSON.stringify(value) ?? String(value));
}

function timeLine(view: TimeView | null, raw: unknown): string | undefined {
  if (view) return `${view.iso ?? `${view.epoch} (out of range)`}  (${view.relative})`;
  if (raw === undefined) return undefined;
  return `${show(raw)}  (not a number of seconds)`;
}

function claimLines(
  c: ClaimsSummary,
  payload: Record<string, unknown> | null,
): Array<[string, string]> {
  const rows: Array<[string, string | undefined]> = [];
  if (payload) {
    const aud = c.aud;
    rows.push(['iss', c.iss === undefined ? undefined : show(c.iss)]);
    rows.push([
      'aud',
      aud === undefined ? undefined : Array.isArray(aud) ? aud.map(show).join(', ') : show(aud),
    ]);
    rows.push(['sub', c.sub === undefined ? undefined : show(c.sub)]);
    rows.push(['azp', c.azp === undefined ? undefined : show(c.azp)]);
    rows.push(['client_id', c.client_id === undefined ? undefined : show(c.client_id)]);
    rows.push(['scope', c.scope === undefined ? undefined : show(c.scope)]);
    rows.push([
      'scp',
      c.scp === undefined
        ? undefined
        : Array.isArray(c.scp)
          ? c.scp.map(show).join(' ')
          : show(c.scp),
    ]);
    rows.push(['exp', timeLine(c.exp, payload['exp'])]);
    rows.push(['iat', timeLine(c.iat, payload['iat'])]);
    rows.push(['nbf', timeLine(c.nbf, payload['nbf'])]);
  }
  rows.push(['alg', c.alg === undefined ? undefined : show(c.alg)]);
  rows.push(['kid', c.kid === undefined ? undefined : show(c.kid)]);
  rows.push(['typ', c.typ === undefined ? undefined : show(c.typ)]);
  return rows.filter((r): r is [string, string] => r[1] !== undefined);
}

function statusWord(check: Check, style: Style): string {
  if (check.status === 'ok') return style.green('ok  ');
  if (check.status === 'warn') return style.yellow('warn');
  return style.red('FAIL');
}

function table(rows: ReadonlyArray<[string, string]>, style: Style, indent = '  '): string[] {
  const width = Math.max(0, ...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => {
    // Lines are ours (multi-line values); what is inside them may come from the token.
    const [first, ...rest] = v.split('\n').map(escapeControls);
    const pad = ' '.repeat(width + 2);
    return [
      `${indent}${style.dim(k.padEnd(width))}  ${first ?? ''}`,
      ...rest.map((l) => `${indent}${pad}${l}`),
    ].join('\n');
  });
}

function title(text: string, style: Style): string {
  return style.bold(text);
}

function kindLine(report: Report): string {
  switch (report.kind) {
    case 'JWS':
      return 'JWS: a signed JWT';
    case 'JWE':
      return 'JWE: an encrypted token (5 parts)';
    default:
      return 'opaque: not a JWT';
  }
}

function gatewayLines(report: Report, style: Style): string[] {
  const g = report.gateway;
  if (!g) return [];
  const auds = g.audiences.length > 0 ? g.audiences.join(', ') : '(none in the token)';
  const jwks =
    g.jwks_uri ??
    (g.discovery_url
      ? `"jwks_uri" of ${g.discovery_url} (--verify fetches it)`
      : '(unknown: the token has no iss)');
  const rows: Array<[string, string]> = [
    ['issuer', g.issuer ?? '(none in the token)'],
    ['audience', auds],
    [
      'JWKS URI',
      g.algorithm && /^HS/.test(g.algorithm)
        ? '(none: HMAC tokens are verified with the shared secret)'
        : jwks,
    ],
  ];
  const tyk = g.tyk;
  const provider = tyk.openid_options.providers[0];
  const clientIds = provider
    ? Object.keys(provider.client_ids)
        .map((k) => `"${k}": "<policy id>"`)
        .join(', ')
    : '';
  rows.push([
    'Tyk',
    [
      `JWT auth: jwt_source = ${tyk.jwt_source}`,
      `          jwt_signing_method = ${tyk.jwt_signing_method ?? '(see alg)'}, jwt_identity_base_field = ${tyk.jwt_identity_base_field}`,
      `OIDC:     openid_options.providers[].issuer = ${provider?.issuer ?? ''}`,
      `          client_ids = { ${clientIds} }  (base64 of the aud)`,
    ].join('\n'),
  ]);
  rows.push([
    'Kong',
    [
      `openid-connect: config.issuer = ${g.kong['config.issuer']}`,
      `                config.audience_required = ${g.kong['config.audience_required'].join(', ')}`,
      `                config.auth_methods = bearer`,
    ].join('\n'),
  ]);
  rows.push(['Azure APIM', g.azure_apim.policy]);
  return [title('Gateway settings', style), ...table(rows, style)];
}

/** The whole human report, ending with a newline. */
export function renderReport(report: Report, style: Style, options: TextOptions): string {
  const out: string[] = [];
  out.push(title(kindLine(report), style));
  if (report.header) {
    out.push('', title('Header', style), colorJson(report.header, style));
  }
  if (report.payload) {
    out.push('', title('Payload', style), colorJson(report.payload, style));
  } else if (report.kind === 'JWE') {
    out.push(
      '',
      title('Payload', style),
      style.dim('(encrypted: it cannot be read without the key)'),
    );
  }
  if (report.claims) {
    const rows = claimLines(report.claims, report.payload);
    if (rows.length > 0) out.push('', title('Claims', style), ...table(rows, style));
  }
  out.push('', title('Checks', style));
  const width = Math.max(0, ...report.checks.map((c) => c.name.length));
  for (const check of report.checks) {
    out.push(
      `  ${statusWord(check, style)}  ${check.name.padEnd(width)}  ${escapeControls(check.message)}`,
    );
  }
  out.push('', title('Signature', style));
  if (report.verified === null) {
    const why =
      report.kind === 'opaque'
        ? 'none to check: an opaque token is not a JWS'
        : report.kind === 'JWE'
          ? 'not reachable: the token is encrypted'
          : options.verifyRequested
            ? 'not verified'
            : 'not verified: add --verify (with --issuer, --jwks-uri, --key or --secret) to check it';
    out.push(`  ${style.dim(why)}`);
  } else if (report.verified) {
    out.push(
      `  ${style.green('verified')}${options.keySource ? ` with ${options.keySource}` : ''}: a gateway with these keys accepts it`,
    );
  } else {
    const failed = report.checks.filter((c) => c.status === 'fail').map((c) => c.name);
    out.push(`  ${style.red('NOT verified')}: ${failed.join(', ')} failed`);
  }
  const gateway = gatewayLines(report, style);
  if (gateway.length > 0) out.push('', ...gateway);
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  out.push(
    '',
    failed > 0
      ? style.red(`${failed} check${failed === 1 ? '' : 's'} failed`) +
          (warned ? `, ${warned} warning${warned === 1 ? '' : 's'}` : '')
      : style.green('no check failed') +
          (warned ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''),
  );
  return `${out.join('\n')}\n`;
}
