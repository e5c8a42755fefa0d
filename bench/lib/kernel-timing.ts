/**
 * The exact-scoring kernels timed against each other on the same data (bench/engine-build.ts):
 * VectorStore's topK over the rows of a 1 % filter with the native kernel (index/native/kernels.cc,
 * rows read in place), the WebAssembly kernel (rows copied into its memory first) and the JavaScript
 * loop; the same over 32 rows of int8 codes (a PCA search's rescoring) and over 1 % of them (a filter
 * on an int8 collection); and a PCA projection to half
 * the dimensions, native against WebAssembly.
 */
import { loadKernels } from '../../index/native/kernels.ts';
import { fitCodecParams, VectorCodec } from '../../index/codec.ts';
import { fitPca, project, sampleRows } from '../../index/pca.ts';
import { VectorStore } from '../../index/vector-store.ts';
import type { Dataset } from './datasets.ts';
import { row } from './datasets.ts';

export interface KernelRow {
  work: string;
  /** Median µs per call over the rounds; null where that path does not exist here. */
  native: number | null;
  wasm: number;
  js: number | null;
  /** Calls whose top 10 (or projection, within 1e-4 relative) matched the JavaScript or WebAssembly answer. */
  agree: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** µs per call of `f` over `calls`, median of `rounds` passes, the paths alternating within each round. */
function timeAlternating(paths: ((i: number) => unknown)[], calls: number, rounds: number): number[] {
  const times = paths.map((): number[] => []);
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < paths.length; j++) {
      const p = (j + r) % paths.length;
      const started = performance.now();
      for (let i = 0; i < calls; i++) paths[p](i);
      times[p].push(((performance.now() - started) * 1000) / calls);
    }
  }
  return times.map(median);
}

export function timeKernels(dataset: Dataset, rounds: number): KernelRow[] {
  const { n, dim } = dataset.train;
  const native = loadKernels();
  const stores = [new VectorStore(dim, 'l2', [], null, native)];
  for (let i = 0; i < n; i++) stores[0].set(i, row(dataset.train, i));
  stores.push(new VectorStore(dim, 'l2', [...stores[0].segments], null, null));
  const queries = Array.from({ length: Math.min(dataset.queries.n, 200) }, (_, i) => row(dataset.queries, i));
  // One fixed 1 % of the points, as a cached filter plan scores for every query.
  const subset = sampleRows(n, Math.max(1, Math.round(n / 100)), 7);
  const q = (i: number) => queries[i % queries.length];
  const [nativeStore, wasmStore] = stores;
  const agreeing = queries.filter((v) => {
    const want = wasmStore.topKScalar(v, subset, 10).map((h) => h.label).join();
    return nativeStore.topK(v, subset, 10).map((h) => h.label).join() === want && wasmStore.topK(v, subset, 10).map((h) => h.label).join() === want;
  }).length;
  const calls = queries.length;
  const topK = timeAlternating([
    ...(native ? [(i: number) => nativeStore.topK(q(i), subset, 10)] : []),
    (i: number) => wasmStore.topK(q(i), subset, 10),
    (i: number) => wasmStore.topKScalar(q(i), subset, 10),
  ], calls, rounds);
  const rows: KernelRow[] = [{
    work: `topK of 10 over a fixed ${subset.length} rows (1 %) × ${dim}`,
    native: native ? topK[0] : null,
    wasm: topK[native ? 1 : 0],
    js: topK[native ? 2 : 1],
    agree: agreeing / queries.length,
  }];

  const sample = sampleRows(n, Math.min(n, 4 * dim), 11);
  const data = new Float32Array(sample.length * dim);
  sample.forEach((r, i) => data.set(row(dataset.train, r), i * dim));
  for (const count of [32, Math.max(1, Math.round(n / 100))]) rows.push(timeCoded(dataset, data, sample.length, queries, native, rounds, count));

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
  const projection = timeAlternating([
    ...(native ? [(i: number) => project(pca, q(i), a, native)] : []),
    (i: number) => project(pca, q(i), b, null),
  ], calls, rounds);
  rows.push({ work: `PCA projection ${dim} → ${out}`, native: native ? projection[0] : null, wasm: projection[native ? 1 : 0], js: null, agree: close / queries.length });
  return rows;
}

/** topK over `count` fixed rows of int8 codes, native against WebAssembly against JavaScript. */
function timeCoded(dataset: Dataset, sample: Float32Array, sampled: number, queries: Float32Array[], native: ReturnType<typeof loadKernels>, rounds: number, count: number): KernelRow {
  const { n, dim } = dataset.train;
  const codec = new VectorCodec('int8', dim, fitCodecParams('int8', sample, sampled, dim));
  const labels = sampleRows(n, Math.min(n, count), 13);
  const store = new VectorStore(dim, 'l2', [], codec, native);
  for (const label of labels) store.setStored(label, codec.encode(row(dataset.train, label)).bytes, (b) => codec.decode(b));
  const wasm = new VectorStore(dim, 'l2', [...store.segments], codec, null);
  const agree = queries.filter((v) => {
    const want = store.topKScalar(v, labels, 10).map((h) => h.label).join();
    return store.topK(v, labels, 10).map((h) => h.label).join() === want && wasm.topK(v, labels, 10).map((h) => h.label).join() === want;
  }).length;
  const q = (i: number) => queries[i % queries.length];
  const times = timeAlternating([
    ...(native ? [(i: number) => store.topK(q(i), labels, 10)] : []),
    (i: number) => wasm.topK(q(i), labels, 10),
    (i: number) => store.topKScalar(q(i), labels, 10),
  ], queries.length, rounds);
  return {
    work: `topK of 10 over ${labels.length} rows of int8 codes × ${dim}`,
    native: native ? times[0] : null,
    wasm: times[native ? 1 : 0],
    js: times[native ? 2 : 1],
    agree: agree / queries.length,
  };
}
