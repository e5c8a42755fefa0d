import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { BruteForceIndex } from '../../../../index/brute-force.ts';
import { buildOrder } from '../../../../index/build-order.ts';
import { HnswIndex, type HnswOptions } from '../../../../index/hnsw.ts';
import { loadHnswlib } from '../../../../index/native/load.ts';
import { loadParallelBuilder } from '../../../../index/native/parallel-build.ts';
import { insertRows, type BulkBuildSettings } from '../../../../server/engine/bulk-build.ts';
import { randomVectors } from '../../../helpers/random.ts';

const N = 1500;
const DIM = 12;
const OPTIONS: HnswOptions = { dimension: DIM, metric: 'l2', m: 16, efConstruction: 200, efSearch: 64 };
const engine = loadHnswlib('auto').build;
const hasBuilder = loadParallelBuilder(engine).builder !== null;
const vectors = Float32Array.from(randomVectors(N, DIM, 21).flat());
const labels = Uint32Array.from({ length: N }, (_, i) => 5 * i + 1);
const rows = { labels, vectors, order: buildOrder(N, 'random', 3) };

function settings(t: TestContext, threads: number, build = engine): BulkBuildSettings {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-bulk-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { engine: build, threads, dir };
}

/** Every query's 10 labels at ef = N (exact on this graph) against the brute-force oracle. */
function assertExact(index: HnswIndex, extra: { label: number; vector: Float32Array }[] = []): void {
  const oracle = new BruteForceIndex({ dimension: DIM, metric: 'l2' });
  for (let p = 0; p < N; p++) oracle.upsert(labels[p], vectors.subarray(p * DIM, (p + 1) * DIM));
  for (const e of extra) oracle.upsert(e.label, e.vector);
  assert.equal(index.size, N + extra.length);
  for (const query of randomVectors(30, DIM, 22).map((q) => Float32Array.from(q))) {
    const want = oracle.search(query, 10).map((h) => h.label);
    assert.deepEqual(index.search(query, 10, { ef: N + extra.length }).map((h) => h.label), want);
  }
}

function progressOf(): { seen: number[]; hooks: { progress: (n: number) => void; pause: () => Promise<void> } } {
  const seen: number[] = [];
  return { seen, hooks: { progress: (n) => seen.push(n), pause: () => Promise.resolve() } };
}

test(`an empty index with threads > 1 is built by the parallel builder (${hasBuilder ? 'installed' : 'not installed: the loop'}), and answers as brute force`, async (t) => {
  const s = settings(t, 2);
  // What a kill -9 in the middle of an earlier build leaves behind; a snapshot's temp file is not ours to touch.
  writeFileSync(join(s.dir, '.build-0123456789ab.tmp'), 'stale');
  writeFileSync(join(s.dir, '.c1-5.hnsw.0123456789ab.tmp'), 'a snapshot being written');
  const empty = new HnswIndex(OPTIONS);
  const { seen, hooks } = progressOf();
  const index = await insertRows(empty, OPTIONS, rows, s, hooks);
  assert.equal(index !== empty, hasBuilder, 'a new index, read from the builder’s file');
  assert.equal(seen.at(-1), N);
  assertExact(index);
  assert.deepEqual(readdirSync(s.dir), hasBuilder ? ['.c1-5.hnsw.0123456789ab.tmp'] : ['.build-0123456789ab.tmp', '.c1-5.hnsw.0123456789ab.tmp']);
  // The index goes on taking writes as any other.
  const extra = { label: 3, vector: Float32Array.from(randomVectors(1, DIM, 23)[0]) };
  index.upsert(extra.label, extra.vector);
  assertExact(index, [extra]);
});

test('one thread, the stock build, or an index that holds points already: the addPoint loop', async (t) => {
  const cases: [string, BulkBuildSettings, HnswIndex][] = [
    ['threads = 1', settings(t, 1), new HnswIndex(OPTIONS)],
    ['stock', settings(t, 2, 'stock'), new HnswIndex({ ...OPTIONS, engine: 'stock' })],
  ];
  const held = new HnswIndex(OPTIONS);
  const extra = { label: 2, vector: Float32Array.from(randomVectors(1, DIM, 24)[0]) };
  held.upsert(extra.label, extra.vector);
  cases.push(['not empty', settings(t, 2), held]);
  for (const [name, s, index] of cases) {
    const { seen, hooks } = progressOf();
    const result = await insertRows(index, OPTIONS, rows, s, hooks);
    assert.equal(result, index, name);
    assert.equal(seen.at(-1), N, name);
    assertExact(result, name === 'not empty' ? [extra] : []);
    assert.deepEqual(readdirSync(s.dir), [], name);
  }
});

test('with the same seed and order, one thread and two give the same answers at ef = n', async (t) => {
  const { hooks } = progressOf();
  const one = await insertRows(new HnswIndex(OPTIONS), OPTIONS, rows, settings(t, 1), hooks);
  const two = await insertRows(new HnswIndex(OPTIONS), OPTIONS, rows, settings(t, 2), hooks);
  for (const query of randomVectors(20, DIM, 25).map((q) => Float32Array.from(q))) {
    assert.deepEqual(two.search(query, 10, { ef: N }), one.search(query, 10, { ef: N }));
  }
});
