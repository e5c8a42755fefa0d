import { readdir } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { ResolvedBuild } from '../../index/native/engine.ts';
import { hnswBytesPerPoint } from '../../index/hnsw.ts';
import { loadHnswlib } from '../../index/native/load.ts';
import type { LidSummary } from '../../index/lid.ts';
import { readManifest, removeSnapshots } from '../../index/snapshot.ts';
import { toVector } from '../../index/vectors.ts';
import { CollectionsRepo, type CollectionConfig, type CollectionRecord } from '../../storage/collections.ts';
import { currentSeq, nextSeq, openDatabase, type Db } from '../../storage/db.ts';
import { normaliseId } from '../../storage/ids.ts';
import { KnnRepo } from '../../storage/knn.ts';
import { ModelsRepo } from '../../storage/models.ts';
import { PointsRepo, type Mutation, type PointRow } from '../../storage/points.ts';
import { parseWhere } from '../../storage/where.ts';
import type { Config } from '../config.ts';
import { ServerErrors } from '../errors.ts';
import type { CollectionRequest, DeleteRequest, ScrollRequest, SearchRequest, UpsertRequest } from '../schemas/index.ts';
import { CollectionState } from './collection-state.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import type { Logger } from './logger.ts';
import { planSearch } from './planner.ts';
import type { IndexStats, SearchItem, SearchReply, SnapshotReply } from './protocol.ts';
import { loadModel, snapshotName } from './load-index.ts';
import { CODEC_FIT_AT, CollectionModel, fitModel } from './model.ts';
import { Imports } from './imports.ts';
import { ReplicaSet } from './replicas.ts';
import { WriteGate } from './write-gate.ts';
import { prepareSearch, toResults, type PreparedSearch, type SearchResult } from './search.ts';

const PURGE_CHUNK = 2000;

/**
 * Orchestrates storage and indexes. The single write path is the main thread's SQLite connection
 * (short transactions, acknowledged after commit); each commit is then sent to every replica.
 */
export class Engine {
  readonly #config: Config;
  readonly #log: Logger;
  readonly #db: Db;
  readonly #collections: CollectionsRepo;
  readonly #points: PointsRepo;
  readonly #models: ModelsRepo;
  readonly #knn: KnnRepo;
  readonly #states = new Map<string, CollectionState>();
  readonly #snapshotDir: string;
  readonly #replicas: ReplicaSet;
  readonly #timer: NodeJS.Timeout;
  readonly #gate = new WriteGate();
  readonly imports: Imports;
  #replicasReady = false;
  #closed = false;

