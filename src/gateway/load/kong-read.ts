/**
 * Typed reads of a Kong declarative document for the Kong importer
 * (docs/gateways/kong.md): each helper returns the value or undefined when
 * absent (`null`, as decK dumps write, counts as absent) and throws a
 * `PlanError` naming the file and the path when a value has the wrong type,
 * so a bad file is exit 2 with `FILE: PATH: MESSAGE`.
 */
import { PlanError, type Warning } from '../plan.js';

export type Json = Record<string, unknown>;

/** Where the importer is in a file, and where its warnings go. */
export interface Where {
  readonly file: string;
  readonly warnings: Warning[];
}

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function warn(
  where: Where,
  path: string,
  message: string,
  kind: Warning['kind'] = 'ignored',
): void {
  where.warnings.push({ file: where.file, path, message, kind });
}

export function fail(where: Where, path: string, message: string): never {
  throw new PlanError(where.file, path, message);
}

export function optObject(where: Where, value: unknown, path: string): Json | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) fail(where, path, 'expected an object');
  return value;
}

export function optArray(where: Where, value: unknown, path: string): unknown[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) fail(where, path, 'expected a list');
  return value;
}

export function optString(where: Where, value: unknown, path: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') fail(where, path, 'expected a string');
  return value;
}

export function optNumber(where: Where, value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(where, path, 'expected a number');
  return value;
}

export function optBoolean(where: Where, value: unknown, path: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') fail(where, path, 'expected true or false');
  return value;
}

/** A list of strings; a single string is read as a one-element list (older Kong configs). */
export function optStrings(where: Where, value: unknown, path: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return [value];
  const list = optArray(where, value, path) ?? [];
  return list.map((v, i) => {
    if (typeof v !== 'string') fail(where, `${path}[${i}]`, 'expected a string');
    return v;
  });
}

/** A value that says nothing: absent, null, an empty list or object. */
export function isEmptyValue(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (isObject(value)) return Object.keys(value).length === 0;
  return false;
}

/**
 * One warning listing the config fields a plugin sets that the importer does
 * not read (fields at their default or empty are not listed: `deck dump`
 * writes every field).
 */
export function warnUnread(
  where: Where,
  config: Json,
  path: string,
  read: ReadonlySet<string>,
  defaults: Readonly<Record<string, unknown>>,
  plugin: string,
): void {
  const unread = Object.keys(config).filter((k) => {
    if (read.has(k) || isEmptyValue(config[k])) return false;
    return !(k in defaults) || JSON.stringify(defaults[k]) !== JSON.stringify(config[k]);
  });
  if (unread.length > 0) {
    warn(where, path, `${plugin}: not supported, not enforced: ${unread.sort().join(', ')}`);
  }
}
