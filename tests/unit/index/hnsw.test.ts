import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { BruteForceIndex } from '../../../index/brute-force.ts';
import { distance } from '../../../index/distance.ts';
import { HnswIndex, type HnswOptions } from '../../../index/hnsw.ts';
import type { Metric } from '../../../index/vector-index.ts';
import { prng } from '../../helpers/random.ts';


/** `n` vectors around 30 random centres (Gaussian noise), then `queries` more from the same mix. */
function clustered(n: number, queries: number, dim: number, seed: number): { data: Float32Array[]; queries: Float32Array[] } {
  const rand = prng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const centres = Array.from({ length: 30 }, () => Float32Array.from({ length: dim }, () => rand() * 2 - 1));
  const point = () => {
    const c = centres[Math.floor(rand() * centres.length)];
    return Float32Array.from(c, (x) => x + 0.15 * gauss());
  };
  return { data: Array.from({ length: n }, point), queries: Array.from({ length: queries }, point) };
}

const base = (dimension: number, metric: Metric = 'l2'): HnswOptions => ({
  dimension,
  metric,
  m: 16,
  efConstruction: 100,
  efSearch: 32,
});

const f = (...values: number[]) => Float32Array.from(values);

function line(n = 20, options: Partial<HnswOptions> = {}): HnswIndex {
  const index = new HnswIndex({ ...base(2), ...options });
  for (let i = 0; i < n; i++) index.upsert(i, f(i, 1));
  return index;
}

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinity-hnsw-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('options are validated with exact messages', () => {
  const cases: [Partial<HnswOptions>, string][] = [
    [{ m: 1 }, 'options.m must be an integer from 2 to 128'],
    [{ m: 129 }, 'options.m must be an integer from 2 to 128'],
    [{ m: 16.5 }, 'options.m must be an integer from 2 to 128'],
    [{ dimension: 0 }, 'options.dimension must be an integer from 1 to 4096'],
    [{ dimension: 4097 }, 'options.dimension must be an integer from 1 to 4096'],
    [{ efConstruction: 0 }, 'options.efConstruction must be an integer from 1 to 4096'],
    [{ efSearch: 10001 }, 'options.efSearch must be an integer from 1 to 10000'],
    [{ metric: 'dot' as Metric }, "options.metric must be 'l2', 'cosine' or 'ip'"],
    [{ seed: -1 }, 'options.seed must be an integer from 0 to 4294967295'],
    [{ initialCapacity: 0 }, 'options.initialCapacity must be an integer from 1 to 4294967295'],
  ];
  for (const [override, message] of cases) {
    assert.throws(() => new HnswIndex({ ...base(4), ...override }), { code: 'VDB_ERR_INDEX_OPTIONS', message });
  }
});

for (const metric of ['l2', 'cosine', 'ip'] as const) {
  test(`recall@10 at ef=64 is at least 0.95 against brute force (${metric})`, (t) => {
    const { data, queries } = clustered(3000, 200, 32, 7);
    const hnsw = new HnswIndex({ ...base(32, metric), efSearch: 64 });
    const exact = new BruteForceIndex({ dimension: 32, metric });
    data.forEach((v, label) => {
      hnsw.upsert(label, v);
      exact.upsert(label, v);
    });
    let found = 0;
    for (const q of queries) {
      const truth = new Set(exact.search(q, 10).map((h) => h.label));
      const hits = hnsw.search(q, 10);
      assert.equal(hits.length, 10);
      for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1].distance <= hits[i].distance);
      for (const h of hits) {
        if (truth.has(h.label)) found++;
        assert.ok(Math.abs(h.distance - distance(metric, q, data[h.label])) < 1e-4, 'distance definition');
      }
    }
    const recall = found / (10 * queries.length);
    assert.ok(recall >= 0.95, `recall ${recall}`);
    t.diagnostic(`recall@10 = ${recall}`);
  });
}

