/**
 * The Kong importer (docs/gateways/kong.md): decK / declarative files
 * (`_format_version`, YAML or JSON) compiled into plan APIs, one per route
 * path. Services give the upstream, routes the path prefix and `strip_path`,
 * consumers and `jwt_secrets` the jwt plugin's credentials, and the plugins
 * (route beats service beats global for one plugin name, as Kong) what is
 * checked: `jwt`, `openid-connect`, `rate-limiting`. Everything else is a
 * warning with its path.
 *
 * decK's `${{ env "DECK_X" }}` references are substituted in the raw text
 * first, as decK does, and the text parsed again.
 */
import { createHash } from 'node:crypto';
import { parse } from 'yaml';
import { KONG_JWT_ALGORITHMS } from '../answer/kong.js';
import {
  BEARER_HEADER,
  DEFAULT_CHECKS,
  PlanError,
  normalizePrefix,
  type ApiPlan,
  type LimitRule,
  type StyleOptions,
  type Warning,
} from '../plan.js';
import {
  compileJwt,
  compileOpenIdConnect,
  compileRateLimiting,
  type AuthPart,
  type KongCredential,
  type PluginEntry,
} from './kong-plugins.js';
import {
  fail,
  isEmptyValue,
  isObject,
  optArray,
  optBoolean,
  optNumber,
  optObject,
  optString,
  optStrings,
  warn,
  type Json,
  type Where,
} from './kong-read.js';
import type { LoadContext, Loader, SourceDoc } from './types.js';

/** A Kong declarative document says which format version it follows. */
export function isKongDocument(value: unknown): boolean {
  return isObject(value) && '_format_version' in value;
}

/**
 * The same test on raw text, for a file that only parses once its
 * `${{ env }}` references are substituted (a reference inside a YAML flow
 * list is not valid YAML before).
 */
