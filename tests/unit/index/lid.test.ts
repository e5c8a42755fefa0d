import assert from 'node:assert/strict';
import { test } from 'node:test';
import { knnPass } from '../../../index/knn-pass.ts';
import { lid, summarizeLid } from '../../../index/lid.ts';
import { prng } from '../../helpers/random.ts';

/** Points uniform in a random d-dimensional subspace of R^ambient (a cube in subspace coordinates). */
function subspacePoints(n: number, d: number, ambient: number, seed: number): Float64Array[] {
  const random = prng(seed);
  const basis = Array.from({ length: d }, () => Array.from({ length: ambient }, () => random() * 2 - 1));
  return Array.from({ length: n }, () => {
    const w = Array.from({ length: d }, () => random());
    return Float64Array.from({ length: ambient }, (_, j) => w.reduce((s, wi, r) => s + wi * basis[r][j], 0));
  });
}

/** Brute force: each point's k nearest distances (Euclidean), itself excluded. */
function knnDistances(points: Float64Array[], i: number, k: number): number[] {
  const d = points.map((p, j) => (j === i ? Infinity : Math.sqrt(p.reduce((s, x, t) => s + (x - points[i][t]) ** 2, 0))));
  return d.sort((a, b) => a - b).slice(0, k);
}

test('the estimate is near the dimension of the subspace the points lie on', () => {
  for (const d of [2, 4, 8]) {
    const points = subspacePoints(2000, d, 32, d);
    const estimates = Array.from({ length: 200 }, (_, i) => lid(knnDistances(points, i * 10, 20)));
    const { median } = summarizeLid(estimates)!;
    // The MLE is biased low for larger d at k = 20 and near the cube's edges; within 25 % here.
    assert.ok(Math.abs(median - d) <= 0.25 * d, `d = ${d}: median estimate ${median}`);
  }
});

test('known cases: neighbours at r, 2r, … give the closed form; duplicates are skipped; degenerate is NaN', () => {
  // r_i = i for i = 1..4: −1 / mean(ln(i/4)).
  const expected = -1 / ((Math.log(1 / 4) + Math.log(2 / 4) + Math.log(3 / 4) + 0) / 4);
  assert.ok(Math.abs(lid([1, 2, 3, 4]) - expected) < 1e-12);
  assert.equal(lid([0, 0, 1, 2, 3, 4]), lid([1, 2, 3, 4]));
  assert.ok(Number.isNaN(lid([2, 2, 2])), 'all at one distance');
  assert.ok(Number.isNaN(lid([0, 0, 5])), 'one neighbour with a scale');
  assert.ok(Number.isNaN(lid([])));
  assert.throws(() => lid([3, 1, 2]), /sorted ascending/);
});

test('the summary leaves NaNs out and interpolates the quartiles', () => {
  assert.deepEqual(summarizeLid([5, NaN, 1, 3, 2, 4]), { count: 5, min: 1, q1: 2, median: 3, q3: 4, max: 5 });
  assert.equal(summarizeLid([NaN]), null);
});

test('a k-NN pass finds each point its exact neighbours (small set) and estimates LID near the subspace dimension', async () => {
  const points = subspacePoints(600, 3, 16, 7);
  const vectors = Float32Array.from(points.flatMap((p) => Array.from(p)));
  const pass = await knnPass(vectors, 600, 16, { k: 10 });
  assert.equal(pass.k, 10);
  let agree = 0;
  for (let i = 0; i < 600; i += 20) {
    const exact = knnDistances(points, i, 10);
    const got = Array.from(pass.distances.subarray(i * 10, i * 10 + 10));
    for (let j = 0; j < 10; j++) if (Math.abs(got[j] - exact[j]) < 1e-4) agree++;
    assert.ok(!Array.from(pass.neighbours.subarray(i * 10, i * 10 + 10)).includes(i), 'a point is not its own neighbour');
  }
  assert.ok(agree >= 0.95 * 30 * 10, `${agree} of 300 neighbour distances exact`);
  const { median } = summarizeLid(pass.lids)!;
  assert.ok(Math.abs(median - 3) < 0.75, `median LID ${median}`);
  const single = await knnPass(new Float32Array(4), 1, 4);
  assert.deepEqual([single.k, Number.isNaN(single.lids[0])], [0, true]);
});

test('a k-NN pass is deterministic: the same data gives the same neighbours and LIDs', async () => {
  const vectors = Float32Array.from(subspacePoints(400, 5, 12, 9).flatMap((p) => Array.from(p)));
  const a = await knnPass(vectors, 400, 12, { k: 8 });
  const b = await knnPass(vectors, 400, 12, { k: 8 });
  assert.deepEqual(a.neighbours, b.neighbours);
  assert.deepEqual(a.lids, b.lids);
  assert.equal(a.k, 8);
});