test('an empty index returns no hits', () => {
  const index = new HnswIndex(base(2));
  assert.deepEqual(index.search(f(0, 0), 5), []);
  assert.equal(index.size, 0);
});

test('upsert of an existing label replaces its vector', () => {
  const index = line();
  index.upsert(0, f(500, 1));
  assert.equal(index.size, 20);
  assert.deepEqual(index.search(f(500, 1), 1), [{ label: 0, distance: 0 }]);
  assert.equal(index.search(f(0, 1), 1)[0].label, 1);
  assert.deepEqual(Array.from(index.getVector(0)!), [500, 1]);
});

test('remove hides a label, and re-upsert brings it back', () => {
  const index = line();
  assert.equal(index.remove(5), true);
  assert.equal(index.remove(5), false, 'already deleted');
  assert.equal(index.remove(99), false, 'never added');
  assert.equal(index.size, 19);
  assert.equal(index.deletedCount, 1);
  assert.equal(index.has(5), false);
  assert.equal(index.getVector(5), null);
  assert.ok(!index.search(f(5, 1), 19).some((h) => h.label === 5));
  index.upsert(5, f(5, 1));
  assert.equal(index.size, 20);
  assert.equal(index.deletedCount, 0);
  assert.deepEqual(index.search(f(5, 1), 1), [{ label: 5, distance: 0 }]);
});

test('k above the live count returns every live label', () => {
  const index = line(20);
  for (const label of [1, 4, 9, 16, 17]) index.remove(label);
  const hits = index.search(f(0, 0), 1000);
  assert.equal(hits.length, 15);
  assert.deepEqual(
    hits.map((h) => h.label).sort((a, b) => a - b),
    [0, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 18, 19],
  );
});

test('capacity grows past 1,024 and beyond', () => {
  const index = new HnswIndex({ ...base(4), m: 8, efConstruction: 32, initialCapacity: 1 });
  assert.equal(index.capacity, 1);
  const before = index.memoryBytes();
  const rand = prng(3);
  for (let i = 0; i < 2500; i++) index.upsert(i, f(rand(), rand(), rand(), i / 2500));
  assert.equal(index.capacity, 4096);
  assert.equal(index.size, 2500);
  assert.ok(index.memoryBytes() > before);
  assert.ok(index.memoryBytes() >= 4096 * (17 * 4 + 4 * 4 + 8));
  assert.deepEqual(index.search(index.getVector(2499)!, 1), [{ label: 2499, distance: 0 }]);
});

test('invalid labels throw before reaching native code', () => {
  const index = line(3);
  for (const bad of [-1, 1.5, 2 ** 32, NaN]) {
    assert.throws(() => index.upsert(bad, f(9, 9)), { code: 'VDB_ERR_INDEX_LABEL', statusCode: 500 });
    assert.throws(() => index.remove(bad), { code: 'VDB_ERR_INDEX_LABEL' });
    assert.equal(index.has(bad), false);
  }
  // hnswlib would have coerced −1 to 4294967295 and 1.5 to 1.
  assert.equal(index.size, 3);
  assert.equal(index.has(2 ** 32 - 1), false);
  assert.deepEqual(Array.from(index.getVector(1)!), [1, 1]);
  assert.throws(() => index.upsert(-1, f(9, 9)), { message: 'label -1 is not an integer from 0 to 4294967295' });
  // The largest label is valid (kept out of the dense label table).
  index.upsert(2 ** 32 - 1, f(9, 9));
  assert.deepEqual(index.search(f(9, 9), 1), [{ label: 2 ** 32 - 1, distance: 0 }]);
  assert.equal(index.remove(2 ** 32 - 1), true);
  assert.equal(index.size, 3);
});

test('a throwing filter does not crash and rejects', () => {
  const index = line(20);
  const hits = index.search(f(0, 1), 5, {
    filter: (label) => {
      if (label % 2 === 0) throw new Error('filter bug');
      return true;
    },
  });
  assert.deepEqual(hits.map((h) => h.label), [1, 3, 5, 7, 9]);
});

