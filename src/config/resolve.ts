/**
 * Settings, resolved once into a frozen object (docs/architecture.md):
 * command-line flag > environment variable > profile in the config file >
 * built-in default (docs/configuration.md: Settings).
 */
import type { Context } from '../context.js';
import { GwError } from '../core/errors/index.js';
import {
  AUTH_METHODS,
  loadConfig,
  type AuthMethod,
  type ConfigFile,
  type Profile,
} from './config-file.js';
import { cacheDirPath, configFilePath, type Env } from './paths.js';

export type Source = 'flag' | 'env' | 'profile' | 'default';

export interface Settings {
  readonly profile: string;
  readonly profileExists: boolean;
  readonly configPath: string;
  readonly cacheDir: string;
  readonly issuer: string | undefined;
  readonly clientId: string | undefined;
  readonly clientSecret: string | undefined;
  readonly authMethod: AuthMethod | undefined;
  readonly privateKey: string | undefined;
  /** Space-separated. */
  readonly scope: string | undefined;
  readonly audience: string | undefined;
  readonly resource: readonly string[];
  readonly params: Readonly<Record<string, string>>;
  readonly redirectUri: string | undefined;
  readonly insecureHttp: boolean;
  readonly timeoutSeconds: number;
  readonly verbose: boolean;
  readonly sources: Readonly<Partial<Record<SettingName, Source>>>;
}

export type SettingName =
  | 'issuer'
  | 'clientId'
  | 'clientSecret'
  | 'authMethod'
  | 'privateKey'
  | 'scope'
  | 'audience'
  | 'resource'
  | 'params'
  | 'redirectUri';

/** Where each setting can come from, for messages ("give --issuer or OIDC_GW_ISSUER"). */
export const SETTING_SOURCES: Readonly<
  Record<SettingName, { flag: string; env?: string; key: string }>
> = {
  issuer: { flag: '--issuer', env: 'OIDC_GW_ISSUER', key: 'issuer' },
  clientId: { flag: '--client-id', env: 'OIDC_GW_CLIENT_ID', key: 'clientId' },
  clientSecret: { flag: '--client-secret', env: 'OIDC_GW_CLIENT_SECRET', key: 'clientSecret' },
  authMethod: { flag: '--auth-method', key: 'authMethod' },
  privateKey: { flag: '--private-key', key: 'privateKey' },
  scope: { flag: '--scope', env: 'OIDC_GW_SCOPE', key: 'scope' },
  audience: { flag: '--audience', env: 'OIDC_GW_AUDIENCE', key: 'audience' },
  resource: { flag: '--resource', key: 'resource' },
  params: { flag: '--param', key: 'params' },
  redirectUri: { flag: '--redirect-uri', key: 'redirectUri' },
};

/** Normalises "a,b  c" to "a b c" (scopes may be space or comma separated). */
export function normalizeScope(scope: string | undefined): string | undefined {
  if (scope === undefined) return undefined;
  const parts = scope.split(/[\s,]+/).filter(Boolean);
  return parts.length ? parts.join(' ') : undefined;
}

