import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VectorStore } from '../../../../index/vector-store.ts';
import type { RecallCheck } from '../../../../server/engine/recall-worker.ts';
import { recallOf as check } from '../../../../server/engine/recall-worker.ts';
import { LabelBitmap } from '../../../../storage/label-bitmap.ts';
import { l2, randomVectors } from '../../../helpers/random.ts';

const dim = 8;
const vectors = randomVectors(500, dim, 7);
const store = new VectorStore(dim, 'l2');
vectors.forEach((v, label) => store.set(label, Float32Array.from(v)));
const spec = { generation: 0, segments: store.segments, codec: 'float32' as const, params: null };

function task(query: number[], k: number, allowed: number[], found: number[]): RecallCheck {
  return { dimension: dim, metric: 'l2', store: spec, query: Float32Array.from(query), k, allowed: LabelBitmap.fromLabels(allowed, 512).buffer, found: Uint32Array.from(found) };
}

/** The k allowed labels nearest the query, by brute force over the plain arrays. */
function nearest(query: number[], allowed: number[], k: number): number[] {
  return [...allowed].sort((a, b) => l2(query, vectors[a]) - l2(query, vectors[b])).slice(0, k);
}

test('a recall check scores what a search found against the exact top-k of the allowed points', () => {
  const all = vectors.map((_, i) => i);
  const query = randomVectors(1, dim, 99)[0];
  const exact = nearest(query, all, 10);
  assert.equal(check(task(query, 10, all, exact)), 1);
  // Seven of the ten, and three far ones.
  const far = nearest(query, all, 500).slice(-3);
  assert.equal(check(task(query, 10, all, [...exact.slice(0, 7), ...far])), 0.7);
  assert.equal(check(task(query, 10, all, exact.slice(0, 5))), 0.5, 'a short answer misses the rest');
  // Under a filter, the exact top-k is of the allowed points only.
  const even = all.filter((l) => l % 2 === 0);
  assert.equal(check(task(query, 10, even, nearest(query, even, 10))), 1);
  // The even ones of the unfiltered top 10 are the nearest even points: each counts, the rest are missing.
  const evenOfExact = exact.filter((l) => l % 2 === 0);
  assert.ok(evenOfExact.length < 10);
  assert.equal(check(task(query, 10, even, evenOfExact)), evenOfExact.length / 10);
  // Fewer allowed than k: the answer is measured against what there is.
  assert.equal(check(task(query, 10, [3, 4], [3, 4])), 1);
  assert.equal(check(task(query, 10, [], [])), null);
});

test('a point as near as the exact k-th counts as found (ties are not misses)', () => {
  const tied = new VectorStore(2, 'l2');
  [[1, 0], [0, 1], [-1, 0], [0, -1], [5, 5]].forEach((v, label) => tied.set(label, Float32Array.from(v)));
  const tiedSpec = { generation: 0, segments: tied.segments, codec: 'float32' as const, params: null };
  const base = { dimension: 2, metric: 'l2' as const, store: tiedSpec, query: Float32Array.from([0, 0]), k: 2, allowed: LabelBitmap.fromLabels([0, 1, 2, 3, 4], 32).buffer };
  // Four points at distance 1: any two of them are a perfect answer.
  assert.equal(check({ ...base, found: Uint32Array.from([2, 3]) }), 1);
  assert.equal(check({ ...base, found: Uint32Array.from([2, 4]) }), 0.5);
});
