import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { HnswIndex } from '../../index/hnsw.ts';
import { loadSnapshot, removeSnapshots, writeSnapshot } from '../../index/snapshot.ts';
import { blobToVector } from '../../index/vectors.ts';
import type { CollectionRecord } from '../../storage/collections.ts';
import type { Change, PointsRepo } from '../../storage/points.ts';

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface CollectionIndexOptions {
  record: CollectionRecord;
  snapshotDir: string;
  points: PointsRepo;
  /** The sequence number of the last committed mutation (of any collection). */
  currentSeq: () => number;
  log: Logger;
}

export type IndexState = 'loading' | 'ready' | 'failed';

/** Mutations this small are applied at once; bigger ones are applied in time slices. */
const SYNC_APPLY_LIMIT = 64;
/** Longest stretch of index work between two yields to the event loop. */
const SLICE_MS = 8;
const PAGE = 256;
const AFTER_ALL_LABELS = 2 ** 32;

/**
 * One collection's HNSW index: derived state, kept current with SQLite.
 *
 * The index is "current" when every committed row of the collection is applied. Small mutations
 * are applied as they commit; otherwise (big batches, writes during a snapshot save, start-up) the
 * index catches up by reading the *current state* of rows newer than the last point where it was
 * current, in time slices. Catch-up is idempotent, so a row applied twice is harmless.
 */
export class CollectionIndex {
  readonly record: CollectionRecord;
  state: IndexState = 'loading';
  index: HnswIndex | null = null;
  snapshotSeq = 0;
  snapshotBytes = 0;
  changesSinceSnapshot = 0;
  lastSnapshotAt = Date.now();

  readonly #o: CollectionIndexOptions;
  #current = false;
  /** Rows with seq ≤ this are in the index; valid while not current. */
  #catchUpFrom = 0;
  #catchingUp: Promise<number> | null = null;
  #saving: Promise<void> | null = null;
  #disposed = false;
  #waiters: (() => void)[] = [];

  constructor(options: CollectionIndexOptions) {
    this.#o = options;
    this.record = options.record;
  }