  constructor(config: Config, log: Logger) {
    this.#config = config;
    this.#log = log;
    const dbPath = join(config.dataDir, 'vicinity.db');
    this.#db = openDatabase({ path: dbPath, synchronous: config.synchronous });
    this.#collections = new CollectionsRepo(this.#db);
    this.#points = new PointsRepo(this.#db, { maxLabel: config.maxLabel });
    this.#models = new ModelsRepo(this.#db);
    this.#knn = new KnnRepo(this.#db);
    this.#snapshotDir = join(config.dataDir, 'indexes');
    const data = { dbPath, snapshotDir: this.#snapshotDir, engine: engineBuild(config, log) };
    this.#replicas = new ReplicaSet({ count: replicaCount(config, this.#collections.list(), log), maxQueue: config.replicaQueue, data, log });
    this.imports = new Imports({
      config, log, db: this.#db, points: this.#points, gate: this.#gate, replicas: this.#replicas, data,
      readyState: (name) => this.#readyState(name),
      stateById: (id) => [...this.#states.values()].find((s) => s.record.id === id),
      saturated: (state, count) => this.#saturated(state, count),
    });
    for (const record of this.#collections.list()) {
      const state = this.#newState(record);
      this.#states.set(record.name, state);
      void this.#loadState(state);
    }
    this.#replicas.init().then(
      () => {
        this.#replicasReady = true;
        log.info({ replicas: this.#replicas.size }, 'replicas ready');
      },
      (err: unknown) => log.error({ err }, 'replicas failed to load'),
    );
    void this.#purgeDropped();
    void this.#removeOrphanSnapshots();
    this.#timer = setInterval(() => this.#snapshotDue(), Math.min(1000, config.snapshotIntervalMs));
    this.#timer.unref();
  }

  #newState(record: CollectionRecord): CollectionState {
    const stored = () => loadModel(this.#db, record.id, record.config);
    return new CollectionState(record, stored(), stored);
  }

  async #loadState(state: CollectionState): Promise<void> {
    try {
      const manifest = await readManifest(this.#snapshotDir, snapshotName(state.record.id));
      if (manifest.manifest) {
        state.snapshotSeq = manifest.manifest.seq;
        state.snapshotBytes = manifest.manifest.bytes;
      }
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

  #state(name: string): CollectionState {
    const state = this.#states.get(name);
    if (!state) throw new ServerErrors.CollectionNotFound(`collection '${name}' does not exist`);
    return state;
  }

  /** Waits until writes may go ahead (an import may be committing), then checks the collection is still there. */
  async #writable(name: string, state: CollectionState): Promise<void> {
    await this.#gate.pass();
    if (this.#states.get(name) !== state) throw new ServerErrors.CollectionNotFound(`collection '${name}' was dropped`);
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
    await this.#gate.pass();
    const existing = this.#collections.get(name);
    if (existing) {
      if (JSON.stringify(existing.config) !== JSON.stringify(config)) {
        throw new ServerErrors.CollectionExists(
          `collection '${name}' exists with a different configuration: ${JSON.stringify(existing.config)}; drop it first or use another name`,
        );
      }
      return { created: false, collection: await this.describe(name) };
    }
    const record = this.#collections.create(name, config);
    const state = this.#newState(record);
    state.loaded = true;
    this.#states.set(name, state);
    this.#replicas.broadcast({ op: 'create', collectionId: record.id, config });
    return { created: true, collection: await this.describe(name) };
  }

  async listCollections(): Promise<object[]> {
    return Promise.all([...this.#states.keys()].sort().map((name) => this.describe(name)));
  }

  async describe(name: string): Promise<object> {
    const state = this.#state(name);
    const record = this.#collections.get(name)!;
    const { config } = record;
    const replicas = this.#replicasReady
      ? await this.#replicas.all<IndexStats>({ op: 'stats', collectionId: record.id })
      : [];
    const payloadStats = state.payloads.stats();
    return {
      name,
      dimension: config.dimension,
      metric: config.metric,
      count: record.liveCount,
      deleted: record.deletedCount,
      config,
      stats: {
        index: replicas[0] ?? { state: 'loading' },
        replicas: replicas.length,
        memory_bytes: {
          indexes: replicas.reduce((sum, r) => sum + r.memory_bytes, 0),
          per_replica: replicas[0]?.memory_bytes ?? 0,
          shared_vectors: state.vectors.bytes,
          payload_index: payloadStats.approximateBytes,
        },
        snapshot: {
          seq: state.snapshotSeq,
          bytes: state.snapshotBytes,
          changes_since: state.changesSinceSnapshot,
          age_s: Math.round((Date.now() - state.lastSnapshotAt) / 1000),
        },
        vector_store_bytes: record.liveCount * state.model.codec.bytesPerVector,
        storage: storageStats(state, record.liveCount, replicas[0]?.memory_bytes ?? 0),
        lid: this.#lidSummary(state),
      },
    };
  }

  /** LID distribution of the collection's last k-NN pass (a rebuild or import in a LID order); null before one. */
  #lidSummary(state: CollectionState): LidSummary | null {
    if (state.lidSummary === undefined) {
      const stored = this.#knn.summary(state.record.id);
      state.lidSummary = stored === null ? null : (JSON.parse(stored) as LidSummary | null);
    }
    return state.lidSummary;
  }

  async dropCollection(name: string): Promise<void> {
    const state = this.#state(name);
    await this.#gate.pass();
    this.#states.delete(name);
    this.#collections.drop(state.record.id);
    // Each replica runs the drop after any snapshot it was writing, so the files can go after.
    await this.#replicas.all({ op: 'drop', collectionId: state.record.id }).catch(() => undefined);
    await removeSnapshots(this.#snapshotDir, snapshotName(state.record.id));
    void this.#purgeDropped();
  }

  async upsert(name: string, request: UpsertRequest): Promise<{ upserted: number }> {
    const state = this.#state(name);
    const { dimension, metric } = state.record.config;
    const payloads = new Map<string, Record<string, unknown> | null>();
    const inputs = request.points.map((p, i) => {
      const id = normaliseId(p.id, `points[${i}].id`);
      payloads.set(id, p.payload ?? null);
      return {
        id,
        vector: toVector(p.vector, { dimension, metric }, `points[${i}].vector`),
        payload: p.payload === undefined || p.payload === null ? null : JSON.stringify(p.payload),
      };
    });
    await this.#writable(name, state);
    if (inputs.length > 0) {
      // An import fits the codec itself (from more data): while one runs, rows stay float32 for its commit to re-encode.
      const fit = state.model.pending.codec && !this.imports.active(state.record.id) && this.#collections.get(name)!.liveCount + inputs.length >= CODEC_FIT_AT;
      let model = state.model;
      const mutation = this.#db.transaction(() => {
        const refit = fit ? this.#fitCodec(state, inputs.map((p) => p.vector)) : null;
        if (refit) model = refit.model;
        let saturated = 0;
        const writes = inputs.map((p) => {
          const encoded = model.encode(p.vector);
          saturated += encoded.saturated;
          return { id: p.id, vector: encoded.bytes, payload: p.payload };
        });
        const written = this.#points.upsert(state.record.id, writes);
        this.#saturated(state, saturated);
        return { seq: written.seq, changes: [...(refit?.changes ?? []), ...written.changes] };
      })();
      // Committed: from here on the collection stores and decodes with the fitted codec. Every
      // live point is in the mutation (all were re-encoded), so the new store is full after it.
      const replaced = state.useModel(model);
      this.#applied(state, mutation, payloads);
      if (replaced) state.storeFilled();
    }
    await this.#replicas.whenBacklogAtMost(this.#config.maxIndexBacklog);
    return { upserted: request.points.length };
  }

  /**
   * Fits a float8 codec on the collection's points and the batch being written (inside its
   * transaction): stores the params and re-encodes the rows written as float32 so far.
   */
  #fitCodec(state: CollectionState, batch: Float32Array[]): { model: CollectionModel; changes: Mutation['changes'] } {
    const d = state.record.config.dimension;
    const rows = this.#points.scroll(state.record.id, { limit: CODEC_FIT_AT * 4, afterLabel: -1, withVector: true });
    const sample = new Float32Array((rows.length + batch.length) * d);
    rows.forEach((row, i) => sample.set(state.model.decode(row.vector!), i * d));
    batch.forEach((v, i) => sample.set(v, (rows.length + i) * d));
    const old = state.model;
    const update = fitModel(old, sample, rows.length + batch.length, { codec: true, pca: false });
    const model = new CollectionModel(state.record.config, this.#models.install(state.record.id, update));
    const seq = nextSeq(this.#db);
    const changes = this.#points.reencode(state.record.id, seq, model.codec.bytesPerVector, (bytes) => model.encode(old.decode(bytes)).bytes);
    this.#log.info({ collection: state.name, codec: model.codec.name, rows: changes.length }, 'codec fitted; earlier rows re-encoded');
    return { model, changes };
  }

  #saturated(state: CollectionState, count: number): void {
    if (count === 0) return;
    state.saturated += count;
    this.#log.warn(
      { collection: state.name, codec: state.model.codec.name, saturated: count, total: state.saturated },
      'vector values beyond the codec range were clamped to its largest value',
    );
  }

  getPoint(name: string, rawId: string, withVector: boolean): StoredPoint {
    const state = this.#state(name);
    const row = this.#points.get(state.record.id, normaliseId(rawId));
    if (!row) throw new ServerErrors.PointNotFound(`point '${rawId}' does not exist in collection '${name}'`);
    return decoded(state, row, withVector);
  }

  async deletePoints(name: string, request: DeleteRequest): Promise<{ deleted: number }> {
    const state = this.#state(name);
    if ((request.ids === undefined) === (request.where === undefined)) {
      throw new ServerErrors.RequestInvalid('give either ids or where (not both)');
    }
    const id = state.record.id;
    await this.#writable(name, state);
    const mutation = request.ids
      ? this.#points.deleteIds(id, request.ids.map((raw, i) => normaliseId(raw, `ids[${i}]`)))
      : this.#points.deleteWhere(id, parseWhere(request.where));
    this.#applied(state, mutation, new Map());
    await this.#replicas.whenBacklogAtMost(this.#config.maxIndexBacklog);
    return { deleted: mutation.changes.length };
  }

  scroll(name: string, request: ScrollRequest): { points: StoredPoint[]; next_cursor: string | null } {
    const state = this.#state(name);
    const limit = request.limit ?? 100;
    const where = request.where && Object.keys(request.where).length > 0 ? parseWhere(request.where) : undefined;
    const rows = this.#points.scroll(state.record.id, {
      where,
      limit: limit + 1,
      afterLabel: request.cursor ? decodeCursor(request.cursor) : -1,
      withVector: request.with_vector ?? false,
    });
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    return { points: page.map((row) => decoded(state, row, true)), next_cursor: more ? encodeCursor(page[page.length - 1].label) : null };
  }

  async search(name: string, request: SearchRequest): Promise<SearchResult[]> {
    const state = this.#readyState(name);
    const [results] = await this.#search(state, [prepareSearch(state, request, '')]);
    return results;
  }

  /** Validates every search first (one bad search fails the batch), then spreads them over the replicas. */
  async searchBatch(name: string, requests: SearchRequest[]): Promise<SearchResult[][]> {
    const state = this.#readyState(name);
    const prepared = requests.map((r, i) => prepareSearch(state, r, `searches[${i}].`));
    const slices = Math.min(this.#replicas.size, prepared.length);
    const size = Math.ceil(prepared.length / slices);
    const parts = await Promise.all(
      Array.from({ length: slices }, (_, i) => this.#search(state, prepared.slice(i * size, (i + 1) * size))),
    );
    return parts.flat();
  }

  /** Plans each search's filter, runs them as one task on the least busy replica, and fills in ids and payloads. */
  async #search(state: CollectionState, searches: PreparedSearch[]): Promise<SearchResult[][]> {
    const plans = searches.map((s) => planSearch(state, this.#points, s.where, s.whereKey));
    const items: SearchItem[] = [];
    searches.forEach((s, i) => {
      const plan = plans[i];
      if (plan.kind !== 'none') {
        items.push({ query: s.query, k: s.k, ef: s.ef, filter: plan.kind === 'filtered' ? plan.filter : null, candidates: s.candidates, rescore: s.rescore });
      }
    });
    const needStore = state.model.pca !== null || plans.some((p) => p.kind === 'filtered');
    const replies =
      items.length === 0
        ? []
        : await this.#replicas.read<SearchReply[]>({
            op: 'search',
            collectionId: state.record.id,
            searches: items,
            store: needStore ? state.storeSpec : null,
          });
    let next = 0;
    return searches.map((s, i) => (plans[i].kind === 'none' ? [] : toResults(state, this.#points, s, replies[next++])));
  }

  /**
   * After a commit: update the main thread's payload index and vectors, then send the change to
   * every replica. A change whose id is not in `payloads` (a re-encoded row) keeps its payload.
   */
  #applied(state: CollectionState, mutation: Mutation, payloads: Map<string, Record<string, unknown> | null>): void {
    const { changes } = mutation;
    if (changes.length === 0) return;
    const dim = state.record.config.dimension;
    const { model } = state;
    const labels = new Uint32Array(changes.length);
    const deleted = new Uint8Array(changes.length);
    const vectors = new Float32Array(changes.filter((c) => c.vector).length * dim);
    let v = 0;
    changes.forEach((change, i) => {
      labels[i] = change.label;
      if (!change.vector) {
        deleted[i] = 1;
        state.deleted(change.label);
        return;
      }
      model.codec.decodeInto(change.vector, vectors.subarray(v * dim, (v + 1) * dim));
      v++;
      state.upserted(change.label, change.id!, change.vector, payloads.has(change.id!) ? payloads.get(change.id!)! : undefined);
    });
    this.#replicas.broadcast({ op: 'apply', collectionId: state.record.id, seq: mutation.seq, labels, deleted, vectors });
    state.changesSinceSnapshot += changes.length;
    if (state.changesSinceSnapshot >= this.#config.snapshotEveryChanges) void this.#snapshot(state);
  }

  /** Replica 0 writes the snapshot; the others keep serving reads meanwhile. */
  #snapshot(state: CollectionState): Promise<void> {
    if (state.snapshotting || !this.#replicasReady) return state.snapshotting ?? Promise.resolve();
    const changes = state.changesSinceSnapshot;
    const seq = currentSeq(this.#db);
    state.snapshotting = this.#replicas
      .on<SnapshotReply | null>(0, { op: 'snapshot', collectionId: state.record.id, seq })
      .then(
        (done) => {
          if (!done) return;
          state.snapshotSeq = done.seq;
          state.snapshotBytes = done.bytes;
          state.changesSinceSnapshot -= changes;
          state.lastSnapshotAt = Date.now();
        },
        (err: unknown) => this.#log.error({ err, collection: state.name }, 'snapshot failed; will retry'),
      )
      .finally(() => {
        state.snapshotting = null;
      });
    return state.snapshotting;
  }

  /** Queues an optimize of each collection whose tombstones passed the configured share. */
  #rebuildDue(): void {
    const { rebuildMinDeleted, rebuildDeletedPercent } = this.#config;
    if (rebuildMinDeleted === 0 || !this.ready) return;
    for (const state of this.#states.values()) {
      const record = this.#collections.get(state.name);
      if (!record || record.deletedCount < rebuildMinDeleted || this.imports.active(record.id)) continue;
      if (record.deletedCount * 100 < rebuildDeletedPercent * (record.liveCount + record.deletedCount)) continue;
      this.#log.info({ collection: state.name, deleted: record.deletedCount, live: record.liveCount }, 'tombstones passed the threshold: rebuilding');
      this.imports.optimize(state.name, { auto: true }).catch((err: unknown) => this.#log.error({ err, collection: state.name }, 'could not queue a rebuild'));
    }
  }

  #snapshotDue(): void {
    this.#rebuildDue();
    const now = Date.now();
    for (const state of this.#states.values()) {
      const due =
        state.changesSinceSnapshot >= this.#config.snapshotEveryChanges ||
        (state.changesSinceSnapshot > 0 && now - state.lastSnapshotAt >= this.#config.snapshotIntervalMs);
      if (due) void this.#snapshot(state);
    }
  }

  /** Removes snapshot files of collections that no longer exist (a crash between drop and cleanup). */
  async #removeOrphanSnapshots(): Promise<void> {
    const files = await readdir(this.#snapshotDir).catch(() => [] as string[]);
    const live = new Set([...this.#states.values()].map((s) => snapshotName(s.record.id)));
    const names = new Set<string>();
    for (const file of files) {
      const match = /^(c\d+)[-.]/.exec(file);
      if (match && !live.has(match[1])) names.add(match[1]);
    }
    for (const name of names) await removeSnapshots(this.#snapshotDir, name).catch(() => undefined);
  }

  /** Deletes the points of dropped collections in short transactions, yielding between them. */
  async #purgeDropped(): Promise<void> {
    try {
      for (const id of this.#collections.droppedIds()) {
        for (;;) {
          await this.#gate.pass();
          if (this.#closed || this.#collections.purgeDropped(id, PURGE_CHUNK)) break;
          await yieldToLoop();
        }
      }
    } catch (err) {
      this.#log.error({ err }, 'purging a dropped collection failed; it is retried at the next start');
    }
  }

  /** Points written but not yet in every replica's index. */
  get indexBacklog(): number {
    return this.#replicas.backlog;
  }

  /** Test hook: ends one replica's worker, as a crash would. */
  killReplicaForTest(id: number): Promise<unknown> {
    return this.#replicas.on(id, { op: 'exit' }).catch(() => undefined);
  }

  /** Writes snapshots of changed collections, stops the replicas, closes the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.imports.close();
    const changed = [...this.#states.values()].filter((s) => s.loaded && (s.changesSinceSnapshot > 0 || s.snapshotting !== null));
    await Promise.all(changed.map(async (state) => {
      await state.snapshotting;
      if (state.changesSinceSnapshot > 0) await this.#snapshot(state);
    }));
    await this.#replicas.close();
    this.#db.close();
  }
}

/**
 * What compression buys, per live point: bytes in the SQLite vector column, the snapshot file,
 * one replica's index and the shared vectors, each beside its float32 equivalent.
 */
function storageStats(state: CollectionState, live: number, perReplica: number): object {
  const { model } = state;
  const { config } = model;
  const perPoint = (bytes: number) => (live > 0 ? Math.round(bytes / live) : 0);
  const float32 = config.dimension * 4;
  const stored = model.codec.bytesPerVector;
  return {
    codec: config.storage.codec,
    codec_fitted: !model.pending.codec,
    pca_dimension: config.storage.pca_dimension ?? null,
    pca_fitted: model.pca !== null,
    pca_version: model.version,
    saturated_values: state.saturated,
    bytes_per_vector: {
      vector_store: stored,
      snapshot: perPoint(state.snapshotBytes),
      index_per_replica: perPoint(perReplica),
      shared: perPoint(state.vectors.bytes),
    },
    vector_store_ratio: ratio(stored, float32),
    shared_ratio: ratio(state.vectors.bytes, state.vectors.capacity * float32),
  };
}

const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 1000) / 1000 : 0);

/** A point as the API shows it: its vector decoded (normalised under cosine with a compressed codec). */
export interface StoredPoint {
  id: string;
  label: number;
  payload: string | null;
  vector: Float32Array | null;
}

function decoded(state: CollectionState, row: PointRow, withVector: boolean): StoredPoint {
  return { ...row, vector: withVector && row.vector ? state.decode(row.vector) : null };
}

/** Resolves the hnswlib build once, here, so every replica loads the same one. */
function engineBuild(config: Config, log: Logger): ResolvedBuild {
  const loaded = loadHnswlib(config.hnswBuild);
  log.info({ requested: config.hnswBuild, build: loaded.build, path: loaded.path, reason: loaded.reason }, 'hnswlib build chosen');
  return loaded.build;
}

/**
 * Replicas: `VICINITY_REPLICAS`, or one per core, capped so that the replicas' index copies
 * (estimated from the stored points) stay within half of the machine's memory.
 */
function replicaCount(config: Config, collections: CollectionRecord[], log: Logger): number {
  if (config.replicas > 0) return config.replicas;
  const cores = availableParallelism();
  let perReplica = 64 * 1024 * 1024; // an empty worker with its heap
  for (const { config: c, liveCount, deletedCount } of collections) {
    // A PCA collection's index holds the reduced vectors (once fitted; the estimate assumes it is).
    const { slot, upper } = hnswBytesPerPoint(c.storage.pca_dimension ?? c.dimension, c.hnsw.m);
    perReplica += (liveCount + deletedCount) * (slot + upper);
  }
  const byMemory = Math.max(1, Math.floor((0.5 * totalmem()) / perReplica));
  const count = Math.min(cores, byMemory);
  log.info({ replicas: count, cores, estimated_bytes_per_replica: Math.round(perReplica) }, 'replica count chosen');
  return count;
}

/** Fills in defaults; refuses what cannot work (PCA under ip, or not reducing the dimension). */
export function normaliseConfig(request: CollectionRequest): CollectionConfig {
  const codec = request.storage?.codec ?? 'float32';
  const pca = request.storage?.pca_dimension;
  if (pca !== undefined && request.metric === 'ip') {
    throw new ServerErrors.CollectionConfig(
      'storage.pca_dimension cannot be used with metric ip: centring changes inner products; use l2 or cosine, or leave pca_dimension out',
    );
  }
  if (pca !== undefined && pca >= request.dimension) {
    throw new ServerErrors.CollectionConfig(
      `storage.pca_dimension must be below the dimension (${request.dimension}); it is ${pca}`,
    );
  }
  return {
    dimension: request.dimension,
    metric: request.metric,
    hnsw: {
      m: request.hnsw?.m ?? 16,
      ef_construction: request.hnsw?.ef_construction ?? 200,
      ef_search: request.hnsw?.ef_search ?? 64,
    },
    storage: pca === undefined ? { codec } : { codec, pca_dimension: pca },
    build_order: request.build_order ?? 'given',
  };
}
