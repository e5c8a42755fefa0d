import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { coveredMembers, quality, select, similarity, type Pool, type Selection } from '../../../index/select.ts';
import type { Metric } from '../../../index/vector-index.ts';

/** A pool of n random vectors (unit length under cosine), sorted by relevance to a random query as a search returns it. */
function randomPool(n: number, dim: number, seed: number, metric: Metric = 'cosine', groups = 0): Pool {
  let s = seed >>> 0 || 1;
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const raw = Array.from({ length: n }, () => Float32Array.from({ length: dim }, rand));
  const unit = (v: Float32Array): Float32Array => {
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  };
  const rows = metric === 'cosine' ? raw.map(unit) : raw;
  const query = metric === 'cosine' ? unit(Float32Array.from({ length: dim }, rand)) : Float32Array.from({ length: dim }, rand);
  const sim = (a: Float32Array): number =>
    metric === 'l2' ? 1 - a.reduce((t, x, i) => t + (x - query[i]) ** 2, 0) / 2 : a.reduce((t, x, i) => t + x * query[i], 0);
  const order = rows.map((v, i) => ({ v, r: sim(v), i })).sort((a, b) => b.r - a.r || a.i - b.i);
  const vectors = new Float32Array(n * dim);
  order.forEach((o, i) => vectors.set(o.v, i * dim));
  return {
    metric, dim, vectors,
    relevance: Float64Array.from(order, (o) => o.r),
    groups: groups > 0 ? Int32Array.from(order, (o) => (o.i % (groups + 1)) - 1) : null,
  };
}

/** The straightforward MMR: every step rescans every pick. */
function referenceMmr(pool: Pool, k: number, lambda: number): number[] {
  const n = pool.relevance.length;
  const picks: number[] = [];
  while (picks.length < Math.min(k, n)) {
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < n; i++) {
      if (picks.includes(i)) continue;
      const red = picks.length === 0 ? 0 : Math.max(...picks.map((p) => similarity(pool, i, p)));
      const score = picks.length === 0 ? pool.relevance[i] : lambda * pool.relevance[i] - (1 - lambda) * red;
      if (score > bestScore) [best, bestScore] = [i, score];
    }
    picks.push(best);
  }
  return picks;
}

/** The cover objective, as written in select.ts; `sim` memoises similarity(). */
function coverValue(pool: Pool, k: number, weight: number, set: readonly number[], sim = (a: number, b: number) => similarity(pool, a, b)): number {
  const n = pool.relevance.length;
  const covered = coveredMembers(n);
  let cov = 0;
  for (const c of covered) cov += Math.max(0, ...set.map((s) => sim(c, s)));
  return set.reduce((t, s) => t + pool.relevance[s], 0) + (weight * Math.min(k, n) / covered.length) * cov;
}

/** Plain greedy on the cover objective: every step evaluates every member, ties to the lower position. */
function plainGreedyCover(pool: Pool, k: number, weight: number): number[] {
  const picks: number[] = [];
  const n = pool.relevance.length;
  const memo = new Map<number, number>();
  const sim = (a: number, b: number): number => {
    const key = a * n + b;
    if (!memo.has(key)) memo.set(key, similarity(pool, a, b));
    return memo.get(key)!;
  };
  while (picks.length < Math.min(k, n)) {
    let best = -1;
    let bestGain = -Infinity;
    for (let i = 0; i < n; i++) {
      if (picks.includes(i)) continue;
      const gain = coverValue(pool, k, weight, [...picks, i], sim);
      if (gain > bestGain) [best, bestGain] = [i, gain];
    }
    picks.push(best);
  }
  return picks;
}

function subsets(n: number, k: number): number[][] {
  if (k === 0) return [[]];
  if (n < k) return [];
  return [...subsets(n - 1, k), ...subsets(n - 1, k - 1).map((s) => [...s, n - 1])];
}

const topK = (n: number, k: number): number[] => Array.from({ length: Math.min(n, k) }, (_, i) => i);

test('topk, mmr with lambda 1 and cover with weight 0 are exactly the top-k', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 15 }), fc.integer(), fc.constantFrom<Metric>('cosine', 'l2', 'ip'), (n, k, seed, metric) => {
      const pool = randomPool(n, 6, seed, metric);
      assert.deepEqual(select(pool, k, { mode: 'topk' }).picks, topK(n, k));
      assert.deepEqual(select(pool, k, { mode: 'mmr', lambda: 1 }).picks, topK(n, k));
      assert.deepEqual(select(pool, k, { mode: 'cover', coverageWeight: 0 }).picks, topK(n, k));
    }),
    { numRuns: 200 },
  );
});

