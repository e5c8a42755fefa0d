import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { IndexErrors } from './errors.ts';
import { HnswIndex, type HnswOptions } from './hnsw.ts';
import type { Metric } from './vector-index.ts';

/** What a snapshot file holds, written beside it as `${name}.manifest.json`. */
export interface SnapshotManifest {
  format: 1;
  /** File name inside the snapshot directory: `${name}-${seq}.hnsw`. */
  file: string;
  /** The sequence number the snapshot covers: every mutation with seq ≤ this is in it. */
  seq: number;
  bytes: number;
  /** Hex SHA-256 of the file. */
  sha256: string;
  dimension: number;
  metric: Metric;
  /** Live labels when it was written. */
  count: number;
  /** The version of the projection (PCA fit) its vectors went through; 0 for none. */
  model?: number;
  createdAt: string;
}

/** `manifest` is null when there is none (`missing`) or it cannot be used (`reason` says why). */
export type ManifestResult =
  | { manifest: SnapshotManifest; reason?: undefined; missing?: undefined }
  | { manifest: null; reason: string; missing: boolean };

const MAX_MANIFEST_BYTES = 64 * 1024;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** Snapshot writes in progress in this process, by directory and name. */
const writing = new Set<string>();

function checkName(name: string): void {
  if (!NAME.test(name)) throw new IndexErrors.Options(`snapshot name ${JSON.stringify(name)} is not valid`);
}

const manifestName = (name: string) => `${name}.manifest.json`;
const dataName = (name: string, seq: number) => `${name}-${seq}.hnsw`;
const isDataFile = (name: string, file: string) => new RegExp(`^${name}-\\d+\\.hnsw$`).test(file);
const isTempFile = (name: string, file: string) =>
  new RegExp(`^\\.${name}(?:-\\d+\\.hnsw|\\.manifest\\.json)\\.[0-9a-f]+\\.tmp$`).test(file);
const tempName = (final: string) => `.${final}.${randomBytes(6).toString('hex')}.tmp`;

/** SHA-256 of a file, streamed: memory stays constant whatever the size. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** fsyncs a file or directory. */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function unlinkQuietly(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}

/**
 * Writes `index` as the snapshot `name` covering `seq`: saves to a temp file, fsyncs and renames it
 * to `${name}-${seq}.hnsw`, hashes it, writes the manifest atomically (temp, fsync, rename), fsyncs
 * the directory, then deletes older data files and stray temp files of `name`. A crash at any
 * point leaves the old or the new manifest naming a complete file. (A second snapshot at the same
 * seq replaces that file in place: a crash then leaves the old manifest with a checksum that no
 * longer matches, which `loadSnapshot` reports instead of loading.) One writer per name at a time.
 */
export async function writeSnapshot(dir: string, name: string, index: HnswIndex, seq: number, model = 0): Promise<SnapshotManifest> {
  checkName(name);
  if (!Number.isSafeInteger(seq) || seq < 0) throw new IndexErrors.Options('seq must be a non-negative integer');
  const key = `${dir}\0${name}`;
  if (writing.has(key)) throw new IndexErrors.Options(`a snapshot of ${name} is already being written`);
  writing.add(key);
  try {
    await mkdir(dir, { recursive: true });
    const file = dataName(name, seq);
    const temp = join(dir, tempName(file));
    const count = index.size;
    try {
      await index.save(temp);
      await fsyncPath(temp);
      await rename(temp, join(dir, file));
    } catch (err) {
      await unlinkQuietly(temp);
      throw err;
    }
    await fsyncPath(dir);
    const path = join(dir, file);
    const manifest: SnapshotManifest = {
      format: 1,
      file,
      seq,
      bytes: (await stat(path)).size,
      sha256: await sha256File(path),
      dimension: index.dimension,
      metric: index.metric,
      count,
      model,
      createdAt: new Date().toISOString(),
    };
    await writeFileAtomic(dir, manifestName(name), `${JSON.stringify(manifest, null, 2)}\n`);
    await cleanUp(dir, name, file);
    return manifest;
  } finally {
    writing.delete(key);
  }
}

async function writeFileAtomic(dir: string, file: string, text: string): Promise<void> {
  const temp = join(dir, tempName(file));
  try {
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, join(dir, file));
  } catch (err) {
    await unlinkQuietly(temp);
    throw err;
  }
  await fsyncPath(dir);
}

/** Deletes data files of `name` other than `keep` (all when null) and its stray temp files. */
async function cleanUp(dir: string, name: string, keep: string | null): Promise<void> {
  const files = await readdir(dir).catch(() => [] as string[]);
  const doomed = files.filter((f) => f !== keep && (isDataFile(name, f) || isTempFile(name, f)));
  await Promise.all(doomed.map((f) => unlinkQuietly(join(dir, f))));
}

