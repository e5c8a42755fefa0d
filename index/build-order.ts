/** mulberry32: a small seeded PRNG, uniform in [0, 1); the same sequence for a seed everywhere. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The orders an index can be built in (PAPERS.md §2 adds the LID-based ones). */
export const BUILD_ORDERS = ['given', 'random'] as const;
export type BuildOrder = (typeof BUILD_ORDERS)[number];

/**
 * The positions 0…n−1 in the order they enter the graph: as given, or a seeded Fisher–Yates
 * shuffle (the same permutation for the same n and seed).
 */
export function buildOrder(n: number, order: BuildOrder, seed: number): Uint32Array {
  const positions = new Uint32Array(n);
  for (let i = 0; i < n; i++) positions[i] = i;
  if (order === 'given') return positions;
  const random = prng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = positions[i];
    positions[i] = positions[j];
    positions[j] = t;
  }
  return positions;
}
