import { TopK } from './brute-force.ts';
import { dotAt, normalized, squaredL2At } from './distance.ts';
import type { Metric, SearchHit } from './vector-index.ts';

/** Labels per segment: one SharedArrayBuffer of SEGMENT × dimension float32 values. */
export const SEGMENT = 16_384;

/**
 * Vectors by label in SharedArrayBuffer segments: written by one thread, read by every worker
 * without copies. Segments are appended as labels grow and never move, so a reader holding an
 * older list of segments sees every label that list covers.
 */
export class VectorStore {
  readonly dimension: number;
  /** Under cosine, vectors are stored normalised (as hnswlib does), so scoring is one dot product. */
  readonly metric: Metric;
  readonly #segments: SharedArrayBuffer[];
  readonly #views: Float32Array[];

  constructor(dimension: number, metric: Metric, segments: SharedArrayBuffer[] = []) {
    if (!Number.isInteger(dimension) || dimension < 1 || dimension > 4096) {
      throw new RangeError('dimension must be an integer from 1 to 4096');
    }
    this.dimension = dimension;
    this.metric = metric;
    this.#segments = [...segments];
    this.#views = segments.map((s) => new Float32Array(s));
  }

  /** The segments, to hand to another thread (`new VectorStore(dimension, segments)` there). */
  get segments(): readonly SharedArrayBuffer[] {
    return this.#segments;
  }

  /** Labels the allocated segments cover. */
  get capacity(): number {
    return this.#segments.length * SEGMENT;
  }

  get bytes(): number {
    return this.capacity * this.dimension * 4;
  }

  set(label: number, vector: Float32Array): void {
    while (label >= this.capacity) {
      const segment = new SharedArrayBuffer(SEGMENT * this.dimension * 4);
      this.#segments.push(segment);
      this.#views.push(new Float32Array(segment));
    }
    const stored = this.metric === 'cosine' ? normalized(vector) : vector;
    this.#views[Math.floor(label / SEGMENT)].set(stored, (label % SEGMENT) * this.dimension);
  }

  /** A view of the stored vector (no copy; normalised under cosine); zeros for a label never set. */
  get(label: number): Float32Array {
    const view = this.#views[Math.floor(label / SEGMENT)];
    if (!view) throw new RangeError(`label ${label} is beyond the store's ${this.capacity} labels`);
    const at = (label % SEGMENT) * this.dimension;
    return view.subarray(at, at + this.dimension);
  }

  /**
   * Exact k nearest among `labels`, closest first (ties by label), with hnswlib's distances:
   * squared L2, 1 − dot, or 1 − cos. Scores each vector in place in its segment: no views, no copies.
   */
  topK(query: Float32Array, labels: ArrayLike<number>, k: number): SearchHit[] {
    const top = new TopK(k);
    if (k < 1) return [];
    const dim = this.dimension;
    const q = this.metric === 'cosine' ? normalized(query) : query;
    const l2 = this.metric === 'l2';
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i];
      const view = this.#views[Math.floor(label / SEGMENT)];
      if (!view) continue;
      const offset = (label % SEGMENT) * dim;
      top.push(label, l2 ? squaredL2At(q, view, offset) : 1 - dotAt(q, view, offset));
    }
    return top.result();
  }
}
