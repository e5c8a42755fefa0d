import { setTimeout as sleep } from 'node:timers/promises';
import { buildOrder, type BuildOrder } from '../../index/build-order.ts';
import { writeSnapshot } from '../../index/snapshot.ts';
import { HnswIndex } from '../../index/hnsw.ts';
import { summarizeLid, type LidSummary } from '../../index/lid.ts';
import { CollectionsRepo, type CollectionConfig } from '../../storage/collections.ts';
import { StorageErrors } from '../../storage/errors.ts';
import { KnnRepo } from '../../storage/knn.ts';
import { currentSeq, nextSeq, openDatabase, type Db } from '../../storage/db.ts';
import { ModelsRepo, updatedModel, type ModelUpdate } from '../../storage/models.ts';
import { PointsRepo } from '../../storage/points.ts';
import { StagingRepo, type ImportCommit } from '../../storage/staging.ts';
import { insertRows, parallelBuilder, type BulkBuildSettings } from './bulk-build.ts';
import { catchUp, indexOptions, loadIndex, snapshotName, type LoadedIndex } from './load-index.ts';
import { knnRows, planOrder } from './insertion-order.ts';
import { putKnn, rebuildIndex } from './rebuild.ts';
import { CollectionModel, fitModel, fitRows } from './model.ts';
import type { ReplicaData } from './protocol.ts';
import { Writer, type AcquireLock } from './writer.ts';

const PAGE = 512;
const PURGE_CHUNK = 2000;
const BREATHE_MS = 50;
const FOLLOW_WAIT_MS = 20;
let lastBreath = performance.now();

/** Lets the process's event loop run now and then (control messages, progress reports, lock grants). */
async function breather(): Promise<void> {
  if (performance.now() - lastBreath < BREATHE_MS) return;
  await new Promise((resolve) => setImmediate(resolve));
  lastBreath = performance.now();
}

/** What the build process is started with: the replicas' data and VICINITY_BUILD_THREADS, resolved. */
export interface BuildData extends ReplicaData {
  buildThreads: number;
}

/** What the server tells a build that follows an upload: the record count once known, "body all staged". */
export interface BuildControl {
  expected?: number;
  received?: boolean;
}

/** A build's progress in the build process: `processed` and `total` are reported, the control fields set by the server. */
class BuildProgress {
  processed = 0;
  total: number | null = null;
  expected = 0;
  received = false;

  apply(control: BuildControl): void {
    if (control.expected !== undefined) this.expected = control.expected;
    if (control.received !== undefined) this.received = control.received;
  }
}

export type BuildTask =
  | { op: 'build'; jobId: string; collectionId: number; config: CollectionConfig; order: BuildOrder; seed: number; control: BuildControl }
  /** Optimize: a new index of every live point, in `order`. */
  | { op: 'rebuild'; jobId: string; collectionId: number; config: CollectionConfig; order: BuildOrder; seed: number; lidK: number }
  | { op: 'commit'; jobId: string; collectionId: number }
  | { op: 'finish'; jobId: string; collectionId: number; commit: ImportCommit };

export type BuildReply = { value: unknown; error?: undefined } | { error: { code: string; message: string } };

export interface FinishReply {
  seq: number;
  bytes: number;
  /** Tombstones an optimize removed from SQLite. */
  purged: number;
  /** The LID distribution of the collection's last k-NN pass, or null. */
  lid: LidSummary | null;
}

/** A built index, and the model the job fitted for it (installed by the commit). */
interface Built extends LoadedIndex {
  update: ModelUpdate | null;
  /** The model the rows were stored under before the fit. */
  before: CollectionModel;
  /** An optimize: nothing staged; tombstones up to `caughtUp` are left out of the index. */
  rebuild: boolean;
  /** A k-NN pass ran (a LID order) and wrote its findings. */
  passRan: boolean;
}

/**
 * What the build process does: builds an import's index off the server's event loop, from the
 * collection's snapshot plus the rows changed since, then the staged records in the chosen order;
 * commits the records; catches up and writes the result as the collection's snapshot, which the
 * replicas then load. It reads on its own connection and writes only through `Writer`, holding the
 * server's write lock for each transaction. A cancelled job's process is killed.
 */
export class BuildState {
  readonly #data: BuildData;
  readonly #acquire: AcquireLock;
  readonly #built = new Map<string, Built>();
  /** Progress of the builds running, by job: the server's control messages land here. */
  readonly progress = new Map<string, BuildProgress>();
  #db: Db | null = null;
  #writer: Writer | null = null;

