import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { toVector, vectorToBlob } from '../../index/vectors.ts';
import { CollectionsRepo, type CollectionConfig, type CollectionRecord } from '../../storage/collections.ts';
import { currentSeq, openDatabase, type Db } from '../../storage/db.ts';
import { normaliseId } from '../../storage/ids.ts';
import { PointsRepo, type Mutation, type PointRow } from '../../storage/points.ts';
import { parseWhere } from '../../storage/where.ts';
import type { Config } from '../config.ts';
import { ServerErrors } from '../errors.ts';
import type { CollectionRequest, DeleteRequest, ScrollRequest, SearchRequest, UpsertRequest } from '../schemas/index.ts';
import { CollectionIndex, type Logger } from './collection-index.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { prepareSearch, runSearch, type SearchResult } from './search.ts';

const PURGE_CHUNK = 2000;

/**
 * Orchestrates storage and indexes: the single write path (the main thread's SQLite connection,
 * short transactions, acknowledged after commit), then the index update.
 */
export class Engine {
  readonly #config: Config;
  readonly #log: Logger;
  readonly #db: Db;
  readonly #collections: CollectionsRepo;
  readonly #points: PointsRepo;
  readonly #indexes = new Map<string, CollectionIndex>();
  readonly #snapshotDir: string;
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(config: Config, log: Logger) {
    this.#config = config;
    this.#log = log;
    this.#db = openDatabase({ path: join(config.dataDir, 'vicinity.db'), synchronous: config.synchronous });
    this.#collections = new CollectionsRepo(this.#db);
    this.#points = new PointsRepo(this.#db, { maxLabel: config.maxLabel });
    this.#snapshotDir = join(config.dataDir, 'indexes');
    for (const record of this.#collections.list()) {
      const index = this.#newIndex(record);
      this.#indexes.set(record.name, index);
      void index.load().catch((err: unknown) => {
        index.state = 'failed';
        log.error({ err, collection: record.name }, 'index load failed');
      });
    }
    void this.#purgeDropped();
    this.#timer = setInterval(() => this.#snapshotDue(), Math.min(1000, config.snapshotIntervalMs));
    this.#timer.unref();
  }

  /** True once every index is loaded and caught up. */
  get ready(): boolean {
    for (const index of this.#indexes.values()) if (index.state !== 'ready') return false;
    return true;
  }

  #newIndex(record: CollectionRecord): CollectionIndex {
    return new CollectionIndex({
      record,
      snapshotDir: this.#snapshotDir,
      points: this.#points,
      currentSeq: () => currentSeq(this.#db),
      log: this.#log,
    });
  }

  #index(name: string): CollectionIndex {
    const index = this.#indexes.get(name);
    if (!index) throw new ServerErrors.CollectionNotFound(`collection '${name}' does not exist`);
    return index;
  }

  /** Creates a collection; `created` is false when an identical one exists. */
  createCollection(name: string, request: CollectionRequest): { created: boolean; collection: object } {
    const config = normaliseConfig(request);
    const existing = this.#collections.get(name);
    if (existing) {
      if (JSON.stringify(existing.config) !== JSON.stringify(config)) {
        throw new ServerErrors.CollectionExists(
          `collection '${name}' exists with a different configuration: ${JSON.stringify(existing.config)}; drop it first or use another name`,
        );
      }
      return { created: false, collection: this.describe(name) };
    }
    const record = this.#collections.create(name, config);
    const index = this.#newIndex(record);
    index.initEmpty();
    this.#indexes.set(name, index);
    return { created: true, collection: this.describe(name) };
  }

