/**
 * The importers' contract: each format's loader turns its documents into
 * APIs of the plan, plus warnings (docs/architecture.md, "The gateway as a
 * plan"). Loaders are pure apart from `ctx.readFile` (key files a config
 * names); they never open a socket: keys by discovery or JWKS are fetched
 * later, when the plan is started (or explained by `decode --file`).
 */
import type { ApiPlan, SourceFormat, Warning } from '../plan.js';

/** One file as read: its name, raw text, and the parsed value (JSON/YAML object, or XML text for APIM). */
export interface SourceDoc {
  readonly file: string;
  readonly text: string;
  /** Parsed JSON or YAML; `undefined` for XML (APIM loaders parse `text`). */
  readonly value: unknown;
}

export interface LoadContext {
  /** For `${VAR}` (oidc-gw), `${{ env "DECK_X" }}` (Kong), `{{name}}` fallbacks (APIM). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** `--upstream`: required for an APIM policy, otherwise a conflict. */
  readonly upstream?: string;
  /** `--path`: where an APIM policy applies (default `/`). */
  readonly path?: string;
  /** `--named-value name=value` (APIM). */
  readonly namedValues: Readonly<Record<string, string>>;
  /** Reads a file a config refers to (a PEM key...), relative to the config's folder. */
  readFile(path: string, from: string): Promise<string>;
  /** `--strict`: add oidc-gw's own checks on top of the gateway's (exp required, iss and aud when known). */
  readonly strict: boolean;
  /** Defaults from flags for things a file does not say (upstream timeout, max token size). */
  readonly defaults: { readonly upstreamTimeoutMs: number; readonly maxTokenBytes: number };
}

export interface LoadResult {
  readonly apis: readonly ApiPlan[];
  readonly warnings: readonly Warning[];
}

/** A loader takes every document of its format at once (Tyk: API definitions and a policies file). */
export type Loader = (docs: readonly SourceDoc[], ctx: LoadContext) => Promise<LoadResult>;

export type { SourceFormat };
