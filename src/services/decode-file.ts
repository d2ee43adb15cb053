/**
 * `decode TOKEN --file FILE [--path P]` (docs/commands/decode.md): loads the
 * gateway files as `serve` does, fetches their keys as `serve` does, and
 * says, per API, what it would answer to the token — in that gateway's
 * words (status, headers, body) and in oidc-gw's (the reason code).
 * Exit 0 when every selected API accepts it, 1 otherwise.
 */
import type { Pool } from 'undici';
import type { Context } from '../context.js';
import { PlanError, type SourceFormat } from '../gateway/plan.js';
import { configError } from './serve.js';

export interface DecodeFileOptions {
  readonly files: readonly string[];
  readonly format: SourceFormat | undefined;
  readonly path: string | undefined;
  readonly upstream: string | undefined;
  readonly namedValues: Readonly<Record<string, string>>;
  readonly strict: boolean;
}

export async function decodeWithFiles(
  ctx: Context,
  options: DecodeFileOptions,
  token: string,
): Promise<number> {
  const { loadPlan } = await import('../gateway/load/index.js');
  const { compilePlan } = await import('../gateway/http/compile.js');
  const { explainToken } = await import('../gateway/http/explain-token.js');
  const { createHttpClient } = await import('../http/client.js');
  let plan;
  try {
    plan = await loadPlan({
      files: options.files,
      format: options.format,
      env: ctx.env,
      upstream: options.upstream,
      path: undefined,
      namedValues: options.namedValues,
      strict: options.strict,
      defaults: { upstreamTimeoutMs: 30_000, maxTokenBytes: 8192 },
    });
  } catch (error) {
    if (error instanceof PlanError) throw configError(error);
    throw error;
  }
  const pools = new Map<string, Pool>();
  const notes: string[] = [];
  try {
    const compiled = await compilePlan(plan, {
      fetch: createHttpClient({ timeoutSeconds: ctx.globals.timeout }),
      timeoutSeconds: ctx.globals.timeout,
      insecureHttp: ctx.globals.insecureHttp,
      jwksMaxAgeMs: 600_000,
      jwksCooldownMs: 30_000,
      now: ctx.now,
      log: (line) => notes.push(line),
      tokenCacheSize: 0,
      pools,
    });
    const verdicts = await explainToken(compiled, token, { path: options.path, nowMs: ctx.now() });
    const accepted = verdicts.every((v) => v.accepted);
    if (ctx.out.json) {
      ctx.out.printJson({
        accepted,
        apis: verdicts.map((v) => ({
          api: v.api,
          path: v.path,
          format: v.format,
          source: v.source,
          accepted: v.accepted,
          status: v.answer?.status ?? null,
          headers: v.answer?.headers ?? null,
          body: v.answer?.body ?? null,
          reason: v.reason ?? null,
          gateway_reason: v.gatewayReason ?? null,
          upstream: v.upstream ?? null,
          counted_as: v.counted,
          note: v.note ?? null,
        })),
        warnings: plan.warnings.map((w) => ({
          file: w.file,
          path: w.path,
          kind: w.kind,
          message: w.message,
        })),
      });
    } else {
      const s = ctx.out.styleOut;
      const lines: string[] = [];
      for (const v of verdicts) {
        lines.push(`${s.bold(v.api)} (${v.path}, ${v.format}: ${v.source})`);
        if (v.accepted) {
          lines.push(`  ${s.green('accepted')}${v.upstream ? `: forwarded to ${v.upstream}` : ''}`);
          for (const c of v.counted) lines.push(`  counted as ${c.key} (${c.limit})`);
        } else if (v.answer) {
          lines.push(
            `  ${s.red('refused')}: ${v.answer.status}  reason ${v.reason}${v.gatewayReason ? ` (${v.gatewayReason})` : ''}`,
          );
          for (const [name, value] of Object.entries(v.answer.headers))
            lines.push(`  ${name}: ${value}`);
          lines.push(`  ${v.answer.body.replace(/\n/g, '\n  ')}`);
        }
        if (v.note) lines.push(`  ${s.dim(v.note)}`);
      }
      const skipped = plan.warnings.filter((w) => w.kind === 'skipped_check');
      if (skipped.length) {
        lines.push('', 'checks the deployed gateway skips:');
        for (const w of skipped)
          lines.push(`  ${w.file}${w.path ? `: ${w.path}` : ''} — ${w.message}`);
      }
      ctx.out.data(`${lines.join('\n')}\n`);
    }
    for (const n of notes) ctx.out.debug(n);
    return accepted ? 0 : 1;
  } finally {
    await Promise.all([...pools.values()].map((p) => p.destroy().catch(() => {})));
  }
}

