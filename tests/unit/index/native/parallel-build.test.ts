import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BruteForceIndex } from '../../../../index/brute-force.ts';
import { buildOrder, prng } from '../../../../index/build-order.ts';
import { HnswIndex } from '../../../../index/hnsw.ts';
import { selectAddonPath } from '../../../../index/native/engine.ts';
import { BuildCancelled, loadParallelBuilder, type ParallelBuilder, type ParallelBuildInput } from '../../../../index/native/parallel-build.ts';
import type { Metric } from '../../../../index/vector-index.ts';
import { levelsByLabel } from '../../../helpers/hnsw-file.ts';

const loaded = loadParallelBuilder('auto');

/** Clustered points: `n` rows of `dim` values, row-major, each within `spread` of one of 20 centres. */
function points(n: number, dim: number, seed: number, spread = 0.3): Float32Array {
  const rand = prng(seed);
  const centres = Array.from({ length: 20 }, () => Array.from({ length: dim }, () => rand() * 2 - 1));
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = centres[Math.floor(rand() * centres.length)];
    for (let j = 0; j < dim; j++) out[i * dim + j] = c[j] + spread * (rand() - 0.5);
  }
  return out;
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-parallel-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The builder; on a machine without it (stock build only) the test says why and stops. */
function need(t: TestContext): ParallelBuilder | null {
  if (loaded.builder === null) t.skip(loaded.reason);
  return loaded.builder;
}

function input(n: number, dim: number, path: string, extra: Partial<ParallelBuildInput> = {}): ParallelBuildInput {
  return {
    metric: 'l2', dimension: dim, m: 16, efConstruction: 200, seed: 100, threads: 2,
    vectors: points(n, dim, 1), labels: Uint32Array.from({ length: n }, (_, i) => i), path, ...extra,
  };
}

test('the parallel builder is installed beside every build but the stock one', (t) => {
  t.diagnostic(loaded.reason);
  // A build-fast.mjs that installed the AVX2 addon but not the builder beside it would fail here.
  assert.equal(loaded.builder !== null, selectAddonPath('auto').build !== 'stock', loaded.reason);
  const stock = loadParallelBuilder('stock');
  assert.equal(stock.builder, null);
  assert.match(stock.reason, /stock/);
});

for (const metric of ['l2', 'cosine', 'ip'] as Metric[]) {
  test(`${metric}: two threads build a graph that hnswlib-node reads, searched as well as the addPoint loop's and brute force`, async (t) => {
    const builder = need(t);
    if (!builder) return;
    const n = 3000;
    const dim = 24;
    // Overlapping clusters: on well-separated ones, recall at a small ef swings from one graph to the next
    // (which bridges between clusters a build happens to keep), for the loop as much as for the builder.
    const vectors = points(n, dim, 2, 1.0);
    // Labels that are not the rows, up to the largest, inserted in a shuffle.
    const labels = Uint32Array.from({ length: n }, (_, i) => (i === n - 1 ? 2 ** 32 - 1 : 7 * i + 3));
    const order = buildOrder(n, 'random', 4);
    const path = join(tempDir(t), 'index.bin');
    const result = await builder.build({ ...input(n, dim, path), metric, vectors, labels, order }).done;
    assert.equal(result.inserted, n);
    const options = { dimension: dim, metric, m: 16, efConstruction: 200, efSearch: 64 };
    const parallel = await HnswIndex.load(path, options);
    assert.equal(parallel.size, n);
    // Two threads interleave differently on every run, so the builder is held to the loop's mean over three seeds.
    const loops = [100, 101, 102].map((seed) => {
      const loop = new HnswIndex({ ...options, seed, initialCapacity: n });
      for (const p of order) loop.upsert(labels[p], vectors.subarray(p * dim, (p + 1) * dim));
      return loop;
    });
    const oracle = new BruteForceIndex({ dimension: dim, metric });
    for (let p = 0; p < n; p++) oracle.upsert(labels[p], vectors.subarray(p * dim, (p + 1) * dim));
    const q = 300;
    const queries = points(q, dim, 3, 1.0);
    const want = Array.from({ length: q }, (_, i) => new Set(oracle.search(queries.subarray(i * dim, (i + 1) * dim), 10).map((h) => h.label)));
    const recall = (index: HnswIndex, ef: number): number => {
      let hits = 0;
      for (let i = 0; i < q; i++) hits += index.search(queries.subarray(i * dim, (i + 1) * dim), 10, { ef }).filter((h) => want[i].has(h.label)).length;
      return hits / (q * 10);
    };
    // Slack set from 20 builds of each kind, hand-run: every single graph fell well inside it.
    for (const [ef, slack] of [[10, 0.04], [64, 0.02], [200, 0.02]]) {
      const got = recall(parallel, ef);
      const base = loops.reduce((sum, loop) => sum + recall(loop, ef), 0) / loops.length;
      t.diagnostic(`recall@10 at ef=${ef}: parallel ${got.toFixed(3)}, loop mean ${base.toFixed(3)}`);
      assert.ok(got >= base - slack, `ef=${ef}: parallel ${got} < loop mean ${base} − ${slack}`);
    }
    // Inner product is no metric: a graph search misses some of its neighbours even at ef = n, either way built.
    if (metric !== 'ip') {
      assert.ok(recall(parallel, 200) >= 0.95, `recall@10 at ef=200 is ${recall(parallel, 200)}`);
      assert.equal(recall(parallel, n), 1, 'ef = n finds every neighbour');
    }
  });
}

