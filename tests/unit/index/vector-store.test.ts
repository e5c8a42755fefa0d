import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BruteForceIndex } from '../../../index/brute-force.ts';
import { SEGMENT, VectorStore } from '../../../index/vector-store.ts';
import type { Metric } from '../../../index/vector-index.ts';
import { fitCodecParams, VectorCodec } from '../../../index/codec.ts';
import { distance } from '../../../index/distance.ts';
import { loadKernels } from '../../../index/native/kernels.ts';
import { prng } from '../../helpers/random.ts';

function vectors(n: number, dim: number, seed: number): Float32Array[] {
  let s = seed;
  const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  return Array.from({ length: n }, () => Float32Array.from({ length: dim }, r));
}

test('vectors set in one store are read, without copies, by another store over the same segments', () => {
  const store = new VectorStore(4, 'l2');
  store.set(0, new Float32Array([1, 2, 3, 4]));
  store.set(SEGMENT + 5, new Float32Array([5, 6, 7, 8]));
  assert.equal(store.segments.length, 2);
  assert.equal(store.capacity, 2 * SEGMENT);
  const reader = new VectorStore(4, 'l2', [...store.segments]);
  assert.deepEqual(Array.from(reader.get(SEGMENT + 5)), [5, 6, 7, 8]);
  store.set(0, new Float32Array([9, 9, 9, 9]));
  assert.deepEqual(Array.from(reader.get(0)), [9, 9, 9, 9], 'shared, not copied');
  assert.throws(() => reader.get(2 * SEGMENT), RangeError);
  assert.throws(() => new VectorStore(0, 'l2'), RangeError);
});

test('topK over a subset of labels equals the brute-force oracle for every metric', () => {
  const data = vectors(500, 16, 7);
  const queries = vectors(20, 16, 8);
  for (const metric of ['l2', 'ip', 'cosine'] as Metric[]) {
    const store = new VectorStore(16, metric);
    const oracle = new BruteForceIndex({ dimension: 16, metric });
    const subset = new Uint32Array(data.map((_, i) => i).filter((i) => i % 3 === 0));
    data.forEach((v, i) => store.set(i, v));
    for (const label of subset) oracle.upsert(label, data[label]);
    for (const q of queries) {
      const got = store.topK(q, subset, 10);
      const want = oracle.search(q, 10);
      assert.deepEqual(got.map((h) => h.label), want.map((h) => h.label), metric);
      got.forEach((h, i) => assert.ok(Math.abs(h.distance - want[i].distance) < 1e-5, metric));
    }
  }
});

test('topK over more labels than one SIMD block, in any order, at a dimension not a multiple of 4, equals the oracle', () => {
  const dim = 50;
  const data = vectors(900, dim, 17);
  const queries = vectors(5, dim, 18);
  for (const metric of ['l2', 'ip', 'cosine'] as Metric[]) {
    const store = new VectorStore(dim, metric);
    const oracle = new BruteForceIndex({ dimension: dim, metric });
    data.forEach((v, i) => store.set(i, v));
    // 700 labels, shuffled, plus labels never stored (beyond every segment): they are skipped.
    const subset = Uint32Array.from([...data.keys()].filter((i) => i % 9 !== 0).reverse().concat([5_000_000, 7_000_000]));
    for (const label of subset) if (label < data.length) oracle.upsert(label, data[label]);
    for (const q of queries) {
      const got = store.topK(q, subset, 300);
      const want = oracle.search(q, 300);
      assert.deepEqual(got.map((h) => h.label), want.map((h) => h.label), metric);
      got.forEach((h, i) => assert.ok(Math.abs(h.distance - want[i].distance) < 1e-4, `${metric}: ${h.distance} vs ${want[i].distance}`));
    }
  }
});

