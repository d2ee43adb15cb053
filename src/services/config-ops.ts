/** The work of `oidc-gw config`: init (wizard), list, show, set, path. */
import type { Context } from '../context.js';
import { GwError } from '../core/errors/index.js';
import {
  AUTH_METHODS,
  loadConfig,
  PROFILE_KEYS,
  saveConfig,
  type ConfigFile,
  type Profile,
} from '../config/config-file.js';
import { configFilePath } from '../config/paths.js';
import { normalizeScope, resolveSettings } from '../config/resolve.js';
import { mask } from '../output/redact.js';
import { discover, openSession } from './session.js';

type Opts = Readonly<Record<string, unknown>>;

function selectedProfile(ctx: Context): string {
  return ctx.globals.profile || ctx.env['OIDC_GW_PROFILE'] || 'default';
}

function masked(profile: Profile): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(profile)) {
    out[k] = PROFILE_KEYS[k as keyof Profile]?.secret && typeof v === 'string' ? mask(v) : v;
  }
  return out;
}

export async function configPath(ctx: Context, _opts: Opts): Promise<number> {
  const file = configFilePath(ctx.env, ctx.globals.config);
  if (ctx.out.json) ctx.out.printJson({ path: file });
  else ctx.out.data(`${file}\n`);
  return 0;
}

export async function configList(ctx: Context, _opts: Opts): Promise<number> {
  const file = configFilePath(ctx.env, ctx.globals.config);
  const config = await loadConfig(file);
  const current = selectedProfile(ctx);
  const rows = Object.entries(config.profiles).map(([name, p]) => ({
    name,
    selected: name === current,
    issuer: p.issuer ?? null,
    client_id: p.clientId ?? null,
  }));
  if (ctx.out.json) {
    ctx.out.printJson({ path: file, profiles: rows });
    return 0;
  }
  if (rows.length === 0) {
    ctx.out.info(`no profiles in ${file}: create one with \`oidc-gw config init\``);
    return 0;
  }
  const width = Math.max(...rows.map((r) => r.name.length), 7);
  const s = ctx.out.styleOut;
  const lines = rows.map(
    (r) =>
      `${r.selected ? '*' : ' '} ${s.bold(r.name.padEnd(width))}  ${r.issuer ?? '-'}  ${r.client_id ?? '-'}`,
  );
  ctx.out.data(`${lines.join('\n')}\n`);
  return 0;
}

export async function configShow(
  ctx: Context,
  name: string | undefined,
  opts: Opts,
): Promise<number> {
  const file = configFilePath(ctx.env, ctx.globals.config);
  const config = await loadConfig(file);
  const profileName = name ?? selectedProfile(ctx);
  const profile = config.profiles[profileName];
  if (!profile && name) {
    throw new GwError('ERR_CONFIG_INVALID', `profile "${profileName}" is not in ${file}`, {
      hint: 'see `oidc-gw config list`',
    });
  }
  // The effective settings: what a command would use for this profile, and where each comes from.
  const settings = await resolveSettings(
    { opts, env: ctx.env, globals: { ...ctx.globals, profile: profileName } },
    config,
  );
  const effective: Record<string, { value: unknown; source: string }> = {};
  for (const key of Object.keys(PROFILE_KEYS) as Array<keyof Profile>) {
    const source = settings.sources[key as keyof typeof settings.sources];
    const value = settings[key as keyof typeof settings];
    if (source === undefined) continue;
    effective[key] = {
      value: PROFILE_KEYS[key].secret && typeof value === 'string' ? mask(value) : value,
      source,
    };
  }
  if (ctx.out.json) {
    ctx.out.printJson({
      path: file,
      profile: profileName,
      stored: profile ? masked(profile) : null,
      effective,
    });
    return 0;
  }
  const s = ctx.out.styleOut;
  const lines = [
    `${s.bold('profile')} ${profileName}${profile ? '' : ' (not in the file)'}   ${s.dim(file)}`,
  ];
  for (const [key, { value, source }] of Object.entries(effective)) {
    lines.push(
      `  ${key.padEnd(14)} ${typeof value === 'string' ? value : JSON.stringify(value)}  ${s.dim(`(${source})`)}`,
    );
  }
  ctx.out.data(`${lines.join('\n')}\n`);
  return 0;
}

function parseValue(key: string, value: string): { key: keyof Profile; value: unknown } {
  if (key.startsWith('params.')) {
    const name = key.slice('params.'.length);
    if (!name) throw new GwError('ERR_USAGE', 'params.NAME needs a parameter name');
    return { key: 'params', value: { [name]: value } };
  }
  const spec = PROFILE_KEYS[key as keyof Profile];
  if (!spec) {
    throw new GwError('ERR_USAGE', `unknown key "${key}"`, {
      hint: `keys: ${Object.keys(PROFILE_KEYS).join(', ')}, params.NAME`,
    });
  }
  switch (spec.kind) {
    case 'boolean':
      if (value !== 'true' && value !== 'false')
        throw new GwError('ERR_USAGE', `${key} takes true or false`);
      return { key: key as keyof Profile, value: value === 'true' };
    case 'authMethod':
      if (!(AUTH_METHODS as readonly string[]).includes(value))
        throw new GwError('ERR_USAGE', `${key} takes one of ${AUTH_METHODS.join(', ')}`);
      return { key: key as keyof Profile, value };
    case 'string[]':
      return { key: key as keyof Profile, value: value.split(/[\s,]+/).filter(Boolean) };
    case 'record':
      throw new GwError(
        'ERR_USAGE',
        'set parameters one at a time: `oidc-gw config set params.NAME VALUE`',
      );
    default:
      return { key: key as keyof Profile, value: key === 'scope' ? normalizeScope(value) : value };
  }
}