test('ties go to the lower position, as a search orders them', () => {
  const pool: Pool = { metric: 'cosine', dim: 1, vectors: new Float32Array(5).fill(1), relevance: new Float64Array(5).fill(0.5) };
  assert.deepEqual(select(pool, 3, { mode: 'mmr', lambda: 1 }).picks, [0, 1, 2]);
  assert.deepEqual(select(pool, 3, { mode: 'cover', coverageWeight: 0 }).picks, [0, 1, 2]);
  assert.deepEqual(select(pool, 3, { mode: 'cover', coverageWeight: 1 }).picks, [0, 1, 2]);
});

test('mmr equals a straightforward reference implementation', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 100 }).map((x) => x / 100), fc.integer(), (n, k, lambda, seed) => {
      const pool = randomPool(n, 8, seed);
      assert.deepEqual(select(pool, k, { mode: 'mmr', lambda }).picks, referenceMmr(pool, k, lambda));
    }),
    { numRuns: 200 },
  );
});

test('lazy greedy cover picks exactly what plain greedy picks', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 500 }).map((x) => x / 100), fc.integer(), fc.constantFrom<Metric>('cosine', 'l2'), (n, k, w, seed, metric) => {
      const pool = randomPool(n, 5, seed, metric);
      assert.deepEqual(select(pool, k, { mode: 'cover', coverageWeight: w }).picks, plainGreedyCover(pool, k, w));
    }),
    { numRuns: 150 },
  );
});

test('a pool larger than COVERED_MAX is covered through an even sample, and lazy greedy still equals plain greedy', () => {
  assert.deepEqual(coveredMembers(3), [0, 1, 2]);
  const sample = coveredMembers(1000);
  assert.equal(sample.length, 256);
  assert.deepEqual([sample[0], sample[1], sample[255]], [0, 3, 996]);
  for (const seed of [1, 2]) {
    const pool = randomPool(300, 4, seed);
    assert.deepEqual(select(pool, 4, { mode: 'cover', coverageWeight: 3 }).picks, plainGreedyCover(pool, 4, 3));
  }
});

test('greedy cover reaches at least (1 - 1/e) of the brute-force optimum', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 10, max: 400 }).map((x) => x / 100), fc.integer(), (n, k, w, seed) => {
      const pool = randomPool(n, 4, seed);
      // Relevance must be non-negative for the guarantee (monotone f): shift it.
      for (let i = 0; i < n; i++) pool.relevance[i] += 1;
      const greedy = coverValue(pool, k, w, select(pool, k, { mode: 'cover', coverageWeight: w }).picks);
      const best = Math.max(...subsets(n, Math.min(k, n)).map((s) => coverValue(pool, k, w, s)));
      assert.ok(greedy >= (1 - 1 / Math.E) * best - 1e-9, `greedy ${greedy} < (1 - 1/e) × ${best}`);
    }),
    { numRuns: 150 },
  );
});

test('max_per keeps at most count picks per group and does not limit points without one', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 3 }), fc.integer(), fc.constantFrom('topk' as const, 'mmr' as const, 'cover' as const), (n, k, count, seed, mode) => {
      const pool = randomPool(n, 6, seed, 'cosine', 3);
      const selection: Selection = mode === 'topk' ? { mode } : mode === 'mmr' ? { mode, lambda: 0.5 } : { mode, coverageWeight: 1 };
      const { picks } = select(pool, k, selection, count);
      const per = new Map<number, number>();
      for (const p of picks) if (pool.groups![p] >= 0) per.set(pool.groups![p], (per.get(pool.groups![p]) ?? 0) + 1);
      for (const c of per.values()) assert.ok(c <= count);
      const eligible = Math.min(k, [...pool.groups!].filter((g) => g < 0).length + 3 * count, n);
      assert.equal(picks.length, eligible, 'picks as many as the limits allow');
      assert.equal(new Set(picks).size, picks.length);
      if (mode === 'topk') {
        // The top-k of the members the limit leaves, in order.
        const seen = new Map<number, number>();
        const expect: number[] = [];
        for (let i = 0; i < n && expect.length < k; i++) {
          const g = pool.groups![i];
          if (g >= 0 && (seen.get(g) ?? 0) >= count) continue;
          if (g >= 0) seen.set(g, (seen.get(g) ?? 0) + 1);
          expect.push(i);
        }
        assert.deepEqual(picks, expect);
      }
    }),
    { numRuns: 150 },
  );
});

test('diverse modes trade relevance for coverage and diversity', () => {
  const pool = randomPool(200, 16, 7);
  const qsim = pool.relevance;
  const top = quality(pool, select(pool, 10, { mode: 'topk' }).picks, qsim);
  const mmr = quality(pool, select(pool, 10, { mode: 'mmr', lambda: 0.3 }).picks, qsim);
  const cover = quality(pool, select(pool, 10, { mode: 'cover', coverageWeight: 2 }).picks, qsim);
  assert.ok(top.relevance > mmr.relevance && top.relevance > cover.relevance);
  assert.ok(mmr.diversity > top.diversity);
  assert.ok(cover.coverage > top.coverage);
  assert.deepEqual(quality(pool, [], qsim), { relevance: 0, coverage: 0, diversity: 0 });
});
