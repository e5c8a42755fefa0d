/** mulberry32: a small seeded PRNG, so fixtures are the same on every run. Values in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