export async function configSet(
  ctx: Context,
  key: string,
  value: string,
  _opts: Opts,
): Promise<number> {
  const file = configFilePath(ctx.env, ctx.globals.config);
  const config = await loadConfig(file);
  const name = selectedProfile(ctx);
  const profile: Profile = { ...(config.profiles[name] ?? {}) };
  const parsed = parseValue(key, value);
  const record = profile as Record<string, unknown>;
  if (parsed.key === 'params') {
    const [pName, pValue] = Object.entries(parsed.value as Record<string, string>)[0] as [
      string,
      string,
    ];
    const params = { ...(profile.params ?? {}) };
    if (value === '') delete params[pName];
    else params[pName] = pValue;
    if (Object.keys(params).length) profile.params = params;
    else delete profile.params;
  } else if (value === '') {
    delete record[parsed.key];
  } else {
    record[parsed.key] = parsed.value;
  }
  const next: ConfigFile = { profiles: { ...config.profiles, [name]: profile } };
  await saveConfig(file, next);
  const shown = PROFILE_KEYS[parsed.key]?.secret && value ? mask(value) : value;
  ctx.out.info(
    value === ''
      ? `removed ${key} from profile "${name}" in ${file}`
      : `set ${key} = ${shown} in profile "${name}" (${file})`,
  );
  if (ctx.out.json) ctx.out.printJson({ path: file, profile: name, stored: masked(profile) });
  return 0;
}

export async function configInit(ctx: Context, opts: Opts): Promise<number> {
  const file = configFilePath(ctx.env, ctx.globals.config);
  const config = await loadConfig(file);
  const p = ctx.prompter;
  const interactive = p.canPrompt && opts['yes'] !== true;
  const str = (k: string) =>
    typeof opts[k] === 'string' && opts[k] !== '' ? (opts[k] as string) : undefined;
  const ask = async (
    flag: string,
    label: string,
    def?: string,
    required = false,
  ): Promise<string | undefined> => {
    const given = str(flag);
    if (given !== undefined) return given;
    if (!interactive) {
      if (required) {
        throw new GwError('ERR_MISSING_SETTING', `no ${label} given`, {
          hint: `give --${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} (no terminal to ask)`,
        });
      }
      return def;
    }
    const answer = (
      await p.input(
        `${label}${required ? '' : ' (optional)'}:`,
        def === undefined ? {} : { default: def },
      )
    ).trim();
    return answer || def;
  };
  const name =
    str('name') ?? (await ask('name', 'profile name', selectedProfile(ctx), true)) ?? 'default';
  const existing = config.profiles[name] ?? {};
  const profile: Profile = { ...existing };
  for (;;) {
    const issuer = await ask('issuer', 'issuer URL', existing.issuer, true);
    profile.issuer = issuer;
    if (opts['skipDiscovery'] === true) break;
    try {
      const session = await openSession(ctx, {});
      const d = await discover(session, issuer);
      if (d.issuer !== issuer && !issuer?.includes('/.well-known/')) profile.issuer = d.issuer;
      ctx.out.info(
        `${ctx.out.style.green('ok')} discovered ${d.issuer} (token endpoint ${d.metadata.token_endpoint ?? 'none'})`,
      );
      break;
    } catch (error) {
      if (!interactive || str('issuer')) throw error;
      ctx.out.warn(`${(error as Error).message}; try again`);
    }
  }
  const clientId = await ask('clientId', 'client id', existing.clientId, true);
  if (clientId) profile.clientId = clientId;
  let secret = str('clientSecret');
  if (secret === undefined && interactive) {
    secret = (await p.password('client secret (empty for a public client):')).trim() || undefined;
  }
  if (secret) {
    let store = opts['storeSecret'];
    if (store === undefined && interactive) {
      store = await p.confirm(
        `store the secret in ${file} (file mode 0600)? otherwise give it with OIDC_GW_CLIENT_SECRET`,
        false,
      );
    }
    if (store === true) profile.clientSecret = secret;
    else delete profile.clientSecret;
  }
  const scope = normalizeScope(await ask('scope', 'default scopes', existing.scope));
  if (scope) profile.scope = scope;
  const audience = await ask('audience', 'default audience', existing.audience);
  if (audience) profile.audience = audience;
  await saveConfig(file, { profiles: { ...config.profiles, [name]: profile } });
  ctx.out.info(`saved profile "${name}" in ${file}`);
  if (ctx.out.json) ctx.out.printJson({ path: file, profile: name, stored: masked(profile) });
  else
    ctx.out.info(
      `try: oidc-gw token --client-credentials${name === 'default' ? '' : ` --profile ${name}`}`,
    );
  return 0;
}