function shapeError(m: Record<string, unknown>, name: string): string | null {
  const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
  if (m.format !== 1) return `unsupported format ${JSON.stringify(m.format)}`;
  if (typeof m.file !== 'string' || !isDataFile(name, m.file)) return 'bad "file"';
  if (!isInt(m.seq, 0)) return 'bad "seq"';
  if (!isInt(m.bytes, 96)) return 'bad "bytes"';
  if (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) return 'bad "sha256"';
  if (!isInt(m.dimension, 1, 4096)) return 'bad "dimension"';
  if (m.metric !== 'l2' && m.metric !== 'ip' && m.metric !== 'cosine') return 'bad "metric"';
  if (!isInt(m.count, 0)) return 'bad "count"';
  if (m.model !== undefined && !isInt(m.model, 0)) return 'bad "model"';
  if (typeof m.createdAt !== 'string') return 'bad "createdAt"';
  return null;
}

/**
 * Reads and checks the shape of `${name}.manifest.json`. Never throws for a missing or unusable
 * manifest: `{ manifest: null, missing: true }` when there is none, `missing: false` with a reason
 * when it is unreadable, not JSON or of the wrong shape.
 */
export async function readManifest(dir: string, name: string): Promise<ManifestResult> {
  checkName(name);
  const path = join(dir, manifestName(name));
  let text: string;
  try {
    const size = (await stat(path)).size;
    if (size > MAX_MANIFEST_BYTES) return { manifest: null, missing: false, reason: `manifest is ${size} bytes` };
    text = await readFile(path, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    return { manifest: null, missing, reason: missing ? 'no manifest' : `cannot read the manifest: ${String(err)}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { manifest: null, missing: false, reason: 'the manifest is not valid JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { manifest: null, missing: false, reason: 'the manifest is not an object' };
  }
  const problem = shapeError(parsed as Record<string, unknown>, name);
  if (problem) return { manifest: null, missing: false, reason: `the manifest is invalid: ${problem}` };
  return { manifest: parsed as SnapshotManifest };
}

/** Checks the file named by `manifest`: it exists, has `bytes` bytes and the streamed SHA-256 matches. */
export async function verifySnapshot(
  dir: string,
  manifest: SnapshotManifest,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (manifest.file.includes('/') || manifest.file.includes('\\') || manifest.file.startsWith('.')) {
    return { ok: false, reason: `bad snapshot file name ${JSON.stringify(manifest.file)}` };
  }
  const path = join(dir, manifest.file);
  try {
    const { size } = await stat(path);
    if (size !== manifest.bytes) {
      return { ok: false, reason: `${manifest.file} has ${size} bytes, the manifest says ${manifest.bytes}` };
    }
    const sha256 = await sha256File(path);
    if (sha256 !== manifest.sha256) return { ok: false, reason: `${manifest.file} fails its SHA-256 check` };
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    return { ok: false, reason: missing ? `${manifest.file} is missing` : `cannot read ${manifest.file}: ${String(err)}` };
  }
  return { ok: true };
}

/**
 * Loads the snapshot `name` if its manifest is valid, the file verifies and it matches `options`
 * (dimension, metric, and the `model` version its vectors were projected with). Never throws for a missing, corrupt or mismatched snapshot — it returns the
 * reason, and hnswlib never sees a file that failed a check. The caller then re-applies tombstones
 * (see `HnswIndex.load`) and catches up from `manifest.seq`.
 */
export async function loadSnapshot(
  dir: string,
  name: string,
  options: HnswOptions,
  model = 0,
): Promise<{ index: HnswIndex; manifest: SnapshotManifest } | { index: null; reason: string }> {
  const read = await readManifest(dir, name);
  if (!read.manifest) return { index: null, reason: read.reason };
  const { manifest } = read;
  if (manifest.dimension !== options.dimension) {
    return { index: null, reason: `snapshot dimension ${manifest.dimension} ≠ collection dimension ${options.dimension}` };
  }
  if ((manifest.model ?? 0) !== model) {
    return { index: null, reason: `snapshot model ${manifest.model ?? 0} ≠ the collection's model ${model}` };
  }
  if (manifest.metric !== options.metric) {
    return { index: null, reason: `snapshot metric ${manifest.metric} ≠ collection metric ${options.metric}` };
  }
  const verified = await verifySnapshot(dir, manifest);
  if (!verified.ok) return { index: null, reason: verified.reason };
  try {
    return { index: await HnswIndex.load(join(dir, manifest.file), options), manifest };
  } catch (err) {
    return { index: null, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** Deletes every file of snapshot `name`: manifest first, so no manifest outlives its data file. */
export async function removeSnapshots(dir: string, name: string): Promise<void> {
  checkName(name);
  await unlinkQuietly(join(dir, manifestName(name)));
  await cleanUp(dir, name, null);
}
