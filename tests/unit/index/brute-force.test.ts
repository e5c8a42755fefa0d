import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BruteForceIndex, exactTopK } from '../../../index/brute-force.ts';
import { distance } from '../../../index/distance.ts';
import type { Metric } from '../../../index/vector-index.ts';

const f = (...values: number[]) => Float32Array.from(values);

function line(metric: Metric = 'l2', n = 10): BruteForceIndex {
  const index = new BruteForceIndex({ dimension: 2, metric, initialCapacity: 1 });
  for (let i = 0; i < n; i++) index.upsert(i, f(i, 1));
  return index;
}

test('search returns the closest labels first, ties by label', () => {
  const index = line();
  assert.deepEqual(index.search(f(4, 1), 3), [
    { label: 4, distance: 0 },
    { label: 3, distance: 1 },
    { label: 5, distance: 1 },
  ]);
  assert.equal(index.size, 10);
  assert.equal(index.deletedCount, 0);
});

test('k above the live count returns every live label', () => {
  const index = line();
  index.remove(2);
  const hits = index.search(f(0, 0), 1000);
  assert.equal(hits.length, 9);
  assert.ok(!hits.some((h) => h.label === 2));
  assert.deepEqual(new BruteForceIndex({ dimension: 2, metric: 'l2' }).search(f(0, 0), 5), []);
});

test('remove swaps the last slot in and keeps every other vector right', () => {
  const index = line();
  assert.equal(index.remove(3), true);
  assert.equal(index.remove(3), false);
  assert.equal(index.remove(42), false);
  assert.equal(index.size, 9);
  assert.equal(index.has(3), false);
  for (let i = 0; i < 10; i++) {
    if (i !== 3) assert.deepEqual(Array.from(index.getVector(i)!), [i, 1], `label ${i}`);
  }
  assert.equal(index.getVector(3), null);
  index.upsert(3, f(100, 1));
  assert.deepEqual(index.search(f(100, 1), 1), [{ label: 3, distance: 0 }]);
});

test('upsert replaces a vector', () => {
  const index = line();
  index.upsert(0, f(50, 1));
  assert.equal(index.size, 10);
  assert.equal(index.search(f(50, 1), 1)[0].label, 0);
  assert.equal(index.search(f(0, 1), 1)[0].label, 1);
});

test('filters are respected and a throwing filter rejects', () => {
  const index = line();
  assert.deepEqual(
    index.search(f(0, 1), 3, { filter: (l) => l % 2 === 1 }).map((h) => h.label),
    [1, 3, 5],
  );
  const hits = index.search(f(0, 1), 3, {
    filter: (l) => {
      if (l < 2) throw new Error('boom');
      return true;
    },
  });
  assert.deepEqual(hits.map((h) => h.label), [2, 3, 4]);
});

test('cosine and ip use hnswlib definitions', () => {
  const cos = new BruteForceIndex({ dimension: 2, metric: 'cosine' });
  cos.upsert(7, f(3, 4));
  assert.deepEqual(Array.from(cos.getVector(7)!), [Math.fround(0.6), Math.fround(0.8)]);
  const [hit] = cos.search(f(6, 8), 1);
  assert.equal(hit.label, 7);
  assert.ok(Math.abs(hit.distance) < 1e-7);
  const ip = new BruteForceIndex({ dimension: 2, metric: 'ip' });
  ip.upsert(1, f(1, 2));
  ip.upsert(2, f(10, 0));
  assert.deepEqual(ip.search(f(1, 1), 2), [
    { label: 2, distance: -9 },
    { label: 1, distance: -2 },
  ]);
});

test('labels, dimensions and options are validated', () => {
  const index = line();
  for (const bad of [-1, 1.5, 2 ** 32, NaN]) {
    assert.throws(() => index.upsert(bad, f(0, 0)), { code: 'VDB_ERR_INDEX_LABEL' });
    assert.throws(() => index.remove(bad), { code: 'VDB_ERR_INDEX_LABEL' });
  }
  assert.equal(index.size, 10);
  assert.throws(() => index.upsert(1, f(0, 0, 0)), { code: 'VDB_ERR_VECTOR_DIMENSION' });
  assert.throws(() => index.search(f(0), 1), { code: 'VDB_ERR_VECTOR_DIMENSION' });
  assert.throws(() => index.search(f(0, 0), 0), { code: 'VDB_ERR_INDEX_OPTIONS' });
  assert.throws(() => new BruteForceIndex({ dimension: 0, metric: 'l2' }), {
    message: 'options.dimension must be an integer from 1 to 4096',
  });
});

test('exactTopK matches a full sort for every metric', () => {
  const vector = fc.float32Array({ minLength: 3, maxLength: 3, noDefaultInfinity: true, noNaN: true, min: -100, max: 100 });
  fc.assert(
    fc.property(
      fc.constantFrom<Metric>('l2', 'ip', 'cosine'),
      vector,
      fc.array(vector, { maxLength: 60 }),
      fc.integer({ min: 1, max: 70 }),
      (metric, query, vectors, k) => {
        const candidates = vectors.map((v, i) => ({ label: i * 3, vector: v }));
        const expected = candidates
          .map((c) => ({ label: c.label, distance: distance(metric, query, c.vector) }))
          .sort((a, b) => a.distance - b.distance || a.label - b.label)
          .slice(0, k);
        const actual = exactTopK(metric, query, candidates, k);
        assert.equal(actual.length, expected.length);
        // Cosine normalises the query in float32 (as hnswlib does): ranks agree up to near-ties.
        if (metric !== 'cosine') assert.deepEqual(actual, expected);
        actual.forEach((h, i) => assert.ok(Math.abs(h.distance - expected[i].distance) <= 1e-6));
      },
    ),
    { seed: 42, numRuns: 300 },
  );
  assert.deepEqual(exactTopK('l2', f(0), [{ label: 1, vector: f(1) }], 0), []);
});

test('the slab grows past its initial capacity', () => {
  const index = new BruteForceIndex({ dimension: 3, metric: 'l2', initialCapacity: 1 });
  for (let i = 0; i < 1500; i++) index.upsert(i, f(i, 0, 0));
  assert.equal(index.size, 1500);
  assert.deepEqual(index.search(f(1499, 0, 0), 1), [{ label: 1499, distance: 0 }]);
  assert.ok(index.memoryBytes() >= 1500 * 3 * 4);
});
