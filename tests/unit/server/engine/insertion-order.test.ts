import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normaliseConfig } from '../../../../server/engine/collection-config.ts';
import { importOrder, optimizeOrder, planOrder, type OrderInput } from '../../../../server/engine/insertion-order.ts';

/** `groups` runs of `size` points, each run one label: input as an export sorted by label sends it. */
function grouped(groups: number, size: number): { input: OrderInput; group: (position: number) => number } {
  const n = groups * size;
  const vectors = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) vectors.set([Math.floor(i / size) * 10, i % size], i * 2);
  return { input: { n, dim: 2, vectors, payloads: new Array<string | null>(n).fill(null) }, group: (p) => Math.floor(p / size) };
}

test('an import into a collection created without an order builds grouped input shuffled, the same way for a seed', async () => {
  const order = importOrder(undefined, normaliseConfig({ dimension: 2, metric: 'l2' }).build_order);
  assert.equal(order, 'random');
  const { input, group } = grouped(10, 100);
  const plan = async (seed: number) => (await planOrder(order, seed, input, 'stock')).positions;
  const positions = await plan(1);
  assert.deepEqual([...positions].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i), 'every point once');
  assert.notDeepEqual([...positions], Array.from({ length: 1000 }, (_, i) => i), 'not the given order');
  // The groups are mixed from the start: the first tenth inserted reaches every one of them.
  assert.equal(new Set(Array.from(positions.subarray(0, 100), group)).size, 10);
  assert.deepEqual(await plan(1), positions, 'the same permutation for the same seed');
  assert.notDeepEqual(await plan(2), positions, 'another for another seed');
});

test('an order named by the import or the collection wins; auto is a shuffle for an import', () => {
  assert.equal(importOrder(undefined, 'given'), 'given');
  assert.equal(importOrder(undefined, 'lid_desc'), 'lid_desc');
  assert.equal(importOrder('given', 'auto'), 'given');
  assert.equal(importOrder('auto', 'lid_asc'), 'random');
  assert.equal(importOrder('by_payload:source', 'auto'), 'by_payload:source');
});

test('an optimize orders by LID unless it or the collection names another order than given', () => {
  assert.equal(optimizeOrder(undefined, 'auto'), 'lid_desc');
  assert.equal(optimizeOrder(undefined, 'given'), 'lid_desc');
  assert.equal(optimizeOrder(undefined, 'random'), 'random');
  assert.equal(optimizeOrder(undefined, 'by_payload:lang'), 'by_payload:lang');
  assert.equal(optimizeOrder('auto', 'random'), 'lid_desc');
  assert.equal(optimizeOrder('given', 'auto'), 'given');
});
