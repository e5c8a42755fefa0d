/**
 * The exact-scoring kernels timed against each other on the same data (bench/engine-build.ts):
 * VectorStore's topK over the rows of a 1 % filter with the native kernel (index/native/kernels.cc,
 * rows read in place), the WebAssembly kernel (rows copied into its memory first) and the JavaScript
 * loop; the same over 32 rows of int8 codes (a PCA search's rescoring) and over 1 % of them (a filter
 * on an int8 collection); and a PCA projection to half the dimensions, native against WebAssembly.
 */
import { loadKernels } from '../../index/native/kernels.ts';
import { fitCodecParams, VectorCodec } from '../../index/codec.ts';
import { fitPca, project, sampleRows } from '../../index/pca.ts';
import { VectorStore } from '../../index/vector-store.ts';
import type { Dataset } from './datasets.ts';
import { row } from './datasets.ts';
import { alternate, median } from './stats.ts';

export interface KernelRow {
  work: string;
  /** Median µs per call over the rounds; null where that path does not exist here. */
  native: number | null;
  wasm: number;
  js: number | null;
  /** Calls whose top 10 (or projection, within 1e-4 relative) matched the JavaScript or WebAssembly answer. */
  agree: number;
}

/** µs per call of each path over `calls`, median of `rounds` passes, the paths alternating within each round. */
function timeAlternating(paths: ((i: number) => unknown)[], calls: number, rounds: number): number[] {
  const passes = paths.map((path) => () => {
    const started = performance.now();
    for (let i = 0; i < calls; i++) path(i);
    return ((performance.now() - started) * 1000) / calls;
  });
  return alternate(passes, rounds).map(median);
}

/**
 * topK of 10 over `labels` through `stores` (one with the native kernels, one without: the same
 * segments), and through the JavaScript loop; with the share of queries where all agree.
 */
function timeTopK(work: string, stores: { native: VectorStore | null; wasm: VectorStore }, labels: Uint32Array, queries: Float32Array[], rounds: number): KernelRow {
  const { native, wasm } = stores;
  const ids = (hits: { label: number }[]) => hits.map((h) => h.label).join();
  const agree = queries.filter((v) => {
    const want = ids(wasm.topKScalar(v, labels, 10));
    return ids(wasm.topK(v, labels, 10)) === want && (!native || ids(native.topK(v, labels, 10)) === want);
  }).length;
  const q = (i: number) => queries[i % queries.length];
  const times = timeAlternating([
    ...(native ? [(i: number) => native.topK(q(i), labels, 10)] : []),
    (i: number) => wasm.topK(q(i), labels, 10),
    (i: number) => wasm.topKScalar(q(i), labels, 10),
  ], queries.length, rounds);
  const [nativeUs, wasmUs, jsUs] = native ? times : [null, ...times];
  return { work, native: nativeUs, wasm: wasmUs!, js: jsUs, agree: agree / queries.length };
}

export function timeKernels(dataset: Dataset, rounds: number): KernelRow[] {
  const { n, dim } = dataset.train;
  const native = loadKernels();
  const store = new VectorStore(dim, 'l2', [], null, native);
  for (let i = 0; i < n; i++) store.set(i, row(dataset.train, i));
  const queries = Array.from({ length: Math.min(dataset.queries.n, 200) }, (_, i) => row(dataset.queries, i));
  // One fixed 1 % of the points, as a cached filter plan scores for every query.
  const subset = sampleRows(n, Math.max(1, Math.round(n / 100)), 7);
  const float32 = { native: native && store, wasm: new VectorStore(dim, 'l2', [...store.segments], null, null) };
  const rows = [timeTopK(`topK of 10 over a fixed ${subset.length} rows (1 %) × ${dim}`, float32, subset, queries, rounds)];

  const sample = sampleRows(n, Math.min(n, 4 * dim), 11);
  const data = new Float32Array(sample.length * dim);
  sample.forEach((r, i) => data.set(row(dataset.train, r), i * dim));
  const codec = new VectorCodec('int8', dim, fitCodecParams('int8', data, sample.length, dim));
  for (const count of [32, subset.length]) {
    const labels = sampleRows(n, Math.min(n, count), 13);
    const coded = new VectorStore(dim, 'l2', [], codec, native);
    for (const label of labels) coded.setStored(label, codec.encode(row(dataset.train, label)).bytes, (b) => codec.decode(b));
    const int8 = { native: native && coded, wasm: new VectorStore(dim, 'l2', [...coded.segments], codec, null) };
    rows.push(timeTopK(`topK of 10 over ${labels.length} rows of int8 codes × ${dim}`, int8, labels, queries, rounds));
  }

  const out = Math.max(1, Math.floor(dim / 2));
  const pca = fitPca(data, sample.length, dim, out);
  const a = new Float32Array(out);
  const b = new Float32Array(out);
  const close = queries.filter((v) => {
    if (!native) return true;
    project(pca, v, a, native);
    project(pca, v, b, null);
    const scale = Math.max(1, ...b.map(Math.abs));
    return a.every((x, c) => Math.abs(x - b[c]) <= 1e-4 * scale);
  }).length;
  const q = (i: number) => queries[i % queries.length];
  const projection = timeAlternating([
    ...(native ? [(i: number) => project(pca, q(i), a, native)] : []),
    (i: number) => project(pca, q(i), b, null),
  ], queries.length, rounds);
  rows.push({ work: `PCA projection ${dim} → ${out}`, native: native ? projection[0] : null, wasm: projection[native ? 1 : 0], js: null, agree: close / queries.length });
  return rows;
}
