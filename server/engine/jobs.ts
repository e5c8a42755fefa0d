import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BuildOrder, BuildOrderSetting } from '../../index/build-order.ts';
import type { CollectionsRepo } from '../../storage/collections.ts';
import type { Db } from '../../storage/db.ts';
import { StorageErrors } from '../../storage/errors.ts';
import { JobsRepo, type JobRecord } from '../../storage/jobs.ts';
import type { PointsRepo } from '../../storage/points.ts';
import { StagingRepo, type ImportCommit } from '../../storage/staging.ts';
import type { Config } from '../config.ts';
import { ServerErrors } from '../errors.ts';
import { BuildProcess } from './build-process.ts';
import { removeBuildFiles } from './bulk-build.ts';
import type { BuildControl, BuildTask, FinishReply } from './build-state.ts';
import type { CollectionState } from './collection-state.ts';
import { importOrder, optimizeOrder } from './insertion-order.ts';
import { Job, stateOf, type Outcome } from './job.ts';
import { jobView, type JobView } from './job-view.ts';
import { loadModel } from './load-index.ts';
import type { Logger } from './logger.ts';
import type { ReplicaData } from './protocol.ts';
import { RebuildPolicy } from './rebuild-policy.ts';
import type { ReplicaSet } from './replicas.ts';
import { UploadThread, type ImportRequest } from './upload.ts';
import type { Writer } from './writer.ts';

/** A build that follows an upload gives way to a job that is ready once the upload has been quiet this long. */
export const YIELD_IDLE_MS = 1000;
/** Finished jobs are kept for a week, and at most this many. */
const KEEP_JOBS_MS = 7 * 24 * 3600 * 1000;
const KEEP_JOBS = 1000;

/** What the engine lends the jobs. */
export interface JobHost {
  config: Config;
  log: Logger;
  db: Db;
  writer: Writer;
  points: PointsRepo;
  collections: CollectionsRepo;
  replicas: ReplicaSet;
  data: ReplicaData;
  /** The loaded state of a collection by name (throws 404 / 503). */
  readyState(name: string): CollectionState;
  /** The state of a live collection by internal id, or undefined once dropped. */
  stateById(id: number): CollectionState | undefined;
  /** Counts and logs values a codec clamped. */
  saturated(state: CollectionState, count: number): void;
}

interface Run {
  job: Job;
  builder: BuildProcess;
  /** Its upload went quiet while another job was ready: the build gave way, and the job waits for its body. */
  preempted: boolean;
}

/**
 * Imports and optimizes. An import's body streams into staging (invisible); jobs then build one at
 * a time in a build process, first come first served among those whose body is in (a build in body
 * order may follow its upload when nothing else is ready, and gives way when the upload stalls).
 * The build commits under the server's write lock; from the commit until every replica holds the
 * new index the collection's snapshot lock is held. Each job's phase only moves forward (job.ts);
 * `#end` is the one place a job ends.
 */
export class Jobs {
  readonly #host: JobHost;
  readonly #repo: JobsRepo;
  readonly #staging: StagingRepo;
  readonly #uploads: UploadThread;
  readonly #live = new Map<string, Job>();
  /** Jobs not yet built, oldest first. */
  readonly #queue: Job[] = [];
  #running: Run | null = null;
  #yieldTimer: NodeJS.Timeout | null = null;
  readonly #rebuilds: RebuildPolicy;
  #closed = false;
  /** Told of each job that ends: done, failed or cancelled (/metrics). */
  finished: ((kind: JobRecord['kind'], state: Outcome['state']) => void) | undefined;

