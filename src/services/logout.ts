/**
 * `oidc-gw logout`: revoke the profile's refresh token, then its access
 * token, at the IdP's revocation endpoint (RFC 7009) when it has one, and
 * always forget them locally, even when revocation fails.
 */
import type { Client } from '../core/client.js';
import { GwError } from '../core/errors/index.js';
import type { RevocableKind } from '../core/flows/revocation.js';
import type { TokenSet } from '../core/token-set.js';
import { discover, makeClientFor, type Session } from './session.js';

export interface LogoutOptions {
  /** false with --no-revoke. */
  readonly revoke: boolean;
}

export interface LogoutReport {
  readonly profile: string;
  /** Whether a cached login was there (and is now removed). */
  readonly removed: boolean;
  readonly issuer: string | undefined;
  /** Tokens the IdP accepted to revoke, in order. */
  readonly revoked: RevocableKind[];
  /** Why revocation did not happen or failed (each also printed as a warning). */
  readonly problems: string[];
  /** Whether the IdP has a revocation endpoint (undefined: not asked). */
  readonly revocationEndpoint: boolean | undefined;
}

export async function logout(session: Session, options: LogoutOptions): Promise<LogoutReport> {
  const { settings, store, ctx } = session;
  const profile = settings.profile;
  // Under the refresh lock: a refresh running now cannot write rotated tokens back after we remove them.
  return store.withLock(`refresh-${profile}`, async () => {
    const tokens = await store.readUser(profile);
    if (!tokens) {
      return {
        profile,
        removed: false,
        issuer: undefined,
        revoked: [],
        problems: [],
        revocationEndpoint: undefined,
      };
    }
    const revoked: RevocableKind[] = [];
    const problems: string[] = [];
    let endpoint: boolean | undefined;
    if (options.revoke) {
      const warn = (message: string) => {
        problems.push(message);
        ctx.out.warn(message);
      };
      let client: Client | undefined;
      try {
        client = await clientFor(session, tokens);
      } catch (error) {
        warn(`cannot revoke the tokens: ${describe(error)}`);
      }
      if (client) {
        const { revocationEndpoint, revokeToken } = await import('../core/flows/revocation.js');
        endpoint = revocationEndpoint(client) !== undefined;
        if (!endpoint) {
          warn(
            `${tokens.issuer} has no revocation endpoint: the tokens are only removed from this machine and stay valid at the IdP until they expire`,
          );
        } else {
          const order: Array<[RevocableKind, string | undefined]> = [
            ['refresh_token', tokens.refresh_token],
            ['access_token', tokens.access_token],
          ];
          for (const [kind, token] of order) {
            if (!token) continue;
            try {
              await revokeToken(client, token, kind);
              revoked.push(kind);
            } catch (error) {
              warn(`could not revoke the ${kind.replace('_', ' ')}: ${describe(error)}`);
            }
          }
        }
      }
    }
    await store.removeProfileUser(profile);
    return {
      profile,
      removed: true,
      issuer: tokens.issuer,
      revoked,
      problems,
      revocationEndpoint: endpoint,
    };
  });
}

/** The client that obtained the tokens: revocation must be authenticated as that client. */
async function clientFor(session: Session, tokens: TokenSet): Promise<Client> {
  const discovered = await discover(session, tokens.issuer);
  const configured = session.settings.clientId;
  if (configured && configured !== tokens.client_id) {
    session.ctx.out.warn(
      `the cached login belongs to client "${tokens.client_id}", not "${configured}": revoking as "${tokens.client_id}"`,
    );
    const { buildClient } = await import('../core/client.js');
    return buildClient(discovered, { clientId: tokens.client_id });
  }
  return makeClientFor(session, discovered, tokens.client_id);
}

function describe(error: unknown): string {
  if (error instanceof GwError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

export function logoutLines(report: LogoutReport): string[] {
  if (!report.removed)
    return [`No cached login for profile "${report.profile}": nothing to log out.`];
  const lines: string[] = [];
  if (report.revoked.length) {
    const what = report.revoked.map((k) => k.replace('_', ' ')).join(' and ');
    lines.push(`Revoked the ${what} at ${report.issuer}.`);
  }
  lines.push(`Logged out: removed the cached login of profile "${report.profile}".`);
  return lines;
}
