import type { Db } from './db.ts';
import { nextSeq } from './db.ts';
import { Labels } from './labels.ts';
import { LinksRepo } from './links.ts';
import { compileWhere, type WhereNode } from './where.ts';

/** One point to write: id already normalised, vector encoded, payload as JSON text. */
export interface PointWrite {
  id: string;
  vector: Uint8Array;
  payload: string | null;
}

/** The current state of one label after a mutation: its vector, or null when deleted. */
export interface Change {
  label: number;
  vector: Uint8Array | null;
  /** The point's id for upserts (deletes do not need it). */
  id?: string;
}

export interface Mutation {
  seq: number;
  changes: Change[];
}

export interface PointRow {
  id: string;
  label: number;
  vector: Buffer | null;
  payload: string | null;
}

export interface ChangeRow {
  label: number;
  vector: Buffer | null;
  seq: number;
}

export interface PointsOptions {
  /** The largest label the index accepts (hnswlib-node labels are uint32). */
  maxLabel?: number;
}

/** Points of all collections. Every mutation is one transaction with one sequence number. */
export class PointsRepo {
  readonly #db: Db;
  readonly #labels: Labels;
  readonly #lookup;
  readonly #insert;
  readonly #update;
  readonly #tombstone;
  readonly #counts;
  readonly #get;
  readonly #getByLabels;
  readonly #getByLabelsNoVector;
  readonly #changesAfter;
  readonly #changedAfter;
  readonly #deletedLabels;
  readonly #rowsAtSeq;
  readonly #otherLength;
  readonly #rewrite;
  readonly #purgeTombstones;
  readonly #deleteKnn;
  readonly #links: LinksRepo;
  readonly #seqOf;
  readonly #countChangesAfter;
  readonly #page;
  readonly #pageNoVector;

