import { homedir } from 'node:os';
import { join } from 'node:path';

export type Env = Readonly<Record<string, string | undefined>>;

function base(env: Env, xdgVar: string, fallback: string): string {
  const xdg = env[xdgVar];
  // XDG says relative paths are invalid and must be ignored.
  if (xdg && xdg.startsWith('/')) return xdg;
  return join(env['HOME'] || homedir(), fallback);
}

/** The config file: --config, then OIDC_GW_CONFIG, then $XDG_CONFIG_HOME/oidc-gw/config.json. */
export function configFilePath(env: Env, flag?: string): string {
  return (
    flag ||
    env['OIDC_GW_CONFIG'] ||
    join(base(env, 'XDG_CONFIG_HOME', '.config'), 'oidc-gw', 'config.json')
  );
}

/** The token cache directory: OIDC_GW_CACHE_DIR, then $XDG_CACHE_HOME/oidc-gw. */
export function cacheDirPath(env: Env): string {
  return env['OIDC_GW_CACHE_DIR'] || join(base(env, 'XDG_CACHE_HOME', '.cache'), 'oidc-gw');
}
