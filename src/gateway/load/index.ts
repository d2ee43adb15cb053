/**
 * `serve --file` / `decode --file`: read each file, tell its format from its
 * content (or `--format`), hand each format's documents to its loader, and
 * put the APIs together into one plan (docs/gateway-config.md: loading
 * configurations). Each importer is loaded only when a file of its format
 * is given.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import {
  freezePlan,
  PlanError,
  type ErrorStyle,
  type Plan,
  type SourceFormat,
  type Warning,
} from '../plan.js';
import type { LoadContext, LoadResult, SourceDoc } from './types.js';

/** Largest configuration file read. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export interface LoadOptions {
  readonly files: readonly string[];
  /** `--format`: forces every file's format. */
  readonly format?: SourceFormat | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly upstream?: string | undefined;
  readonly path?: string | undefined;
  readonly namedValues: Readonly<Record<string, string>>;
  readonly strict: boolean;
  readonly defaults: LoadContext['defaults'];
}

async function readConfig(file: string): Promise<string> {
  let buffer: Buffer;
  try {
    buffer = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new PlanError(
      file,
      '',
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory'
            : String((error as Error).message),
    );
  }
  if (buffer.length > MAX_CONFIG_BYTES) {
    throw new PlanError(file, '', `larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB`);
  }
  const text = buffer.toString('utf8');
  if (text.includes('\uFFFD')) throw new PlanError(file, '', 'not UTF-8 text');
  return text.replace(/^\uFEFF/, '');
}

/** Parses JSON, or YAML (a superset); XML is left to the APIM loader. */
async function parse(file: string, text: string): Promise<unknown> {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('<')) return undefined;
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return JSON.parse(text);
    } catch {
      // Not strict JSON: YAML reads it, with line numbers in its errors.
    }
  }
  const { parseDocument } = await import('yaml');
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    // linePos is set only with prettyErrors: count the lines up to the error's offset.
    const line = e ? text.slice(0, e.pos[0]).split('\n').length : undefined;
    throw new PlanError(
      file,
      line ? `line ${line}` : '',
      `not valid YAML or JSON: ${e?.message.split('\n')[0] ?? 'parse error'}`,
    );
  }
  return doc.toJS({ maxAliasCount: 100 });
}

async function detect(doc: SourceDoc): Promise<SourceFormat | undefined> {
  const [
    { isNativeDocument },
    { isKongDocument, looksLikeKongText },
    { isTykDocument },
    { isApimDocument },
  ] = await Promise.all([
    import('./native.js'),
    import('./kong.js'),
    import('./tyk.js'),
    import('./apim.js'),
  ]);
  if (doc.value === undefined) {
    if (isApimDocument(doc.text)) return 'apim';
    if (looksLikeKongText(doc.text)) return 'kong';
    return undefined;
  }
  if (isNativeDocument(doc.value)) return 'oidc-gw';
  if (isKongDocument(doc.value)) return 'kong';
  if (isTykDocument(doc.value)) return 'tyk';
  return undefined;
}

const STYLE_OF: Readonly<Record<SourceFormat, ErrorStyle>> = {
  flags: 'rfc6750',
  'oidc-gw': 'rfc6750',
  tyk: 'tyk',
  kong: 'kong',
  apim: 'apim',
};

async function loaderFor(format: SourceFormat) {
  switch (format) {
    case 'oidc-gw':
      return (await import('./native.js')).loadNative;
    case 'tyk':
      return (await import('./tyk.js')).loadTyk;
    case 'kong':
      return (await import('./kong.js')).loadKong;
    case 'apim':
      return (await import('./apim.js')).loadApim;
    default:
      throw new Error(`no loader for ${format}`);
  }
}

