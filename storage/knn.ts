import type { Db } from './db.ts';

/** One point's entry of a k-NN pass: its LID (null when undefined) and its nearest labels. */
export interface KnnRow {
  label: number;
  lid: number | null;
  neighbours: Uint32Array;
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

  constructor(db: Db) {
    this.#insert = db.prepare<[number, number, number | null, Uint8Array]>('INSERT OR REPLACE INTO knn (collection_id, label, lid, neighbours) VALUES (?, ?, ?, ?)');
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
    for (const r of rows) this.#insert.run(collectionId, r.label, r.lid, new Uint8Array(r.neighbours.buffer, r.neighbours.byteOffset, r.neighbours.byteLength));
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
