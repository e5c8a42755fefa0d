import type { CollectionRecord } from '../../storage/collections.ts';

/**
 * When a collection rebuilds by itself (tombstones cost search time: 50 % deleted measured 2×
 * slower): once deleted points are `percent` of it and at least `minDeleted` (0 turns it off).
 * After an automatic rebuild is cancelled or fails, not again until another `minDeleted` points
 * have been deleted, so a cancel is not undone by the next tick and a failure does not loop.
 */
export class RebuildPolicy {
  readonly #minDeleted: number;
  readonly #percent: number;
  /** Collections whose automatic rebuild was cancelled or failed, with their deleted count then. */
  readonly #backoff = new Map<number, number>();

  constructor(minDeleted: number, percent: number) {
    this.#minDeleted = minDeleted;
    this.#percent = percent;
  }

  due(record: CollectionRecord): boolean {
    const { deletedCount: deleted, liveCount: live } = record;
    if (this.#minDeleted === 0 || deleted < this.#minDeleted || deleted * 100 < this.#percent * (live + deleted)) return false;
    const backoff = this.#backoff.get(record.id);
    return backoff === undefined || deleted >= backoff + this.#minDeleted;
  }

  /** An automatic rebuild of the collection ended; `record` is the collection as it is now. */
  ended(record: CollectionRecord, done: boolean): void {
    if (done) this.#backoff.delete(record.id);
    else this.#backoff.set(record.id, record.deletedCount);
  }
}
