import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { EXIT, type Io } from '../io.ts';
import { UsageError } from '../options.ts';

/** One entry of a keys file (VICINITY_API_KEYS_FILE): the key's digest, never the key. */
interface KeyEntry {
  name: string;
  sha256: string;
  role: 'read' | 'write' | 'admin';
  collections?: string[];
}

function readKeys(file: string): KeyEntry[] {
  if (!existsSync(file)) return [];
  const entries = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  if (!Array.isArray(entries)) throw new UsageError(`${file} is not a keys file (a JSON array)`);
  return entries as KeyEntry[];
}

/** Replaces the file in one rename, readable by its owner only. */
function writeKeys(file: string, entries: KeyEntry[]): void {
  const next = `${file}.${process.pid}.tmp`;
  writeFileSync(next, `${JSON.stringify(entries, null, 2)}\n`, { mode: 0o600 });
  renameSync(next, file);
}

const RELOAD = 'the server loads it at start, or now on SIGHUP (kill -HUP <pid>)';

/** `vicinity keys create`: a new random key, printed once; its digest goes into the file. */
export function createKey(options: { name: string; role: KeyEntry['role']; collections?: string; file: string }, io: Io): number {
  const entries = readKeys(options.file);
  if (entries.some((e) => e.name === options.name)) throw new UsageError(`a key named '${options.name}' exists in ${options.file}; revoke it first or pick another name`);
  const key = randomBytes(32).toString('base64url');
  const entry: KeyEntry = { name: options.name, sha256: createHash('sha256').update(key).digest('hex'), role: options.role };
  const collections = options.collections?.split(',').map((c) => c.trim()).filter(Boolean);
  if (collections && collections.length > 0) entry.collections = collections;
  writeKeys(options.file, [...entries, entry]);
  io.out.write(`${key}\n`);
  io.err.write(`key '${options.name}' (${options.role}${collections ? ` on ${collections.join(', ')}` : ''}) added to ${options.file}: it is shown only now; ${RELOAD}\n`);
  return EXIT.ok;
}

/** `vicinity keys list`: names, roles and scopes (digests stay in the file). */
export function listKeys(options: { file: string }, io: Io): number {
  for (const e of readKeys(options.file)) io.out.write(`${e.name}\t${e.role}\t${e.collections?.join(',') ?? '*'}\n`);
  return EXIT.ok;
}

/** `vicinity keys revoke`: removes a key by name. */
export function revokeKey(options: { name: string; file: string }, io: Io): number {
  const entries = readKeys(options.file);
  const kept = entries.filter((e) => e.name !== options.name);
  if (kept.length === entries.length) {
    io.err.write(`error: no key named '${options.name}' in ${options.file}\n`);
    return EXIT.failed;
  }
  writeKeys(options.file, kept);
  io.err.write(`key '${options.name}' revoked in ${options.file}; ${RELOAD}\n`);
  return EXIT.ok;
}
