import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join, normalize, resolve } from 'node:path';
import { fsyncPath, sha256File } from '../../index/snapshot.ts';
import { openDatabase } from '../../storage/db.ts';
import { MANIFEST, type BackupManifest } from './backups.ts';

/** Why a backup cannot be restored: the message says what is wrong and what to do. */
export class RestoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RestoreError';
  }
}

/**
 * Restores a backup (backups.ts) into an empty or missing data directory: checks every file's size
 * and SHA-256 against manifest.json and the database's integrity before copying anything, so a
 * damaged backup leaves the directory untouched. A server started on the directory then holds
 * every write acknowledged up to the backup's sequence number.
 */
export async function restoreBackup(backupDir: string, dataDir: string): Promise<BackupManifest> {
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await readFile(join(backupDir, MANIFEST), 'utf8')) as BackupManifest;
  } catch (err) {
    throw new RestoreError(`${backupDir} holds no readable ${MANIFEST} (${(err as Error).message}): name a directory that POST /v1/backups wrote`);
  }
  if (manifest.format !== 1 || !Array.isArray(manifest.files)) throw new RestoreError(`${join(backupDir, MANIFEST)} is not a backup manifest this version reads`);
  const existing = await readdir(dataDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw new RestoreError(`cannot read ${dataDir}: ${err.message}`);
  });
  if (existing !== null && existing.length > 0) throw new RestoreError(`${dataDir} is not empty: restore into a new directory (the server's data would be mixed with the backup's)`);
  for (const file of manifest.files) {
    const path = normalize(file.path);
    if (path.startsWith('..') || path.startsWith('/')) throw new RestoreError(`the manifest names ${file.path}, outside the backup`);
    const full = join(backupDir, path);
    const size = await stat(full).then((s) => s.size, () => null);
    if (size === null) throw new RestoreError(`${full} is missing: the backup is incomplete; use another one`);
    if (size !== file.bytes || (await sha256File(full)) !== file.sha256) {
      throw new RestoreError(`${full} does not match its checksum in the manifest: the backup is damaged; use another one`);
    }
  }
  const db = openDatabase({ path: join(backupDir, 'vicinity.db'), synchronous: 'NORMAL', readonly: true });
  try {
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new RestoreError(`the backup's database fails SQLite's check (${String(check)}); use another backup`);
  } finally {
    db.close();
  }
  // Copied beside the target and renamed into place once synced: a failed or cut-short restore
  // leaves the target as it was (missing or empty), so it can simply be run again.
  const work = join(dirname(resolve(dataDir)), `.${basename(resolve(dataDir))}.restoring-${randomBytes(4).toString('hex')}`);
  try {
    for (const file of manifest.files) {
      const to = join(work, normalize(file.path));
      await mkdir(dirname(to), { recursive: true });
      await copyFile(join(backupDir, normalize(file.path)), to);
      await fsyncPath(to);
    }
    for (const dir of new Set(manifest.files.map((f) => dirname(join(work, normalize(f.path)))))) await fsyncPath(dir);
    if (existing !== null) await rmdir(dataDir); // empty: checked above
    await rename(work, dataDir);
    await fsyncPath(dirname(resolve(dataDir)));
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw new RestoreError(`restoring into ${dataDir} failed (${(err as Error).message}); nothing was left there: free space or fix the cause and run it again`);
  }
  return manifest;
}
