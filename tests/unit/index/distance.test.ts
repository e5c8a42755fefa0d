import assert from 'node:assert/strict';
import { test } from 'node:test';
import { distance, dot, dotAt, normSquared, normalized, squaredL2, squaredL2At } from '../../../index/distance.ts';

const f = (...values: number[]) => Float32Array.from(values);

test('l2 is the squared Euclidean distance', () => {
  assert.equal(distance('l2', f(1, 2, 3), f(4, 6, 3)), 25);
  assert.equal(distance('l2', f(1, 2, 3), f(1, 2, 3)), 0);
  assert.equal(squaredL2(f(-1, 0), f(1, 0)), 4);
});

test('ip is 1 − dot, and can be negative', () => {
  assert.equal(distance('ip', f(1, 2, 3), f(0.5, -1, 2)), 1 - 4.5);
  assert.equal(distance('ip', f(1, 0), f(0, 1)), 1);
  assert.equal(dot(f(1, 2, 3), f(4, 5, 6)), 32);
});

test('cosine is 1 − cos and ignores length', () => {
  assert.ok(Math.abs(distance('cosine', f(1, 0), f(1, 1)) - (1 - Math.SQRT1_2)) < 1e-12);
  assert.equal(distance('cosine', f(3, 4), f(6, 8)), 0);
  assert.equal(distance('cosine', f(3, 4), f(-3, -4)), 2);
  assert.equal(distance('cosine', f(1, 0), f(0, 5)), 1);
});

test('cosine with a zero vector is 1, as in hnswlib', () => {
  assert.equal(distance('cosine', f(0, 0), f(1, 2)), 1);
  assert.equal(distance('cosine', f(0, 0), f(0, 0)), 1);
});

test('normSquared, normalized and the slab kernels', () => {
  assert.equal(normSquared(f(3, 4)), 25);
  assert.deepEqual(Array.from(normalized(f(3, 4))), [Math.fround(0.6), Math.fround(0.8)]);
  assert.deepEqual(Array.from(normalized(f(0, 0))), [0, 0]);
  const slab = f(9, 9, 1, 2, 3, 9);
  assert.equal(squaredL2At(f(1, 2, 4), slab, 2), 1);
  assert.equal(dotAt(f(1, 1, 1), slab, 2), 6);
});
