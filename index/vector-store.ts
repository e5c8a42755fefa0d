import { exactTopK } from './brute-force.ts';
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
  readonly #segments: SharedArrayBuffer[];
  readonly #views: Float32Array[];

  constructor(dimension: number, segments: SharedArrayBuffer[] = []) {
    if (!Number.isInteger(dimension) || dimension < 1 || dimension > 4096) {
      throw new RangeError('dimension must be an integer from 1 to 4096');
    }
    this.dimension = dimension;
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
    this.#views[Math.floor(label / SEGMENT)].set(vector, (label % SEGMENT) * this.dimension);
  }

  /** A view of the stored vector (no copy); zeros for a label never set. */
  get(label: number): Float32Array {
    const view = this.#views[Math.floor(label / SEGMENT)];
    if (!view) throw new RangeError(`label ${label} is beyond the store's ${this.capacity} labels`);
    const at = (label % SEGMENT) * this.dimension;
    return view.subarray(at, at + this.dimension);
  }

  /** Exact k nearest among `labels`, closest first (ties by label), with hnswlib's distances. */
  topK(metric: Metric, query: Float32Array, labels: ArrayLike<number>, k: number): SearchHit[] {
    const capacity = this.capacity;
    const get = (label: number) => this.get(label);
    function* candidates() {
      for (let i = 0; i < labels.length; i++) {
        const label = labels[i];
        if (label < capacity) yield { label, vector: get(label) };
      }
    }
    return exactTopK(metric, query, candidates(), k);
  }
}
