import type { Db } from './db.ts';

/** A link between two live points of a collection, by label. */
export interface LinkRow {
  src: number;
  dst: number;
  type: string;
  weight: number;
}

/** A link as the API shows it: point ids, not labels. */
export interface LinkView {
  from: string;
  to: string;
  type: string;
  weight: number;
}

/** Where a page of one point's links resumes: after this (type, other end's label). */
export interface LinkCursor {
  type: string;
  label: number;
}

/** Links touching these labels, for graph expansion: the other end and the link. */
export interface LinkStep {
  from: number;
  to: number;
  type: string;
  weight: number;
}

/**
 * Typed, weighted, directed links between points (arXiv 2507.19715's knowledge links), keyed by
 * label. Both ends are live points: deleting a point deletes its links in the same transaction
 * (PointsRepo), and a dropped collection's links are purged with its points.
 */
export class LinksRepo {
  readonly #put;
  readonly #delete;
  readonly #deleteAnyType;
  readonly #deleteFrom;
  readonly #deleteTo;
  readonly #outCount;
  readonly #inCount;
  readonly #byType;
  readonly #purge;
  readonly #out;
  readonly #in;
  readonly #outFrom;
  readonly #inTo;

  constructor(db: Db) {
    this.#put = db.prepare<[number, number, number, string, number, number]>(
      `INSERT INTO links (collection_id, src, dst, type, weight, seq) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (collection_id, src, type, dst) DO UPDATE SET weight = excluded.weight, seq = excluded.seq`,
    );
    this.#delete = db.prepare<[number, number, number, string]>('DELETE FROM links WHERE collection_id = ? AND src = ? AND dst = ? AND type = ?');
    this.#deleteAnyType = db.prepare<[number, number, number]>('DELETE FROM links WHERE collection_id = ? AND src = ? AND dst = ?');
    this.#deleteFrom = db.prepare<[number, number]>('DELETE FROM links WHERE collection_id = ? AND src = ?');
    this.#deleteTo = db.prepare<[number, number]>('DELETE FROM links WHERE collection_id = ? AND dst = ?');
    this.#outCount = db.prepare<[number, number], number>('SELECT count(*) FROM links WHERE collection_id = ? AND src = ?').pluck();
    this.#inCount = db.prepare<[number, number], number>('SELECT count(*) FROM links WHERE collection_id = ? AND dst = ?').pluck();
    this.#byType = db.prepare<[number], { type: string; n: number }>('SELECT type, count(*) AS n FROM links WHERE collection_id = ? GROUP BY type ORDER BY type');
    this.#purge = db.prepare<[number, number]>('DELETE FROM links WHERE rowid IN (SELECT rowid FROM links WHERE collection_id = ? LIMIT ?)');
    const page = (end: 'src' | 'dst', other: 'src' | 'dst') =>
      `SELECT f.id AS "from", t.id AS "to", l.type, l.weight, l.${other} AS label FROM links l
       JOIN points f ON f.collection_id = l.collection_id AND f.label = l.src
       JOIN points t ON t.collection_id = l.collection_id AND t.label = l.dst
       WHERE l.collection_id = ? AND l.${end} = ? AND (? IS NULL OR l.type = ?) AND (l.type, l.${other}) > (?, ?)
       ORDER BY l.type, l.${other} LIMIT ?`;
    type PageArgs = [number, number, string | null, string | null, string, number, number];
    this.#out = db.prepare<PageArgs, LinkView & { label: number }>(page('src', 'dst'));
    this.#in = db.prepare<PageArgs, LinkView & { label: number }>(page('dst', 'src'));
    this.#outFrom = db.prepare<[number, string], LinkStep>(
      'SELECT src AS "from", dst AS "to", type, weight FROM links WHERE collection_id = ? AND src IN (SELECT value FROM json_each(?))',
    );
    this.#inTo = db.prepare<[number, string], LinkStep>(
      'SELECT dst AS "from", src AS "to", type, weight FROM links WHERE collection_id = ? AND dst IN (SELECT value FROM json_each(?))',
    );
  }

  /** Adds links or replaces their weight, in the caller's transaction. */
  put(collectionId: number, links: readonly LinkRow[], seq: number): void {
    for (const l of links) this.#put.run(collectionId, l.src, l.dst, l.type, l.weight, seq);
  }

  /** Deletes the given links (every type between the two ends when `type` is null); returns how many there were. */
  delete(collectionId: number, links: readonly { src: number; dst: number; type: string | null }[]): number {
    let deleted = 0;
    for (const l of links) {
      deleted += (l.type === null ? this.#deleteAnyType.run(collectionId, l.src, l.dst) : this.#delete.run(collectionId, l.src, l.dst, l.type)).changes;
    }
    return deleted;
  }

  /** Deletes every link from or to these labels, in the caller's transaction. */
  deleteTouching(collectionId: number, labels: Iterable<number>): number {
    let deleted = 0;
    for (const label of labels) deleted += this.#deleteFrom.run(collectionId, label).changes + this.#deleteTo.run(collectionId, label).changes;
    return deleted;
  }

  /** Links leaving (`out`) or reaching (`in`) a label. */
  count(collectionId: number, label: number, direction: 'out' | 'in'): number {
    return (direction === 'out' ? this.#outCount : this.#inCount).get(collectionId, label)!;
  }

  countsByType(collectionId: number): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const row of this.#byType.all(collectionId)) counts[row.type] = row.n;
    return counts;
  }

  /** One page of a label's links in one direction, ordered by (type, other end's label). */
  page(collectionId: number, label: number, direction: 'out' | 'in', type: string | null, after: LinkCursor | null, limit: number): (LinkView & { label: number })[] {
    const statement = direction === 'out' ? this.#out : this.#in;
    return statement.all(collectionId, label, type, type, after?.type ?? '', after?.label ?? -1, limit);
  }

  /** Links leaving (`out`) or reaching (`in`, reversed) any of the labels: one step of expansion. */
  steps(collectionId: number, labels: readonly number[], direction: 'out' | 'in'): LinkStep[] {
    if (labels.length === 0) return [];
    return (direction === 'out' ? this.#outFrom : this.#inTo).all(collectionId, JSON.stringify(labels));
  }

  /** Deletes up to `limit` links of a (dropped) collection; true when none are left. */
  purge(collectionId: number, limit: number): boolean {
    return this.#purge.run(collectionId, limit).changes < limit;
  }
}