  constructor(host: JobHost) {
    this.#host = host;
    this.#repo = new JobsRepo(host.db);
    this.#staging = new StagingRepo(host.db, { maxLabel: host.config.maxLabel });
    this.#uploads = new UploadThread({ dbPath: host.data.dbPath, maxLabel: host.config.maxLabel }, host.writer, host.log);
    this.#rebuilds = new RebuildPolicy(host.config.rebuildMinDeleted, host.config.rebuildDeletedPercent);
    void host.writer
      .write(() => ({ ...this.#repo.settleInterrupted(), pruned: this.#repo.prune(Date.now() - KEEP_JOBS_MS, KEEP_JOBS) }))
      .then((settled) => {
        if (settled.done.length + settled.failed.length > 0) host.log.warn(settled, 'jobs interrupted by the last stop settled');
      });
    void this.#purgeLeftovers();
    // A parallel build's file that a kill left (no build runs yet).
    removeBuildFiles(host.data.snapshotDir);
  }

  /** Staged rows a crash or a cancel left behind. */
  async #purgeLeftovers(): Promise<void> {
    for (const id of this.#staging.jobsWithRows()) await this.#purge(id);
  }

  /** Streams a body into staging; resolves once it is all staged and the job is queued. */
  async receive(name: string, request: ImportRequest, body: Readable): Promise<{ job_id: string; records: number; bytes: number }> {
    const state = this.#host.readyState(name);
    const imports = [...this.#live.values()].filter((j) => j.kind === 'import').length;
    if (imports >= this.#host.config.maxConcurrentImports) {
      throw new ServerErrors.ImportLimit(
        `${imports} imports are uploading, queued or building (VICINITY_MAX_CONCURRENT_IMPORTS); retry once one has finished`,
      );
    }
    const order = importOrder(request.order, state.record.config.build_order);
    const detail = { format: request.format, id_offset: request.idOffset, build_order: order, seed: request.seed ?? 1, records: 0, bytes: 0 };
    const job = await this.#create(state, 'import', detail, order === 'given');
    this.#kick(); // with nothing else ready, a build in body order starts now and follows the upload
    try {
      const { records, bytes } = await this.#uploads.stage(job, state, request, body, {
        config: this.#host.config,
        saturated: (s, n) => this.#host.saturated(s, n),
        expected: (j, expected) => this.#control(j, { expected }),
      });
      Object.assign(detail, { records, bytes });
      job.signal.throwIfAborted();
      job.total = this.#staging.count(job.id);
      job.receive();
      this.#control(job, { received: true });
      this.#persist(job, { total: job.total, detail });
      this.#kick();
      return { job_id: job.id, records, bytes };
    } catch (err) {
      await this.#end(job, err);
      throw job.signal.reason;
    }
  }

  /**
   * Queues a rebuild of the collection's index (optimize, arXiv 2405.17813): every live point in
   * `order`, tombstones left out, PCA refitted when configured.
   */
  async optimize(name: string, request: { order?: BuildOrderSetting; seed?: number; lidK?: number; auto?: boolean }): Promise<JobView> {
    const state = this.#host.readyState(name);
    const detail = { build_order: optimizeOrder(request.order, state.record.config.build_order), seed: request.seed ?? 1, lid_k: request.lidK ?? 20, auto: request.auto ?? false };
    const job = await this.#create(state, 'optimize', detail, false);
    this.#kick();
    return this.get(job.id);
  }

  /** Queues an automatic rebuild of the collection when it is due (rebuild-policy.ts) and no job of it is in progress. */
  rebuildIfDue(state: CollectionState): void {
    const record = this.#host.collections.get(state.name);
    if (!record || this.active(record.id) || !this.#rebuilds.due(record)) return;
    this.#host.log.info({ collection: state.name, deleted: record.deletedCount, live: record.liveCount }, 'tombstones passed the threshold: rebuilding');
    this.optimize(state.name, { auto: true }).catch((err: unknown) => this.#host.log.error({ err, collection: state.name }, 'could not queue a rebuild'));
  }

  /** True while a job of the collection is in progress. */
  active(collectionId: number): boolean {
    for (const job of this.#live.values()) if (job.collectionId === collectionId) return true;
    return false;
  }

  get(id: string): JobView {
    const live = this.#live.get(id);
    const record = this.#repo.get(id) ?? (live && recordOf(live));
    if (!record) throw new ServerErrors.JobNotFound(`job '${id}' does not exist`);
    return jobView(record, live);
  }

  list(limit: number): JobView[] {
    return this.#repo.list(limit).map((record) => jobView(record, this.#live.get(record.id)));
  }

  /** Cancels a job that has not committed; 409 once it has (or has finished). */
  async cancel(id: string): Promise<JobView> {
    const job = this.#live.get(id);
    if (!job || job.committed || job.outcome) {
      const record = this.#repo.get(id);
      if (!record && !job) throw new ServerErrors.JobNotFound(`job '${id}' does not exist`);
      throw new ServerErrors.JobFinished(`job '${id}' is ${job?.outcome?.state ?? (job ? 'committed' : record!.state)}; it can no longer be cancelled`);
    }
    await this.#end(job, new ServerErrors.JobCancelled(`the ${job.kind} was cancelled; nothing of it was kept`));
    return this.get(id);
  }

  /** The collection was dropped: its jobs that have not committed fail now. */
  dropped(collectionId: number): void {
    for (const job of this.#live.values()) {
      if (job.collectionId === collectionId && !job.committed) {
        void this.#end(job, new StorageErrors.Gone(`collection '${job.collection}' was dropped during the ${job.kind}`));
      }
    }
  }

  async #create(state: CollectionState, kind: JobRecord['kind'], detail: Record<string, unknown>, followable: boolean): Promise<Job> {
    const job = new Job({ id: randomUUID(), kind, collectionId: state.record.id, collection: state.name, detail }, { followable });
    // Known at once (so a second automatic rebuild is not queued meanwhile), stored next.
    this.#live.set(job.id, job);
    this.#queue.push(job);
    await this.#host.writer.write(() => {
      this.#repo.create({ id: job.id, kind, collectionId: job.collectionId, collection: job.collection, detail, state: stateOf(job.phase), createdAt: job.createdAt });
    });
    return job;
  }

  /** Starts the next build when none runs: the oldest job whose body is in, else one that can follow its upload. */
  #kick(): void {
    if (this.#closed) return;
    if (this.#running) return this.#watchStall(this.#running);
    const job = this.#queue.find((j) => j.received) ?? this.#queue.find((j) => j.followable);
    if (!job) return;
    this.#queue.splice(this.#queue.indexOf(job), 1);
    const data = { ...this.#host.data, buildThreads: this.#host.config.buildThreads };
    const builder = new BuildProcess(data, this.#host.writer, (jobId, processed, total) => {
      const live = this.#live.get(jobId);
      if (!live) return;
      live.built = processed;
      if (total !== null && live.kind === 'optimize') live.total = total;
    });
    const run: Run = { job, builder, preempted: false };
    this.#running = run;
    void this.#run(run).finally(async () => {
      await builder.destroy();
      // A process killed while its parallel builder's file was written or read back left the file.
      removeBuildFiles(this.#host.data.snapshotDir);
      if (this.#running === run) this.#running = null;
      this.#kick();
    });
  }

  /** A build that follows its upload gives way once the upload is quiet and another job is ready. */
  #watchStall(run: Run): void {
    if (this.#yieldTimer || !run.job.following || run.job.received) return;
    const stop = () => {
      if (this.#yieldTimer) clearInterval(this.#yieldTimer);
      this.#yieldTimer = null;
    };
    this.#yieldTimer = setInterval(() => {
      if (this.#running !== run || run.job.received || run.job.outcome) return stop();
      if (!this.#queue.some((j) => j.received) || Date.now() - run.job.lastStagedAt < YIELD_IDLE_MS) return;
      stop();
      this.#host.log.info({ job: run.job.id }, 'an upload went quiet: its build gives way to the next job and starts again once the body is in');
      run.preempted = true;
      run.job.following = false;
      run.job.followable = false;
      this.#queue.unshift(run.job);
      void run.builder.destroy();
    }, YIELD_IDLE_MS / 4);
    this.#yieldTimer.unref();
  }

  async #run(run: Run): Promise<void> {
    const { job, builder } = run;
    const host = this.#host;
    const state = host.stateById(job.collectionId);
    let durable = false;
    try {
      if (!state) throw new StorageErrors.Gone(`collection '${job.collection}' was dropped before its ${job.kind} started`);
      if (job.detail.auto === true && !this.#stillDue(state)) {
        job.detail.skipped = 'tombstones fell below the threshold while the rebuild waited';
        return await this.#end(job, null);
      }
      if (job.received) {
        job.enter('building');
        this.#persist(job);
      } else {
        job.following = true;
      }
      if (job.kind === 'optimize') {
        const { build_order, seed, lid_k } = job.detail as { build_order: BuildOrder; seed: number; lid_k: number };
        await this.#task(builder, { op: 'rebuild', jobId: job.id, collectionId: job.collectionId, config: state.record.config, order: build_order, seed, lidK: lid_k });
      } else if (job.total !== 0) {
        const { build_order, seed } = job.detail as { build_order: BuildOrder; seed: number };
        const control = { expected: job.total ?? 0, received: job.received };
        await this.#task(builder, { op: 'build', jobId: job.id, collectionId: job.collectionId, config: state.record.config, order: build_order, seed, control });
      }
      await job.whenReceived();
      // From the commit until every replica has the new index, no snapshot of the collection is written.
      await state.snapshot.lock.run(async () => {
        job.signal.throwIfAborted();
        job.enter('committing');
        this.#persist(job);
        // The build process commits under the lock held here, and no other write runs until this
        // side has taken up what the commit installed (a model fitted by this import).
        const release = await host.writer.lease();
        let commit: ImportCommit;
        let replaced: boolean;
        try {
          commit = await this.#task<ImportCommit>(builder, { op: 'commit', jobId: job.id, collectionId: job.collectionId });
          durable = true;
          replaced = state.useModel(loadModel(host.db, job.collectionId, state.record.config));
        } finally {
          release();
        }
        job.enter('loading');
        job.detail.committed_records = commit.records;
        await this.#publish(state, run, commit, replaced);
      });
      await this.#end(job, null);
    } catch (err) {
      if (run.preempted) return;
      // A commit that failed (a link to a missing point, a drop) rolled back: the job failed. One that
      // committed before its process died left its sequence on the job row: its points are kept.
      if (durable || (job.committed && this.#repo.get(job.id)?.committedSeq != null)) {
        // Its points are durable: the indexes catch up from SQLite at the next load.
        host.log.error({ err, job: job.id }, 'a committed job failed to load; replicas catch up from SQLite');
        return await this.#end(job, null);
      }
      await this.#end(job, err);
    }
  }

  #stillDue(state: CollectionState): boolean {
    const record = this.#host.collections.get(state.name);
    return record !== undefined && this.#rebuilds.due(record);
  }

  async #task<T>(builder: BuildProcess, task: BuildTask): Promise<T> {
    const reply = await builder.run(task);
    if (reply.error) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
    return reply.value as T;
  }

  #control(job: Job, control: BuildControl): void {
    if (this.#running?.job === job) this.#running.builder.control(job.id, control);
  }

  /**
   * After the commit: the main thread's state (every point again when the fitted codec replaced
   * the store), the snapshot from the build process, then each replica in turn.
   */
  async #publish(state: CollectionState, run: Run, commit: ImportCommit, replaced: boolean): Promise<void> {
    const host = this.#host;
    const { job, builder } = run;
    const ingested = (replaced ? state.ingestAll(host.points) : state.ingestCommit(host.points, commit.seq)).catch((err: unknown) =>
      host.log.error({ err, job: job.id }, 'loading the imported points into the payload index failed; restart to reload them'),
    );
    if (commit.records === 0 && job.kind !== 'optimize') return ingested;
    const changes = state.snapshot.changes;
    try {
      const done = await this.#task<FinishReply>(builder, { op: 'finish', jobId: job.id, collectionId: job.collectionId, commit });
      if (done.purged > 0) host.log.info({ job: job.id, collection: job.collection, tombstones: done.purged }, 'tombstones purged');
      state.snapshot.written(done.seq, done.bytes, changes);
      state.lidSummary = done.lid;
    } catch (err) {
      // The replicas still reload: the older snapshot plus the committed rows from SQLite.
      host.log.error({ err, job: job.id }, 'writing the new index failed; replicas rebuild from SQLite');
    }
    await ingested;
    await builder.destroy(); // its memory (the built index) goes back before the replicas load theirs
    for (let i = 0; i < host.replicas.size; i++) {
      if (host.stateById(job.collectionId) !== state) return; // dropped meanwhile: nothing to load
      await host.replicas.offline(i, { op: 'reload', collectionId: job.collectionId, config: state.record.config }).catch((err: unknown) => {
        host.log.error({ err, replica: i, job: job.id }, 'a replica failed to load the new index; it restarts');
        return host.replicas.on(i, { op: 'exit' }).catch(() => undefined);
      });
    }
  }

  /**
   * Ends a job once: `err` null is done, a cancel is cancelled, anything else failed. Stops its
   * build, stores the outcome, removes its staged rows, then lets the next job start.
   */
  async #end(job: Job, err: unknown): Promise<void> {
    const outcome = this.#outcomeOf(job, err);
    if (!job.end(outcome, err ?? new Error('done'))) return job.settled();
    this.finished?.(job.kind, outcome.state);
    const queued = this.#queue.indexOf(job);
    if (queued >= 0) this.#queue.splice(queued, 1);
    if (this.#running?.job === job && outcome.state !== 'done') void this.#running.builder.destroy();
    const record = job.detail.auto === true ? this.#host.collections.get(job.collection) : undefined;
    if (record?.id === job.collectionId) this.#rebuilds.ended(record, outcome.state === 'done');
    if (outcome.state === 'failed' && outcome.error?.code === 'VDB_ERR_INTERNAL') this.#host.log.error({ err, job: job.id }, `${job.kind} failed`);
    const processed = job.kind === 'optimize' ? job.built : ((job.detail.committed_records as number | undefined) ?? 0);
    try {
      await this.#host.writer.write(() => {
        this.#repo.update(job.id, { state: outcome.state, processed, total: job.total, error: outcome.error, detail: { ...job.detail, phase_seconds: job.seconds } });
        this.#repo.prune(Date.now() - KEEP_JOBS_MS, KEEP_JOBS);
      });
    } catch (writeErr) {
      this.#host.log.error({ err: writeErr, job: job.id }, 'recording the job outcome failed');
    }
    this.#live.delete(job.id);
    if (outcome.state === 'done') this.#host.log.info({ job: job.id, kind: job.kind, collection: job.collection, processed }, `${job.kind} done`);
    job.settle();
    await this.#purge(job.id);
    this.#kick();
  }

  #outcomeOf(job: Job, err: unknown): Outcome {
    if (err === null) return { state: 'done' };
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message : JSON.stringify(err);
    if (code === 'VDB_ERR_JOB_CANCELLED') return { state: 'cancelled', error: { code, message } };
    if (this.#closed) return { state: 'failed', error: { code: 'VDB_ERR_JOB_INTERRUPTED', message: `the server shut down during the ${job.kind}; nothing of it was kept` } };
    return { state: 'failed', error: { code: typeof code === 'string' ? code : 'VDB_ERR_INTERNAL', message } };
  }

  /** Stores the job's state (and progress) as it moves on; the writer keeps these in order. */
  #persist(job: Job, change: { total?: number | null; detail?: Record<string, unknown> } = {}): void {
    this.#host.writer
      .write(() => this.#repo.update(job.id, { state: stateOf(job.phase), ...change }))
      .catch((err: unknown) => this.#host.log.error({ err, job: job.id }, 'recording the job state failed'));
  }

  async #purge(id: string): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#uploads.purge(id);
    } catch (err) {
      if (!this.#closed) this.#host.log.error({ err, job: id }, 'removing staged rows failed; retried at the next start');
    }
  }

  /** Ends the jobs that have not committed (interrupted; nothing of them is kept) and waits for the rest. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#yieldTimer) clearInterval(this.#yieldTimer);
    const jobs = [...this.#live.values()];
    for (const job of jobs) if (!job.committed) void this.#end(job, new ServerErrors.JobInterrupted('the server shut down'));
    await Promise.all(jobs.map((job) => job.settled()));
    await this.#running?.builder.destroy();
    await this.#uploads.close();
  }
}

/** A job's record before its row is written (the moment between creating it and storing it). */
function recordOf(job: Job): JobRecord {
  return {
    id: job.id, kind: job.kind, collectionId: job.collectionId, collection: job.collection, state: job.state, detail: job.detail,
    total: job.total, processed: 0, committedSeq: null, error: null, createdAt: job.createdAt, finishedAt: null,
  };
}