test('a filter passing 1 % of labels returns only allowed labels', () => {
  const { data, queries } = clustered(3000, 20, 16, 11);
  const index = new HnswIndex(base(16));
  data.forEach((v, label) => index.upsert(label, v));
  const allowed = (label: number) => label % 100 === 0;
  for (const q of queries) {
    const hits = index.search(q, 10, { ef: 200, filter: allowed });
    assert.ok(hits.length > 0);
    assert.ok(hits.every((h) => allowed(h.label)));
  }
});

test('a filter never sees deleted labels as allowed', () => {
  const index = line(20);
  index.remove(0);
  const hits = index.search(f(0, 1), 3, { filter: () => true });
  assert.deepEqual(hits.map((h) => h.label), [1, 2, 3]);
});

test('vectors and queries are checked', () => {
  const index = line(3);
  assert.throws(() => index.upsert(0, f(1, 2, 3)), { code: 'VDB_ERR_VECTOR_DIMENSION' });
  assert.throws(() => index.upsert(0, f(1, NaN)), { code: 'VDB_ERR_VECTOR_NOT_FINITE', message: 'vector[1] is NaN: values must be finite numbers' });
  assert.throws(() => index.search(f(1), 1), { code: 'VDB_ERR_VECTOR_DIMENSION' });
  assert.throws(() => index.search(f(1, 1), 0), { code: 'VDB_ERR_INDEX_OPTIONS' });
  assert.throws(() => index.search(f(1, 1), 1, { ef: 0 }), { code: 'VDB_ERR_INDEX_OPTIONS' });
  assert.deepEqual(index.search(f(1, 1), 1, { ef: 1 }), [{ label: 1, distance: 0 }]);
});

test('cosine stores normalised vectors', () => {
  const index = new HnswIndex(base(2, 'cosine'));
  index.upsert(0, f(3, 4));
  const stored = index.getVector(0)!;
  assert.ok(Math.abs(stored[0] - 0.6) < 1e-7 && Math.abs(stored[1] - 0.8) < 1e-7);
  assert.ok(Math.abs(index.search(f(30, 40), 1)[0].distance) < 1e-6);
});

test('writes during save() throw; searches still work', async (t) => {
  const dir = tempDir(t);
  const index = line(200);
  const saving = index.save(path.join(dir, 'a.hnsw'));
  assert.equal(index.saving, true);
  const message = 'index is being saved; defer writes until save() resolves';
  assert.throws(() => index.upsert(500, f(1, 1)), { code: 'VDB_ERR_INDEX_OPTIONS', message });
  assert.throws(() => index.remove(3), { code: 'VDB_ERR_INDEX_OPTIONS', message });
  assert.equal(index.search(f(3, 1), 1)[0].label, 3);
  await saving;
  assert.equal(index.saving, false);
  assert.equal(index.remove(3), true);
  assert.equal(index.has(3), false);
});

test('a save hnswlib cannot write is reported', async (t) => {
  const dir = tempDir(t);
  const index = line(5);
  await assert.rejects(index.save(path.join(dir, 'missing', 'a.hnsw')), { code: 'VDB_ERR_INDEX_SNAPSHOT_INVALID' });
  assert.equal(index.saving, false);
  index.upsert(6, f(6, 1));
});

