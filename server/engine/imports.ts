import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { BuildOrder } from '../../index/build-order.ts';
import { vectorToBlob } from '../../index/vectors.ts';
import { loadModel } from './load-index.ts';
import type { Db } from '../../storage/db.ts';
import { JobsRepo, type JobError, type JobRecord } from '../../storage/jobs.ts';
import { StagingRepo } from '../../storage/staging.ts';
import type { Config } from '../config.ts';
import { ServerErrors } from '../errors.ts';
import { parseImport } from '../import/parse.ts';
import type { ImportFormat } from '../import/records.ts';
import { BuildProcess } from './build-process.ts';
import { BuildProgress, type BuildTask, type FinishReply } from './build-state.ts';
import type { CollectionState } from './collection-state.ts';
import { deferred, enterPhase, jobView, type JobView, type LiveJob } from './import-progress.ts';
import type { Logger } from './logger.ts';
import type { ReplicaData } from './protocol.ts';
import type { ReplicaSet } from './replicas.ts';
import type { WriteGate } from './write-gate.ts';
import type { ImportCommit } from '../../storage/staging.ts';
import type { PointsRepo } from '../../storage/points.ts';

const PURGE_CHUNK = 500;
const STAGE_BYTES = 256 * 1024;
const SLICE_MS = 4;

export interface ImportRequest {
  format: ImportFormat;
  idOffset: number;
  order?: BuildOrder;
  seed?: number;
  contentLength: number | null;
}

/**
 * The order an optimize uses when none is asked for: the collection's, unless that is the import
 * default `given`; then `lid_desc`, the best order in bench:orders (Fashion-MNIST +0.48 / +0.21 /
 * +0.09 points of recall@10 over random at ef 10 / 20 / 40; a mixed-LID set +0.56 / +0.21 / −0.01).
 */
export function optimizeOrder(collectionOrder: BuildOrder): BuildOrder {
  return collectionOrder === 'given' ? 'lid_desc' : collectionOrder;
}

/** What the engine lends the imports: its connection, write gate, states and replicas. */
export interface ImportHost {
  config: Config;
  log: Logger;
  db: Db;
  points: PointsRepo;
  gate: WriteGate;
  replicas: ReplicaSet;
  data: ReplicaData;
  /** The loaded state of a collection by name (throws 404 / 503). */
  readyState(name: string): CollectionState;
  /** The state of a live collection by internal id, or undefined once dropped. */
  stateById(id: number): CollectionState | undefined;
  /** Counts and logs values a codec clamped. */
  saturated(state: CollectionState, count: number): void;
}

/**
 * Bulk imports: the body streams into staging (invisible) with the parsers' caps; once it is all
 * in and valid the job is queued, and one build at a time runs in the build process: build, commit
 * (other writes held back), then the main thread's state, the snapshot and the replicas catch up.
 */
export class Imports {
  readonly #host: ImportHost;
  readonly #jobs: JobsRepo;
  readonly #staging: StagingRepo;
  /** The build process of the job being built; ended after each job, which frees its index at once. */
  #builder: BuildProcess | null = null;
  readonly #live = new Map<string, LiveJob>();
  readonly #queue: string[] = [];
  #running = false;
  #closed = false;

  constructor(host: ImportHost) {
    this.#host = host;
    this.#jobs = new JobsRepo(host.db);
    this.#staging = new StagingRepo(host.db, { maxLabel: host.config.maxLabel });
    const settled = this.#jobs.settleInterrupted();
    if (settled.done.length + settled.failed.length > 0) host.log.warn(settled, 'jobs interrupted by the last stop settled');
    void this.#purgeAll(this.#staging.jobsWithRows());
  }