  #newIndex(): HnswIndex {
    const { config } = this.record;
    return new HnswIndex({
      dimension: config.dimension,
      metric: config.metric,
      m: config.hnsw.m,
      efConstruction: config.hnsw.ef_construction,
      efSearch: config.hnsw.ef_search,
    });
  }

  /** A new, empty collection: ready at once. */
  initEmpty(): void {
    this.index = this.#newIndex();
    this.state = 'ready';
    this.#setCurrent();
  }

  /** Loads the verified snapshot (or starts empty) and catches up with SQLite. */
  async load(): Promise<void> {
    const { record, snapshotDir, points, log } = this.#o;
    const { config } = record;
    const name = snapshotName(record.id);
    const loaded = await loadSnapshot(snapshotDir, name, {
      dimension: config.dimension,
      metric: config.metric,
      m: config.hnsw.m,
      efConstruction: config.hnsw.ef_construction,
      efSearch: config.hnsw.ef_search,
    });
    if (this.#disposed) return;
    if (loaded.index) {
      this.index = loaded.index;
      this.snapshotSeq = loaded.manifest.seq;
      this.snapshotBytes = loaded.manifest.bytes;
      // The file does not say which labels were deleted: re-apply every tombstone.
      for (const label of points.deletedLabels(record.id)) this.index.remove(label);
    } else {
      if (record.liveCount + record.deletedCount > 0) {
        log.warn({ collection: record.name, reason: loaded.reason }, 'no usable snapshot: rebuilding the index from SQLite');
      }
      this.index = this.#newIndex();
      this.snapshotSeq = 0;
    }
    this.#catchUpFrom = this.snapshotSeq;
    const started = Date.now();
    const applied = await this.#catchUp();
    if (this.#disposed) return;
    // A long catch-up (or a rebuild) is worth a snapshot, so the next start is quick.
    this.changesSinceSnapshot += applied;
    this.state = 'ready';
    log.info(
      { collection: record.name, points: this.index.size, snapshot_seq: this.snapshotSeq, ms: Date.now() - started },
      'index ready',
    );
  }

  /** Applies a committed mutation, now or by catch-up. */
  apply(seq: number, changes: readonly Change[]): void {
    if (changes.length === 0 || this.#disposed) return;
    this.changesSinceSnapshot += changes.length;
    if (this.#current && !this.#saving && this.index && changes.length <= SYNC_APPLY_LIMIT) {
      for (const c of changes) this.#applyOne(c.label, c.vector);
      return;
    }
    if (this.#current) {
      this.#current = false;
      this.#catchUpFrom = seq - 1;
    }
    if (!this.#saving && this.state === 'ready') void this.#catchUp();
  }

  /** Resolves once every mutation committed before the call is in the index. */
  whenCurrent(): Promise<void> {
    if (this.#current) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  get current(): boolean {
    return this.#current;
  }

  get saving(): boolean {
    return this.#saving !== null;
  }

  /** Writes a snapshot of the index, off the event loop; writes meanwhile are caught up after. */
  async snapshot(): Promise<void> {
    if (this.#saving) return this.#saving;
    if (this.#catchingUp) await this.#catchingUp;
    if (!this.index || this.state !== 'ready' || this.#disposed || !this.#current) return;
    const index = this.index;
    const seq = this.#o.currentSeq();
    const changes = this.changesSinceSnapshot;
    this.#saving = (async () => {
      try {
        const manifest = await writeSnapshot(this.#o.snapshotDir, snapshotName(this.record.id), index, seq);
        this.snapshotSeq = seq;
        this.snapshotBytes = manifest.bytes;
        this.changesSinceSnapshot -= changes;
        this.lastSnapshotAt = Date.now();
      } catch (err) {
        this.#o.log.error({ err, collection: this.record.name }, 'snapshot failed; will retry');
      } finally {
        this.#saving = null;
        if (this.#disposed) await removeSnapshots(this.#o.snapshotDir, snapshotName(this.record.id));
        else if (!this.#current) {
          this.#catchUpFrom = seq;
          void this.#catchUp();
        }
      }
    })();
    return this.#saving;
  }

  /** Stops all work and deletes the snapshot files (the collection was dropped). */
  async dispose(): Promise<void> {
    this.#disposed = true;
    this.#setCurrent();
    if (this.#saving) await this.#saving;
    else await removeSnapshots(this.#o.snapshotDir, snapshotName(this.record.id));
    this.index = null;
  }

  #applyOne(label: number, vector: Uint8Array | null): void {
    if (vector) this.index!.upsert(label, blobToVector(vector));
    else this.index!.remove(label);
  }

  /** Resolves with the number of rows applied. */
  #catchUp(): Promise<number> {
    this.#catchingUp ??= this.#runCatchUp()
      .catch((err: unknown) => {
        this.state = 'failed';
        this.#o.log.error({ err, collection: this.record.name }, 'index catch-up failed');
        this.#releaseWaiters();
        return 0;
      })
      .finally(() => {
        this.#catchingUp = null;
      });
    return this.#catchingUp;
  }

  async #runCatchUp(): Promise<number> {
    const { points, record } = this.#o;
    let applied = 0;
    let seq = this.#catchUpFrom;
    let label = AFTER_ALL_LABELS;
    let sliceStart = performance.now();
    for (;;) {
      if (this.#disposed || this.#saving) return applied;
      const rows = points.changesAfter(record.id, seq, label, PAGE);
      if (rows.length === 0) break;
      for (const row of rows) {
        this.#applyOne(row.label, row.vector);
        applied++;
        seq = row.seq;
        label = row.label;
        if (performance.now() - sliceStart > SLICE_MS) break;
      }
      if (performance.now() - sliceStart > SLICE_MS) {
        await yieldToLoop();
        sliceStart = performance.now();
      }
    }
    // Same tick as the empty page: nothing can have committed in between.
    this.#setCurrent();
    return applied;
  }

  #setCurrent(): void {
    this.#current = true;
    this.#releaseWaiters();
  }

  /** Wakes searches waiting for the index; they check `state` before searching. */
  #releaseWaiters(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}

export function snapshotName(collectionId: number): string {
  return `c${collectionId}`;
}
