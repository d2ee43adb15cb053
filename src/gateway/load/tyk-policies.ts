/**
 * A Tyk policies file (`policies.policy_source: file`): one JSON object
 * keyed by policy id, the key winning over an `id` field, as Tyk reads it
 * (docs/gateways/tyk.md, "Policies"). oidc-gw uses each policy's rate,
 * quota and access rights; what it does not enforce is a warning.
 */
import { isObject, isSet, join, TykFile, type Json, type TykPolicy } from './tyk-common.js';

const POLICY_FIELDS = ['rate', 'per', 'quota_max', 'quota_renewal_rate', 'access_rights'];

/** An object whose values all look like policies (rate/per/quota_max/access_rights). */
export function isPoliciesObject(value: unknown): boolean {
  if (!isObject(value)) return false;
  const entries = Object.values(value);
  if (entries.length === 0) return false;
  return entries.every((p) => isObject(p) && POLICY_FIELDS.some((f) => f in p));
}

/** Fields worth a warning when set: Tyk enforces them, oidc-gw does not. */
const IGNORED: Readonly<Record<string, string>> = {
  throttle_interval: 'retrying refused requests (throttling) is not emulated',
  throttle_retry_limit: 'retrying refused requests (throttling) is not emulated',
  max_query_depth: 'GraphQL query depth is not checked',
  key_expires_in: 'session expiry is not emulated (the token exp is what counts)',
  is_inactive: 'an inactive policy is treated as active',
  hmac_enabled: 'HMAC request signatures are not checked',
  enable_http_signature_validation: 'HTTP signatures are not checked',
  smoothing: 'rate limit smoothing is not emulated',
};

export function loadPolicies(tf: TykFile, doc: Json, into: Map<string, TykPolicy>): void {
  for (const [id, value] of Object.entries(doc)) {
    const path = join('', id);
    if (!isObject(value)) tf.fail(path, 'a policy must be an object');
    const declared = value['id'];
    if (typeof declared === 'string' && declared !== '' && declared !== id) {
      tf.warn(
        join(path, 'id'),
        `"${declared}" differs from the key: Tyk uses the key "${id}"`,
        'note',
      );
    }
    for (const [field, why] of Object.entries(IGNORED)) {
      if (isSet(value[field])) tf.warn(join(path, field), why);
    }
    const partitions = tf.obj(value, 'partitions', path);
    if (partitions && isSet(partitions)) {
      tf.warn(
        join(path, 'partitions'),
        'partitioned policies are not emulated: rate, quota and access rights all apply',
      );
    }
    const apiIds = new Set<string>();
    const rights = tf.obj(value, 'access_rights', path);
    for (const [apiId, right] of Object.entries(rights ?? {})) {
      const rpath = join(join(path, 'access_rights'), apiId);
      if (!isObject(right)) tf.fail(rpath, 'must be an object');
      apiIds.add(apiId);
      for (const f of [
        'limit',
        'allowed_urls',
        'restricted_types',
        'allowed_types',
        'field_access_rights',
      ]) {
        if (isSet(right[f]))
          tf.warn(join(rpath, f), 'per-API limits and path rules are not emulated');
      }
      const versions = tf.strings(right, 'versions', rpath);
      if (versions.some((v) => v !== 'Default' && v !== '')) {
        tf.warn(
          join(rpath, 'versions'),
          'API versions are not emulated: the default version is served',
        );
      }
    }
    if (into.has(id)) tf.warn(path, `policy "${id}" is defined again: the last one wins`, 'note');
    const quotaMax = tf.num(value, 'quota_max', path);
    const quotaRenewalRate = tf.num(value, 'quota_renewal_rate', path);
    if (quotaMax > 0 && !(quotaRenewalRate > 0)) {
      tf.warn(
        join(path, 'quota_renewal_rate'),
        'a quota that never renews is not emulated: this policy has no quota here',
      );
    }
    into.set(id, {
      id,
      file: tf.file,
      path,
      orgId: tf.str(value, 'org_id', path) || undefined,
      rate: tf.num(value, 'rate', path),
      per: tf.num(value, 'per', path),
      quotaMax,
      quotaRenewalRate,
      apiIds,
    });
  }
}
