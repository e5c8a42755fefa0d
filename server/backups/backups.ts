import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncPath, sha256File, type SnapshotManifest } from '../../index/snapshot.ts';
import { currentSeq, openDatabase, type Db } from '../../storage/db.ts';
import { ServerErrors } from '../errors.ts';
import type { Logger } from '../engine/logger.ts';

/** The file every backup directory holds, naming and hashing the others. */
export const MANIFEST = 'manifest.json';
const DATABASE = 'vicinity.db';
const INDEXES = 'indexes';
const PARTIAL = '.partial';
/** Database pages copied per turn of the event loop (4 MiB of 4 KiB pages): a few ms each. */
const BACKUP_PAGES_PER_STEP = 1024;

/** What a finished backup holds (manifest.json). */
export interface BackupManifest {
  format: 1;
  id: string;
  version: string;
  created_at: string;
  finished_at: string;
  /** The sequence number of the copied database: every write acknowledged up to it is in the backup. */
  seq: number;
  collections: { name: string; points: number }[];
  /** Paths relative to the backup directory, with their size and hex SHA-256. */
  files: { path: string; bytes: number; sha256: string }[];
}

/** A backup as the API shows it. */
export interface BackupView {
  id: string;
  state: 'running' | 'done' | 'failed';
  path: string;
  created_at: string;
  finished_at: string | null;
  seq: number | null;
  bytes: number | null;
  collections: { name: string; points: number }[] | null;
  /** While running: database pages copied and total. */
  progress?: { copied: number; total: number } | null;
  error?: { code: string; message: string };
}

/** What a backup copies, from the engine. */
export interface BackupSource {
  db: Db;
  snapshotDir: string;
  /** Holds every collection's snapshot lock, so no snapshot file changes and no job commits until `release`. */
  holdSnapshots(): Promise<{ release: () => void; names: string[] }>;
  /** Holds back the build process's writes (another connection, which would start the copy over) until the returned function is called. */
  pauseOtherWriters(): Promise<() => void>;
}

/**
 * Online backups (`POST /v1/backups`) into `dir/<id>`: the SQLite database through its online
 * backup API, on the server's own connection (so writes go on, and what they change during the copy
 * is copied too), and each collection's index snapshot with its manifest. Every snapshot lock is
 * held from the first file copied to the database's last page, so each copied snapshot covers a
 * sequence number no later than the database's and no job commits in between: a server started from
 * the copy replays the rest from SQLite, as after a crash. The work happens in `<id>.partial`,
 * renamed once manifest.json (sizes and checksums) is written and synced; one backup runs at a time.
 */
export class Backups {
  readonly #source: BackupSource;
  readonly #dir: string;
  readonly #log: Logger;
  readonly #version: string;
  #running: { view: BackupView; done: Promise<void>; aborted: boolean } | null = null;
  /** Failed backups since start-up (a finished one is its directory). */
  readonly #failed: BackupView[] = [];
  #closed = false;

  constructor(source: BackupSource, dir: string, version: string, log: Logger) {
    this.#source = source;
    this.#dir = dir;
    this.#version = version;
    this.#log = log;
    // A backup a crash cut short never got its manifest: nothing to keep.
    void readdir(dir)
      .then((names) => Promise.all(names.filter((n) => n.endsWith(PARTIAL)).map((n) => rm(join(dir, n), { recursive: true, force: true }))))
      .catch(() => undefined);
  }