export function looksLikeKongText(text: string): boolean {
  return /^\s*["']?_format_version["']?\s*:/m.test(text);
}

// ---------------------------------------------------------------------------
// decK environment references

/** `${{ env "DECK_X" }}`; in a JSON string the quotes are escaped (`\"`), or Go's raw quotes (backticks) are used. */
const ENV_REF = /\$\{\{\s*env\s+(?:"([^"\\]*)"|\\"([^"\\]*)\\"|`([^`]*)`)\s*\}\}/g;

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * The document with its `${{ env "DECK_X" }}` references replaced from
 * `env` (decK reads only `DECK_`-prefixed variables; a missing one is an
 * error naming it). Values never appear in errors.
 */
export function substituteDeckEnv(
  doc: SourceDoc,
  env: Readonly<Record<string, string | undefined>>,
): unknown {
  if (!doc.text.includes('${{')) return doc.value;
  const text = doc.text.replace(ENV_REF, (...args: unknown[]) => {
    const name = String(args[1] ?? args[2] ?? args[3]);
    const offset = args[4] as number;
    const at = `line ${lineAt(doc.text, offset)}`;
    if (!name.startsWith('DECK_')) {
      throw new PlanError(
        doc.file,
        at,
        `\${{ env "${name}" }}: decK reads only environment variables whose names start with DECK_`,
      );
    }
    const value = env[name];
    if (value === undefined) {
      throw new PlanError(doc.file, at, `environment variable ${name} is not set`);
    }
    return value;
  });
  const left = text.indexOf('${{');
  if (left >= 0 && /^\$\{\{\s*env\b/.test(text.slice(left))) {
    throw new PlanError(
      doc.file,
      `line ${lineAt(text, left)}`,
      'unreadable ${{ env }} reference (expected ${{ env "DECK_NAME" }})',
    );
  }
  try {
    return parse(text);
  } catch (err) {
    const line = (err as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw new PlanError(
      doc.file,
      line === undefined ? '' : `line ${line}`,
      'not valid YAML or JSON once its ${{ env }} references are substituted',
    );
  }
}

// ---------------------------------------------------------------------------
// Entities

interface ServiceRec {
  readonly where: Where;
  readonly path: string;
  readonly raw: Json;
  readonly name?: string;
  readonly id?: string;
  /** Stable identity for counter scopes. */
  readonly key: string;
}

interface RouteRec {
  readonly where: Where;
  readonly path: string;
  readonly raw: Json;
  readonly service: ServiceRec;
  readonly name?: string;
  readonly key: string;
}

interface PluginRec extends PluginEntry {
  readonly where: Where;
  /** The route or service key it is attached to (undefined: global). */
  readonly target?: string;
}

interface ConsumerRec {
  readonly id: string;
  readonly username?: string;
  readonly customId?: string;
}

const SUPPORTED_PLUGINS = new Set(['jwt', 'openid-connect', 'rate-limiting']);

const TOP_LEVEL_READ = new Set([
  '_format_version',
  '_transform',
  '_info',
  '_workspace',
  '_konnect',
  'services',
  'routes',
  'consumers',
  'plugins',
  'jwt_secrets',
  'upstreams',
]);

/**
 * Entity fields the importer reads (or warns about elsewhere), and the
 * defaults of those it does not: a field at Kong's default says nothing
 * (`deck dump` writes every field), any other value is a warning with its
 * path. Defaults: https://developer.konghq.com/gateway/entities/service/,
 * https://developer.konghq.com/gateway/entities/route/,
 * https://developer.konghq.com/gateway/entities/plugin/.
 */
const SERVICE_READ = new Set([
  'name',
  'id',
  'url',
  'protocol',
  'host',
  'port',
  'path',
  'read_timeout',
  'enabled',
  'routes',
  'plugins',
  'tags',
  'created_at',
  'updated_at',
]);
const SERVICE_DEFAULTS: Readonly<Record<string, unknown>> = {
  connect_timeout: 60000,
  write_timeout: 60000,
  retries: 5,
};
const ROUTE_READ = new Set([
  'name',
  'id',
  'paths',
  'strip_path',
  'protocols',
  'preserve_host',
  'plugins',
  'service',
  'tags',
  'created_at',
  'updated_at',
  'hosts',
  'methods',
  'headers',
  'snis',
  'sources',
  'destinations',
]);
const ROUTE_DEFAULTS: Readonly<Record<string, unknown>> = {
  path_handling: 'v0',
  regex_priority: 0,
  https_redirect_status_code: 426,
  request_buffering: true,
  response_buffering: true,
};
const PLUGIN_READ = new Set([
  'name',
  'id',
  'config',
  'enabled',
  'protocols',
  'route',
  'service',
  'consumer',
  'consumer_group',
  'tags',
  'instance_name',
  'created_at',
  'updated_at',
]);

/** One warning per field of `entity` that is neither read nor at its default nor empty. */
function warnUnreadFields(
  where: Where,
  entity: Json,
  path: string,
  read: ReadonlySet<string>,
  defaults: Readonly<Record<string, unknown>>,
): void {
  for (const key of Object.keys(entity)) {
    if (read.has(key) || isEmptyValue(entity[key])) continue;
    if (key in defaults && JSON.stringify(defaults[key]) === JSON.stringify(entity[key])) continue;
    warn(where, `${path}.${key}`, 'not supported, not enforced');
  }
}

/** Kong gives an entity without `id` a random UUID; oidc-gw derives a stable one from its name. */
function derivedId(kind: string, name: string): string {
  const h = createHash('sha256').update(`kong:${kind}:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A reference to another entity: `name`, `id`, or `{name: ...}` / `{id: ...}`. */
function refOf(where: Where, value: unknown, path: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  const o = optObject(where, value, path) ?? {};
  return (
    optString(where, o['id'], `${path}.id`) ??
    optString(where, o['name'], `${path}.name`) ??
    optString(where, o['username'], `${path}.username`)
  );
}

class Registry {
  readonly services: ServiceRec[] = [];
  readonly routes: RouteRec[] = [];
  readonly plugins: PluginRec[] = [];
  readonly consumers = new Map<string, ConsumerRec>();
  readonly secrets: { where: Where; path: string; raw: Json; consumer: ConsumerRec }[] = [];
  readonly upstreams = new Map<string, string>();
  /** Ids and names of disabled services and of their nested routes: what refers to them is skipped. */
  readonly disabled = new Set<string>();
  readonly pendingRoutes: { where: Where; path: string; raw: Json; ref: string }[] = [];
  readonly pendingSecrets: { where: Where; path: string; raw: Json; ref: string }[] = [];
  readonly pendingPlugins: {
    where: Where;
    path: string;
    raw: Json;
    route?: string;
    service?: string;
  }[] = [];

  findService(ref: string): ServiceRec | undefined {
    return this.services.find((s) => s.id === ref || s.name === ref);
  }

  findRoute(ref: string): RouteRec | undefined {
    return this.routes.find((r) => r.raw['id'] === ref || r.name === ref);
  }

  findConsumer(ref: string): ConsumerRec | undefined {
    for (const c of this.consumers.values()) {
      if (c.id === ref || c.username === ref || c.customId === ref) return c;
    }
    return undefined;
  }
}

function addPlugin(
  reg: Registry,
  where: Where,
  raw: unknown,
  path: string,
  level: 'route' | 'service' | 'global',
  target: string | undefined,
): void {
  const p = optObject(where, raw, path) ?? {};
  const name = optString(where, p['name'], `${path}.name`);
  if (name === undefined) fail(where, `${path}.name`, 'required');
  if (optBoolean(where, p['enabled'], `${path}.enabled`) === false) return;
  if (!SUPPORTED_PLUGINS.has(name)) {
    warn(where, path, `plugin ${name} is not supported, not enforced`);
    return;
  }
  if (!isEmptyValue(p['consumer']) || !isEmptyValue(p['consumer_group'])) {
    warn(where, path, `${name} scoped to a consumer is not emulated`);
    return;
  }
  const protocols = optStrings(where, p['protocols'], `${path}.protocols`);
  if (protocols && !protocols.some((x) => x === 'http' || x === 'https')) return;
  warnUnreadFields(where, p, path, PLUGIN_READ, {});
  reg.plugins.push({
    name,
    config: optObject(where, p['config'], `${path}.config`) ?? {},
    file: where.file,
    path,
    scope: level,
    scopeKey: target ?? '',
    where,
    ...(target === undefined ? {} : { target }),
  });
}

function addService(reg: Registry, where: Where, raw: unknown, path: string): void {
  const s = optObject(where, raw, path) ?? {};
  const name = optString(where, s['name'], `${path}.name`);
  const id = optString(where, s['id'], `${path}.id`);
  const rec: ServiceRec = {
    where,
    path,
    raw: s,
    ...(name === undefined ? {} : { name }),
    ...(id === undefined ? {} : { id }),
    key: id ?? name ?? `${where.file}#${path}`,
  };
  if (optBoolean(where, s['enabled'], `${path}.enabled`) === false) {
    warn(where, path, 'service disabled: its routes are not served', 'note');
    for (const ref of [id, name]) if (ref !== undefined) reg.disabled.add(ref);
    for (const r of optArray(where, s['routes'], `${path}.routes`) ?? []) {
      const route = isObject(r) ? r : {};
      for (const ref of [route['id'], route['name']])
        if (typeof ref === 'string') reg.disabled.add(ref);
    }
    return;
  }
  reg.services.push(rec);
  warnUnreadFields(where, s, path, SERVICE_READ, SERVICE_DEFAULTS);
  for (const [j, r] of (optArray(where, s['routes'], `${path}.routes`) ?? []).entries()) {
    addRoute(reg, where, r, `${path}.routes[${j}]`, rec);
  }
  for (const [k, p] of (optArray(where, s['plugins'], `${path}.plugins`) ?? []).entries()) {
    addPlugin(reg, where, p, `${path}.plugins[${k}]`, 'service', rec.key);
  }
}

function addRoute(
  reg: Registry,
  where: Where,
  raw: unknown,
  path: string,
  service: ServiceRec,
): void {
  const r = optObject(where, raw, path) ?? {};
  const name = optString(where, r['name'], `${path}.name`);
  const id = optString(where, r['id'], `${path}.id`);
  const rec: RouteRec = {
    where,
    path,
    raw: r,
    service,
    ...(name === undefined ? {} : { name }),
    key: id ?? name ?? `${where.file}#${path}`,
  };
  reg.routes.push(rec);
  warnUnreadFields(where, r, path, ROUTE_READ, ROUTE_DEFAULTS);
  for (const [k, p] of (optArray(where, r['plugins'], `${path}.plugins`) ?? []).entries()) {
    addPlugin(reg, where, p, `${path}.plugins[${k}]`, 'route', rec.key);
  }
}

function addConsumer(reg: Registry, where: Where, raw: unknown, path: string): void {
  const c = optObject(where, raw, path) ?? {};
  const username = optString(where, c['username'], `${path}.username`);
  const customId = optString(where, c['custom_id'], `${path}.custom_id`);
  if (username === undefined && customId === undefined) {
    fail(where, path, 'a consumer needs a username or a custom_id');
  }
  const id =
    optString(where, c['id'], `${path}.id`) ?? derivedId('consumer', username ?? customId ?? '');
  const rec: ConsumerRec = {
    id,
    ...(username === undefined ? {} : { username }),
    ...(customId === undefined ? {} : { customId }),
  };
  if (reg.consumers.has(id)) fail(where, path, `a second consumer with id ${id}`);
  reg.consumers.set(id, rec);
  for (const [k, s] of (optArray(where, c['jwt_secrets'], `${path}.jwt_secrets`) ?? []).entries()) {
    const sp = `${path}.jwt_secrets[${k}]`;
    reg.secrets.push({ where, path: sp, raw: optObject(where, s, sp) ?? {}, consumer: rec });
  }
  for (const [k, p] of (optArray(where, c['plugins'], `${path}.plugins`) ?? []).entries()) {
    const name = isObject(p) && typeof p['name'] === 'string' ? p['name'] : 'plugin';
    warn(where, `${path}.plugins[${k}]`, `${name} scoped to a consumer is not emulated`);
  }
  for (const key of Object.keys(c)) {
    if (['id', 'username', 'custom_id', 'jwt_secrets', 'plugins', 'tags'].includes(key)) continue;
    if (isEmptyValue(c[key])) continue;
    warn(where, `${path}.${key}`, 'not supported (only jwt_secrets credentials are read)');
  }
}

function collect(reg: Registry, where: Where, root: Json): void {
  const version = root['_format_version'];
  if (typeof version !== 'string' && typeof version !== 'number') {
    fail(where, '_format_version', 'expected a version such as "3.0"');
  }
  if (!String(version).startsWith('3')) {
    warn(where, '_format_version', `${String(version)} is read as 3.0`, 'note');
  }
  for (const key of Object.keys(root)) {
    if (!TOP_LEVEL_READ.has(key) && !isEmptyValue(root[key])) {
      warn(where, key, 'not supported, not enforced');
    }
  }
  for (const [i, u] of (optArray(where, root['upstreams'], 'upstreams') ?? []).entries()) {
    const up = optObject(where, u, `upstreams[${i}]`) ?? {};
    const name = optString(where, up['name'], `upstreams[${i}].name`);
    const targets = optArray(where, up['targets'], `upstreams[${i}].targets`) ?? [];
    const first = targets[0];
    const target = isObject(first)
      ? optString(where, first['target'], `upstreams[${i}].targets[0].target`)
      : undefined;
    if (name !== undefined && target !== undefined) {
      reg.upstreams.set(name, target);
      if (targets.length > 1) {
        warn(
          where,
          `upstreams[${i}].targets`,
          'load balancing is not emulated: the first target is used',
        );
      }
    }
  }
  for (const [i, s] of (optArray(where, root['services'], 'services') ?? []).entries()) {
    addService(reg, where, s, `services[${i}]`);
  }
  for (const [j, r] of (optArray(where, root['routes'], 'routes') ?? []).entries()) {
    const path = `routes[${j}]`;
    const ro = optObject(where, r, path) ?? {};
    const ref = refOf(where, ro['service'], `${path}.service`);
    if (ref === undefined) {
      warn(where, path, 'a route without a service has nowhere to proxy: not served');
      continue;
    }
    reg.pendingRoutes.push({ where, path, raw: ro, ref });
  }
  for (const [i, c] of (optArray(where, root['consumers'], 'consumers') ?? []).entries()) {
    addConsumer(reg, where, c, `consumers[${i}]`);
  }
  for (const [k, s] of (optArray(where, root['jwt_secrets'], 'jwt_secrets') ?? []).entries()) {
    const path = `jwt_secrets[${k}]`;
    const so = optObject(where, s, path) ?? {};
    const ref = refOf(where, so['consumer'], `${path}.consumer`);
    if (ref === undefined) fail(where, `${path}.consumer`, 'required');
    reg.pendingSecrets.push({ where, path, raw: so, ref });
  }
  for (const [k, p] of (optArray(where, root['plugins'], 'plugins') ?? []).entries()) {
    const path = `plugins[${k}]`;
    const po = optObject(where, p, path) ?? {};
    const route = refOf(where, po['route'], `${path}.route`);
    const service = refOf(where, po['service'], `${path}.service`);
    reg.pendingPlugins.push({
      where,
      path,
      raw: po,
      ...(route === undefined ? {} : { route }),
      ...(service === undefined ? {} : { service }),
    });
  }
}

/** Top-level routes, secrets and plugins refer to entities of any file: resolved once all are read. */
function resolve(reg: Registry): void {
  for (const r of reg.pendingRoutes) {
    if (reg.disabled.has(r.ref)) {
      warn(r.where, r.path, `service ${r.ref} is disabled: this route is not served`, 'note');
      for (const ref of [r.raw['id'], r.raw['name']])
        if (typeof ref === 'string') reg.disabled.add(ref);
      continue;
    }
    const service = reg.findService(r.ref);
    if (!service) fail(r.where, `${r.path}.service`, `no service named ${r.ref}`);
    addRoute(reg, r.where, r.raw, r.path, service);
  }
  for (const s of reg.pendingSecrets) {
    const consumer = reg.findConsumer(s.ref);
    if (!consumer) fail(s.where, `${s.path}.consumer`, `no consumer ${s.ref}`);
    reg.secrets.push({ where: s.where, path: s.path, raw: s.raw, consumer });
  }
  for (const p of reg.pendingPlugins) {
    // A plugin on a disabled service, or on one of its routes, applies to nothing served.
    if (
      (p.route !== undefined && reg.disabled.has(p.route)) ||
      (p.service !== undefined && reg.disabled.has(p.service))
    )
      continue;
    if (p.route !== undefined) {
      const route = reg.findRoute(p.route);
      if (!route) fail(p.where, `${p.path}.route`, `no route named ${p.route}`);
      addPlugin(reg, p.where, p.raw, p.path, 'route', route.key);
    } else if (p.service !== undefined) {
      const service = reg.findService(p.service);
      if (!service) fail(p.where, `${p.path}.service`, `no service named ${p.service}`);
      addPlugin(reg, p.where, p.raw, p.path, 'service', service.key);
    } else {
      addPlugin(reg, p.where, p.raw, p.path, 'global', undefined);
    }
  }
}

function credentialsOf(reg: Registry): KongCredential[] {
  const out: KongCredential[] = [];
  const byKey = new Map<string, string>();
  for (const s of reg.secrets) {
    const { where, path, raw } = s;
    const key = optString(where, raw['key'], `${path}.key`);
    const algorithm = optString(where, raw['algorithm'], `${path}.algorithm`) ?? 'HS256';
    if (!KONG_JWT_ALGORITHMS.has(algorithm)) {
      fail(
        where,
        `${path}.algorithm`,
        `"${algorithm}" is not an algorithm Kong's jwt plugin knows`,
      );
    }
    const secret = optString(where, raw['secret'], `${path}.secret`);
    const rsaPublicKey = optString(where, raw['rsa_public_key'], `${path}.rsa_public_key`);
    if (key === undefined) {
      warn(
        where,
        path,
        'no key: Kong generates a random one, which no token can name; skipped',
        'note',
      );
      continue;
    }
    const seen = byKey.get(key);
    if (seen !== undefined) fail(where, `${path}.key`, `the same key as ${seen}`);
    byKey.set(key, path);
    if (algorithm.startsWith('HS')) {
      if (secret === undefined) {
        warn(
          where,
          path,
          'no secret: Kong generates a random one, which no token can match; skipped',
          'note',
        );
        continue;
      }
    } else if (rsaPublicKey === undefined) {
      fail(where, `${path}.rsa_public_key`, `required for ${algorithm}`);
    }
    out.push({
      key,
      algorithm,
      ...(secret === undefined ? {} : { secret }),
      ...(rsaPublicKey === undefined ? {} : { rsaPublicKey }),
      consumer: s.consumer,
      file: where.file,
      path,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Upstreams and routes

function upstreamOf(reg: Registry, service: ServiceRec): string | undefined {
  const { where, path, raw } = service;
  const url = optString(where, raw['url'], `${path}.url`);
  if (url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      fail(where, `${path}.url`, 'not a URL');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      warn(
        where,
        `${path}.url`,
        `${parsed.protocol.slice(0, -1)} services are not supported: not served`,
      );
      return undefined;
    }
    const target = reg.upstreams.get(parsed.hostname);
    if (target !== undefined) parsed.host = target;
    return parsed.href.endsWith('/') && parsed.pathname === '/'
      ? parsed.href.slice(0, -1)
      : parsed.href;
  }
  const protocol = optString(where, raw['protocol'], `${path}.protocol`) ?? 'http';
  if (protocol !== 'http' && protocol !== 'https') {
    warn(where, `${path}.protocol`, `${protocol} services are not supported: not served`);
    return undefined;
  }
  let host = optString(where, raw['host'], `${path}.host`);
  if (host === undefined) fail(where, path, 'needs url, or host (with protocol, port, path)');
  const port = optNumber(where, raw['port'], `${path}.port`) ?? (protocol === 'https' ? 443 : 80);
  const base = optString(where, raw['path'], `${path}.path`) ?? '';
  const target = reg.upstreams.get(host);
  if (target !== undefined) host = target;
  const authority = host.includes(':') && !host.startsWith('[') ? host : `${host}:${port}`;
  return `${protocol}://${authority}${base === '/' ? '' : base}`;
}

const ROUTE_UNMATCHED = ['headers', 'snis', 'sources', 'destinations'];

/** A route's `methods` (upper case) and `hosts` (lower case), as Kong matches them. */
function routeSelectors(
  where: Where,
  raw: Record<string, unknown>,
  path: string,
): { methods?: string[]; hosts?: string[] } {
  const out: { methods?: string[]; hosts?: string[] } = {};
  const methods = optStrings(where, raw['methods'], `${path}.methods`);
  if (methods && methods.length > 0) {
    methods.forEach((m, i) => {
      if (!/^[A-Za-z]+$/.test(m))
        fail(where, `${path}.methods[${i}]`, `not an HTTP method: "${m}"`);
    });
    out.methods = methods.map((m) => m.toUpperCase());
  }
  const hosts = optStrings(where, raw['hosts'], `${path}.hosts`);
  if (hosts && hosts.length > 0) {
    hosts.forEach((h, i) => {
      const stars = h.split('*').length - 1;
      if (stars > 1 || (stars === 1 && !h.startsWith('*.') && !h.endsWith('.*')))
        fail(where, `${path}.hosts[${i}]`, `a host may have one wildcard, first or last: "${h}"`);
    });
    out.hosts = hosts.map((h) => h.toLowerCase());
  }
  return out;
}

function pluginsFor(reg: Registry, route: RouteRec): Map<string, PluginRec> {
  const chosen = new Map<string, PluginRec>();
  const levels: ((p: PluginRec) => boolean)[] = [
    (p) => p.scope === 'route' && p.target === route.key,
    (p) => p.scope === 'service' && p.target === route.service.key,
    (p) => p.scope === 'global',
  ];
  for (const at of levels) {
    for (const p of reg.plugins.filter(at)) {
      if (!chosen.has(p.name)) chosen.set(p.name, p);
    }
  }
  return chosen;
}

function noAuth(ctx: LoadContext): AuthPart {
  return {
    token: BEARER_HEADER,
    trust: { issuers: [], jwksUris: [], publicKeys: [], secrets: [] },
    checks: { ...DEFAULT_CHECKS, maxTokenBytes: ctx.defaults.maxTokenBytes },
    credentials: { bearer: false },
    forward: { claims: [], stripAuthorization: false, consumerHeaders: false },
    answers: {},
  };
}

function apisOf(
  reg: Registry,
  route: RouteRec,
  credentials: readonly KongCredential[],
  ctx: LoadContext,
): ApiPlan[] {
  const { where, path, raw } = route;
  const upstream = upstreamOf(reg, route.service);
  if (upstream === undefined) return [];
  for (const field of ROUTE_UNMATCHED) {
    if (!isEmptyValue(raw[field]))
      warn(where, `${path}.${field}`, 'not matched: only paths, methods and hosts select a route');
  }
  const selectors = routeSelectors(where, raw, path);
  if (optBoolean(where, raw['preserve_host'], `${path}.preserve_host`) === true) {
    warn(where, `${path}.preserve_host`, 'the upstream gets its own Host');
  }
  const protocols = optStrings(where, raw['protocols'], `${path}.protocols`);
  if (protocols && !protocols.some((x) => x === 'http' || x === 'https')) {
    warn(
      where,
      `${path}.protocols`,
      `${protocols.join(', ')} routes are not supported: not served`,
    );
    return [];
  }
  const stripPath = optBoolean(where, raw['strip_path'], `${path}.strip_path`) ?? true;
  let paths = optStrings(where, raw['paths'], `${path}.paths`) ?? [];
  const regex = paths.filter((p) => p.startsWith('~'));
  for (const p of regex) {
    warn(
      where,
      `${path}.paths[${paths.indexOf(p)}]`,
      `regex path ${p} is not supported: not served`,
    );
  }
  paths = paths.filter((p) => !p.startsWith('~'));
  if (paths.length === 0) {
    if (regex.length > 0) return [];
    warn(where, `${path}.paths`, 'no paths: served at /', 'note');
    paths = ['/'];
  }

  const opts = { strict: ctx.strict, maxTokenBytes: ctx.defaults.maxTokenBytes };
  const plugins = pluginsFor(reg, route);
  const jwt = plugins.get('jwt');
  const oidc = plugins.get('openid-connect');
  let auth: AuthPart;
  if (jwt) {
    auth = compileJwt(jwt, credentials, jwt.where, opts);
    if (oidc)
      warn(oidc.where, oidc.path, 'with the jwt plugin on the same route: only jwt is emulated');
  } else if (oidc) {
    auth = compileOpenIdConnect(oidc, oidc.where, opts);
  } else {
    auth = noAuth(ctx);
    warn(where, path, 'no authentication plugin: every request is proxied', 'note');
  }
  const anonymous = anonymousConsumer(reg, jwt ?? oidc);
  const authPlugin = jwt ?? oidc;
  const preflight =
    authPlugin === undefined
      ? undefined
      : optBoolean(
          authPlugin.where,
          authPlugin.config['run_on_preflight'],
          `${authPlugin.path}.config.run_on_preflight`,
        );
  const rl = plugins.get('rate-limiting');
  const rate = rl ? compileRateLimiting(rl, route.service.key, rl.where) : undefined;
  const limits: readonly LimitRule[] = rate?.limits ?? [];
  const scope = rate?.counterScope;

  const answers: StyleOptions = { style: 'kong', ...auth.answers, ...(rate?.answers ?? {}) };
  const serviceLabel = route.service.name ?? route.service.path;
  const base =
    route.name !== undefined && route.service.name === undefined
      ? route.name
      : `${serviceLabel}.${route.name ?? path.slice(path.lastIndexOf('routes['))}`;
  const timeout = optNumber(
    route.service.where,
    route.service.raw['read_timeout'],
    `${route.service.path}.read_timeout`,
  );
  return paths.map((p, k) => ({
    name: paths.length === 1 ? base : `${base}[${k}]`,
    source: { format: 'kong', file: where.file, path },
    match: { path: normalizePrefix(p), stripPath, ...selectors },
    upstream: { url: upstream, timeoutMs: timeout ?? ctx.defaults.upstreamTimeoutMs },
    token: auth.token,
    trust: auth.trust,
    checks: auth.checks,
    credentials: auth.credentials,
    forward: auth.forward,
    limits,
    answers,
    ...(scope === undefined ? {} : { counterScope: scope }),
    ...(auth.credentialClaim === undefined ? {} : { credentialClaim: auth.credentialClaim }),
    ...(anonymous ? { anonymous } : {}),
    ...(preflight === false ? { preflightUnauthenticated: true } : {}),
  }));
}

/**
 * The auth plugin's `anonymous` (a consumer id or username): a request that
 * fails authentication goes on as that consumer, with its X-Consumer-*
 * headers and X-Anonymous-Consumer: true (Kong's jwt and openid-connect).
 * A consumer the file does not have is an error: Kong would answer 500.
 */
function anonymousConsumer(
  reg: Registry,
  plugin: PluginRec | undefined,
): Record<string, string> | undefined {
  if (!plugin) return undefined;
  const at = `${plugin.path}.config.anonymous`;
  const ref = optString(plugin.where, plugin.config['anonymous'], at);
  if (ref === undefined || ref === '') return undefined;
  const consumer = reg.findConsumer(ref);
  if (!consumer)
    fail(
      plugin.where,
      at,
      `no consumer ${ref}: Kong answers 500 to every request that fails authentication`,
    );
  return {
    consumer_id: consumer.id,
    ...(consumer.username !== undefined ? { consumer_username: consumer.username } : {}),
    ...(consumer.customId !== undefined ? { consumer_custom_id: consumer.customId } : {}),
    anonymous: 'true',
  };
}

/** A plugin on a service or global is compiled once per route: say each thing once. */
function dedupe(warnings: readonly Warning[]): Warning[] {
  const seen = new Set<string>();
  return warnings.filter((w) => {
    const k = `${w.file}\0${w.path}\0${w.kind}\0${w.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// ---------------------------------------------------------------------------

export const loadKong: Loader = (docs, ctx) => {
  // Async by contract; all work is synchronous, and errors reject.
  return Promise.resolve().then(() => {
    const warnings: Warning[] = [];
    const reg = new Registry();
    for (const doc of docs) {
      const where: Where = { file: doc.file, warnings };
      const value = substituteDeckEnv(doc, ctx.env);
      if (!isObject(value)) fail(where, '', 'a Kong declarative file is a mapping');
      collect(reg, where, value);
    }
    resolve(reg);
    const credentials = credentialsOf(reg);
    const apis: ApiPlan[] = [];
    const names = new Map<string, string>();
    for (const route of reg.routes) {
      for (const api of apisOf(reg, route, credentials, ctx)) {
        const seen = names.get(api.name);
        if (seen !== undefined) {
          fail(route.where, route.path, `the API name ${api.name} is already used by ${seen}`);
        }
        names.set(api.name, route.path);
        apis.push(api);
      }
    }
    return { apis, warnings: dedupe(warnings) };
  });
};
