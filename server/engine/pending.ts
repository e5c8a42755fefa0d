import { TopK } from '../../index/brute-force.ts';
import { dotAt, normalized, squaredL2At } from '../../index/distance.ts';
import type { LabelFilter, Metric, SearchHit } from '../../index/vector-index.ts';

/** A write a replica holds before its index has it: the label's vector in index space, or null for a delete. */
interface Op {
  collectionId: number;
  seq: number;
  label: number;
  vector: Float32Array | null;
}

/** The newest pending write of a label, and how many of its writes are still queued. */
interface Latest {
  vector: Float32Array | null;
  queued: number;
}

/** What a search needs of a collection's pending writes: each label's newest vector (null: deleted). */
export interface PendingView {
  readonly metric: Metric;
  readonly latest: ReadonlyMap<number, { readonly vector: Float32Array | null }>;
}

/**
 * Writes a replica has received but not yet put into its HNSW index. A burst of upserts takes
 * seconds to index at hundreds of dimensions (in-place HNSW updates are the slowest): a search
 * must not wait for that (bench:rag times the first search after 2,000 replacing upserts). It searches the index without the labels written since, and
 * scores their new vectors exactly (`searchWithPending`); the replica moves writes into the index
 * a few milliseconds at a time, between tasks (`applyFor`), in sequence order.
 */
export class PendingWrites {
  readonly #queue: Op[] = [];
  #head = 0;
  readonly #byCollection = new Map<number, { metric: Metric; latest: Map<number, Latest> }>();

  /** Writes waiting for the index, over every collection. */
  get size(): number {
    return this.#queue.length - this.#head;
  }

  /** The collection's pending writes, or null when the index has all of them. */
  view(collectionId: number): PendingView | null {
    const pending = this.#byCollection.get(collectionId);
    return pending && pending.latest.size > 0 ? pending : null;
  }

  /** Queues one committed write of `labels` (vectors in index space, one per label not deleted). */
  add(collectionId: number, metric: Metric, seq: number, labels: Uint32Array, deleted: Uint8Array, vectors: (i: number) => Float32Array): void {
    let pending = this.#byCollection.get(collectionId);
    if (!pending) this.#byCollection.set(collectionId, (pending = { metric, latest: new Map() }));
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i];
      const vector = deleted[i] ? null : vectors(i);
      this.#queue.push({ collectionId, seq, label, vector });
      const latest = pending.latest.get(label);
      // Scored against unit queries under cosine, as hnswlib scores its (normalised) points.
      const scored = vector && metric === 'cosine' ? normalized(vector) : vector;
      if (latest) {
        latest.vector = scored;
        latest.queued++;
      } else pending.latest.set(label, { vector: scored, queued: 1 });
    }
  }

  /**
   * Applies queued writes, oldest first, until `ms` have passed (at least one); returns how many.
   * `apply` puts one write into the index.
   */
  applyFor(ms: number, apply: (collectionId: number, label: number, vector: Float32Array | null) => void): number {
    const deadline = performance.now() + ms;
    let done = 0;
    while (this.#head < this.#queue.length) {
      const op = this.#queue[this.#head++];
      this.#settle(op);
      apply(op.collectionId, op.label, op.vector);
      done++;
      if (performance.now() >= deadline) break;
    }
    this.#compact();
    return done;
  }

  /**
   * Forgets the collection's writes up to `seq` (a reloaded index has them), or all of them (it
   * was dropped); returns how many were forgotten.
   */
  discard(collectionId: number, throughSeq = Infinity): number {
    let kept = this.#head;
    let dropped = 0;
    for (let i = this.#head; i < this.#queue.length; i++) {
      const op = this.#queue[i];
      if (op.collectionId === collectionId && op.seq <= throughSeq) {
        this.#settle(op);
        dropped++;
      } else this.#queue[kept++] = op;
    }
    this.#queue.length = kept;
    this.#compact();
    return dropped;
  }

  /** The sequence before the collection's oldest pending write: the index has every write up to it. Null when none is pending. */
  appliedBefore(collectionId: number): number | null {
    for (let i = this.#head; i < this.#queue.length; i++) {
      if (this.#queue[i].collectionId === collectionId) return this.#queue[i].seq - 1;
    }
    return null;
  }

  /** Writes of the collection waiting for the index. */
  count(collectionId: number): number {
    let n = 0;
    for (let i = this.#head; i < this.#queue.length; i++) if (this.#queue[i].collectionId === collectionId) n++;
    return n;
  }

  /** The collection's pending writes that will add a live point to the index (+1) or remove one (−1), net. */
  liveDelta(collectionId: number, isLive: (label: number) => boolean): { live: number; deleted: number } {
    let live = 0;
    let deleted = 0;
    for (const [label, { vector }] of this.#byCollection.get(collectionId)?.latest ?? []) {
      const was = isLive(label);
      if (vector && !was) live++;
      if (!vector && was) {
        live--;
        deleted++;
      }
    }
    return { live, deleted };
  }

  #settle(op: Op): void {
    const pending = this.#byCollection.get(op.collectionId)!;
    const latest = pending.latest.get(op.label)!;
    if (--latest.queued === 0) pending.latest.delete(op.label);
    if (pending.latest.size === 0) this.#byCollection.delete(op.collectionId);
  }

  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
  }
}

/** True when the label is live once the pending writes are in the index. */
export function liveWithPending(pending: PendingView | null, inIndex: (label: number) => boolean, label: number): boolean {
  const latest = pending?.latest.get(label);
  return latest ? latest.vector !== null : inIndex(label);
}

/**
 * The `n` nearest live labels of the index with its pending writes: the index searched without
 * the labels written since (their old vectors are stale), merged with those labels' new vectors
 * scored exactly in the index's metric. `filter` applies to both.
 */
export function searchWithPending(
  pending: PendingView,
  search: (n: number, filter: LabelFilter) => SearchHit[],
  query: Float32Array,
  n: number,
  filter?: LabelFilter,
): SearchHit[] {
  const { latest, metric } = pending;
  const best = new TopK(n);
  for (const hit of search(n, filter ? (label) => !latest.has(label) && filter(label) : (label) => !latest.has(label))) best.push(hit.label, hit.distance);
  const q = metric === 'cosine' ? normalized(query) : query;
  for (const [label, { vector }] of latest) {
    if (!vector || (filter && !filter(label))) continue;
    best.push(label, metric === 'l2' ? squaredL2At(q, vector, 0) : 1 - dotAt(q, vector, 0));
  }
  return best.result();
}
