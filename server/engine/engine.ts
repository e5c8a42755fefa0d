import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { join } from 'node:path';
import { CollectionsRepo, type CollectionRecord } from '../../storage/collections.ts';
import { databasePath, openDatabase, type Db } from '../../storage/db.ts';
import { normaliseId } from '../../storage/ids.ts';
import { KnnRepo } from '../../storage/knn.ts';
import { LinksRepo } from '../../storage/links.ts';
import { ModelsRepo } from '../../storage/models.ts';
import { PointsRepo } from '../../storage/points.ts';
import type { Config } from '../config.ts';
import { Backups } from '../backups/backups.ts';
import { ServerErrors } from '../errors.ts';
import { VERSION } from '../version.ts';
import type { CollectionRequest, DeleteRequest, ScrollRequest, SearchRequest, UpsertRequest } from '../schemas/index.ts';
import { engineBuild, matchesConfig, normaliseConfig, replicaCount } from './collection-config.ts';
import { CollectionState } from './collection-state.ts';
import { describeCollection } from './describe.ts';
import { EngineGauges } from './gauges.ts';
import { Jobs } from './jobs.ts';
import { loadModel } from './load-index.ts';
import type { Logger } from './logger.ts';
import { Links } from './links.ts';
import { Overlay } from './overlay.ts';
import { decoded, scrollPoints, type StoredPoint } from './read-points.ts';
import { PointWrites } from './point-writes.ts';
import type { IndexStats } from './protocol.ts';
import { ReplicaSet } from './replicas.ts';
import { RecallEstimator } from './recall.ts';
import { PayloadBudget } from './payload-texts.ts';
import { prepareSearch, runBatch, runSearches, type SearchAnswer, type SearchHooks } from './search.ts';
import { Snapshots } from './snapshots.ts';
import { Writer } from './writer.ts';

const PURGE_CHUNK = 2000;

/**
 * Orchestrates storage and indexes: the collections, their points and searches. Every SQLite write
 * goes through the writer (writer.ts); each commit is then sent to every replica.
 */
export class Engine {
  readonly #log: Logger;
  readonly #config: Config;
  readonly #db: Db;
  readonly #writer: Writer;
  readonly #collections: CollectionsRepo;
  readonly #points: PointsRepo;
  readonly #knn: KnnRepo;
  readonly #states = new Map<string, CollectionState>();
  readonly #replicas: ReplicaSet;
  readonly #payloadBudget: PayloadBudget;
  readonly #snapshots: Snapshots;
  readonly #writes: PointWrites;
  readonly #timer: NodeJS.Timeout;
  readonly jobs: Jobs;
  readonly backups: Backups;
  /** What /metrics reads and observes. */
  readonly gauges: EngineGauges;
  readonly #recall: RecallEstimator;
  readonly #searchHooks: SearchHooks;
  readonly links: Links;
  readonly #linksRepo: LinksRepo;
  readonly #overlay: Overlay;
  #replicasReady = false;
  #closed = false;

