import { copyFile, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { sha256File } from '../../index/snapshot.ts';
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
    if (err.code === 'ENOENT') return [];
    throw new RestoreError(`cannot read ${dataDir}: ${err.message}`);
  });
  if (existing.length > 0) throw new RestoreError(`${dataDir} is not empty: restore into a new directory (the server's data would be mixed with the backup's)`);
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
  for (const file of manifest.files) {
    const to = join(dataDir, normalize(file.path));
    await mkdir(dirname(to), { recursive: true });
    await copyFile(join(backupDir, normalize(file.path)), to);
  }
  return manifest;
}
