import type { Db } from './db.ts';
import { fieldPath } from './where.ts';

/**
 * One payload field of given points, for grouping (a search's `max_per`): a read-only query a
 * replica worker runs on its own connection.
 */
export class PayloadFields {
  readonly #values;

  constructor(db: Db) {
    this.#values = db.prepare<[string, number, string], { label: number; value: string }>(
      `SELECT label, json_quote(json_extract(payload, ?)) AS value FROM points
       WHERE collection_id = ? AND label IN (SELECT value FROM json_each(?)) AND deleted = 0`,
    );
  }

  /**
   * Each label's group: equal field values (compared as JSON text) share a group number ≥ 0; a
   * missing or null field, or a point gone meanwhile, gives −1.
   */
  groups(collectionId: number, labels: ArrayLike<number>, field: string): Int32Array {
    const groups = new Int32Array(labels.length).fill(-1);
    if (labels.length === 0) return groups;
    const byLabel = new Map<number, string>();
    for (const row of this.#values.all(fieldPath(field), collectionId, JSON.stringify(Array.from(labels)))) byLabel.set(row.label, row.value);
    const numbers = new Map<string, number>();
    for (let i = 0; i < labels.length; i++) {
      const value = byLabel.get(labels[i]);
      if (value === undefined || value === 'null') continue;
      let group = numbers.get(value);
      if (group === undefined) numbers.set(value, (group = numbers.size));
      groups[i] = group;
    }
    return groups;
  }
}