  constructor(config: Config, log: Logger) {
    this.#config = config;
    this.#log = log;
    const dbPath = databasePath(config.dataDir);
    const db = (this.#db = openDatabase({ path: dbPath, synchronous: config.synchronous }));
    const writer = (this.#writer = new Writer(db));
    const collections = (this.#collections = new CollectionsRepo(db));
    const points = (this.#points = new PointsRepo(db, { maxLabel: config.maxLabel }));
    this.#knn = new KnnRepo(db);
    const snapshotDir = join(config.dataDir, 'indexes');
    const hnswBuild = engineBuild(config, log);
    const data = { dbPath, snapshotDir, engine: hnswBuild, maxLinksPerPoint: config.maxLinksPerPoint, maxPointsPerCollection: config.maxPointsPerCollection };
    this.#payloadBudget = new PayloadBudget(config.payloadMemoryBytes);
    const replicas = (this.#replicas = new ReplicaSet({ count: replicaCount(config, collections.list(), log), maxQueue: config.replicaQueue, data, log }));
    const snapshots = (this.#snapshots = new Snapshots({
      db, replicas, log, dir: snapshotDir, everyChanges: config.snapshotEveryChanges, intervalMs: config.snapshotIntervalMs,
      ready: () => this.#replicasReady,
    }));
    const stateById = (id: number) => [...this.#states.values()].find((s) => s.record.id === id);
    this.jobs = new Jobs({
      config, log, db, writer, points, collections, replicas, data, stateById,
      readyState: (name) => this.#readyState(name),
      saturated: (state, count) => this.#writes.saturated(state, count),
    });
    this.#writes = new PointWrites({
      config, log, db, writer, collections, points, replicas, snapshots, models: new ModelsRepo(db),
      state: (name) => this.#state(name),
      check: (name, state) => this.#assertCurrent(name, state),
      jobActive: (id) => this.jobs.active(id),
    });
    this.#overlay = new Overlay({
      db, writer, points, knn: this.#knn, replicas, log,
      current: (state) => this.#states.get(state.name) === state,
      jobActive: (id) => this.jobs.active(id),
      ready: () => this.ready,
    });
    const linksRepo = (this.#linksRepo = new LinksRepo(db));
    this.links = new Links({
      config, db, writer, points, links: linksRepo,
      state: (name) => this.#state(name),
      check: (name, state) => this.#assertCurrent(name, state),
    });
    const recall = (this.#recall = new RecallEstimator(config.recallSampleRate, config.recallCpu, log));
    this.#searchHooks = { recall };
    this.gauges = new EngineGauges({
      collections, states: this.#states, links: linksRepo, replicas, writer, jobs: this.jobs, recall, hooks: this.#searchHooks,
      ready: () => this.ready, replicasReady: () => this.#replicasReady,
      hnswBuild, databasePath: dbPath, dataDir: config.dataDir, snapshotIntervalMs: config.snapshotIntervalMs,
    });
    const backupSource = { db, snapshotDir, holdSnapshots: () => snapshots.holdAll(this.#states.values()), pauseOtherWriters: () => writer.pauseLeases() };
    this.backups = new Backups(backupSource, config.backupDir ?? join(config.dataDir, 'backups'), VERSION, log);
    for (const record of collections.list()) {
      const state = this.#newState(record);
      this.#states.set(record.name, state);
      void this.#loadState(state);
    }
    replicas.init().then(
      () => {
        this.#replicasReady = true;
        log.info({ replicas: replicas.size }, 'replicas ready');
      },
      (err: unknown) => log.error({ err }, 'replicas failed to load'),
    );
    void this.#purgeDropped();
    void snapshots.removeOrphans(this.#states.values());
    this.#timer = setInterval(() => this.#tick(), Math.min(1000, config.snapshotIntervalMs));
    this.#timer.unref();
  }

  #newState(record: CollectionRecord): CollectionState {
    const stored = () => loadModel(this.#db, record.id, record.config);
    return new CollectionState(record, stored(), stored, this.#payloadBudget);
  }

  async #loadState(state: CollectionState): Promise<void> {
    try {
      await this.#snapshots.recall(state);
      await state.load(this.#points);
    } catch (err) {
      this.#log.error({ err, collection: state.name }, 'collection failed to load');
    }
  }

  /** True once every replica and every collection is loaded and caught up. */
  get ready(): boolean {
    if (!this.#replicasReady) return false;
    for (const state of this.#states.values()) if (!state.loaded) return false;
    return true;
  }

  /** Inside a write: the collection is still the one the request resolved (a drop may have come first). */
  #assertCurrent(name: string, state: CollectionState): void {
    if (this.#states.get(name) !== state) throw new ServerErrors.CollectionNotFound(`collection '${name}' was dropped`);
  }

  #state(name: string): CollectionState {
    const state = this.#states.get(name);
    if (!state) throw new ServerErrors.CollectionNotFound(`collection '${name}' does not exist`);
    return state;
  }

  #readyState(name: string): CollectionState {
    const state = this.#state(name);
    if (!state.loaded || !this.#replicasReady) {
      throw new ServerErrors.NotReady(`collection '${name}' is loading; retry shortly`);
    }
    return state;
  }

  /** Creates a collection; `created` is false when an identical one exists. */
  async createCollection(name: string, request: CollectionRequest): Promise<{ created: boolean; collection: object }> {
    const config = normaliseConfig(request);
    let state: CollectionState | undefined;
    const record = await this.#writer.write(
      () => {
        const existing = this.#collections.get(name);
        if (!existing && this.#states.size >= this.#config.maxCollections) {
          throw new ServerErrors.CollectionLimit(`the server holds ${this.#states.size} collections, VICINITY_MAX_COLLECTIONS; drop one or raise the limit`);
        }
        if (!existing) return this.#collections.create(name, config);
        if (!matchesConfig(existing.config, config, request)) {
          throw new ServerErrors.CollectionExists(
            `collection '${name}' exists with a different configuration: ${JSON.stringify(existing.config)}; drop it first or use another name`,
          );
        }
        state = this.#states.get(name);
        return null;
      },
      (created) => {
        if (!created) return;
        state = this.#newState(created);
        state.loaded = true;
        this.#states.set(name, state);
        this.#replicas.broadcast({ op: 'create', collectionId: created.id, config });
      },
    );
    // Described as created, even if a drop got in since: the answer is about this request's collection.
    return { created: record !== null, collection: await this.#describe(state!, record ?? undefined) };
  }

  async listCollections(): Promise<object[]> {
    return Promise.all([...this.#states.keys()].sort().map((name) => this.describe(name)));
  }

  describe(name: string): Promise<object> {
    return this.#describe(this.#state(name));
  }

  async #describe(state: CollectionState, created?: CollectionRecord): Promise<object> {
    const index = this.#replicasReady ? await this.#replicas.stats<IndexStats>({ op: 'stats', collectionId: state.record.id }) : null;
    const record = this.#collections.getById(state.record.id) ?? created;
    if (!record) throw new ServerErrors.CollectionNotFound(`collection '${state.name}' was dropped`);
    const graph = { links: this.#linksRepo.countsByType(state.record.id), overlay: this.#overlay.describe(state) };
    const recall = { ...this.#recall.estimate(record.id), sample_rate: this.#recall.rate };
    return describeCollection(state, record, index, this.#replicas.size, this.#knn, { ...graph, recall });
  }

  /** Drops a collection: hidden at once, its jobs failed, its files removed once nothing writes them. */
  async dropCollection(name: string): Promise<void> {
    const state = this.#state(name);
    await this.#writer.write(
      () => {
        // A drop (or a drop and a create) that got the lock first: this request's collection is gone.
        if (this.#states.get(name) !== state) throw new ServerErrors.CollectionNotFound(`collection '${name}' does not exist`);
        this.#collections.drop(state.record.id);
      },
      () => {
        this.#states.delete(name);
        state.texts.clear();
        this.jobs.dropped(state.record.id);
        this.#recall.dropped(state.record.id);
        this.#replicas.broadcast({ op: 'drop', collectionId: state.record.id });
      },
    );
    // Its files go once no snapshot or job holds them; its points in the background.
    this.#snapshots.remove(state).catch((err: unknown) => this.#log.error({ err, collection: name }, 'removing the snapshot files failed; they go at the next start'));
    void this.#purgeDropped();
  }

  upsert(name: string, request: UpsertRequest): Promise<{ upserted: number }> {
    return this.#writes.upsert(name, request);
  }

  deletePoints(name: string, request: DeleteRequest): Promise<{ deleted: number }> {
    return this.#writes.delete(name, request);
  }

  /** A point's k-NN overlay neighbours, with ids. */
  neighbours(name: string, rawId: string, k: number | undefined): { neighbours: { id: string; distance: number }[] } {
    return this.#overlay.neighboursOf(this.#state(name), normaliseId(rawId), k);
  }

  getPoint(name: string, rawId: string, withVector: boolean): StoredPoint {
    const state = this.#state(name);
    const row = this.#points.get(state.record.id, normaliseId(rawId));
    if (!row) throw new ServerErrors.PointNotFound(`point '${rawId}' does not exist in collection '${name}'`);
    return decoded(state, row, withVector);
  }

  /** A page of points in label order (read-points.ts). */
  scroll(name: string, request: ScrollRequest): Promise<{ points: StoredPoint[]; next_cursor: string | null }> {
    return scrollPoints(this.#state(name), this.#points, request);
  }

  async search(name: string, request: SearchRequest): Promise<SearchAnswer> {
    const state = this.#readyState(name);
    const [results] = await runSearches(state, this.#points, this.#replicas, [prepareSearch(state, request, '')], this.#searchHooks);
    return results;
  }

  /** Validates every search first (one bad search fails the batch), then spreads them over the replicas. */
  searchBatch(name: string, requests: SearchRequest[]): Promise<SearchAnswer[]> {
    const state = this.#readyState(name);
    const prepared = requests.map((r, i) => prepareSearch(state, r, `searches[${i}].`));
    return runBatch(state, this.#points, this.#replicas, prepared, this.#searchHooks);
  }

  #tick(): void {
    if (this.ready) for (const state of this.#states.values()) this.jobs.rebuildIfDue(state);
    this.#snapshots.due(this.#states.values());
    this.#overlay.tick(this.#states.values());
  }

  /** Deletes the points of dropped collections in short transactions, yielding between them. */
  async #purgeDropped(): Promise<void> {
    try {
      for (const id of this.#collections.droppedIds()) {
        while (!this.#closed && !(await this.#writer.write(() => this.#collections.purgeDropped(id, PURGE_CHUNK)))) await yieldToLoop();
      }
    } catch (err) {
      this.#log.error({ err }, 'purging a dropped collection failed; it is retried at the next start');
    }
  }

  /**
   * Test hooks: hold every write (as a long commit does) or a collection's snapshot lock (as a
   * snapshot being written does) until the returned function is called, and count who holds or
   * waits for that lock; end a replica's worker.
   */
  readonly forTest = {
    holdWrites: (): Promise<() => void> => this.#writer.lease(),
    holdSnapshots: (name: string): Promise<() => void> => this.#state(name).snapshot.lock.acquire(),
    snapshotQueue: (name: string): number => this.#state(name).snapshot.lock.queued,
    killReplica: (id: number): Promise<unknown> => this.#replicas.on(id, { op: 'exit' }).catch(() => undefined),
  };

  /** Ends the jobs, writes snapshots of changed collections, stops the replicas, closes the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.backups.close();
    await this.jobs.close();
    await this.#snapshots.close(this.#states.values());
    await this.#recall.close();
    await this.#replicas.close();
    // Writes still queued for the lock go first.
    await this.#writer.write(() => undefined);
    this.#db.close();
  }
}
