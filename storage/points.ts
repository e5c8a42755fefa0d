import type { Db } from './db.ts';
import { nextSeq } from './db.ts';
import { StorageErrors } from './errors.ts';
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

const UINT32_MAX = 4294967295;

/** Points of all collections. Every mutation is one transaction with one sequence number. */
export class PointsRepo {
  readonly #db: Db;
  readonly #maxLabel: number;
  readonly #lookup;
  readonly #insert;
  readonly #update;
  readonly #tombstone;
  readonly #counts;
  readonly #nextLabel;
  readonly #readNextLabel;
  readonly #get;
  readonly #getByLabels;
  readonly #getByLabelsNoVector;
  readonly #changesAfter;
  readonly #deletedLabels;
  readonly #rowsAtSeq;
  readonly #otherLength;
  readonly #rewrite;

  constructor(db: Db, options: PointsOptions = {}) {
    const maxLabel = options.maxLabel ?? UINT32_MAX;
    if (!Number.isInteger(maxLabel) || maxLabel < 0 || maxLabel > UINT32_MAX) {
      throw new StorageErrors.Options('options.maxLabel must be an integer from 0 to 2^32 − 1');
    }
    this.#db = db;
    this.#maxLabel = maxLabel;
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
    this.#nextLabel = db.prepare<[number, number]>('UPDATE collections SET next_label = ? WHERE id = ?');
    this.#readNextLabel = db.prepare<[number], number>('SELECT next_label FROM collections WHERE id = ?').pluck();
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
  }

  /**
   * Inserts or replaces points atomically. A repeated id keeps its last occurrence; a new id
   * takes the collection's next label, a known id (even deleted) keeps its label.
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
      const nextLabel = this.#readNextLabel.get(collectionId)!;
      let label = nextLabel;
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
        if (label > this.#maxLabel) {
          throw new StorageErrors.LabelsExhausted(
            `the collection has used all ${this.#maxLabel + 1} internal labels; recreate it (or optimize it, once available) to compact them`,
          );
        }
        this.#insert.run(collectionId, p.id, label, p.vector, p.payload, seq);
        changes.push({ label, vector: p.vector, id: p.id });
        label++;
        added++;
      }
      if (label !== nextLabel) this.#nextLabel.run(label, collectionId);
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

  /** Deletes every live point whose payload matches `where`. */
  deleteWhere(collectionId: number, where: WhereNode): Mutation {
    return this.#db.transaction(() => {
      return this.#tombstoneLabels(collectionId, this.matchingLabels(collectionId, where));
    })();
  }

  #tombstoneLabels(collectionId: number, labels: readonly number[]): Mutation {
    const seq = nextSeq(this.#db);
    const changes: Change[] = [];
    for (const label of labels) {
      if (this.#tombstone.get(seq, collectionId, label)) changes.push({ label, vector: null });
    }
    if (changes.length > 0) this.#counts.run(-changes.length, changes.length, collectionId);
    return { seq, changes };
  }

  get(collectionId: number, id: string): PointRow | undefined {
    return this.#get.get(collectionId, id);
  }

  /** Live points with the given labels, in no particular order. */
  getByLabels(collectionId: number, labels: readonly number[], withVector = true): PointRow[] {
    if (labels.length === 0) return [];
    return (withVector ? this.#getByLabels : this.#getByLabelsNoVector).all(collectionId, JSON.stringify(labels));
  }

  /** Labels of live points matching `where`. */
  matchingLabels(collectionId: number, where: WhereNode): number[] {
    const { sql, params } = compileWhere(where, 'payload');
    return this.#db
      .prepare(`SELECT label FROM points WHERE collection_id = ? AND deleted = 0 AND (${sql})`)
      .pluck()
      .all(collectionId, ...params) as number[];
  }

  /** Live points matching `where` (all when undefined), ordered by label, after `afterLabel`. */
  scroll(
    collectionId: number,
    options: { where?: WhereNode; limit: number; afterLabel: number; withVector: boolean },
  ): PointRow[] {
    const filter = options.where ? compileWhere(options.where, 'payload') : { sql: '1', params: [] };
    const vector = options.withVector ? 'vector' : 'NULL AS vector';
    return this.#db
      .prepare(
        `SELECT id, label, ${vector}, payload FROM points
         WHERE collection_id = ? AND deleted = 0 AND label > ? AND (${filter.sql})
         ORDER BY label LIMIT ?`,
      )
      .all(collectionId, options.afterLabel, ...filter.params, options.limit) as PointRow[];
  }

  /** Current state of points changed after (seq, label), in (seq, label) order: for index catch-up. */
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
   * labels. Returns how many; call again until it returns less than `limit`.
   */
  purgeTombstones(collectionId: number, seq: number, limit: number): number {
    return this.#db.transaction(() => {
      const { changes } = this.#db
        .prepare('DELETE FROM points WHERE rowid IN (SELECT rowid FROM points WHERE collection_id = ? AND deleted = 1 AND seq <= ? LIMIT ?)')
        .run(collectionId, seq, limit);
      if (changes > 0) this.#counts.run(0, -changes, collectionId);
      return changes;
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
