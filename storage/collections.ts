import type { Db } from './db.ts';
import { nextSeq } from './db.ts';
import { LinksRepo } from './links.ts';

/** A collection's configuration as stored, with every default filled in. */
export interface CollectionConfig {
  dimension: number;
  metric: 'l2' | 'cosine' | 'ip';
  hnsw: { m: number; ef_construction: number; ef_search: number };
  storage: { codec: 'float32' | 'float16' | 'float8_e4m3' | 'float8_e5m2' | 'int8'; pca_dimension?: number };
  /** `auto`: the server chooses per job (an import shuffles, an optimize orders by LID). */
  build_order: 'auto' | 'given' | 'random' | 'lid_desc' | 'lid_asc' | `by_payload:${string}`;
  /** The k-NN overlay: neighbours kept per point (0: none). */
  graph: { knn_k: number };
  /** A search's `select` and `expand` unless it says otherwise (validated by the server). */
  search_defaults?: { select?: Record<string, unknown>; expand?: Record<string, unknown> };
}

/** Neighbours per point of the k-NN overlay unless a collection says otherwise. */
export const DEFAULT_KNN_K = 16;

export interface CollectionRecord {
  /** Internal id: never reused, so files named after it cannot outlive a drop and recreate. */
  id: number;
  name: string;
  config: CollectionConfig;
  liveCount: number;
  deletedCount: number;
  nextLabel: number;
}

interface Row {
  id: number;
  name: string;
  config: string;
  live_count: number;
  deleted_count: number;
  next_label: number;
}

const COLUMNS = 'id, name, config, live_count, deleted_count, next_label';

/** Settings added after a collection was created take their defaults. */
function withDefaults(config: CollectionConfig): CollectionConfig {
  return { ...config, graph: config.graph ?? { knn_k: DEFAULT_KNN_K } };
}

function toRecord(row: Row): CollectionRecord {
  return {
    id: row.id,
    name: row.name,
    config: withDefaults(JSON.parse(row.config) as CollectionConfig),
    liveCount: row.live_count,
    deletedCount: row.deleted_count,
    nextLabel: row.next_label,
  };
}

/** Collections table. Dropped collections stay as rows (dropped = 1) until their points are purged. */
export class CollectionsRepo {
  readonly #db: Db;
  readonly #byName;
  readonly #byId;
  readonly #list;
  readonly #insert;
  readonly #markDropped;
  readonly #dropped;
  readonly #purgePoints;
  readonly #links: LinksRepo;
  readonly #deleteOverlay;
  readonly #deleteRow;
  readonly #deleteModel;
  readonly #deleteKnn;
  readonly #deleteKnnSummary;
  readonly #deleteFreeLabels;

  constructor(db: Db) {
    this.#db = db;
    this.#byName = db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM collections WHERE name = ? AND dropped = 0`);
    this.#byId = db.prepare<[number], Row>(`SELECT ${COLUMNS} FROM collections WHERE id = ?`);
    this.#list = db.prepare<[], Row>(`SELECT ${COLUMNS} FROM collections WHERE dropped = 0 ORDER BY name`);
    this.#insert = db.prepare<[string, string, number], { id: number }>(
      'INSERT INTO collections (name, config, created_seq) VALUES (?, ?, ?) RETURNING id',
    );
    this.#markDropped = db.prepare<[number]>('UPDATE collections SET dropped = 1 WHERE id = ?');
    this.#dropped = db.prepare<[], { id: number }>('SELECT id FROM collections WHERE dropped = 1');
    this.#purgePoints = db.prepare<[number, number]>(
      'DELETE FROM points WHERE rowid IN (SELECT rowid FROM points WHERE collection_id = ? LIMIT ?)',
    );
    this.#links = new LinksRepo(db);
    this.#deleteRow = db.prepare<[number]>('DELETE FROM collections WHERE id = ?');
    this.#deleteModel = db.prepare<[number]>('DELETE FROM models WHERE collection_id = ?');
    this.#deleteKnn = db.prepare<[number]>('DELETE FROM knn WHERE collection_id = ?');
    this.#deleteKnnSummary = db.prepare<[number]>('DELETE FROM knn_summary WHERE collection_id = ?');
    this.#deleteFreeLabels = db.prepare<[number]>('DELETE FROM free_labels WHERE collection_id = ?');
    this.#deleteOverlay = db.prepare<[number]>('DELETE FROM overlay WHERE collection_id = ?');
  }

  get(name: string): CollectionRecord | undefined {
    const row = this.#byName.get(name);
    return row && toRecord(row);
  }

  /** The collection with this internal id, unless it was dropped. */
  getById(id: number): CollectionRecord | undefined {
    const row = this.#byId.get(id);
    return row && this.#byName.get(row.name)?.id === id ? toRecord(row) : undefined;
  }

  /** True while the collection exists and is not dropped. */
  isLive(id: number): boolean {
    const row = this.#byId.get(id);
    return row !== undefined && this.#byName.get(row.name)?.id === id;
  }

  list(): CollectionRecord[] {
    return this.#list.all().map(toRecord);
  }

  create(name: string, config: CollectionConfig): CollectionRecord {
    return this.#db.transaction(() => {
      const seq = nextSeq(this.#db);
      const { id } = this.#insert.get(name, JSON.stringify(config), seq)!;
      return toRecord(this.#byId.get(id)!);
    })();
  }

  /** Hides the collection at once; its points are removed later by `purgeDropped`. */
  drop(id: number): void {
    this.#db.transaction(() => {
      nextSeq(this.#db);
      this.#markDropped.run(id);
    })();
  }

  droppedIds(): number[] {
    return this.#dropped.all().map((r) => r.id);
  }

  /**
   * Deletes up to `limit` points of a dropped collection, in one short transaction; when none are
   * left, deletes the collection row too. Returns true when the collection is gone.
   */
  purgeDropped(id: number, limit: number): boolean {
    return this.#db.transaction(() => {
      if (!this.#links.purge(id, limit)) return false;
      const { changes } = this.#purgePoints.run(id, limit);
      if (changes < limit) {
        this.#deleteRow.run(id);
        this.#deleteModel.run(id);
        this.#deleteKnn.run(id);
        this.#deleteKnnSummary.run(id);
        this.#deleteFreeLabels.run(id);
        this.#deleteOverlay.run(id);
        return true;
      }
      return false;
    })();
  }
}