test('a store of encoded vectors scores them decoded, as a brute force over the decoded vectors does, in every metric', () => {
  const d = 24;
  const random = prng(17);
  const rows = Array.from({ length: 300 }, () => Float32Array.from({ length: d }, () => random() * 4 - 1));
  const flat = new Float32Array(rows.length * d);
  rows.forEach((r, i) => flat.set(r, i * d));
  for (const name of ['float16', 'float8_e4m3', 'float8_e5m2', 'int8'] as const) {
    const codec = new VectorCodec(name, d, name === 'float16' ? null : fitCodecParams(name, flat, rows.length, d));
    for (const metric of ['l2', 'ip', 'cosine'] as const) {
      const store = new VectorStore(d, metric, [], codec);
      const decoded = rows.map((r, label) => {
        const { bytes } = codec.encode(r);
        store.setStored(label, bytes, (b) => codec.decode(b));
        return codec.decode(bytes);
      });
      const q = Float32Array.from({ length: d }, () => random() * 4 - 1);
      const labels = Array.from({ length: rows.length }, (_, i) => i);
      const got = store.topK(q, labels, 7);
      const want = decoded.map((v, label) => ({ label, distance: distance(metric, q, v) })).sort((a, b) => a.distance - b.distance || a.label - b.label).slice(0, 7);
      assert.deepEqual(got.map((h) => h.label), want.map((h) => h.label), `${name} ${metric}`);
      got.forEach((h, i) => assert.ok(Math.abs(h.distance - want[i].distance) < 1e-4, `${name} ${metric}: ${h.distance} vs ${want[i].distance}`));
      assert.deepEqual(store.get(5), decoded[5]);
    }
  }
});

test('a compressed store scores with the native and the WebAssembly coded kernels as its JavaScript loops do, over blocks, padding and label order, in every metric', (t) => {
  const native = loadKernels();
  if (!native) t.diagnostic('no native kernels here: WebAssembly against JavaScript only');
  const random = prng(23);
  for (const d of [20, 33, 784]) {
    const rows = Array.from({ length: 600 }, () => Float32Array.from({ length: d }, () => random() * 6 - 2));
    const flat = new Float32Array(rows.length * d);
    rows.forEach((r, i) => flat.set(r, i * d));
    for (const name of ['float16', 'float8_e4m3', 'float8_e5m2', 'int8'] as const) {
      const codec = new VectorCodec(name, d, name === 'float16' ? null : fitCodecParams(name, flat, rows.length, d));
      for (const metric of ['l2', 'ip', 'cosine'] as const) {
        const store = new VectorStore(d, metric, [], codec, native);
        rows.forEach((r, label) => store.setStored(label, codec.encode(r).bytes, (b) => codec.decode(b)));
        const wasm = new VectorStore(d, metric, [...store.segments], codec, null);
        const q = Float32Array.from({ length: d }, () => random() * 6 - 2);
        // Over one block (256 rows), backwards, with a label the store never allocated.
        const labels = [...Array.from({ length: rows.length }, (_, i) => rows.length - 1 - i), 3 * SEGMENT];
        for (const [subset, k] of [[labels, 40], [labels.slice(0, 5), 3]] as const) {
          const want = store.topKScalar(q, subset, k);
          for (const [path, s] of [['native', native && store], ['WebAssembly', wasm]] as const) {
            if (!s) continue;
            const got = s.topK(q, subset, k);
            assert.deepEqual(got.map((h) => h.label), want.map((h) => h.label), `${path} ${name} ${metric} d ${d}`);
            got.forEach((h, i) => assert.ok(Math.abs(h.distance - want[i].distance) <= 1e-5 * Math.max(1, Math.abs(want[i].distance)), `${path} ${name} ${metric} d ${d}: ${h.distance} vs ${want[i].distance}`));
          }
        }
      }
    }
  }
});