export function parseParams(list: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new GwError('ERR_USAGE', `--param takes KEY=VALUE, not "${item}"`);
    params[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return params;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export interface ResolveInput {
  /** commander options of the command (issuer, clientId, ...). */
  readonly opts: Readonly<Record<string, unknown>>;
  readonly env: Env;
  readonly globals: Context['globals'];
  /** Where warnings about the config file's modes go (see config-file.ts). */
  readonly onWarning?: (message: string) => void;
}

export async function resolveSettings(
  input: ResolveInput,
  preloaded?: ConfigFile,
): Promise<Settings> {
  const { opts, env, globals } = input;
  const configPath = configFilePath(env, globals.config);
  const config =
    preloaded ??
    (await loadConfig(configPath, input.onWarning ? { onWarning: input.onWarning } : {}));
  const profileName = globals.profile || env['OIDC_GW_PROFILE'] || 'default';
  const profile: Profile | undefined = config.profiles[profileName];
  const p = profile ?? {};
  const sources: Partial<Record<SettingName, Source>> = {};
  const pick = (name: SettingName, flag: unknown, profileValue: unknown): string | undefined => {
    const fromFlag = str(flag);
    if (fromFlag !== undefined) {
      sources[name] = 'flag';
      return fromFlag;
    }
    const envName = SETTING_SOURCES[name].env;
    const fromEnv = envName ? str(env[envName]) : undefined;
    if (fromEnv !== undefined) {
      sources[name] = 'env';
      return fromEnv;
    }
    const fromProfile = str(profileValue);
    if (fromProfile !== undefined) {
      sources[name] = 'profile';
      return fromProfile;
    }
    return undefined;
  };
  const authMethod = pick('authMethod', opts['authMethod'], p.authMethod);
  if (authMethod !== undefined && !(AUTH_METHODS as readonly string[]).includes(authMethod)) {
    throw new GwError(
      'ERR_USAGE',
      `--auth-method must be one of ${AUTH_METHODS.join(', ')}, not "${authMethod}"`,
    );
  }
  const flagResource = Array.isArray(opts['resource']) ? (opts['resource'] as string[]) : [];
  let resource: string[] = [];
  if (flagResource.length) {
    resource = flagResource;
    sources.resource = 'flag';
  } else if (p.resource?.length) {
    resource = [...p.resource];
    sources.resource = 'profile';
  }
  const flagParams = parseParams(Array.isArray(opts['param']) ? (opts['param'] as string[]) : []);
  const params = { ...(p.params ?? {}), ...flagParams };
  if (Object.keys(params).length)
    sources.params = Object.keys(flagParams).length ? 'flag' : 'profile';
  const settings: Settings = {
    profile: profileName,
    profileExists: profile !== undefined,
    configPath,
    cacheDir: cacheDirPath(env),
    issuer: pick('issuer', opts['issuer'], p.issuer),
    clientId: pick('clientId', opts['clientId'], p.clientId),
    clientSecret: pick('clientSecret', opts['clientSecret'], p.clientSecret),
    authMethod: authMethod as AuthMethod | undefined,
    privateKey: pick('privateKey', opts['privateKey'], p.privateKey),
    scope: normalizeScope(pick('scope', opts['scope'], p.scope)),
    audience: pick('audience', opts['audience'], p.audience),
    resource: Object.freeze(resource),
    params: Object.freeze(params),
    redirectUri: pick('redirectUri', opts['redirectUri'], p.redirectUri),
    insecureHttp: globals.insecureHttp || p.insecureHttp === true,
    timeoutSeconds: globals.timeout,
    verbose: globals.verbose,
    sources: Object.freeze(sources),
  };
  return Object.freeze(settings);
}

/** "--issuer or OIDC_GW_ISSUER (or `issuer` in the profile)". */
export function describeSource(name: SettingName): string {
  const s = SETTING_SOURCES[name];
  return `${s.flag}${s.env ? ` or ${s.env}` : ''} (or "${s.key}" in the profile)`;
}

/**
 * Returns the setting, prompting for it when stdin is a terminal (masked for
 * secrets); without a terminal, fails with exit 2 naming what would supply it.
 */
export async function requireSetting(
  ctx: Context,
  settings: Settings,
  name: SettingName,
  label: string,
): Promise<string> {
  const value = settings[name as keyof Settings];
  if (typeof value === 'string' && value !== '') return value;
  if (ctx.prompter.canPrompt) {
    const answer =
      name === 'clientSecret'
        ? await ctx.prompter.password(`${label}:`)
        : await ctx.prompter.input(`${label}:`);
    if (answer.trim() !== '') return answer.trim();
  }
  throw new GwError('ERR_MISSING_SETTING', `no ${label} given`, {
    hint: `give ${describeSource(name)}`,
  });
}
