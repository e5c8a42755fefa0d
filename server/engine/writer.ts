import type { Db } from '../../storage/db.ts';
import { StorageErrors } from '../../storage/errors.ts';
import { Mutex } from './mutex.ts';

/** Takes the write lock; resolves with the function that gives it back. */
export type AcquireLock = () => Promise<() => void>;

/**
 * The one write path. Every SQLite write goes through a `Writer`: the main thread's, which owns the
 * lock, or the build process's, which borrows it (`lease`) for each of its transactions. So no two
 * connections ever write at once, and no transaction waits in SQLite's busy handler, which would
 * block its thread, or fails with SQLITE_BUSY after reading.
 *
 * A connection is query-only outside `write`: a write that bypasses the lock fails at once
 * (SQLITE_READONLY) instead of racing.
 */
export class Writer {
  readonly #db: Db;
  readonly #acquire: AcquireLock;
  readonly #writable;
  readonly #readOnly;
  /** Set while leases are held back (pauseLeases). */
  #paused: Promise<void> | null = null;
  /**
   * Told how long each committed transaction took, in seconds (/metrics): the server's own, and the
   * build process's (the time it held the lock lent to it).
   */
  observe: ((seconds: number, by: 'server' | 'build') => void) | undefined;

  /** `acquire` takes the lock: by default a lock of this process; the build process asks the server's. */
  constructor(db: Db, acquire?: AcquireLock) {
    this.#db = db;
    if (acquire) this.#acquire = acquire;
    else {
      const lock = new Mutex();
      this.#acquire = () => lock.acquire();
    }
    this.#writable = db.prepare('PRAGMA query_only = 0');
    this.#readOnly = db.prepare('PRAGMA query_only = 1');
    this.#readOnly.run();
  }

  /**
   * Runs `fn` as one write transaction once the lock is free. `committed` runs after the commit,
   * still holding the lock, so what it sends on (changes to the replicas) leaves in commit order.
   */
  async write<T>(fn: () => T, committed?: (result: T) => void): Promise<T> {
    const release = await this.#acquire();
    try {
      const result = this.writeHeld(fn);
      committed?.(result);
      return result;
    } finally {
      release();
    }
  }

  /**
   * Runs `fn` as one write transaction without taking the lock: for a caller the lock holder lent
   * it to for this one write (an import's commit, which the server holds the lock around so that
   * it takes up the commit's model before any other write).
   */
  writeHeld<T>(fn: () => T): T {
    this.#writable.run();
    const started = performance.now();
    try {
      const result = this.#db.transaction(fn).immediate();
      this.observe?.((performance.now() - started) / 1000, 'server');
      return result;
    } catch (err) {
      // SQLite rolled the transaction back: nothing of it was written.
      if ((err as { code?: unknown }).code === 'SQLITE_FULL') {
        throw new StorageErrors.Full('the disk holding the data directory is full: nothing of this write was kept; free space (or move VICINITY_DATA_DIR) and retry; searches go on meanwhile');
      }
      throw err;
    } finally {
      this.#readOnly.run();
    }
  }

  /** Lends the lock to another connection (the build process's) until the returned function is called. */
  async lease(): Promise<() => void> {
    while (this.#paused) await this.#paused;
    return this.#acquire();
  }

  /**
   * Holds back new leases until the returned function is called, once the lease lent now (if any)
   * has ended; this connection's own writes go on. For a backup, which copies through this connection: SQLite starts an online backup over
   * whenever another connection writes, and the build process writes often.
   */
  async pauseLeases(): Promise<() => void> {
    let resume!: () => void;
    const paused = new Promise<void>((resolve) => (resume = resolve));
    const before = this.#paused;
    this.#paused = before ? before.then(() => paused) : paused;
    // A lease lent already ends first (writes queued before this one go first too).
    (await this.#acquire())();
    return () => {
      resume();
      if (this.#paused === paused) this.#paused = null;
    };
  }
}

/** Runs `step` in one write each until it returns true, letting other writers in between. */
export async function writeInSteps(writer: Writer, step: () => boolean): Promise<void> {
  while (!(await writer.write(step)));
}
