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

/**
 * Σ (qᵢ − data[offset + i])²: scores a vector held in a slab without making a view of it. Four
 * independent sums let the JIT overlap them (the exact path of filtered search; bench:replicas).
 */
export function squaredL2At(q: Float32Array, data: Float32Array, offset: number): number {
  const n = q.length;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const a = q[i] - data[offset + i];
    const b = q[i + 1] - data[offset + i + 1];
    const c = q[i + 2] - data[offset + i + 2];
    const d = q[i + 3] - data[offset + i + 3];
    s0 += a * a;
    s1 += b * b;
    s2 += c * c;
    s3 += d * d;
  }
  for (; i < n; i++) {
    const a = q[i] - data[offset + i];
    s0 += a * a;
  }
  return s0 + s1 + s2 + s3;
}

/** Σ qᵢ·data[offset + i], with four independent sums like `squaredL2At`. */
export function dotAt(q: Float32Array, data: Float32Array, offset: number): number {
  const n = q.length;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += q[i] * data[offset + i];
    s1 += q[i + 1] * data[offset + i + 1];
    s2 += q[i + 2] * data[offset + i + 2];
    s3 += q[i + 3] * data[offset + i + 3];
  }
  for (; i < n; i++) s0 += q[i] * data[offset + i];
  return s0 + s1 + s2 + s3;
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