  listCollections(): object[] {
    return [...this.#indexes.keys()].sort().map((name) => this.describe(name));
  }

  describe(name: string): object {
    const index = this.#index(name);
    const record = this.#collections.get(name)!;
    const { config } = record;
    return {
      name,
      dimension: config.dimension,
      metric: config.metric,
      count: record.liveCount,
      deleted: record.deletedCount,
      config,
      stats: {
        index: {
          state: index.state,
          live: index.index?.size ?? 0,
          deleted: index.index?.deletedCount ?? 0,
          capacity: index.index?.capacity ?? 0,
          memory_bytes: index.index?.memoryBytes() ?? 0,
        },
        snapshot: {
          seq: index.snapshotSeq,
          bytes: index.snapshotBytes,
          changes_since: index.changesSinceSnapshot,
          age_s: Math.round((Date.now() - index.lastSnapshotAt) / 1000),
        },
        vector_store_bytes: record.liveCount * config.dimension * 4,
      },
    };
  }

  async dropCollection(name: string): Promise<void> {
    const index = this.#index(name);
    this.#indexes.delete(name);
    this.#collections.drop(index.record.id);
    await index.dispose();
    void this.#purgeDropped();
  }

  upsert(name: string, request: UpsertRequest): { upserted: number } {
    const index = this.#index(name);
    const { dimension, metric } = index.record.config;
    const writes = request.points.map((p, i) => ({
      id: normaliseId(p.id, `points[${i}].id`),
      vector: vectorToBlob(toVector(p.vector, { dimension, metric }, `points[${i}].vector`)),
      payload: p.payload === undefined || p.payload === null ? null : JSON.stringify(p.payload),
    }));
    if (writes.length > 0) this.#applied(index, this.#points.upsert(index.record.id, writes));
    return { upserted: request.points.length };
  }

  getPoint(name: string, rawId: string, withVector: boolean): PointRow {
    const index = this.#index(name);
    const row = this.#points.get(index.record.id, normaliseId(rawId));
    if (!row) throw new ServerErrors.PointNotFound(`point '${rawId}' does not exist in collection '${name}'`);
    return withVector ? row : { ...row, vector: null };
  }

  deletePoints(name: string, request: DeleteRequest): { deleted: number } {
    const index = this.#index(name);
    if ((request.ids === undefined) === (request.where === undefined)) {
      throw new ServerErrors.RequestInvalid('give either ids or where (not both)');
    }
    const id = index.record.id;
    const mutation = request.ids
      ? this.#points.deleteIds(id, request.ids.map((raw, i) => normaliseId(raw, `ids[${i}]`)))
      : this.#points.deleteWhere(id, parseWhere(request.where));
    this.#applied(index, mutation);
    return { deleted: mutation.changes.length };
  }

  scroll(name: string, request: ScrollRequest): { points: PointRow[]; next_cursor: string | null } {
    const index = this.#index(name);
    const limit = request.limit ?? 100;
    const where = request.where && Object.keys(request.where).length > 0 ? parseWhere(request.where) : undefined;
    const rows = this.#points.scroll(index.record.id, {
      where,
      limit: limit + 1,
      afterLabel: request.cursor ? decodeCursor(request.cursor) : -1,
      withVector: request.with_vector ?? false,
    });
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    return { points: page, next_cursor: more ? encodeCursor(page[page.length - 1].label) : null };
  }

  async search(name: string, request: SearchRequest): Promise<SearchResult[]> {
    const index = this.#index(name);
    const prepared = prepareSearch(index, request, '');
    await index.whenCurrent();
    return runSearch(index, this.#points, prepared);
  }

  async searchBatch(name: string, requests: SearchRequest[]): Promise<SearchResult[][]> {
    const index = this.#index(name);
    const prepared = requests.map((r, i) => prepareSearch(index, r, `searches[${i}].`));
    await index.whenCurrent();
    return prepared.map((p) => runSearch(index, this.#points, p));
  }

  #applied(index: CollectionIndex, mutation: Mutation): void {
    index.apply(mutation.seq, mutation.changes);
    if (index.changesSinceSnapshot >= this.#config.snapshotEveryChanges) void index.snapshot();
  }

  #snapshotDue(): void {
    const now = Date.now();
    for (const index of this.#indexes.values()) {
      const due =
        index.changesSinceSnapshot >= this.#config.snapshotEveryChanges ||
        (index.changesSinceSnapshot > 0 && now - index.lastSnapshotAt >= this.#config.snapshotIntervalMs);
      if (due && !index.saving) void index.snapshot();
    }
  }

  /** Deletes the points of dropped collections in short transactions, yielding between them. */
  async #purgeDropped(): Promise<void> {
    for (const id of this.#collections.droppedIds()) {
      while (!this.#closed && !this.#collections.purgeDropped(id, PURGE_CHUNK)) await yieldToLoop();
    }
  }

  /** Writes snapshots of changed indexes, then closes the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    const changed = [...this.#indexes.values()].filter((i) => i.state === 'ready' && i.changesSinceSnapshot > 0);
    await Promise.all(changed.map((index) => index.snapshot()));
    this.#db.close();
  }
}

/** Fills in defaults; refuses what this version cannot do. */
export function normaliseConfig(request: CollectionRequest): CollectionConfig {
  const codec = request.storage?.codec ?? 'float32';
  if (codec !== 'float32') {
    throw new ServerErrors.CollectionConfig(`storage.codec '${codec}' is not available in this version: use float32`);
  }
  if (request.storage?.pca_dimension !== undefined) {
    throw new ServerErrors.CollectionConfig('storage.pca_dimension is not available in this version: leave it out');
  }
  return {
    dimension: request.dimension,
    metric: request.metric,
    hnsw: {
      m: request.hnsw?.m ?? 16,
      ef_construction: request.hnsw?.ef_construction ?? 200,
      ef_search: request.hnsw?.ef_search ?? 64,
    },
    storage: { codec },
    build_order: request.build_order ?? 'given',
  };
}
