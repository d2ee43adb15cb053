/**
 * The dev IdP's storage for oidc-provider models (sessions, grants, codes,
 * tokens...): in memory, one store per IdP instance (oidc-provider's own
 * memory adapter is one store per process, shared by every provider in it),
 * and kept when the provider is rebuilt to rotate keys. Bounded in size.
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';

/** Most entries kept; the oldest go first beyond it. */
const MAX_ENTRIES = 50_000;

/** Models whose entries are destroyed with their grant (`revokeByGrantId`). */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

interface Entry {
  payload: AdapterPayload;
  /** Epoch milliseconds; undefined: no expiry. */
  expiresAt: number | undefined;
}

export interface MemoryStore {
  /** A constructor as oidc-provider's `adapter` option wants it. */
  readonly Adapter: new (name: string) => Adapter;
  /** How many entries are held. */
  size(): number;
  clear(): void;
}

export function createMemoryStore(now: () => number = Date.now): MemoryStore {
  const entries = new Map<string, Entry>();
  const grants = new Map<string, Set<string>>();
  const byUid = new Map<string, string>();
  const byUserCode = new Map<string, string>();

  const live = (key: string): AdapterPayload | undefined => {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return entry.payload;
  };

  const set = (key: string, payload: AdapterPayload, expiresIn: number | undefined) => {
    entries.delete(key);
    entries.set(key, {
      payload,
      expiresAt: typeof expiresIn === 'number' ? now() + expiresIn * 1000 : undefined,
    });
    let excess = entries.size - MAX_ENTRIES;
    for (const oldest of entries.keys()) {
      if (excess-- <= 0) break;
      entries.delete(oldest);
    }
  };

  class MemoryAdapter implements Adapter {
    readonly #name: string;

    constructor(name: string) {
      this.#name = name;
    }

    #key(id: string): string {
      return `${this.#name}:${id}`;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const key = this.#key(id);
      if (this.#name === 'Session' && typeof payload.uid === 'string') byUid.set(payload.uid, id);
      if (this.#name === 'DeviceCode' && typeof payload.userCode === 'string') {
        byUserCode.set(payload.userCode, id);
      }
      if (GRANTABLE.has(this.#name) && typeof payload.grantId === 'string') {
        let keys = grants.get(payload.grantId);
        if (!keys) grants.set(payload.grantId, (keys = new Set()));
        keys.add(key);
      }
      set(key, { ...payload }, expiresIn);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      const payload = live(this.#key(id));
      return payload ? { ...payload } : undefined;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const id = byUid.get(uid);
      return id === undefined ? undefined : this.find(id);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const id = byUserCode.get(userCode);
      return id === undefined ? undefined : this.find(id);
    }

    async consume(id: string): Promise<void> {
      const payload = live(this.#key(id));
      if (payload) payload.consumed = Math.floor(now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      const key = this.#key(id);
      const payload = entries.get(key)?.payload;
      entries.delete(key);
      if (payload && this.#name === 'Session' && typeof payload.uid === 'string') {
        byUid.delete(payload.uid);
      }
      if (payload && this.#name === 'DeviceCode' && typeof payload.userCode === 'string') {
        byUserCode.delete(payload.userCode);
      }
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      const keys = grants.get(grantId);
      if (keys) for (const key of keys) entries.delete(key);
      grants.delete(grantId);
      entries.delete(`Grant:${grantId}`);
    }
  }

  return {
    Adapter: MemoryAdapter,
    size: () => entries.size,
    clear: () => {
      entries.clear();
      grants.clear();
      byUid.clear();
      byUserCode.clear();
    },
  };
}