  constructor(data: BuildData, acquire: AcquireLock) {
    this.#data = data;
    this.#acquire = acquire;
  }

  get #conn(): Db {
    this.#db ??= openDatabase({ path: this.#data.dbPath, synchronous: 'NORMAL' });
    return this.#db;
  }

  get #settings(): BulkBuildSettings {
    return { engine: this.#data.engine, threads: this.#data.buildThreads, dir: this.#data.snapshotDir };
  }

  get #write(): Writer {
    this.#writer ??= new Writer(this.#conn, this.#acquire);
    return this.#writer;
  }

  /** Runs a task; errors come back as values, since an error's `code` does not cross processes. */
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
      case 'rebuild':
        return this.#build(task);
      case 'commit':
        return this.#commit(task.jobId, task.collectionId);
      case 'finish':
        return this.#finish(task);
    }
  }

  async #build(task: Extract<BuildTask, { op: 'build' | 'rebuild' }>): Promise<null> {
    const progress = new BuildProgress();
    if (task.op === 'build') progress.apply(task.control);
    this.progress.set(task.jobId, progress);
    try {
      if (task.op === 'build') await this.#add(task, progress);
      else await this.#rebuild(task, progress);
    } finally {
      this.progress.delete(task.jobId);
    }
    return null;
  }

  async #add(task: Extract<BuildTask, { op: 'build' }>, progress: BuildProgress): Promise<void> {
    const loaded = await loadIndex(this.#conn, this.#data.snapshotDir, task.collectionId, task.config, this.#data.engine);
    const pending = loaded.model.pending;
    if (pending.codec || pending.pca) {
      while (!progress.received) await sleep(FOLLOW_WAIT_MS);
      const built = await this.#fit(task, loaded.model);
      if (built) {
        const { index, passRan } = await this.#ordered(task, built, progress);
        this.#built.set(task.jobId, { ...built, index, rebuild: false, passRan });
        return;
      }
    }
    const { index, passRan } = task.order === 'given' && !progress.received
      ? (await this.#follow(task.jobId, loaded, progress), { index: loaded.index, passRan: false })
      : await this.#ordered(task, loaded, progress);
    this.#built.set(task.jobId, { ...loaded, index, update: null, before: loaded.model, rebuild: false, passRan });
  }

  async #rebuild(task: Extract<BuildTask, { op: 'rebuild' }>, progress: BuildProgress): Promise<void> {
    const report = (inserted: number, total: number) => {
      progress.processed = inserted;
      progress.total = total;
    };
    const built = await rebuildIndex(this.#conn, this.#write, this.#settings, task, report, breather);
    this.#built.set(task.jobId, { ...built, rebuild: true });
  }

  /**
   * The collection still lacks a fitted codec or PCA: fit it on a sample of the points stored
   * and the records staged, re-encode the staged records with it, and start a new index with
   * every stored point under the new model. (Points stored as float32 before the fit are
   * re-encoded by the commit and re-applied by `finish`.)
   */
  async #fit(task: Extract<BuildTask, { op: 'build' }>, before: CollectionModel): Promise<Omit<Built, 'rebuild' | 'passRan'> | null> {
    const db = this.#conn;
    const points = new PointsRepo(db);
    const staging = new StagingRepo(db);
    const d = task.config.dimension;
    const stored = points.liveLabels(task.collectionId);
    const keys = staging.rowKeys(task.jobId);
    const rows = fitRows(stored.length + keys.length);
    const sample = new Float32Array(rows.length * d);
    const fromStored = Array.from(rows.filter((i) => i < stored.length), (i) => stored[i]);
    const fromStaged = Array.from(rows.filter((i) => i >= stored.length), (i) => keys[i - stored.length]);
    let at = 0;
    for (const row of points.getByLabels(task.collectionId, fromStored)) sample.set(before.decode(row.vector!), d * at++);
    for (const row of staging.rowsByKeys(task.jobId, fromStaged)) sample.set(before.decode(row.vector), d * at++);
    if (at === 0) return null; // nothing to fit on (an empty import): the model waits
    const update = fitModel(before, sample.subarray(0, at * d), at, before.pending);
    const model = new CollectionModel(task.config, updatedModel(new ModelsRepo(db).get(task.collectionId), update));
    if (update.codec) {
      const bytes = model.codec.bytesPerVector;
      const reencode = (old: Buffer) => model.encode(before.decode(old)).bytes;
      for (let after: number | null = -1; after !== null; ) {
        const from: number = after;
        after = await this.#write.write(() => staging.reencode(task.jobId, from, bytes, reencode));
        await breather();
      }
    }
    const index = new HnswIndex(indexOptions(model, this.#data.engine));
    // Room for the stored points; the staged ones are reserved by whichever path inserts them (the
    // parallel builder, for an empty collection, replaces this index).
    index.reserve(stored.length);
    const caughtUp = db.transaction(() => {
      catchUp(index, model, points, task.collectionId, 0);
      return currentSeq(db);
    })();
    return { index, model, caughtUp, update, before };
  }

  /**
   * Commits the staged records, with the model the build fitted and the stored rows it
   * re-encodes. Records staged as float32 before another import fitted the codec are encoded
   * here, as the build indexed them (`storedValue`). The server holds the write lock around this
   * task (until it has taken up the model the commit installs), so it writes without asking.
   */
  #commit(jobId: string, collectionId: number): ImportCommit {
    const db = this.#conn;
    const staging = new StagingRepo(db);
    const built = this.#built.get(jobId);
    if (built?.rebuild) {
      // Nothing to make visible: install a refitted PCA, and take a sequence number no row has.
      return this.#write.writeHeld((): ImportCommit => {
        if (!new CollectionsRepo(db).isLive(collectionId)) throw new StorageErrors.Gone('the collection was dropped during the optimize');
        if (built.update) new ModelsRepo(db).install(collectionId, built.update);
        return { seq: nextSeq(db), records: 0 };
      });
    }
    return this.#write.writeHeld(() =>
      staging.commit(jobId, collectionId, () => {
        if (!built) return;
        const { model, before, update } = built;
        const bytes = model.codec.bytesPerVector;
        if (update) {
          new ModelsRepo(db).install(collectionId, update);
          // Its own sequence number, before the import's: `finish` then re-applies these rows.
          new PointsRepo(db).reencode(collectionId, nextSeq(db), bytes, (old) => model.encode(before.decode(old)).bytes);
        }
        for (let after: number | null = -1; after !== null; ) after = staging.reencode(jobId, after, bytes, (old) => model.encode(model.decode(old)).bytes);
      }, { maxLinksPerPoint: this.#data.maxLinksPerPoint, maxPoints: this.#data.maxPointsPerCollection }),
    );
  }

  /** Body order: adds rows as they are staged, waiting for more until the body is all in. */
  async #follow(jobId: string, { index, model }: LoadedIndex, progress: BuildProgress): Promise<void> {
    const staging = new StagingRepo(this.#conn);
    let after = -1;
    let reserved = 0;
    for (;;) {
      const received = progress.received; // read before the rows: rows staged before it are seen below
      if (progress.expected > reserved) {
        index.reserve(progress.expected - progress.processed);
        reserved = progress.expected;
      }
      const rows = staging.rowsAfter(jobId, after, PAGE);
      for (const row of rows) index.upsert(row.label, model.toIndex(model.storedValue(row.vector)));
      if (rows.length > 0) {
        after = rows[rows.length - 1].row;
        progress.processed += rows.length;
        await breather();
      } else if (received) {
        return;
      } else {
        await sleep(FOLLOW_WAIT_MS);
      }
    }
  }

  /**
   * Any other order: every row is staged already. A shuffle reads them page by page in its
   * permutation; the LID and payload orders read them all first (a k-NN pass, or the payloads), and
   * so does a shuffle into an empty index that the parallel builder builds (see `insertRows`).
   */
  async #ordered(task: Extract<BuildTask, { op: 'build' }>, { index, model }: LoadedIndex, progress: BuildProgress): Promise<{ index: HnswIndex; passRan: boolean }> {
    const staging = new StagingRepo(this.#conn);
    const keys = staging.rowKeys(task.jobId);
    progress.total = keys.length;
    const shuffle = task.order === 'given' || task.order === 'random' ? task.order : null;
    // Without the parallel builder a shuffle streams the rows; with it, they are all read first, as for the other orders.
    if (shuffle !== null && parallelBuilder(index, this.#settings) === null) {
      index.reserve(keys.length);
      const order = buildOrder(keys.length, shuffle, task.seed);
      for (let at = 0; at < order.length; at += PAGE) {
        const page = Array.from(order.subarray(at, at + PAGE), (i) => keys[i]);
        for (const row of staging.rowsByKeys(task.jobId, page)) index.upsert(row.label, model.toIndex(model.storedValue(row.vector)));
        progress.processed = Math.min(at + PAGE, order.length);
        await breather();
      }
      return { index, passRan: false };
    }
    const dim = model.index.dimension;
    const vectors = new Float32Array(keys.length * dim);
    const labels = new Uint32Array(keys.length);
    const payloads: (string | null)[] = [];
    let n = 0;
    for (let after = -1; ; ) {
      const rows = staging.rowsAfter(task.jobId, after, PAGE);
      for (const row of rows) {
        labels[n] = row.label;
        vectors.set(model.toIndex(model.storedValue(row.vector)), n++ * dim);
        if (shuffle === null) payloads.push(row.payload);
      }
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1].row;
    }
    const plan = shuffle !== null
      ? { positions: buildOrder(n, shuffle, task.seed), pass: null }
      : await planOrder(task.order, task.seed, { n, dim, vectors, payloads }, this.#data.engine, breather);
    if (plan.pass) await putKnn(this.#write, new KnnRepo(this.#conn), task.collectionId, knnRows(plan.pass, labels), breather, true);
    const hooks = { progress: (inserted: number) => (progress.processed = inserted), pause: breather };
    const built = await insertRows(index, indexOptions(model, this.#data.engine), { labels, vectors, order: plan.positions }, this.#settings, hooks);
    return { index: built, passRan: plan.pass !== null };
  }

  /** Folds in what happened around the commit, writes the snapshot, frees the index. */
  async #finish(task: Extract<BuildTask, { op: 'finish' }>): Promise<FinishReply> {
    const built = this.#built.get(task.jobId);
    if (!built) throw new Error(`no built index for job ${task.jobId}`);
    this.#built.delete(task.jobId);
    const { index, model } = built;
    const db = this.#conn;
    const points = new PointsRepo(db);
    const committed = task.commit.seq;
    const seq = db.transaction(() => {
      // Rows changed between the build's start and the commit; the import's own rows (seq = committed) are in.
      catchUp(index, model, points, task.collectionId, built.caughtUp, committed);
      catchUp(index, model, points, task.collectionId, committed);
      return currentSeq(db);
    })();
    const manifest = await writeSnapshot(this.#data.snapshotDir, snapshotName(task.collectionId), index, seq, model.version);
    // The snapshot replaced every older one: tombstones the rebuild left out are no longer needed.
    let purged = 0;
    while (built.rebuild) {
      const n = await this.#write.write(() => points.purgeTombstones(task.collectionId, built.caughtUp, PURGE_CHUNK));
      purged += n;
      if (n < PURGE_CHUNK) break;
      await breather();
    }
    // Freed labels will hold other points: overlay entries that may name them are redone, unless a
    // pass just rewrote them all.
    if (purged > 0 && !built.passRan) {
      const knn = new KnnRepo(db);
      while (!(await this.#write.write(() => knn.invalidate(task.collectionId)))) await breather();
    }
    return { seq, bytes: manifest.bytes, purged, lid: await this.#lidSummary(task.collectionId, built.passRan) };
  }

  /** The LID distribution of the collection's k-NN entries: summarised again after a pass, else as stored. */
  async #lidSummary(collectionId: number, passRan: boolean): Promise<LidSummary | null> {
    const knn = new KnnRepo(this.#conn);
    if (passRan) {
      const summary = JSON.stringify(summarizeLid(knn.lids(collectionId)));
      await this.#write.write(() => knn.setSummary(collectionId, summary));
    }
    const stored = knn.summary(collectionId);
    return stored === null ? null : (JSON.parse(stored) as LidSummary | null);
  }
}

/** Messages from the server to the build process. */
export type ToBuild =
  | { type: 'init'; data: BuildData }
  | { type: 'task'; id: number; task: BuildTask }
  | { type: 'control'; jobId: string; control: BuildControl }
  /** The server's write lock is this process's until it sends `unlock` with the same id. */
  | { type: 'locked'; id: number };

/** Messages from the build process to the server. */
export type FromBuild =
  | { type: 'reply'; id: number; reply: BuildReply }
  | { type: 'progress'; jobId: string; processed: number; total: number | null }
  | { type: 'lock'; id: number }
  | { type: 'unlock'; id: number };