  /**
   * Streams a body into staging; resolves once it is all staged. The job is queued at once: with
   * `build_order=given` its build follows the upload row by row when the build process is free.
   */
  async receive(name: string, request: ImportRequest, body: AsyncIterable<Uint8Array>): Promise<{ job_id: string; records: number; bytes: number }> {
    const { config } = this.#host;
    const state = this.#host.readyState(name);
    const { dimension, metric, build_order } = state.record.config;
    const collectionId = state.record.id;
    const detail = { format: request.format, id_offset: request.idOffset, build_order: request.order ?? build_order, seed: request.seed ?? 1, records: 0, bytes: 0 };
    await this.#host.gate.pass();
    const job = this.#jobs.create({ id: randomUUID(), kind: 'import', collectionId, collection: name, detail });
    const live: LiveJob = {
      phase: 'staging', since: Date.now(), processed: 0, total: null, progress: new BuildProgress(), cancel: false, seconds: {},
      building: false, received: deferred(),
    };
    live.received.promise.catch(() => undefined);
    this.#live.set(job.id, live);
    this.#queue.push(job.id);
    void this.#drain();
    const dedupe = request.format === 'ndjson' || request.format === 'msgpack';
    try {
      const batches = parseImport(body, {
        format: request.format, dimension, metric, idOffset: request.idOffset, contentLength: request.contentLength,
        // About 256 KiB of vectors per staging transaction keeps each one to a few milliseconds.
        batchSize: Math.max(16, Math.min(1024, Math.floor(STAGE_BYTES / (dimension * 4)))),
        maxBytes: config.importMaxBytes, maxRecords: config.importMaxRecords, maxRecordBytes: config.importMaxRecordBytes,
      });
      let sliceStart = performance.now();
      for (;;) {
        const next = await batches.next();
        if (next.done) {
          detail.records = next.value.records;
          detail.bytes = next.value.bytes;
          break;
        }
        const batch = next.value;
        if (live.cancel) throw new ServerErrors.JobCancelled('the import was cancelled while its body was being received');
        if (this.#host.stateById(collectionId) !== state) throw new ServerErrors.CollectionNotFound(`collection '${name}' was dropped during the import`);
        // Encoded as the collection stores vectors; float32 while its codec awaits a fit (the build fits it).
        const { model } = state;
        let saturated = 0;
        const writes = batch.ids.map((id, i) => {
          const vector = batch.vectors.subarray(i * dimension, (i + 1) * dimension);
          if (model.pending.codec) return { row: batch.firstRecord + i, id, payload: batch.payloads[i], vector: vectorToBlob(vector) };
          const encoded = model.encode(vector);
          saturated += encoded.saturated;
          return { row: batch.firstRecord + i, id, payload: batch.payloads[i], vector: encoded.bytes };
        });
        if (saturated > 0) this.#host.saturated(state, saturated);
        await this.#host.gate.pass();
        this.#staging.stage(job.id, collectionId, writes, dedupe);
        live.processed += writes.length;
        live.total = batch.totalRecords;
        if (batch.totalRecords !== null) live.progress.setExpected(batch.totalRecords);
        // A fast upload arrives already buffered, so the loop above would run on microtasks alone:
        // let searches in between.
        if (performance.now() - sliceStart > SLICE_MS) {
          await yieldToLoop();
          sliceStart = performance.now();
        }
      }
    } catch (err) {
      await this.#uploadFailed(job.id, live, err);
      throw err;
    }
    await this.#host.gate.pass();
    const staged = this.#staging.count(job.id);
    this.#jobs.update(job.id, { state: live.building ? 'running' : 'queued', total: staged, detail });
    enterPhase(live, live.building ? 'building' : 'queued', { processed: 0, total: staged });
    live.progress.receive();
    live.received.resolve();
    return { job_id: job.id, records: detail.records, bytes: detail.bytes };
  }

  /** The body failed or was cancelled: stop a build that follows it, and record the job. */
  async #uploadFailed(id: string, live: LiveJob, err: unknown): Promise<void> {
    live.error = err;
    live.progress.cancel();
    live.received.reject(err);
    const queued = this.#queue.indexOf(id);
    if (queued >= 0) {
      this.#queue.splice(queued, 1);
      await this.#finishFailed(id, err, live.cancel);
    } else {
      await live.settled?.catch(() => undefined); // the build records it
    }
  }

  /**
   * Queues a rebuild of the collection's index (optimize, PAPERS.md §2): every live point in
   * `order`, tombstones left out, PCA refitted when configured. Unless `force`, a rebuild already
   * queued for the collection is returned instead of a second one.
   */
  async optimize(name: string, request: { order?: BuildOrder; seed?: number; lidK?: number; auto?: boolean }): Promise<JobView> {
    const state = this.#host.readyState(name);
    const collectionId = state.record.id;
    const waiting = this.#queue.find((id) => this.#jobs.get(id)?.kind === 'optimize' && this.#jobs.get(id)?.collectionId === collectionId);
    if (waiting && request.auto) return this.get(waiting);
    const detail = { build_order: request.order ?? optimizeOrder(state.record.config.build_order), seed: request.seed ?? 1, lid_k: request.lidK ?? 20, auto: request.auto ?? false };
    await this.#host.gate.pass();
    const job = this.#jobs.create({ id: randomUUID(), kind: 'optimize', collectionId, collection: name, detail });
    const live: LiveJob = {
      phase: 'queued', since: Date.now(), processed: 0, total: null, progress: new BuildProgress(), cancel: false, seconds: {},
      building: false, received: deferred(),
    };
    live.received.resolve();
    live.progress.receive();
    this.#live.set(job.id, live);
    this.#queue.push(job.id);
    void this.#drain();
    return this.get(job.id);
  }

