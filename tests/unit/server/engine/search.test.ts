import assert from 'node:assert/strict';
import { test } from 'node:test';
import { candidateCount, DEFAULT_OVERSAMPLE } from '../../../../server/engine/search.ts';

test('by default a rescored search takes k × the default oversample candidates, but no more than ef and no fewer than k', () => {
  assert.equal(candidateCount(10, 64, undefined), 10 * DEFAULT_OVERSAMPLE);
  assert.equal(candidateCount(10, 32, undefined), 32, 'from the ef-wide search, without widening it');
  assert.equal(candidateCount(10, 12, undefined), 12);
  assert.equal(candidateCount(10, 4, undefined), 10, 'k is the floor: the index widens ef to k for any search');
  assert.equal(candidateCount(1, 1, undefined), 1);
});

test('an oversample the search sets gives k × oversample candidates whatever ef is, within the cap', () => {
  assert.equal(candidateCount(10, 12, 4), 40);
  assert.equal(candidateCount(10, 400, 2), 20);
  assert.equal(candidateCount(3, 12, 1.5), 5, 'rounded up');
  assert.equal(candidateCount(1000, 64, 100), 10_000);
});