test('every label round-trips with its vector', async (t) => {
  const builder = need(t);
  if (!builder) return;
  const n = 500;
  const dim = 8;
  const labels = Uint32Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 0);
  const vectors = points(n, dim, 5);
  const path = join(tempDir(t), 'index.bin');
  await builder.build({ ...input(n, dim, path), labels, vectors, order: buildOrder(n, 'random', 9) }).done;
  const index = await HnswIndex.load(path, { dimension: dim, metric: 'l2', m: 16, efConstruction: 200, efSearch: 64 });
  assert.equal(index.size, n);
  for (let p = 0; p < n; p++) {
    assert.ok(index.has(labels[p]), `label ${labels[p]}`);
    assert.deepEqual(index.getVector(labels[p]), vectors.slice(p * dim, (p + 1) * dim));
  }
});

test('levels come from the seed: one thread writes the same file as the addPoint loop; two threads put each label on its level', async (t) => {
  const builder = need(t);
  if (!builder) return;
  const n = 2000;
  const dim = 16;
  const dir = tempDir(t);
  const order = buildOrder(n, 'random', 6);
  const vectors = points(n, dim, 7);
  const labels = Uint32Array.from({ length: n }, (_, i) => i + 1000);

  const levels = builder.levels(n, 16, 100);
  assert.deepEqual(builder.levels(n, 16, 100), levels);
  assert.notDeepEqual(builder.levels(n, 16, 101), levels);
  // hnswlib draws floor(−ln U / ln M): a point reaches level 1 with probability 1/M.
  const upper = levels.filter((l) => l > 0).length / n;
  assert.ok(upper > 0.03 && upper < 0.1, `${upper} of the points above level 0`);

  // The loop, through hnswlib-node (the build the builder sits beside), and one thread of the builder.
  const loop = new HnswIndex({ dimension: dim, metric: 'l2', m: 16, efConstruction: 200, efSearch: 64, seed: 100, initialCapacity: n });
  for (const p of order) loop.upsert(labels[p], vectors.subarray(p * dim, (p + 1) * dim));
  await loop.save(join(dir, 'loop.bin'));
  await builder.build({ ...input(n, dim, join(dir, 'one.bin')), threads: 1, vectors, labels, order }).done;
  assert.ok(readFileSync(join(dir, 'one.bin')).equals(readFileSync(join(dir, 'loop.bin'))), 'one thread builds the graph the loop builds');

  // Two threads: the element order in the file depends on the threads' race, each label's level does not.
  for (const name of ['two-a.bin', 'two-b.bin']) {
    await builder.build({ ...input(n, dim, join(dir, name)), vectors, labels, order }).done;
    const byLabel = levelsByLabel(join(dir, name));
    assert.equal(byLabel.size, n);
    for (let i = 0; i < n; i++) assert.equal(byLabel.get(labels[order[i]]), levels[i], `insertion ${i}`);
  }
});

test('progress counts the points inserted while the threads run', async (t) => {
  const builder = need(t);
  if (!builder) return;
  const n = 20_000;
  const run = builder.build(input(n, 32, join(tempDir(t), 'index.bin')));
  const seen: number[] = [];
  let finished = false;
  void run.done.finally(() => (finished = true));
  while (!finished) {
    seen.push(run.inserted);
    await sleep(5);
  }
  const result = await run.done;
  assert.equal(result.inserted, n);
  assert.equal(run.inserted, n);
  assert.ok(seen.some((x) => x > 0 && x < n), `some progress between 0 and ${n} was seen: ${seen.length} reads`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1], 'progress never goes back');
  assert.ok(result.maxLevel >= 1);
});

test('a cancelled build stops early, rejects with BuildCancelled and writes no file', async (t) => {
  const builder = need(t);
  if (!builder) return;
  const n = 40_000;
  const path = join(tempDir(t), 'index.bin');
  const run = builder.build(input(n, 64, path));
  while (run.inserted === 0) await sleep(1);
  run.cancel();
  await assert.rejects(run.done, BuildCancelled);
  assert.ok(run.inserted < n, `${run.inserted} inserted`);
  assert.equal(existsSync(path), false);
});

test('bad input is refused before any thread starts; a vector that is not finite fails the build', async (t) => {
  const builder = need(t);
  if (!builder) return;
  const path = join(tempDir(t), 'index.bin');
  const code = { code: 'VDB_ERR_INDEX_OPTIONS' };
  assert.throws(() => builder.build({ ...input(10, 4, path), labels: Uint32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 1]) }), { ...code, message: /distinct/ });
  assert.throws(() => builder.build({ ...input(10, 4, path), vectors: new Float32Array(39) }), { ...code, message: /10 × 4/ });
  assert.throws(() => builder.build({ ...input(10, 4, path), order: Uint32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 8]) }), { ...code, message: /order/ });
  assert.throws(() => builder.build({ ...input(10, 4, path), order: Uint32Array.from([0, 1, 2]) }), { ...code, message: /order/ });
  assert.throws(() => builder.build({ ...input(10, 4, path), threads: 0 }), { ...code, message: /threads/ });
  const vectors = points(10, 4, 8);
  vectors[22] = Number.NaN;
  await assert.rejects(builder.build({ ...input(10, 4, path), vectors }).done, { ...code, message: /position 5 .*not finite/ });
  assert.equal(existsSync(path), false);
});

test('a file that cannot be written fails the build', async (t) => {
  const builder = need(t);
  if (!builder) return;
  const path = join(tempDir(t), 'no-such-directory', 'index.bin');
  await assert.rejects(builder.build(input(100, 4, path)).done, { code: 'VDB_ERR_INDEX_OPTIONS', message: /writing .*index\.bin failed/ });
});
