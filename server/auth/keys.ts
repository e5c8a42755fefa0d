import { createHash, timingSafeEqual } from 'node:crypto';

export type Role = 'read' | 'write' | 'admin';
export const ROLES: readonly Role[] = ['read', 'write', 'admin'];

/** A key as the server keeps it: its SHA-256 digest, never the key itself. */
export interface ApiKey {
  name: string;
  role: Role;
  /** Collection names, or prefixes ending in `*`, it may touch; null: every collection. */
  collections: readonly string[] | null;
  digest: Buffer;
}

/** One entry of `VICINITY_API_KEYS_FILE`: `{name, sha256, role, collections?}`. */
export interface KeyEntry {
  name: string;
  sha256: string;
  role: Role;
  collections?: string[];
}

export function sha256(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** Validates the keys file's JSON (an array of entries), saying what is wrong where. */
export function parseKeys(text: string, source: string): ApiKey[] {
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(entries)) throw new Error(`${source}: expected an array of {name, sha256, role, collections?}`);
  const names = new Set<string>();
  return entries.map((entry: unknown, i) => {
    const at = `${source}[${i}]`;
    if (entry === null || typeof entry !== 'object') throw new Error(`${at}: expected an object {name, sha256, role, collections?}`);
    const { name, sha256: digest, role, collections } = entry as Record<string, unknown>;
    if (typeof name !== 'string' || name.length === 0 || name.length > 128) throw new Error(`${at}.name: a string of 1–128 characters`);
    if (names.has(name)) throw new Error(`${at}.name: '${name}' is used twice`);
    names.add(name);
    if (typeof digest !== 'string' || !/^[0-9a-f]{64}$/.test(digest)) throw new Error(`${at}.sha256: 64 lower-case hex digits, the SHA-256 of the key`);
    if (!ROLES.includes(role as Role)) throw new Error(`${at}.role: one of ${ROLES.join(', ')}`);
    if (collections !== undefined && (!Array.isArray(collections) || collections.some((c) => typeof c !== 'string' || c.length === 0))) {
      throw new Error(`${at}.collections: an array of collection names or prefixes ending in *`);
    }
    return { name, role: role as Role, collections: (collections as string[] | undefined) ?? null, digest: Buffer.from(digest, 'hex') };
  });
}

/** The keys the server accepts. Lookups compare digests in constant time, all of them every time. */
export class KeyRing {
  readonly #keys: readonly ApiKey[];

  constructor(keys: readonly ApiKey[]) {
    this.#keys = keys;
  }

  get size(): number {
    return this.#keys.length;
  }

  /** The key whose digest matches `presented`, or null. */
  find(presented: string): ApiKey | null {
    const digest = sha256(presented);
    let found: ApiKey | null = null;
    for (const key of this.#keys) if (timingSafeEqual(key.digest, digest) && !found) found = key;
    return found;
  }
}

/** True when `key` may touch collection `name`: no scope, its name, or a `prefix*` it starts with. */
export function inScope(key: ApiKey, name: string): boolean {
  if (key.collections === null) return true;
  return key.collections.some((c) => (c.endsWith('*') ? name.startsWith(c.slice(0, -1)) : c === name));
}