test('topKBounded returns what topK does when the bounds are lower bounds, and stops scoring once a bound passes the k-th best', () => {
  const random = prng(31);
  const d = 40;
  const rows = Array.from({ length: 200 }, () => Float32Array.from({ length: d }, () => random() * 4 - 2));
  const flat = new Float32Array(rows.length * d);
  rows.forEach((r, i) => flat.set(r, i * d));
  for (const name of ['float32', 'float8_e4m3', 'int8'] as const) {
    const codec = new VectorCodec(name, d, name === 'float32' ? null : fitCodecParams(name, flat, rows.length, d));
    for (const metric of ['l2', 'cosine'] as const) {
      const store = new VectorStore(d, metric, [], codec);
      rows.forEach((r, label) => store.setStored(label, codec.encode(r).bytes, (b) => codec.decode(b)));
      const q = Float32Array.from({ length: d }, () => random() * 4 - 2);
      const all = Array.from({ length: rows.length }, (_, i) => i);
      const exact = new Map(store.topKScalar(q, all, rows.length).map((h) => [h.label, h.distance]));
      // Bounds anywhere from half the distance up to it, labels in bound order.
      const bounded = all.map((label) => ({ label, bound: exact.get(label)! * (0.5 + 0.5 * random()) })).sort((a, b) => a.bound - b.bound);
      const labels = bounded.map((b) => b.label);
      const bounds = bounded.map((b) => b.bound);
      for (const k of [1, 10, 60]) {
        assert.deepEqual(store.topKBounded(q, labels, bounds, k), store.topK(q, labels, k), `${name} ${metric} k ${k}`);
      }
      // Scoring stops: a label whose (false) bound lies past everything is not scored, though it is the nearest.
      const nearest = store.topK(q, all, 1)[0].label;
      const rest = labels.filter((l) => l !== nearest);
      const got = store.topKBounded(q, [...rest, nearest], [...bounds.slice(0, rest.length), Infinity], 10);
      assert.ok(!got.some((h) => h.label === nearest), `${name} ${metric}: scored past the bound`);
      // Bounds out of order are ignored.
      const shuffled = [...bounds].reverse();
      assert.deepEqual(store.topKBounded(q, labels, shuffled, 10), store.topK(q, labels, 10));
      assert.throws(() => store.topKBounded(q, labels, bounds.slice(1), 10), RangeError);
    }
  }
});

test('native, WebAssembly and JavaScript scoring of float32 rows agree, in place across segments, with labels in any form', (t) => {
  const loaded = loadKernels();
  if (!loaded) t.diagnostic('no native kernels here: WebAssembly against JavaScript only');
  let calls = 0;
  const native = loaded && { ...loaded, scoreRows: (...args: Parameters<typeof loaded.scoreRows>) => (calls++, loaded.scoreRows(...args)) };
  const random = prng(41);
  for (const d of [5, 50, 784]) {
    for (const metric of ['l2', 'ip', 'cosine'] as const) {
      const stores = [new VectorStore(d, metric, [], null, native), new VectorStore(d, metric, [], null, null)];
      const [store, wasm] = stores;
      // Rows in two segments; labels beyond them are skipped.
      const labels = Array.from({ length: 300 }, (_, i) => (i % 2 ? SEGMENT + i : i));
      for (const label of labels) store.set(label, Float32Array.from({ length: d }, () => random() * 2 - 1));
      const shared = new VectorStore(d, metric, [...store.segments], null, null);
      assert.equal(wasm.capacity, 0);
      const q = Float32Array.from({ length: d }, () => random() * 2 - 1);
      const asked = [...labels.reverse(), 9 * SEGMENT];
      const want = shared.topKScalar(q, asked, 25);
      for (const form of [asked, Uint32Array.from(asked), Int32Array.from(asked)]) {
        for (const [path, s] of [['native', store], ['WebAssembly', shared]] as const) {
          const got = s.topK(q, form, 25);
          assert.deepEqual(got.map((h) => h.label), want.map((h) => h.label), `${path} ${metric} d ${d}`);
          got.forEach((h, i) => assert.ok(Math.abs(h.distance - want[i].distance) <= 1e-5 * Math.max(1, Math.abs(want[i].distance)), `${path} ${metric} d ${d}: ${h.distance} vs ${want[i].distance}`));
        }
      }
      // Bounded, with the exact distances as bounds: scored eight at a time until the k-th.
      const ranked = shared.topKScalar(q, asked, asked.length);
      const bounded = store.topKBounded(q, ranked.map((h) => h.label), ranked.map((h) => h.distance), 7);
      assert.deepEqual(bounded.map((h) => h.label), want.slice(0, 7).map((h) => h.label), `${metric} d ${d} bounded`);
    }
  }
  if (loaded) assert.ok(calls > 0, 'the native store never called its kernel');
});
