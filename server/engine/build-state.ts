import { buildOrder, type BuildOrder } from '../../index/build-order.ts';
import { writeSnapshot } from '../../index/snapshot.ts';
import { blobToVector } from '../../index/vectors.ts';
import type { CollectionConfig } from '../../storage/collections.ts';
import { currentSeq, openDatabase, type Db } from '../../storage/db.ts';
import { PointsRepo } from '../../storage/points.ts';
import { StagingRepo, type ImportCommit } from '../../storage/staging.ts';
import { catchUp, loadIndex, snapshotName, type LoadedIndex } from './load-index.ts';
import { ServerErrors } from '../errors.ts';
import type { ReplicaData } from './protocol.ts';

const PAGE = 512;

/** Shared with the main thread: progress it reads, and a flag it sets to cancel. */
export class BuildProgress {
  readonly buffer: SharedArrayBuffer;
  readonly #processed: Float64Array;
  readonly #cancel: Int32Array;

  constructor(buffer = new SharedArrayBuffer(16)) {
    this.buffer = buffer;
    this.#processed = new Float64Array(buffer, 0, 1);
    this.#cancel = new Int32Array(buffer, 8, 1);
  }

  get processed(): number {
    return this.#processed[0];
  }

  set processed(n: number) {
    this.#processed[0] = n;
  }

  get cancelled(): boolean {
    return Atomics.load(this.#cancel, 0) === 1;
  }

  cancel(): void {
    Atomics.store(this.#cancel, 0, 1);
  }
}

export type BuildTask =
  | { op: 'build'; jobId: string; collectionId: number; config: CollectionConfig; order: BuildOrder; seed: number; progress: SharedArrayBuffer }
  | { op: 'commit'; jobId: string; collectionId: number }
  | { op: 'finish'; jobId: string; collectionId: number; commit: ImportCommit };

export type BuildReply = { value: unknown; error?: undefined } | { error: { code: string; message: string } };

export interface FinishReply {
  seq: number;
  bytes: number;
}

/**
 * The build worker: builds an import's index off the event loop, from the collection's snapshot
 * plus the rows changed since, then the staged records in the chosen order; commits the records
 * (its own connection, while the main thread holds writes back); catches up and writes the
 * result as the collection's snapshot, which the replicas then load.
 */
export class BuildState {
  readonly #data: ReplicaData;
  readonly #built = new Map<string, LoadedIndex>();
  #db: Db | null = null;

  constructor(data: ReplicaData) {
    this.#data = data;
  }

  get #conn(): Db {
    this.#db ??= openDatabase({ path: this.#data.dbPath, synchronous: 'NORMAL' });
    return this.#db;
  }

  /** Runs a task; errors come back as values, since an error's `code` does not cross threads. */
  async run(task: BuildTask): Promise<BuildReply> {
    try {
      return { value: await this.#run(task) };
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown };
      return { error: { code: typeof e.code === 'string' ? e.code : 'VDB_ERR_INTERNAL', message: String(e.message ?? err) } };
    }
  }

  async #run(task: BuildTask): Promise<unknown> {
    switch (task.op) {
      case 'build':
        return this.#build(task);
      case 'commit':
        return new StagingRepo(this.#conn).commit(task.jobId, task.collectionId);
      case 'finish':
        return this.#finish(task);
    }
  }

  async #build(task: Extract<BuildTask, { op: 'build' }>): Promise<{ records: number }> {
    const db = this.#conn;
    const progress = new BuildProgress(task.progress);
    const loaded = await loadIndex(db, this.#data.snapshotDir, task.collectionId, task.config, this.#data.engine);
    const staging = new StagingRepo(db);
    const keys = staging.rowKeys(task.jobId);
    const order = buildOrder(keys.length, task.order, task.seed);
    loaded.index.reserve(keys.length);
    for (let at = 0; at < order.length; at += PAGE) {
      if (progress.cancelled) throw new ServerErrors.JobCancelled('the import was cancelled');
      const page = Array.from(order.subarray(at, at + PAGE), (i) => keys[i]);
      for (const row of staging.rowsByKeys(task.jobId, page)) loaded.index.upsert(row.label, blobToVector(row.vector));
      progress.processed = Math.min(at + PAGE, order.length);
    }
    this.#built.set(task.jobId, loaded);
    return { records: keys.length };
  }

  /** Folds in what happened around the commit, writes the snapshot, frees the index. */
  async #finish(task: Extract<BuildTask, { op: 'finish' }>): Promise<FinishReply> {
    const built = this.#built.get(task.jobId);
    if (!built) throw new Error(`no built index for job ${task.jobId}`);
    this.#built.delete(task.jobId);
    const { index } = built;
    const db = this.#conn;
    const points = new PointsRepo(db);
    const { seq: committed, remaps } = task.commit;
    const seq = db.transaction(() => {
      // Rows changed between the build's start and the commit; the import's own rows (seq = committed) are in.
      catchUp(index, points, task.collectionId, built.caughtUp, committed);
      // Ids an upsert created meanwhile kept their label: move the imported vector there.
      for (const { staged } of remaps) index.remove(staged);
      const moved = points.getByLabels(task.collectionId, remaps.map((r) => r.current));
      for (const row of moved) if (row.vector) index.upsert(row.label, blobToVector(row.vector));
      catchUp(index, points, task.collectionId, committed);
      return currentSeq(db);
    })();
    const manifest = await writeSnapshot(this.#data.snapshotDir, snapshotName(task.collectionId), index, seq);
    return { seq, bytes: manifest.bytes };
  }
}