  /** Starts a backup; 409 while one runs. */
  start(): BackupView {
    if (this.#closed) throw new ServerErrors.NotReady('the server is shutting down');
    if (this.#running) throw new ServerErrors.BackupRunning(`backup ${this.#running.view.id} is running; wait for it (GET /v1/backups/${this.#running.view.id})`);
    const now = new Date();
    const id = `${now.toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
    const view: BackupView = {
      id, state: 'running', path: join(this.#dir, id), created_at: now.toISOString(), finished_at: null, seq: null, bytes: null, collections: null, progress: null,
    };
    const running = { view, aborted: false, done: Promise.resolve() };
    running.done = this.#run(running).then(
      (manifest) => {
        this.#log.info({ backup: id, seq: manifest.seq, bytes: sum(manifest) }, 'backup done');
      },
      (err: unknown) => {
        const code = (err as { code?: unknown }).code;
        view.state = 'failed';
        view.finished_at = new Date().toISOString();
        view.error = {
          code: code === 'SQLITE_FULL' || code === 'ENOSPC' ? 'VDB_ERR_STORAGE_FULL' : running.aborted ? 'VDB_ERR_JOB_INTERRUPTED' : 'VDB_ERR_INTERNAL',
          message: running.aborted ? 'the server shut down during the backup; nothing of it was kept' : `the backup failed: ${(err as Error).message}`,
        };
        delete view.progress;
        this.#failed.push(view);
        this.#log.error({ err, backup: id }, 'backup failed');
        return rm(`${view.path}${PARTIAL}`, { recursive: true, force: true }).catch(() => undefined);
      },
    ).finally(() => {
      this.#running = null;
    });
    this.#running = running;
    return { ...view };
  }

  async #run(running: { view: BackupView; aborted: boolean }): Promise<BackupManifest> {
    const { view } = running;
    const work = `${view.path}${PARTIAL}`;
    await mkdir(join(work, INDEXES), { recursive: true });
    const { release, names } = await this.#source.holdSnapshots();
    try {
      for (const name of names) await this.#copySnapshot(name, work);
      const resume = await this.#source.pauseOtherWriters();
      try {
        await this.#copyDatabase(running, join(work, DATABASE));
      } finally {
        resume();
      }
    } finally {
      release();
    }
    const copy = openDatabase({ path: join(work, DATABASE), synchronous: 'NORMAL', readonly: true });
    let seq: number;
    let collections: { name: string; points: number }[];
    try {
      seq = currentSeq(copy);
      collections = copy.prepare('SELECT name, live_count AS points FROM collections WHERE dropped = 0 ORDER BY name').all() as { name: string; points: number }[];
    } finally {
      copy.close();
    }
    const files: BackupManifest['files'] = [];
    for (const path of [DATABASE, ...(await readdir(join(work, INDEXES))).sort().map((f) => `${INDEXES}/${f}`)]) {
      if (running.aborted) throw new Error('aborted');
      const full = join(work, path);
      files.push({ path, bytes: (await stat(full)).size, sha256: await sha256File(full) });
      await fsyncPath(full);
    }
    const manifest: BackupManifest = {
      format: 1, id: view.id, version: this.#version, created_at: view.created_at, finished_at: new Date().toISOString(), seq, collections, files,
    };
    await writeFile(join(work, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    await fsyncPath(join(work, MANIFEST));
    await rename(work, view.path);
    // Kept from here on: a failed directory sync must not report the backup as failed.
    await fsyncPath(this.#dir).catch((err: unknown) => this.#log.warn({ err, backup: view.id }, 'syncing the backup directory failed'));
    return manifest;
  }

  /** The database through SQLite's online backup on the server's connection, a few MiB per turn of the event loop. */
  async #copyDatabase(running: { view: BackupView; aborted: boolean }, to: string): Promise<void> {
    await this.#source.db.backup(to, {
      progress: ({ totalPages, remainingPages }) => {
        if (running.aborted) throw new Error('aborted');
        running.view.progress = { copied: totalPages - remainingPages, total: totalPages };
        return BACKUP_PAGES_PER_STEP;
      },
    });
  }

  /** Copies a collection's snapshot and its manifest, if it has one (held still by its lock). */
  async #copySnapshot(name: string, work: string): Promise<void> {
    const manifestFile = `${name}.manifest.json`;
    let snapshot: SnapshotManifest;
    try {
      snapshot = JSON.parse(await readFile(join(this.#source.snapshotDir, manifestFile), 'utf8')) as SnapshotManifest;
    } catch {
      return; // no snapshot yet: the restored server builds the index from SQLite
    }
    await copyFile(join(this.#source.snapshotDir, snapshot.file), join(work, INDEXES, snapshot.file));
    await copyFile(join(this.#source.snapshotDir, manifestFile), join(work, INDEXES, manifestFile));
  }

  /** Backups in the directory (newest first), the running one, and those failed since start-up. */
  async list(): Promise<BackupView[]> {
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    const done = await Promise.all(names.filter((n) => !n.endsWith(PARTIAL)).map((n) => this.#read(n)));
    const views = [...done.filter((v): v is BackupView => v !== null), ...this.#failed];
    if (this.#running) views.push({ ...this.#running.view });
    return views.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
  }

  async get(id: string): Promise<BackupView> {
    const found = (await this.list()).find((v) => v.id === id);
    if (!found) throw new ServerErrors.BackupNotFound(`no backup '${id}' in ${this.#dir}; GET /v1/backups lists them`);
    return found;
  }

  async #read(name: string): Promise<BackupView | null> {
    try {
      const m = JSON.parse(await readFile(join(this.#dir, name, MANIFEST), 'utf8')) as BackupManifest;
      return { id: m.id, state: 'done', path: join(this.#dir, name), created_at: m.created_at, finished_at: m.finished_at, seq: m.seq, bytes: sum(m), collections: m.collections };
    } catch {
      return null; // not a backup directory
    }
  }

  /** Stops a running backup (its partial copy is removed) and waits for it. */
  async close(): Promise<void> {
    this.#closed = true;
    if (!this.#running) return;
    this.#running.aborted = true;
    await this.#running.done;
  }
}

const sum = (m: BackupManifest) => m.files.reduce((total, f) => total + f.bytes, 0);
