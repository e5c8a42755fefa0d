import type { Db } from './db.ts';

/** One point's entry of a k-NN pass: its LID (null when undefined) and its nearest labels. */
export interface KnnRow {
  label: number;
  lid: number | null;
  neighbours: Uint32Array;
  /** The point version it holds for; -1 (the default): not trusted by the overlay. */
  seq?: number;
}

/** Where the overlay's filler has got to: every point change up to (seq, label) has its entry. */
export interface OverlayMark {
  seq: number;
  label: number;
}

/** Entries per write: a few milliseconds each. */
export const KNN_CHUNK = 2000;

/** The last k-NN pass of each collection. */
export class KnnRepo {
  readonly #insert;
  readonly #lids;
  readonly #clearChunk;
  readonly #summary;
  readonly #setSummary;
  readonly #entries;
  readonly #insertPass;
  readonly #invalidate;
  readonly #deleteMark;
  readonly #delete;
  readonly #mark;
  readonly #setMark;
  readonly #covered;
  readonly #refresh;

  constructor(db: Db) {
    this.#insert = db.prepare<[number, number, number | null, Uint8Array, number]>(
      'INSERT OR REPLACE INTO knn (collection_id, label, lid, neighbours, seq) VALUES (?, ?, ?, ?, ?)',
    );
    this.#entries = db.prepare<[number, string], { label: number; neighbours: Buffer; seq: number }>(
      'SELECT label, neighbours, seq FROM knn WHERE collection_id = ? AND label IN (SELECT value FROM json_each(?))',
    );
    this.#refresh = db.prepare<[Uint8Array, number, number, number, Uint8Array]>(
      'UPDATE knn SET neighbours = ? WHERE collection_id = ? AND label = ? AND seq = ? AND neighbours = ?',
    );
    this.#delete = db.prepare<[number, number]>('DELETE FROM knn WHERE collection_id = ? AND label = ?');
    this.#insertPass = db.prepare<[number, number, number | null, Uint8Array]>(
      `INSERT INTO knn (collection_id, label, lid, neighbours, seq) VALUES (?, ?, ?, ?, -1)
       ON CONFLICT (collection_id, label) DO UPDATE SET lid = excluded.lid`,
    );
    this.#invalidate = db.prepare<[number, number]>(
      'UPDATE knn SET seq = -1 WHERE rowid IN (SELECT rowid FROM knn WHERE collection_id = ? AND seq >= 0 LIMIT ?)',
    );
    this.#deleteMark = db.prepare<[number]>('DELETE FROM overlay WHERE collection_id = ?');
    this.#mark = db.prepare<[number], OverlayMark>('SELECT seq, label FROM overlay WHERE collection_id = ?');
    this.#setMark = db.prepare<[number, number, number]>('INSERT OR REPLACE INTO overlay (collection_id, seq, label) VALUES (?, ?, ?)');
    this.#covered = db.prepare<[number], number>(
      `SELECT count(*) FROM knn k JOIN points p ON p.collection_id = k.collection_id AND p.label = k.label
       WHERE k.collection_id = ? AND p.deleted = 0 AND k.seq >= p.seq`,
    ).pluck();
    this.#lids = db.prepare<[number], number>('SELECT lid FROM knn WHERE collection_id = ? AND lid IS NOT NULL').pluck();
    this.#clearChunk = db.prepare<[number, number]>(
      'DELETE FROM knn WHERE rowid IN (SELECT rowid FROM knn WHERE collection_id = ? LIMIT ?)',
    );
    this.#summary = db.prepare<[number], string>('SELECT summary FROM knn_summary WHERE collection_id = ?').pluck();
    this.#setSummary = db.prepare<[number, string]>('INSERT OR REPLACE INTO knn_summary (collection_id, summary) VALUES (?, ?)');
  }

  /** Deletes up to `limit` of the collection's entries; true when none are left. Short transactions keep the other writers going. */
  clear(collectionId: number, limit = KNN_CHUNK): boolean {
    return this.#clearChunk.run(collectionId, limit).changes < limit;
  }

  /** Adds or replaces entries, in the caller's transaction (derived data: a pass writes them `KNN_CHUNK` at a time). */
  put(collectionId: number, rows: readonly KnnRow[]): void {
    for (const r of rows) {
      this.#insert.run(collectionId, r.label, r.lid, bytes(r.neighbours), r.seq ?? -1);
    }
  }

  /**
   * An import's k-NN pass, before its commit: it gives new labels an entry (not trusted by the
   * overlay: seq −1) and points the import replaces only their LID, so a failed import leaves every
   * current entry as it was.
   */
  putPass(collectionId: number, rows: readonly KnnRow[]): void {
    for (const r of rows) {
      this.#insertPass.run(collectionId, r.label, r.lid, bytes(r.neighbours));
    }
  }

  /**
   * Marks up to `limit` trusted entries untrusted and the filler's mark back to the start: after
   * labels were freed, an entry may name a label that will hold another point. True when done.
   */
  invalidate(collectionId: number, limit = KNN_CHUNK): boolean {
    this.#deleteMark.run(collectionId);
    return this.#invalidate.run(collectionId, limit).changes < limit;
  }

  /** The entries of these labels (those that have one), nearest neighbours first. */
  entries(collectionId: number, labels: readonly number[]): { label: number; neighbours: Uint32Array; seq: number }[] {
    if (labels.length === 0) return [];
    return this.#entries.all(collectionId, JSON.stringify(labels)).map((r) => ({
      label: r.label,
      seq: r.seq,
      neighbours: new Uint32Array(r.neighbours.buffer.slice(r.neighbours.byteOffset, r.neighbours.byteOffset + r.neighbours.byteLength)),
    }));
  }

  /** Replaces an entry's neighbours if it is still the version read (same seq and neighbours), keeping its LID. */
  refresh(collectionId: number, entry: { label: number; seq: number; was: Uint32Array; neighbours: Uint32Array }): void {
    this.#refresh.run(bytes(entry.neighbours), collectionId, entry.label, entry.seq, bytes(entry.was));
  }

  /** Deletes the entries of these labels (deleted points), in the caller's transaction. */
  delete(collectionId: number, labels: Iterable<number>): void {
    for (const label of labels) this.#delete.run(collectionId, label);
  }

  mark(collectionId: number): OverlayMark {
    return this.#mark.get(collectionId) ?? { seq: -1, label: -1 };
  }

  setMark(collectionId: number, mark: OverlayMark): void {
    this.#setMark.run(collectionId, mark.seq, mark.label);
  }

  /** Live points whose entry holds for their current version. */
  covered(collectionId: number): number {
    return this.#covered.get(collectionId)!;
  }

  /** The defined LIDs of the collection's entries. */
  lids(collectionId: number): number[] {
    return this.#lids.all(collectionId);
  }

  /** The stored summary of those LIDs (JSON text), or null. */
  summary(collectionId: number): string | null {
    return this.#summary.get(collectionId) ?? null;
  }

  setSummary(collectionId: number, summary: string): void {
    this.#setSummary.run(collectionId, summary);
  }
}

function bytes(labels: Uint32Array): Uint8Array {
  return new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength);
}
