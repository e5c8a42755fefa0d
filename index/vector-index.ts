/** Distance spaces, as the REST API names them. */
export type Metric = 'l2' | 'cosine' | 'ip';

export interface SearchHit {
  label: number;
  /** Squared L2 for `l2`, 1 − cos for `cosine`, 1 − dot for `ip`; lower is closer. */
  distance: number;
}

/** Says whether a label may appear in results. Must never throw (hnswlib aborts the process). */
export type LabelFilter = (label: number) => boolean;

/**
 * A k-NN index over uint32 labels. Implementations: `HnswIndex` (the engine) and
 * `BruteForceIndex` (exact, the test oracle and the exact path of filtered search).
 */
export interface VectorIndex {
  readonly dimension: number;
  readonly metric: Metric;
  /** Live (not deleted) labels. */
  readonly size: number;
  /** Deleted labels still held (tombstones). */
  readonly deletedCount: number;
  /** Inserts or replaces; a deleted label comes back to life. */
  upsert(label: number, vector: Float32Array): void;
  /** Tombstones a label; returns false when it is not live. */
  remove(label: number): boolean;
  has(label: number): boolean;
  /** The k nearest live labels, closest first; fewer when fewer are live or pass the filter. */
  search(query: Float32Array, k: number, options?: { ef?: number; filter?: LabelFilter }): SearchHit[];
  /** Approximate bytes of memory held. */
  memoryBytes(): number;
}
