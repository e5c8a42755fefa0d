import { distance, dot, dotAt, normSquared, normalized, squaredL2At } from './distance.ts';
import { IndexErrors } from './errors.ts';
import type { LabelFilter, Metric, SearchHit, VectorIndex } from './vector-index.ts';
import { assertLabel } from './vectors.ts';

const MIN_SLOTS = 64;

/**
 * The k best hits seen so far: a binary max-heap on (distance, label), so the worst kept hit is at
 * the root and a better candidate replaces it in O(log k).
 */
export class TopK {
  readonly #k: number;
  readonly #dist: number[] = [];
  readonly #label: number[] = [];

  constructor(k: number) {
    this.#k = k;
  }

  #worse(i: number, j: number): boolean {
    const a = this.#dist[i];
    const b = this.#dist[j];
    return a > b || (a === b && this.#label[i] > this.#label[j]);
  }

  #swap(i: number, j: number): void {
    [this.#dist[i], this.#dist[j]] = [this.#dist[j], this.#dist[i]];
    [this.#label[i], this.#label[j]] = [this.#label[j], this.#label[i]];
  }

  push(label: number, dist: number): void {
    const n = this.#dist.length;
    if (n < this.#k) {
      this.#dist.push(dist);
      this.#label.push(label);
      for (let i = n; i > 0; ) {
        const parent = (i - 1) >> 1;
        if (!this.#worse(i, parent)) break;
        this.#swap(i, parent);
        i = parent;
      }
      return;
    }
    const top = this.#dist[0];
    if (dist > top || (dist === top && label >= this.#label[0])) return;
    this.#dist[0] = dist;
    this.#label[0] = label;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let worst = i;
      if (l < n && this.#worse(l, worst)) worst = l;
      if (r < n && this.#worse(r, worst)) worst = r;
      if (worst === i) break;
      this.#swap(i, worst);
      i = worst;
    }
  }

  /** The k-th best distance kept so far; Infinity until k hits are kept. */
  get worst(): number {
    return this.#dist.length < this.#k ? Infinity : this.#dist[0];
  }

  /** Closest first; ties by label. */
  result(): SearchHit[] {
    const hits = this.#dist.map((d, i) => ({ label: this.#label[i], distance: d }));
    return hits.sort((a, b) => a.distance - b.distance || a.label - b.label);
  }
}

function safeFilter(filter: LabelFilter | undefined): LabelFilter | undefined {
  if (!filter) return undefined;
  return (label) => {
    try {
      return filter(label) === true;
    } catch {
      return false;
    }
  };
}

/**
 * Exact top-k of `candidates` by distance to `query` (closest first, ties by label), with a bounded
 * heap: O(n log k) time, O(k) memory. Used to score a filtered candidate set exactly.
 */
export function exactTopK(
  metric: Metric,
  query: Float32Array,
  candidates: Iterable<{ label: number; vector: Float32Array }>,
  k: number,
): SearchHit[] {
  if (!(k >= 1)) return [];
  const top = new TopK(Math.floor(k));
  if (metric !== 'cosine') {
    for (const c of candidates) top.push(c.label, distance(metric, query, c.vector));
    return top.result();
  }
  // Normalise the query once; each candidate then costs one dot product and one norm.
  const q = normalized(query);
  for (const c of candidates) {
    const norm = Math.sqrt(normSquared(c.vector));
    top.push(c.label, norm === 0 ? 1 : 1 - dot(q, c.vector) / norm);
  }
  return top.result();
}

/**
 * Exact k-NN over one growable Float32Array slab: the test oracle and a small-collection path.
 * Same semantics as `HnswIndex`, but a delete frees its slot at once (swap-remove), so there are
 * never tombstones. Cosine vectors are stored normalised, as hnswlib stores them.
 */
export class BruteForceIndex implements VectorIndex {
  readonly dimension: number;
  readonly metric: Metric;
  #slab: Float32Array;
  /** slot → label, for slots [0, size). */
  #labels: Uint32Array;
  readonly #slots = new Map<number, number>();

  constructor(options: { dimension: number; metric: Metric; initialCapacity?: number }) {
    const { dimension, metric, initialCapacity = MIN_SLOTS } = options;
    if (!Number.isInteger(dimension) || dimension < 1 || dimension > 4096) {
      throw new IndexErrors.Options('options.dimension must be an integer from 1 to 4096');
    }
    if (metric !== 'l2' && metric !== 'ip' && metric !== 'cosine') {
      throw new IndexErrors.Options("options.metric must be 'l2', 'cosine' or 'ip'");
    }
    if (!Number.isInteger(initialCapacity) || initialCapacity < 1) {
      throw new IndexErrors.Options('options.initialCapacity must be a positive integer');
    }
    this.dimension = dimension;
    this.metric = metric;
    this.#slab = new Float32Array(initialCapacity * dimension);
    this.#labels = new Uint32Array(initialCapacity);
  }

  get size(): number {
    return this.#slots.size;
  }

  get deletedCount(): number {
    return 0;
  }

  has(label: number): boolean {
    return this.#slots.has(label);
  }

  upsert(label: number, vector: Float32Array): void {
    assertLabel(label);
    this.#checkLength(vector);
    const stored = this.metric === 'cosine' ? normalized(vector) : vector;
    let slot = this.#slots.get(label);
    if (slot === undefined) {
      slot = this.#slots.size;
      if (slot === this.#labels.length) this.#grow();
      this.#slots.set(label, slot);
      this.#labels[slot] = label;
    }
    this.#slab.set(stored, slot * this.dimension);
  }

  remove(label: number): boolean {
    assertLabel(label);
    const slot = this.#slots.get(label);
    if (slot === undefined) return false;
    const last = this.#slots.size - 1;
    if (slot !== last) {
      const moved = this.#labels[last];
      const dim = this.dimension;
      this.#slab.copyWithin(slot * dim, last * dim, (last + 1) * dim);
      this.#labels[slot] = moved;
      this.#slots.set(moved, slot);
    }
    this.#slots.delete(label);
    return true;
  }

  /** The stored vector (normalised under cosine), a copy; null when absent. */
  getVector(label: number): Float32Array | null {
    const slot = this.#slots.get(label);
    if (slot === undefined) return null;
    return this.#slab.slice(slot * this.dimension, (slot + 1) * this.dimension);
  }

  search(query: Float32Array, k: number, options: { ef?: number; filter?: LabelFilter } = {}): SearchHit[] {
    this.#checkLength(query);
    if (!Number.isInteger(k) || k < 1) throw new IndexErrors.Options('k must be a positive integer');
    const n = this.#slots.size;
    if (n === 0) return [];
    const filter = safeFilter(options.filter);
    const top = new TopK(Math.min(k, n));
    const dim = this.dimension;
    const slab = this.#slab;
    const labels = this.#labels;
    if (this.metric === 'l2') {
      for (let s = 0; s < n; s++) {
        if (filter && !filter(labels[s])) continue;
        top.push(labels[s], squaredL2At(query, slab, s * dim));
      }
    } else {
      const q = this.metric === 'cosine' ? normalized(query) : query;
      for (let s = 0; s < n; s++) {
        if (filter && !filter(labels[s])) continue;
        top.push(labels[s], 1 - dotAt(q, slab, s * dim));
      }
    }
    return top.result();
  }

  /** The slab and slot table, plus ≈48 bytes per Map entry. */
  memoryBytes(): number {
    return this.#slab.byteLength + this.#labels.byteLength + this.#slots.size * 48;
  }

  #checkLength(v: Float32Array): void {
    if (v.length !== this.dimension) {
      throw new IndexErrors.VectorDimension(
        `vector has ${v.length} values but the collection's dimension is ${this.dimension}`,
      );
    }
  }

  #grow(): void {
    const slots = Math.max(MIN_SLOTS, this.#labels.length * 2);
    const slab = new Float32Array(slots * this.dimension);
    slab.set(this.#slab);
    const labels = new Uint32Array(slots);
    labels.set(this.#labels);
    this.#slab = slab;
    this.#labels = labels;
  }
}
