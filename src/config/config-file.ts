/**
 * The config file: JSON, `{"profiles": {"NAME": {...}}}`, validated key by
 * key. Unreadable or invalid → ERR_CONFIG_INVALID (exit 2) naming the file
 * and the bad key. A missing file is an empty config.
 *
 * Its modes are checked when it is read, with warnings (not refusals: the
 * file is the user's own, and mounted config files in containers often have
 * loose modes): one that others can write (they could point the issuer, and
 * the client secret sent to it, at a server of theirs), and one that holds a
 * client secret and others can read.
 */
import { readFile, stat } from 'node:fs/promises';
import { GwError } from '../core/errors/index.js';
import { writeFileAtomic } from './atomic-file.js';

export const AUTH_METHODS = ['basic', 'post', 'private_key_jwt', 'none'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

export interface Profile {
  issuer?: string;
  clientId?: string;
  clientSecret?: string;
  authMethod?: AuthMethod;
  privateKey?: string;
  scope?: string;
  audience?: string;
  resource?: string[];
  params?: Record<string, string>;
  redirectUri?: string;
  insecureHttp?: boolean;
}

export interface ConfigFile {
  profiles: Record<string, Profile>;
}

type KeyKind = 'string' | 'string[]' | 'record' | 'boolean' | 'authMethod';

/** Every profile key, its kind, and a one-line description (docs/configuration.md lists the same). */
export const PROFILE_KEYS: Readonly<
  Record<keyof Profile, { kind: KeyKind; secret?: boolean; description: string }>
> = {
  issuer: {
    kind: 'string',
    description: 'issuer URL (or its .well-known/openid-configuration URL)',
  },
  clientId: { kind: 'string', description: 'client id' },
  clientSecret: { kind: 'string', secret: true, description: 'client secret' },
  authMethod: {
    kind: 'authMethod',
    description: 'client authentication: basic, post, private_key_jwt or none',
  },
  privateKey: {
    kind: 'string',
    description: 'path of the private key file (PEM or JWK) for private_key_jwt',
  },
  scope: { kind: 'string', description: 'scopes, space or comma separated' },
  audience: { kind: 'string', description: 'Auth0-style audience parameter' },
  resource: {
    kind: 'string[]',
    description: 'RFC 8707 resource indicators (a string or an array)',
  },
  params: { kind: 'record', description: 'extra request parameters, an object of strings' },
  redirectUri: { kind: 'string', description: 'loopback redirect URI for login (pins the port)' },
  insecureHttp: {
    kind: 'boolean',
    description: 'allow http:// for a non-loopback issuer (as --insecure-http)',
  },
};

function bad(file: string, message: string, hint?: string): GwError {
  return new GwError('ERR_CONFIG_INVALID', `config file ${file}: ${message}`, {
    hint: hint ?? 'fix the file, or see docs/configuration.md for its shape',
  });
}

function validateProfile(file: string, name: string, value: unknown): Profile {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw bad(file, `profiles.${name} must be an object`);
  }
  const profile: Profile = {};
  for (const [key, v] of Object.entries(value)) {
    const spec = PROFILE_KEYS[key as keyof Profile];
    const where = `profiles.${name}.${key}`;
    if (!spec) {
      throw bad(
        file,
        `unknown key "${where}"`,
        `known keys: ${Object.keys(PROFILE_KEYS).join(', ')}`,
      );
    }
    switch (spec.kind) {
      case 'string':
        if (typeof v !== 'string') throw bad(file, `"${where}" must be a string`);
        break;
      case 'boolean':
        if (typeof v !== 'boolean') throw bad(file, `"${where}" must be true or false`);
        break;
      case 'authMethod':
        if (typeof v !== 'string' || !(AUTH_METHODS as readonly string[]).includes(v)) {
          throw bad(file, `"${where}" must be one of ${AUTH_METHODS.join(', ')}`);
        }
        break;
      case 'string[]':
        if (typeof v === 'string') {
          (profile as Record<string, unknown>)[key] = [v];
          continue;
        }
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
          throw bad(file, `"${where}" must be a string or an array of strings`);
        }
        break;
      case 'record':
        if (
          v === null ||
          typeof v !== 'object' ||
          Array.isArray(v) ||
          Object.values(v).some((x) => typeof x !== 'string')
        ) {
          throw bad(file, `"${where}" must be an object whose values are strings`);
        }
        break;
    }
    (profile as Record<string, unknown>)[key] = v;
  }
  return profile;
}

export function parseConfig(file: string, text: string): ConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw bad(file, `not valid JSON (${(error as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw bad(file, 'the top level must be an object');
  const profiles: Record<string, Profile> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key === '$schema') continue;
    if (key !== 'profiles')
      throw bad(file, `unknown key "${key}"`, 'the file has one key, "profiles"');
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw bad(file, '"profiles" must be an object');
    for (const [name, p] of Object.entries(value)) profiles[name] = validateProfile(file, name, p);
  }
  return { profiles };
}

export interface LoadConfigOptions {
  /** Called with a warning about the file's modes (once per file and process). */
  readonly onWarning?: (message: string) => void;
}

/** Files already warned about in this process (settings may be resolved more than once). */
const warned = new Set<string>();

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

/** The warnings the file's modes call for (none on Windows, which has no POSIX modes). */
export async function configModeWarnings(file: string, config: ConfigFile): Promise<string[]> {
  if (process.platform === 'win32') return [];
  let mode: number;
  try {
    mode = (await stat(file)).mode;
  } catch {
    return [];
  }
  const out: string[] = [];
  const who = (mask: number) =>
    (mode & mask & 0o070) !== 0 && (mode & mask & 0o007) !== 0
      ? 'its group and other users'
      : (mode & mask & 0o070) !== 0
        ? 'its group'
        : 'other users';
  if ((mode & 0o022) !== 0) {
    out.push(
      `the config file ${file} can be written by ${who(0o022)} (mode ${octal(mode)}): whoever can write it can point your issuer, and the client secret sent to it, at a server of theirs; chmod 600 it`,
    );
  }
  const secret = Object.values(config.profiles).some((p) => p.clientSecret !== undefined);
  if (secret && (mode & 0o044) !== 0) {
    out.push(
      `the config file ${file} holds a client secret and can be read by ${who(0o044)} (mode ${octal(mode)}): chmod 600 it, or keep the secret in OIDC_GW_CLIENT_SECRET`,
    );
  }
  return out;
}

export async function loadConfig(
  file: string,
  options: LoadConfigOptions = {},
): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { profiles: {} };
    throw bad(
      file,
      `cannot be read (${code ?? (error as Error).message})`,
      'check the path and its permissions',
    );
  }
  const config = parseConfig(file, text);
  if (options.onWarning && !warned.has(file)) {
    warned.add(file);
    for (const message of await configModeWarnings(file, config)) options.onWarning(message);
  }
  return config;
}

/** Saves the config (0600, atomically: it may hold secrets). */
export async function saveConfig(file: string, config: ConfigFile): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(config, null, 2)}\n`);
}
