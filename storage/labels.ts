import type { Db } from './db.ts';
import { StorageErrors } from './errors.ts';

const UINT32_MAX = 4294967295;

/**
 * Internal labels (the index's uint32 keys). An id keeps one label from the moment it is first
 * written or staged until its point is purged: a staged record and an upsert of the same id, or two
 * imports staging it, share the label, so an import's commit never has to move a point. A label
 * neither a point nor a staged record holds is free, and is handed out again before new ones, so
 * the largest label (which sizes the shared vectors and the payload bitmaps) follows the live count.
 * Call every method inside a write transaction.
 */
export class Labels {
  readonly #maxLabel: number;
  readonly #ofPoint;
  readonly #ofStaged;
  readonly #takeFree;
  readonly #readNext;
  readonly #writeNext;
  readonly #free;

  constructor(db: Db, options: { maxLabel?: number } = {}) {
    const maxLabel = options.maxLabel ?? UINT32_MAX;
    if (!Number.isInteger(maxLabel) || maxLabel < 0 || maxLabel > UINT32_MAX) {
      throw new StorageErrors.Options('options.maxLabel must be an integer from 0 to 2^32 − 1');
    }
    this.#maxLabel = maxLabel;
    this.#ofPoint = db.prepare<[number, string], number>('SELECT label FROM points WHERE collection_id = ? AND id = ?').pluck();
    this.#ofStaged = db.prepare<[number, string], number>('SELECT label FROM import_rows WHERE collection_id = ? AND id = ? LIMIT 1').pluck();
    this.#takeFree = db.prepare<[number, number], number>(
      `DELETE FROM free_labels WHERE collection_id = ? AND label = (SELECT min(label) FROM free_labels WHERE collection_id = ?)
       RETURNING label`,
    ).pluck();
    this.#readNext = db.prepare<[number], number>('SELECT next_label FROM collections WHERE id = ?').pluck();
    this.#writeNext = db.prepare<[number, number]>('UPDATE collections SET next_label = ? WHERE id = ?');
    this.#free = db.prepare<[number, number, number, number, number, number]>(
      `INSERT OR IGNORE INTO free_labels (collection_id, label) SELECT ?, ?
       WHERE NOT EXISTS (SELECT 1 FROM points WHERE collection_id = ? AND label = ?)
         AND NOT EXISTS (SELECT 1 FROM import_rows WHERE collection_id = ? AND label = ?)`,
    );
  }

  /** Hands out labels for one transaction's new ids; call `done()` at the end. */
  allocator(collectionId: number): LabelAllocator {
    return new LabelAllocator(this, collectionId);
  }

  /** The label an id holds already: its point's (live or deleted), else a staged record's. */
  held(collectionId: number, id: string): number | undefined {
    return this.#ofPoint.get(collectionId, id) ?? this.#ofStaged.get(collectionId, id);
  }

  /** Marks labels free unless a point or a staged record still holds them. */
  free(collectionId: number, labels: Iterable<number>): void {
    for (const label of labels) this.#free.run(collectionId, label, collectionId, label, collectionId, label);
  }

  /** @internal */
  takeFree(collectionId: number): number | undefined {
    return this.#takeFree.get(collectionId, collectionId);
  }

  /** @internal */
  readNext(collectionId: number): number {
    return this.#readNext.get(collectionId)!;
  }

  /** @internal */
  writeNext(collectionId: number, next: number): void {
    this.#writeNext.run(next, collectionId);
  }

  /** @internal */
  get maxLabel(): number {
    return this.#maxLabel;
  }
}

export class LabelAllocator {
  readonly #labels: Labels;
  readonly #collectionId: number;
  #freeLeft = true;
  #next: number | null = null;
  #first = 0;

  constructor(labels: Labels, collectionId: number) {
    this.#labels = labels;
    this.#collectionId = collectionId;
  }

  /** The label `id` holds, or a new one: the lowest free label, else the next never used. */
  labelFor(id: string): number {
    return this.#labels.held(this.#collectionId, id) ?? this.take();
  }

  /** A label no id holds. */
  take(): number {
    if (this.#freeLeft) {
      const free = this.#labels.takeFree(this.#collectionId);
      if (free !== undefined) return free;
      this.#freeLeft = false;
    }
    if (this.#next === null) this.#first = this.#next = this.#labels.readNext(this.#collectionId);
    if (this.#next > this.#labels.maxLabel) {
      throw new StorageErrors.LabelsExhausted(
        `the collection has used all ${this.#labels.maxLabel + 1} internal labels; optimize it to free the labels of deleted points, or recreate it`,
      );
    }
    return this.#next++;
  }

  /** Records the labels taken from the never-used range. */
  done(): void {
    if (this.#next !== null && this.#next !== this.#first) this.#labels.writeNext(this.#collectionId, this.#next);
  }
}