  constructor(db: Db, options: PointsOptions = {}) {
    this.#db = db;
    this.#labels = new Labels(db, options);
    this.#links = new LinksRepo(db);
    this.#seqOf = db.prepare<[number, number], number>('SELECT seq FROM points WHERE collection_id = ? AND label = ? AND deleted = 0').pluck();
    this.#countChangesAfter = db.prepare<[number, number, number], number>(
      'SELECT count(*) FROM points WHERE collection_id = ? AND (seq, label) > (?, ?)',
    ).pluck();
    this.#lookup = db.prepare<[number, string], { label: number; deleted: number }>(
      'SELECT label, deleted FROM points WHERE collection_id = ? AND id = ?',
    );
    this.#insert = db.prepare<[number, string, number, Uint8Array, string | null, number]>(
      'INSERT INTO points (collection_id, id, label, vector, payload, seq) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#update = db.prepare<[Uint8Array, string | null, number, number, string]>(
      'UPDATE points SET vector = ?, payload = ?, seq = ?, deleted = 0 WHERE collection_id = ? AND id = ?',
    );
    this.#tombstone = db.prepare<[number, number, number], { label: number }>(
      `UPDATE points SET vector = NULL, payload = NULL, deleted = 1, seq = ?
       WHERE collection_id = ? AND label = ? AND deleted = 0 RETURNING label`,
    );
    this.#counts = db.prepare<[number, number, number]>(
      'UPDATE collections SET live_count = live_count + ?, deleted_count = deleted_count + ? WHERE id = ?',
    );
    this.#get = db.prepare<[number, string], PointRow>(
      'SELECT id, label, vector, payload FROM points WHERE collection_id = ? AND id = ? AND deleted = 0',
    );
    this.#getByLabelsNoVector = db.prepare<[number, string], PointRow>(
      `SELECT id, label, NULL AS vector, payload FROM points
       WHERE collection_id = ? AND label IN (SELECT value FROM json_each(?)) AND deleted = 0`,
    );
    this.#getByLabels = db.prepare<[number, string], PointRow>(
      `SELECT id, label, vector, payload FROM points
       WHERE collection_id = ? AND label IN (SELECT value FROM json_each(?)) AND deleted = 0`,
    );
    this.#changedAfter = db.prepare<[number, number, number, number], { label: number; seq: number; deleted: number }>(
      `SELECT label, seq, deleted FROM points
       WHERE collection_id = ? AND (seq, label) > (?, ?) ORDER BY seq, label LIMIT ?`,
    );
    this.#changesAfter = db.prepare<[number, number, number, number], ChangeRow>(
      `SELECT label, vector, seq FROM points
       WHERE collection_id = ? AND (seq, label) > (?, ?) ORDER BY seq, label LIMIT ?`,
    );
    this.#rowsAtSeq = db.prepare<[number, number, number, number], PointRow>(
      `SELECT id, label, vector, payload FROM points
       WHERE collection_id = ? AND seq = ? AND label > ? AND deleted = 0 ORDER BY label LIMIT ?`,
    );
    this.#otherLength = db.prepare<[number, number], { id: string; label: number; vector: Buffer }>(
      'SELECT id, label, vector FROM points WHERE collection_id = ? AND deleted = 0 AND length(vector) != ?',
    );
    this.#rewrite = db.prepare<[Uint8Array, number, number, number]>(
      'UPDATE points SET vector = ?, seq = ? WHERE collection_id = ? AND label = ?',
    );
    this.#deletedLabels = db.prepare<[number], { label: number }>(
      'SELECT label FROM points WHERE collection_id = ? AND deleted = 1',
    );
    // A tombstone whose id an import has staged stays: the staged record holds its label.
    this.#purgeTombstones = db.prepare<[number, number, number], number>(
      `DELETE FROM points WHERE rowid IN (
         SELECT p.rowid FROM points p WHERE p.collection_id = ? AND p.deleted = 1 AND p.seq <= ?
           AND NOT EXISTS (SELECT 1 FROM import_rows s WHERE s.collection_id = p.collection_id AND s.id = p.id)
         LIMIT ?)
       RETURNING label`,
    ).pluck();
    this.#deleteKnn = db.prepare<[number, number]>('DELETE FROM knn WHERE collection_id = ? AND label = ?');
    this.#page = db.prepare<[number, number, number], PointRow>(
      'SELECT id, label, vector, payload FROM points WHERE collection_id = ? AND deleted = 0 AND label > ? ORDER BY label LIMIT ?',
    );
    this.#pageNoVector = db.prepare<[number, number, number], PointRow>(
      'SELECT id, label, NULL AS vector, payload FROM points WHERE collection_id = ? AND deleted = 0 AND label > ? ORDER BY label LIMIT ?',
    );
  }

  /**
   * Inserts or replaces points atomically. A repeated id keeps its last occurrence; a known id
   * (even deleted, or staged by an import) keeps its label, a new one takes a free label.
   */
  upsert(collectionId: number, points: readonly PointWrite[]): Mutation {
    const last = new Map<string, PointWrite>();
    for (const p of points) {
      last.delete(p.id);
      last.set(p.id, p);
    }
    return this.#db.transaction(() => {
      const seq = nextSeq(this.#db);
      const changes: Change[] = [];
      const labels = this.#labels.allocator(collectionId);
      let revived = 0;
      let added = 0;
      for (const p of last.values()) {
        const existing = this.#lookup.get(collectionId, p.id);
        if (existing) {
          this.#update.run(p.vector, p.payload, seq, collectionId, p.id);
          if (existing.deleted) revived++;
          changes.push({ label: existing.label, vector: p.vector, id: p.id });
          continue;
        }
        const label = labels.labelFor(p.id);
        this.#insert.run(collectionId, p.id, label, p.vector, p.payload, seq);
        changes.push({ label, vector: p.vector, id: p.id });
        added++;
      }
      labels.done();
      if (added + revived > 0) this.#counts.run(added + revived, -revived, collectionId);
      return { seq, changes };
    })();
  }

  /** Deletes live points by id; unknown or already deleted ids are ignored. */
  deleteIds(collectionId: number, ids: readonly string[]): Mutation {
    return this.#db.transaction(() => {
      const labels: number[] = [];
      for (const id of new Set(ids)) {
        const row = this.#lookup.get(collectionId, id);
        if (row && !row.deleted) labels.push(row.label);
      }
      return this.#tombstoneLabels(collectionId, labels);
    })();
  }

  /**
   * Deletes the given labels' points if they are still live and, when `where` is given, still
   * match it (a delete by filter in chunks re-checks each chunk as it commits).
   */
  deleteLabels(collectionId: number, labels: readonly number[], where?: WhereNode): Mutation {
    return this.#db.transaction(() => {
      if (!where) return this.#tombstoneLabels(collectionId, labels);
      const { sql, params } = compileWhere(where, 'payload');
      const matching = this.#db
        .prepare(`SELECT label FROM points WHERE collection_id = ? AND label IN (SELECT value FROM json_each(?)) AND deleted = 0 AND (${sql})`)
        .pluck()
        .all(collectionId, JSON.stringify(labels), ...params) as number[];
      return this.#tombstoneLabels(collectionId, matching);
    })();
  }

  #tombstoneLabels(collectionId: number, labels: readonly number[]): Mutation {
    const seq = nextSeq(this.#db);
    const changes: Change[] = [];
    for (const label of labels) {
      if (this.#tombstone.get(seq, collectionId, label)) changes.push({ label, vector: null });
    }
    // A deleted point's links and overlay entry go with it, in the same transaction.
    this.#links.deleteTouching(collectionId, changes.map((c) => c.label));
    for (const c of changes) this.#deleteKnn.run(collectionId, c.label);
    if (changes.length > 0) this.#counts.run(-changes.length, changes.length, collectionId);
    return { seq, changes };
  }

  /** The sequence of a live point's last change, or null when the label holds no live point. */
  seqOf(collectionId: number, label: number): number | null {
    return this.#seqOf.get(collectionId, label) ?? null;
  }

  /** Point changes (writes and deletes) after (seq, label). */
  countChangesAfter(collectionId: number, seq: number, label: number): number {
    return this.#countChangesAfter.get(collectionId, seq, label)!;
  }

  /** The label of a live point, or null. */
  liveLabel(collectionId: number, id: string): number | null {
    const row = this.#lookup.get(collectionId, id);
    return row && !row.deleted ? row.label : null;
  }

  get(collectionId: number, id: string): PointRow | undefined {
    return this.#get.get(collectionId, id);
  }

  /** Live points with the given labels, in no particular order. */
  getByLabels(collectionId: number, labels: readonly number[], withVector = true): PointRow[] {
    if (labels.length === 0) return [];
    return (withVector ? this.#getByLabels : this.#getByLabelsNoVector).all(collectionId, JSON.stringify(labels));
  }

  /**
   * Labels of live points matching `where` among the next `scan` live points after `afterLabel`,
   * by label; `last` is the last label scanned, null once the collection is done. A filter the
   * payload index cannot answer is read this way, a bounded page at a time.
   */
  matchingLabels(collectionId: number, where: WhereNode, afterLabel: number, scan: number): { labels: number[]; last: number | null } {
    const { sql, params } = compileWhere(where, 'payload');
    const rows = this.#db
      .prepare(
        `SELECT label, (${sql}) AS hit FROM (
           SELECT label, payload FROM points WHERE collection_id = ? AND deleted = 0 AND label > ? ORDER BY label LIMIT ?)`,
      )
      .all(...params, collectionId, afterLabel, scan) as { label: number; hit: number }[];
    return { labels: rows.filter((r) => r.hit === 1).map((r) => r.label), last: rows.length === scan ? rows[rows.length - 1].label : null };
  }

  /** Live points ordered by label, after `afterLabel`. */
  scroll(collectionId: number, options: { limit: number; afterLabel: number; withVector: boolean }): PointRow[] {
    return (options.withVector ? this.#page : this.#pageNoVector).all(collectionId, options.afterLabel, options.limit);
  }

  /** Current state of points changed after (seq, label), in (seq, label) order: for index catch-up. */
  /** Like `changesAfter`, without the vectors: which labels changed, and whether they are deleted now. */
  changedAfter(collectionId: number, seq: number, label: number, limit: number): { label: number; seq: number; deleted: number }[] {
    return this.#changedAfter.all(collectionId, seq, label, limit);
  }

  changesAfter(collectionId: number, seq: number, label: number, limit: number): ChangeRow[] {
    return this.#changesAfter.all(collectionId, seq, label, limit);
  }

  /** Live points last written at `seq` (one import's commit), by label after `afterLabel`. */
  rowsAtSeq(collectionId: number, seq: number, afterLabel: number, limit: number): PointRow[] {
    return this.#rowsAtSeq.all(collectionId, seq, afterLabel, limit);
  }

  /**
   * Rewrites, at sequence `seq`, every live vector not `bytes` long with `reencode(old)`: a
   * collection's codec was fitted and the rows written before it change format. Call inside the
   * fit's transaction.
   */
  reencode(collectionId: number, seq: number, bytes: number, reencode: (old: Buffer) => Uint8Array): Change[] {
    const changes: Change[] = [];
    for (const row of this.#otherLength.all(collectionId, bytes)) {
      const vector = reencode(row.vector);
      this.#rewrite.run(vector, seq, collectionId, row.label);
      changes.push({ label: row.label, vector, id: row.id });
    }
    return changes;
  }

  /**
   * Deletes up to `limit` tombstones last written at or before `seq` (a rebuild at that sequence
   * left them out of the index, and its snapshot replaced every older one); their ids lose their
   * labels, which become free, and their k-NN entries go. Returns how many; call again until it
   * returns less than `limit`.
   */
  purgeTombstones(collectionId: number, seq: number, limit: number): number {
    return this.#db.transaction(() => {
      const labels = this.#purgeTombstones.all(collectionId, seq, limit);
      if (labels.length === 0) return 0;
      this.#counts.run(0, -labels.length, collectionId);
      for (const label of labels) this.#deleteKnn.run(collectionId, label);
      this.#labels.free(collectionId, labels);
      return labels.length;
    })();
  }

  /** Labels of every live point, ascending. */
  liveLabels(collectionId: number): number[] {
    return this.#db.prepare<[number], number>('SELECT label FROM points WHERE collection_id = ? AND deleted = 0 ORDER BY label').pluck().all(collectionId);
  }

  /** Labels of every tombstone of the collection. */
  deletedLabels(collectionId: number): number[] {
    return this.#deletedLabels.all(collectionId).map((r) => r.label);
  }
}
