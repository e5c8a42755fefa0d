import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StorageErrors } from './errors.ts';
import { migrate } from './migrations.ts';

export type Synchronous = 'NORMAL' | 'FULL';

export interface OpenOptions {
  /** File path, or ':memory:'. */
  path: string;
  /** NORMAL survives process crashes; FULL also survives power loss. */
  synchronous: Synchronous;
  readonly?: boolean;
}

export type Db = Database.Database;

/** Bytes of write-ahead log kept after a checkpoint. */
const WAL_SIZE_LIMIT = 64 * 1024 * 1024;

/** The SQLite file in a data directory (its WAL is beside it, with `-wal` appended). */
export function databasePath(dataDir: string): string {
  return join(dataDir, 'vicinity.db');
}

/** Bytes per page of a new database. */
export const PAGE_SIZE = 16384;

/** Opens the database in WAL mode and brings its schema up to date (unless read-only). */
export function openDatabase(options: OpenOptions): Db {
  if (options.synchronous !== 'NORMAL' && options.synchronous !== 'FULL') {
    throw new StorageErrors.Options("options.synchronous must be 'NORMAL' or 'FULL'");
  }
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  const db = new Database(options.path, { readonly: options.readonly ?? false });
  try {
    db.pragma('busy_timeout = 5000');
    if (!options.readonly) {
      // A new database gives pages freed by deletes back to the file system (vacuumStep) instead of
      // only reusing them: an import's staged rows would otherwise keep the file at twice its data.
      // It must be set before the first table; older databases keep reusing their free pages.
      if (db.pragma('page_count', { simple: true }) === 0) {
        // Rows of a vector and its payload are kilobytes: 4 KiB pages hold one 784-d row in 3.2 KiB
        // and waste the rest; 16 KiB pages pack rows of any dimension to a few percent of waste.
        db.pragma(`page_size = ${PAGE_SIZE}`);
        db.pragma('auto_vacuum = INCREMENTAL');
      }
      db.pragma('journal_mode = WAL');
      // After a checkpoint, a WAL grown past this (by an import's commit) is cut back to it: left alone it keeps its largest size.
      db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
      db.pragma(`synchronous = ${options.synchronous}`);
      db.pragma('foreign_keys = ON');
      migrate(db);
    }
  } catch (err) {
    db.close();
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new StorageErrors.Corrupt(
        `${options.path} is not a usable SQLite database (${(err as Error).message}): restore it and its -wal file from a backup, ` +
          'or move them aside to start empty; nothing was changed',
      );
    }
    throw err;
  }
  return db;
}

/**
 * Gives up to `pages` free pages back to the file system (inside a write transaction; a no-op on a
 * database created without incremental auto-vacuum). True once none is left.
 */
export function vacuumStep(db: Db, pages: number): boolean {
  if (db.pragma('auto_vacuum', { simple: true }) !== 2) return true;
  db.pragma(`incremental_vacuum(${pages})`);
  return db.pragma('freelist_count', { simple: true }) === 0;
}

/**
 * Copies the WAL into the database and cuts it to zero bytes, unless a reader holds part of it: then
 * it is left as it is (journal_size_limit still bounds it). Never waits. Outside any transaction.
 */
export function truncateWal(db: Db): void {
  const timeout = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma('busy_timeout = 0');
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.pragma(`busy_timeout = ${timeout}`);
  }
}

/** The sequence number of the last committed mutation. */
export function currentSeq(db: Db): number {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get('seq') as { value: number };
  return row.value;
}

/** Takes the next sequence number; call inside the mutation's transaction. */
export function nextSeq(db: Db): number {
  const row = db
    .prepare("UPDATE meta SET value = value + 1 WHERE key = 'seq' RETURNING value")
    .get() as { value: number };
  return row.value;
}
