import { VectorCodec } from '../../index/codec.ts';
import { VectorStore } from '../../index/vector-store.ts';
import type { Metric } from '../../index/vector-index.ts';
import { LabelBitmap } from '../../storage/label-bitmap.ts';
import type { StoreSpec } from './protocol.ts';

/** One sampled search to check: what it found, and the labels it was allowed to find. */
export interface RecallCheck {
  dimension: number;
  metric: Metric;
  store: StoreSpec;
  query: Float32Array;
  k: number;
  /** The live labels (unfiltered) or the filter's matches, as bitmap words. */
  allowed: ArrayBuffer | SharedArrayBuffer;
  found: Uint32Array;
}

/**
 * Worker entry of the recall estimator (a low-priority thread): the exact top-k of the allowed
 * labels over the shared vectors, and the share of it the search found. A result counts when it is
 * no farther than the exact k-th (so ties between equally near points do not count as misses).
 * Null when nothing was allowed.
 */
export function recallOf(task: RecallCheck): number | null {
  const { store: spec, dimension, metric } = task;
  const store = new VectorStore(dimension, metric, [...spec.segments], new VectorCodec(spec.codec, dimension, spec.params));
  const exact = store.topK(task.query, new LabelBitmap(task.allowed).toArray(), task.k);
  if (exact.length === 0) return null;
  const kth = exact[exact.length - 1].distance;
  const found = store.topK(task.query, task.found, task.found.length);
  const hits = found.filter((h) => h.distance <= kth + 1e-6 * Math.max(1, Math.abs(kth))).length;
  return Math.min(1, hits / exact.length);
}

/** The check, and the milliseconds it took (the estimator paces the next one by it). */
export default function check(task: RecallCheck): { recall: number | null; ms: number } {
  const started = performance.now();
  const recall = recallOf(task);
  return { recall, ms: performance.now() - started };
}
