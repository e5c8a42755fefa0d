import type { Metric } from './vector-index.ts';

/**
 * Distances in the three metric spaces, defined exactly as hnswlib defines them (lower is closer):
 * squared L2 for `l2`, 1 − dot for `ip`, and 1 − cos for `cosine`. Arithmetic is in float64 over
 * float32 inputs, so results agree with hnswlib's float32 arithmetic to about 1e-6 relative.
 */

/** Σ aᵢ². */
export function normSquared(a: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * a[i];
  return sum;
}

/** Σ aᵢ·bᵢ over the first `a.length` components. */
export function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/** Σ (aᵢ − bᵢ)². */
export function squaredL2(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

/** Σ (qᵢ − data[offset + i])²: scores a vector held in a slab without making a view of it. */
export function squaredL2At(q: Float32Array, data: Float32Array, offset: number): number {
  let sum = 0;
  for (let i = 0; i < q.length; i++) {
    const d = q[i] - data[offset + i];
    sum += d * d;
  }
  return sum;
}

/** Σ qᵢ·data[offset + i]. */
export function dotAt(q: Float32Array, data: Float32Array, offset: number): number {
  let sum = 0;
  for (let i = 0; i < q.length; i++) sum += q[i] * data[offset + i];
  return sum;
}

/**
 * The distance between `a` and `b` (same length) in `metric`. For `cosine`, a zero vector has
 * distance 1 to everything: hnswlib leaves a zero vector unnormalised, so its dot product is 0.
 */
export function distance(metric: Metric, a: Float32Array, b: Float32Array): number {
  switch (metric) {
    case 'l2':
      return squaredL2(a, b);
    case 'ip':
      return 1 - dot(a, b);
    case 'cosine': {
      const norms = Math.sqrt(normSquared(a)) * Math.sqrt(normSquared(b));
      return norms === 0 ? 1 : 1 - dot(a, b) / norms;
    }
  }
}

/**
 * A unit-length float32 copy of `v` (hnswlib stores cosine vectors this way); a zero vector is
 * copied unchanged.
 */
export function normalized(v: Float32Array): Float32Array {
  const out = Float32Array.from(v);
  const norm = Math.sqrt(normSquared(v));
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i] = out[i] / norm;
  return out;
}
