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

/**
 * The orders an index can be built in (arXiv 2405.17813): as given, a seeded shuffle, by LID (high or
 * low first), or grouped by a payload field (`by_payload:<dotted path>`).
 */
export type BuildOrder = 'given' | 'random' | 'lid_desc' | 'lid_asc' | `by_payload:${string}`;
/**
 * A build order as a collection, an import or an optimize names it: an order, or `auto` (the
 * server's choice for the job: a seeded shuffle for an import, `lid_desc` for an optimize).
 */
export type BuildOrderSetting = BuildOrder | 'auto';
/** The JSON-schema pattern of a build order setting. */
export const BUILD_ORDER_PATTERN = '^(auto|given|random|lid_desc|lid_asc|by_payload:[^\\s]{1,256})$';

/** True for the orders that need each point's LID (a k-NN pass before the build). */
export function needsLid(order: BuildOrder): order is 'lid_desc' | 'lid_asc' {
  return order === 'lid_desc' || order === 'lid_asc';
}

/** The payload path of a `by_payload:` order, or null. */
export function payloadKey(order: BuildOrder): string | null {
  return order.startsWith('by_payload:') ? order.slice('by_payload:'.length) : null;
}

/**
 * The positions 0…n−1 in the order they enter the graph: as given, or a seeded Fisher–Yates
 * shuffle (the same permutation for the same n and seed).
 */
export function buildOrder(n: number, order: 'given' | 'random', seed: number): Uint32Array {
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

/**
 * Positions by LID, high first (`desc`) or low first, ties in given order; points whose LID is
 * undefined (NaN) go last either way.
 */
export function lidOrder(lids: ArrayLike<number>, direction: 'asc' | 'desc'): Uint32Array {
  const sign = direction === 'desc' ? -1 : 1;
  const positions = Array.from({ length: lids.length }, (_, i) => i);
  positions.sort((a, b) => {
    const x = lids[a];
    const y = lids[b];
    const nx = Number.isNaN(x);
    const ny = Number.isNaN(y);
    if (nx || ny) return nx === ny ? a - b : nx ? 1 : -1;
    return x === y ? a - b : sign * (x - y);
  });
  return Uint32Array.from(positions);
}

/**
 * Positions grouped by a key (a payload field's value as text): groups in ascending key order,
 * points without the key (null) last, each group in given order.
 */
export function groupedOrder(keys: readonly (string | null)[]): Uint32Array {
  const positions = Array.from({ length: keys.length }, (_, i) => i);
  positions.sort((a, b) => {
    const x = keys[a];
    const y = keys[b];
    if (x === y) return a - b;
    if (x === null) return 1;
    if (y === null) return -1;
    return x < y ? -1 : 1;
  });
  return Uint32Array.from(positions);
}