/** Reads and compiles the files into one plan. Throws PlanError (exit 2) when invalid. */
export async function loadPlan(options: LoadOptions): Promise<Plan> {
  const docs: Array<SourceDoc & { format: SourceFormat }> = [];
  for (const file of options.files) {
    const text = await readConfig(file);
    let value: unknown;
    try {
      value = await parse(file, text);
    } catch (error) {
      // A Kong file whose ${{ env }} references make it invalid YAML until substituted.
      const { looksLikeKongText } = await import('./kong.js');
      if (options.format === 'kong' || (options.format === undefined && looksLikeKongText(text))) {
        value = undefined;
      } else {
        throw error;
      }
    }
    const doc: SourceDoc = { file, text, value };
    const format = options.format ?? (await detect(doc));
    if (!format) {
      throw new PlanError(
        file,
        '',
        'cannot tell its format (an oidc-gw file has apis:, a Kong file _format_version, a Tyk API definition api_id and proxy, an APIM policy <policies>); give --format',
      );
    }
    docs.push({ ...doc, format });
  }
  const formats = [...new Set(docs.map((d) => d.format))];
  if (options.upstream !== undefined && !formats.includes('apim')) {
    throw new PlanError(
      docs[0]?.file ?? 'flags',
      '',
      '--upstream applies to an APIM policy only; the file names its own upstreams (remove --upstream)',
    );
  }
  if (options.path !== undefined && !formats.includes('apim')) {
    throw new PlanError(
      docs[0]?.file ?? 'flags',
      '',
      '--path applies to an APIM policy only; the file gives its own paths (remove --path)',
    );
  }
  const named = Object.keys(options.namedValues);
  if (named.length > 0 && !formats.includes('apim')) {
    throw new PlanError(
      docs[0]?.file ?? 'flags',
      '',
      `--named-value applies to an APIM policy only ({{name}} in a policy); ${named.join(', ')} would be used by nothing (remove --named-value)`,
    );
  }
  const ctx: LoadContext = {
    env: options.env,
    ...(options.upstream !== undefined ? { upstream: options.upstream } : {}),
    ...(options.path !== undefined ? { path: options.path } : {}),
    namedValues: options.namedValues,
    strict: options.strict,
    defaults: options.defaults,
    readFile: (path, from) =>
      readFile(isAbsolute(path) ? path : resolve(dirname(from), path), 'utf8'),
  };
  const results: LoadResult[] = [];
  for (const format of formats) {
    const loader = await loaderFor(format);
    results.push(
      await loader(
        docs.filter((d) => d.format === format),
        ctx,
      ),
    );
  }
  const apis = results.flatMap((r) => r.apis);
  const warnings: Warning[] = results.flatMap((r) => r.warnings);
  if (apis.length === 0) throw new PlanError(docs[0]?.file ?? 'flags', '', 'no API in the files');
  const seen = new Map<string, string>();
  for (const api of apis) {
    const where = `${api.source.file}: ${api.source.path}`;
    const before = seen.get(api.name);
    if (before)
      throw new PlanError(
        api.source.file,
        api.source.path,
        `API name "${api.name}" is already used (${before})`,
      );
    seen.set(api.name, where);
  }
  // One API per path prefix, unless routes tell them apart by method or host (Kong).
  const prefixes = new Map<string, string>();
  for (const api of apis) {
    const { path, methods, hosts } = api.match;
    const key = `${path} ${methods?.join(',') ?? '*'} ${hosts?.join(',') ?? '*'}`;
    const before = prefixes.get(key);
    if (before) {
      throw new PlanError(
        api.source.file,
        api.source.path,
        `path ${path} is already taken by API "${before}": each path prefix goes to one API${methods || hosts ? ' for the same methods and hosts' : ''}`,
      );
    }
    prefixes.set(key, api.name);
  }
  const first = docs[0] as { format: SourceFormat };
  const firstApi = apis.find((a) => a.source.format === first.format);
  return freezePlan({
    apis,
    warnings,
    notFoundStyle: firstApi?.answers ?? { style: STYLE_OF[first.format] },
    files: [...options.files],
  });
}