export interface IntrospectOptions {
  readonly issuer: string | undefined;
  readonly clientId: string | undefined;
  readonly clientSecret: string | undefined;
  readonly authMethod: string | undefined;
}

/**
 * `decode TOKEN --introspect` (RFC 7662): asks the issuer's introspection
 * endpoint, with the profile's client (flags > environment > profile), as
 * the gateway does for an opaque token (src/gateway/check/introspection.ts).
 * Exit 0 when active, 1 when not, 3 when the IdP cannot answer.
 */
export async function introspectWithProfile(
  ctx: Context,
  options: IntrospectOptions,
  token: string,
): Promise<number> {
  const { openSession } = await import('./session.js');
  const { GwError } = await import('../core/errors/index.js');
  const session = await openSession(ctx, {
    ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
    ...(options.clientId !== undefined ? { clientId: options.clientId } : {}),
    ...(options.clientSecret !== undefined ? { clientSecret: options.clientSecret } : {}),
    ...(options.authMethod !== undefined ? { authMethod: options.authMethod } : {}),
  });
  const s = session.settings;
  if (!s.issuer) {
    throw new GwError('ERR_MISSING_SETTING', '--introspect needs the issuer whose token this is', {
      hint: 'give --issuer URL (or set OIDC_GW_ISSUER, or issuer in the profile)',
    });
  }
  if (!s.clientId || !s.clientSecret) {
    throw new GwError(
      'ERR_MISSING_SETTING',
      '--introspect needs a confidential client: the introspection endpoint authenticates its caller',
      {
        hint: 'give --client-id and --client-secret (or OIDC_GW_CLIENT_ID / OIDC_GW_CLIENT_SECRET, or the profile)',
      },
    );
  }
  const { Introspector } = await import('../gateway/check/introspection.js');
  const introspector = new Introspector({
    introspection: {
      issuer: s.issuer,
      clientId: s.clientId,
      clientSecret: s.clientSecret,
      authMethod: s.authMethod === 'post' ? 'client_secret_post' : 'client_secret_basic',
      negativeTtlSeconds: 0,
      maxTtlSeconds: 0,
    },
    fetch: await session.http(),
    timeoutMs: s.timeoutSeconds * 1000,
    insecureHttp: s.insecureHttp,
    now: ctx.now,
    log: (line) => ctx.out.debug(line),
  });
  const result = await introspector.introspect(token);
  if ('error' in result) {
    // The IdP refused (an HTTP error, invalid_client...): exit 1; unreachable: exit 3.
    throw new GwError(
      result.refusedByIdp ? 'ERR_IDP' : 'ERR_NETWORK',
      `introspection at ${s.issuer}: ${result.description}`,
      {
        hint: 'check that the IdP has an introspection endpoint and accepts this client for it',
      },
    );
  }
  if (ctx.out.json) {
    ctx.out.printJson({
      active: result.active,
      claims: result.active ? result.claims : null,
      issuer: s.issuer,
    });
  } else {
    const st = ctx.out.styleOut;
    const lines = [`introspection at ${s.issuer} (RFC 7662)`];
    if (result.active) {
      lines.push(`  ${st.green('active')}`);
      const { escapeControls } = await import('../core/terminal-text.js');
      for (const [name, value] of Object.entries(result.claims)) {
        lines.push(
          `  ${name}: ${escapeControls(typeof value === 'string' ? value : JSON.stringify(value))}`,
        );
      }
    } else {
      lines.push(
        `  ${st.red('not active')}: expired, revoked, unknown to this issuer, or not an access token`,
      );
    }
    ctx.out.data(`${lines.join('\n')}\n`);
  }
  return result.active ? 0 : 1;
}