test('load restores the index; re-removing labels deleted before the save works', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'a.hnsw');
  const { data, queries } = clustered(500, 20, 8, 5);
  const index = new HnswIndex(base(8));
  data.forEach((v, label) => index.upsert(label, v));
  const deleted = [3, 50, 77, 499];
  for (const label of deleted) index.remove(label);
  await index.save(file);

  const loaded = await HnswIndex.load(file, base(8));
  assert.equal(loaded.capacity, index.capacity);
  for (const q of queries) assert.deepEqual(loaded.search(q, 10), index.search(q, 10));
  // The file does not tell the caller which labels are deleted: re-applied here.
  assert.equal(loaded.size, 500);
  for (const label of deleted) assert.equal(loaded.remove(label), true);
  assert.equal(loaded.size, 496);
  assert.equal(loaded.deletedCount, 4);
  for (const label of deleted) assert.equal(loaded.has(label), false);
  assert.ok(!loaded.search(data[3], 20).some((h) => deleted.includes(h.label)));
  // Writes work after load; a deleted label comes back.
  loaded.upsert(3, data[3]);
  assert.equal(loaded.search(data[3], 1)[0].label, 3);
  loaded.upsert(1000, f(9, 9, 9, 9, 9, 9, 9, 9));
  assert.equal(loaded.size, 498);
});

test('load of an empty index, and of a file of another dimension', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'empty.hnsw');
  await new HnswIndex(base(3)).save(file);
  const empty = await HnswIndex.load(file, base(3));
  assert.equal(empty.size, 0);
  assert.deepEqual(empty.search(f(1, 2, 3), 3), []);
  empty.upsert(0, f(1, 2, 3));
  assert.deepEqual(empty.search(f(1, 2, 3), 3), [{ label: 0, distance: 0 }]);
  await assert.rejects(HnswIndex.load(file, base(4)), {
    code: 'VDB_ERR_INDEX_SNAPSHOT_INVALID',
    message: `index file ${file} has dimension 3, expected 4`,
  });
  await assert.rejects(HnswIndex.load(path.join(dir, 'nope.hnsw'), base(3)), { code: 'VDB_ERR_INDEX_SNAPSHOT_INVALID' });
});

test('load refuses a truncated file or a damaged header without calling hnswlib', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'a.hnsw');
  await line(50).save(file);
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(path.join(dir, 'short.hnsw'), bytes.subarray(0, bytes.length - 500));
  fs.writeFileSync(path.join(dir, 'tiny.hnsw'), bytes.subarray(0, 40));
  const header = Buffer.from(bytes);
  header.writeBigUInt64LE(10n ** 12n, 16); // element count
  fs.writeFileSync(path.join(dir, 'header.hnsw'), header);
  for (const name of ['short.hnsw', 'tiny.hnsw', 'header.hnsw']) {
    await assert.rejects(
      HnswIndex.load(path.join(dir, name), base(2)),
      { code: 'VDB_ERR_INDEX_SNAPSHOT_INVALID', message: new RegExp(`${name} is invalid: `) },
      name,
    );
  }
});

test('the fast build (a Float32Array query) and the stock build (a number[]) answer alike, filtered, deleted and short', () => {
  const { data, queries } = clustered(1500, 30, 24, 11);
  for (const metric of ['l2', 'ip', 'cosine'] as Metric[]) {
    const build = (engine: 'auto' | 'stock') => {
      const index = new HnswIndex({ ...base(24, metric), seed: 5, engine });
      data.forEach((v, i) => index.upsert(i, v));
      for (let i = 0; i < data.length; i += 7) index.remove(i);
      return index;
    };
    const fast = build('auto');
    const stock = build('stock');
    for (const q of queries) {
      for (const [k, filter] of [[10, undefined], [25, (l: number) => l % 5 === 0], [3, (l: number) => l === 1 || l === 7]] as const) {
        const want = stock.search(q, k, { ef: 64, filter });
        const got = fast.search(q, k, { ef: 64, filter });
        assert.deepEqual(got.map((h) => h.label), want.map((h) => h.label), metric);
        got.forEach((h, i) => assert.ok(Math.abs(h.distance - want[i].distance) <= 1e-5 * Math.max(1, Math.abs(want[i].distance)), metric));
      }
    }
    assert.equal(fast.search(queries[0], 3, { filter: (l) => l === 1 || l === 7 }).length, 1, 'label 7 is deleted: one result');
  }
});
