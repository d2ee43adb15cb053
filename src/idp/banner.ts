/**
 * What `oidc-gw idp` tells people when it starts: a banner for terminals
 * (stderr) and one JSON object for programs (stdout, `--json`).
 */
import type { ChalkInstance } from 'chalk';

export interface BannerClient {
  readonly clientId: string;
  /** Confidential clients only. */
  readonly clientSecret?: string | undefined;
  readonly grantTypes: readonly string[];
  /** One line for people: authentication and flows. */
  readonly summary: string;
}

export interface BannerInfo {
  readonly issuer: string;
  /** Where the server listens: http://HOST:PORT (differs from the issuer with --public-url). */
  readonly listenUrl: string;
  readonly audience: string;
  readonly jwksUri: string;
  readonly resourceScopes: readonly string[];
  readonly clients: readonly BannerClient[];
  readonly users: readonly string[];
  /** Shown next to the users when they are the built-in default (alice:alice). */
  readonly defaultPassword?: string | undefined;
  readonly signingKid: string;
  /** The --keys file, if any. */
  readonly keysFile?: string | undefined;
  readonly rotateUrl?: string | undefined;
  readonly accessTokenTtl: number;
  readonly refreshTokenTtl: number;
}

/** The `--json` object (docs/commands/idp.md), with `jwks_uri` and `listen_url` added. */
export function bannerJson(info: BannerInfo): Record<string, unknown> {
  return {
    issuer: info.issuer,
    audience: info.audience,
    jwks_uri: info.jwksUri,
    listen_url: info.listenUrl,
    clients: info.clients.map((c) => ({
      client_id: c.clientId,
      ...(c.clientSecret === undefined ? {} : { client_secret: c.clientSecret }),
      grant_types: [...c.grantTypes],
    })),
    users: [...info.users],
  };
}

export function bannerText(info: BannerInfo, s: ChalkInstance): string {
  const cli = info.clients.find((c) => c.clientSecret === undefined);
  const service = info.clients.find((c) => c.clientSecret !== undefined);
  const width = Math.max(...info.clients.map((c) => c.clientId.length));
  const lines = [
    `${s.bold('oidc-gw dev IdP')} ${s.dim('— for development and tests only')}`,
    `  issuer: ${s.cyan(info.issuer)}`,
    ...(info.listenUrl === info.issuer ? [] : [`  listening on ${info.listenUrl}`]),
    `  audience: ${info.audience} ${s.dim(`(scopes: ${info.resourceScopes.join(' ')})`)}`,
    `  jwks: ${info.jwksUri}`,
    '  clients:',
    ...info.clients.flatMap((c) => [
      `    ${c.clientId.padEnd(width)}  ${s.dim(c.summary)}`,
      ...(c.clientSecret === undefined
        ? []
        : [`    ${''.padEnd(width)}  secret: ${c.clientSecret}`]),
    ]),
    `  users: ${info.users.join(', ')}${
      info.defaultPassword === undefined ? '' : s.dim(` (password: ${info.defaultPassword})`)
    }`,
    `  tokens: access ${duration(info.accessTokenTtl)}, refresh ${duration(info.refreshTokenTtl)} (rotated on use)`,
    `  signing key: ${info.signingKid} ${s.dim(
      info.keysFile ? `(kept in ${info.keysFile})` : '(new each start; --keys FILE keeps them)',
    )}`,
  ];
  if (info.rotateUrl) lines.push(`  rotate keys: curl -X POST ${info.rotateUrl}`);

  const issuer = shellQuote(info.issuer);
  const audience = shellQuote(info.audience);
  const tries: string[] = [];
  if (service?.clientSecret !== undefined) {
    tries.push(
      `oidc-gw token --client-credentials --issuer ${issuer} --client-id ${shellQuote(service.clientId)} --client-secret ${shellQuote(service.clientSecret)} --audience ${audience}`,
    );
  }
  if (cli) {
    tries.push(
      `oidc-gw login --issuer ${issuer} --client-id ${shellQuote(cli.clientId)} --audience ${audience}`,
      `oidc-gw login --device --issuer ${issuer} --client-id ${shellQuote(cli.clientId)} --audience ${audience}`,
    );
  }
  tries.push(
    `oidc-gw serve --issuer ${issuer} --audience ${audience} --upstream http://127.0.0.1:3000`,
  );
  lines.push('', s.bold('Try:'), ...tries.map((t) => `  ${t}`), '', s.dim('Ctrl-C stops it.'));
  return `${lines.join('\n')}\n`;
}

/** 3600 → "1h", 86400 → "1d", 90 → "90s". */
export function duration(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** Quotes `value` for a POSIX shell when it needs it. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
