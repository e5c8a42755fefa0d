import type { Db } from './db.ts';

/** One point's entry of a k-NN pass: its LID (null when undefined) and its nearest labels. */
export interface KnnRow {
  label: number;
  lid: number | null;
  neighbours: Uint32Array;
}

const CHUNK = 2000;

/** The last k-NN pass of each collection. */
export class KnnRepo {
  readonly #db: Db;
  readonly #clear;
  readonly #insert;
  readonly #lids;

  constructor(db: Db) {
    this.#db = db;
    this.#clear = db.prepare<[number]>('DELETE FROM knn WHERE collection_id = ?');
    this.#insert = db.prepare<[number, number, number | null, Uint8Array]>('INSERT OR REPLACE INTO knn (collection_id, label, lid, neighbours) VALUES (?, ?, ?, ?)');
    this.#lids = db.prepare<[number], number>('SELECT lid FROM knn WHERE collection_id = ? AND lid IS NOT NULL').pluck();
  }

  /** Replaces the collection's entries, in transactions of a few thousand rows (derived data: no need to be atomic). */
  replace(collectionId: number, rows: readonly KnnRow[]): void {
    this.#clear.run(collectionId);
    this.put(collectionId, rows);
  }

  /** Adds or replaces entries (an import's pass covers only its own points). */
  put(collectionId: number, rows: readonly KnnRow[]): void {
    const write = this.#db.transaction((chunk: readonly KnnRow[]) => {
      for (const r of chunk) this.#insert.run(collectionId, r.label, r.lid, new Uint8Array(r.neighbours.buffer, r.neighbours.byteOffset, r.neighbours.byteLength));
    });
    for (let at = 0; at < rows.length; at += CHUNK) write(rows.slice(at, at + CHUNK));
  }

  /** The defined LIDs of the collection's last pass. */
  lids(collectionId: number): number[] {
    return this.#lids.all(collectionId);
  }
}
