import { prng } from '../../index/build-order.ts';

export { prng };

/** `n` vectors of `dim` float32-exact values in [0, 1), as plain arrays (what a JSON client sends). */
export function randomVectors(n: number, dim: number, seed: number): number[][] {
  const random = prng(seed);
  return Array.from({ length: n }, () => Array.from({ length: dim }, () => Math.fround(random())));
}

/** Squared L2 distance, the `l2` metric. */
export function l2(a: readonly number[], b: readonly number[]): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += (a[i] - b[i]) ** 2;
  return d;
}

/** 1 − cos, the `cosine` metric. */
export function cosineDistance(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return 1 - dot / Math.sqrt(na * nb);
}
