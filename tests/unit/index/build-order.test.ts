import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildOrder, groupedOrder, lidOrder } from '../../../index/build-order.ts';

test('given is the identity; random is a permutation, the same for a seed and different across seeds', () => {
  assert.deepEqual([...buildOrder(5, 'given', 1)], [0, 1, 2, 3, 4]);
  const a = buildOrder(1000, 'random', 7);
  assert.deepEqual([...a].sort((x, y) => x - y), [...buildOrder(1000, 'given', 0)]);
  assert.deepEqual(a, buildOrder(1000, 'random', 7));
  assert.notDeepEqual(a, buildOrder(1000, 'random', 8));
  assert.notDeepEqual(a, buildOrder(1000, 'given', 7));
  assert.deepEqual([...buildOrder(0, 'random', 1)], []);
});

test('lid orders sort by LID either way, ties in given order, undefined LIDs last', () => {
  const lids = [3, NaN, 1, 3, 2];
  assert.deepEqual([...lidOrder(lids, 'desc')], [0, 3, 4, 2, 1]);
  assert.deepEqual([...lidOrder(lids, 'asc')], [2, 4, 0, 3, 1]);
  assert.deepEqual([...lidOrder([], 'asc')], []);
});

test('grouped order keeps each group together in key order, keyless points last, given order inside', () => {
  assert.deepEqual([...groupedOrder(['b', null, 'a', 'b', 'a'])], [2, 4, 0, 3, 1]);
});