  /** True while an import of the collection is staging, queued, building or loading. */
  active(collectionId: number): boolean {
    return [...this.#live.keys()].some((id) => this.#jobs.get(id)?.collectionId === collectionId);
  }

  get(id: string): JobView {
    const job = this.#jobs.get(id);
    if (!job) throw new ServerErrors.JobNotFound(`job '${id}' does not exist`);
    return jobView(job, this.#live.get(id));
  }

  list(limit: number): JobView[] {
    return this.#jobs.list(limit).map((job) => jobView(job, this.#live.get(job.id)));
  }

  /** Cancels a job that has not committed; 409 once it has (or has finished). */
  async cancel(id: string): Promise<JobView> {
    const job = this.#jobs.get(id);
    if (!job) throw new ServerErrors.JobNotFound(`job '${id}' does not exist`);
    const live = this.#live.get(id);
    if (!live || live.phase === 'committing' || live.phase === 'loading') {
      throw new ServerErrors.JobFinished(`job '${id}' is ${live ? 'committed' : job.state}; it can no longer be cancelled`);
    }
    live.cancel = true;
    live.progress.cancel();
    const queued = this.#queue.indexOf(id);
    if (live.phase === 'staging') {
      await live.received.promise.catch(() => undefined); // the upload stops at its next batch
      await live.settled?.catch(() => undefined);
    } else if (queued >= 0) {
      this.#queue.splice(queued, 1);
      await this.#finishFailed(id, new ServerErrors.JobCancelled('the import was cancelled before its build started'), true);
    } else {
      await live.settled?.catch(() => undefined);
    }
    return this.get(id);
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (let id = this.#queue.shift(); id !== undefined && !this.#closed; id = this.#queue.shift()) {
        const live = this.#live.get(id)!;
        live.settled = this.#build(this.#jobs.get(id)!, live);
        await live.settled.catch(() => undefined);
      }
    } finally {
      this.#running = false;
    }
  }

  async #task<T>(task: BuildTask): Promise<T> {
    this.#builder ??= new BuildProcess(this.#host.data, (jobId, processed) => {
      const live = this.#live.get(jobId);
      if (live) live.progress.processed = processed;
    });
    const reply = await this.#builder.run(task);
    if (reply.error) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
    return reply.value as T;
  }

  async #build(job: JobRecord, live: LiveJob): Promise<void> {
    const host = this.#host;
    const state = host.stateById(job.collectionId);
    const { build_order, seed, lid_k } = job.detail as { build_order: BuildOrder; seed: number; lid_k?: number };
    let commit: ImportCommit;
    let replaced = false;
    try {
      if (!state) throw new ServerErrors.CollectionNotFound(`collection '${job.collection}' was dropped during the import`);
      // In body order the build can follow the upload; any other order needs every record first.
      if (build_order !== 'given') await live.received.promise;
      if (live.phase === 'staging') live.building = true;
      else enterPhase(live, 'building');
      await host.gate.pass();
      this.#jobs.update(job.id, { state: 'running' });
      if (live.total !== 0) {
        const common = { jobId: job.id, collectionId: job.collectionId, config: state.record.config, order: build_order, seed, control: live.progress.control() };
        const task: BuildTask = job.kind === 'optimize' ? { op: 'rebuild', ...common, lidK: lid_k ?? 20 } : { op: 'build', ...common };
        live.progress.attach((control) => this.#builder?.control(job.id, control));
        try {
          await this.#task(task);
        } finally {
          live.progress.attach(null);
        }
      }
      await live.received.promise;
      if (live.cancel) throw new ServerErrors.JobCancelled('the import was cancelled during its build');
      enterPhase(live, 'committing');
      commit = await host.gate.hold(async () => {
        const committed = await this.#task<ImportCommit>({ op: 'commit', jobId: job.id, collectionId: job.collectionId });
        // Writes after the commit encode with what it installed (a model fitted by this import).
        replaced = state.useModel(loadModel(host.db, job.collectionId, state.record.config));
        return committed;
      });
    } catch (err) {
      await this.#endBuilder();
      await this.#finishFailed(job.id, live.error ?? err, live.cancel);
      return;
    }
    // Committed: the points are durable. Now every copy catches up, then the job is done.
    enterPhase(live, 'loading');
    await this.#publish(state, job, commit, replaced);
    enterPhase(live, 'loading');
    await host.gate.pass();
    const { detail } = this.#jobs.get(job.id)!;
    const processed = job.kind === 'optimize' ? live.progress.processed : commit.records;
    this.#jobs.update(job.id, { state: 'done', processed, detail: { ...detail, phase_seconds: live.seconds } });
    this.#live.delete(job.id);
    host.log.info({ job: job.id, kind: job.kind, collection: job.collection, records: processed, seq: commit.seq }, `${job.kind} done`);
    await this.#purge(job.id);
  }

  /**
   * After the commit: the main thread's state (every point again when the fitted codec replaced
   * the store), the snapshot from the build process, then each replica in turn.
   */
  async #publish(state: CollectionState, job: JobRecord, commit: ImportCommit, replaced: boolean): Promise<void> {
    const host = this.#host;
    const ingest = replaced ? state.ingestAll(host.points) : state.ingestCommit(host.points, commit.seq);
    const ingested = ingest.catch((err: unknown) =>
      host.log.error({ err, job: job.id }, 'loading the imported points into the payload index failed; restart to reload them'),
    );
    const rebuilt = commit.records > 0 || job.kind === 'optimize';
    if (!rebuilt) {
      await ingested;
      await this.#endBuilder();
      return;
    }
    await state.snapshotting;
    const changes = state.changesSinceSnapshot;
    // No periodic snapshot until replica 0 holds the new index: it would overwrite the new
    // snapshot with replica 0's old index.
    let release = () => {};
    const reloaded = new Promise<void>((resolve) => (release = resolve));
    const finish = this.#task<FinishReply>({ op: 'finish', jobId: job.id, collectionId: job.collectionId, commit }).then(
      (done) => {
        if (done.purged > 0) host.log.info({ job: job.id, collection: job.collection, tombstones: done.purged }, 'tombstones purged');
        state.snapshotSeq = done.seq;
        state.snapshotBytes = done.bytes;
        state.changesSinceSnapshot -= changes;
        state.lastSnapshotAt = Date.now();
        state.lidSummary = done.lid;
      },
      // The replicas still reload: the older snapshot plus the committed rows from SQLite.
      (err: unknown) => host.log.error({ err, job: job.id }, 'writing the imported index failed; replicas rebuild from SQLite'),
    );
    state.snapshotting = Promise.all([finish, reloaded]).then(() => {
      state.snapshotting = null;
    });
    try {
      await finish;
      await ingested;
      await this.#endBuilder();
      for (let i = 0; i < host.replicas.size; i++) {
        if (host.stateById(job.collectionId) !== state) return; // dropped meanwhile: nothing to load
        await host.replicas.offline(i, { op: 'reload', collectionId: job.collectionId, config: state.record.config }).catch((err: unknown) => {
          host.log.error({ err, replica: i, job: job.id }, 'a replica failed to load the imported index; it restarts');
          return host.replicas.on(i, { op: 'exit' }).catch(() => undefined);
        });
        if (i === 0) release();
      }
    } finally {
      release();
    }
  }

  /** Ends the build process: its memory (the built index) goes back at once, not at some later GC. */
  async #endBuilder(): Promise<void> {
    const builder = this.#builder;
    this.#builder = null;
    await builder?.destroy();
  }

  /** Records a failed or cancelled job and removes its staged rows. */
  async #finishFailed(id: string, err: unknown, cancelled: boolean): Promise<void> {
    const e = err as { code?: unknown; message?: unknown };
    const error: JobError = cancelled
      ? { code: 'VDB_ERR_JOB_CANCELLED', message: 'the import was cancelled; nothing of it was kept' }
      : this.#closed
        ? { code: 'VDB_ERR_JOB_INTERRUPTED', message: 'the server shut down during the import; nothing of it was kept' }
        : { code: typeof e.code === 'string' ? e.code : 'VDB_ERR_INTERNAL', message: String(e.message ?? err) };
    if (!cancelled && error.code === 'VDB_ERR_INTERNAL') this.#host.log.error({ err, job: id }, 'import failed');
    this.#live.delete(id);
    await this.#host.gate.pass();
    this.#jobs.update(id, { state: cancelled ? 'cancelled' : 'failed', error });
    await this.#purge(id);
  }

  async #purge(id: string): Promise<void> {
    try {
      for (;;) {
        await this.#host.gate.pass();
        if (this.#closed || this.#staging.purge(id, PURGE_CHUNK)) return;
        await yieldToLoop();
      }
    } catch (err) {
      this.#host.log.error({ err, job: id }, 'removing staged rows failed; retried at the next start');
    }
  }

  async #purgeAll(ids: string[]): Promise<void> {
    for (const id of ids) await this.#purge(id);
  }

  /** Cancels builds in progress (they fail; nothing is committed) and stops the build process. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const live of this.#live.values()) {
      if (live.phase !== 'committing' && live.phase !== 'loading') live.progress.cancel();
    }
    await Promise.all([...this.#live.values()].map((l) => (l.settled ?? Promise.resolve()).catch(() => undefined)));
    await this.#endBuilder();
  }
}
