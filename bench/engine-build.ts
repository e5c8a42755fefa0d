/**
 * hnswlib-node builds compared: stock (SSE), AVX2+FMA and -march=native (whichever are installed, see
 * index/native/build-fast.mjs), same data, same parameters, one thread. Our builds also have
 * searchKnnInto (index/native/search-into.inc: the query as a Float32Array, the results in typed
 * arrays); it is timed beside searchKnn (a number[] read one element at a time) on the same index.
 * Last, the exact-scoring kernels (bench/lib/kernel-timing.ts): native, WebAssembly and JavaScript.
 *
 *   node --import tsx bench/engine-build.ts                 synthetic 20k × 784, 1,000 queries
 *   node --import tsx bench/engine-build.ts --data fashion  the first 20k Fashion-MNIST train vectors
 *   node --import tsx bench/engine-build.ts --smoke         2k × 64, 100 queries (CI)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { intList, positiveInt } from './lib/args.ts';
import { loadFashionMnist, row, syntheticDataset } from './lib/datasets.ts';
import { groundTruth, recall, type GroundTruth } from './lib/ground-truth.ts';
import { describeCommand, describeMachine } from './lib/report.ts';
import type { ResolvedBuild } from '../index/native/engine.ts';
import { loadHnswlib, type Hnswlib } from '../index/native/load.ts';
import { timeKernels } from './lib/kernel-timing.ts';
import { alternate, median } from './lib/stats.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
const K = 10;
const HNSW = { m: 16, efConstruction: 200, seed: 100 };
const BUILDS: ResolvedBuild[] = ['stock', 'avx2', 'native'];

const USAGE = `usage: node --import tsx bench/engine-build.ts [flags]
  --smoke          2,000 × 64-d synthetic, 100 queries, short passes
  --data NAME      synthetic (default) or fashion (Debian dataset-fashion-mnist, never installed here)
  --train N        indexed vectors (default 20000; smoke 2000)
  --queries N      queries (default 1000; smoke 100)
  --dim N          synthetic dimension (default 784; smoke 64)
  --ef LIST        ef values (default 20,64)
  --rounds N       timed passes per (build, ef), interleaved across builds (default 11; smoke 1)

Builds are timed in chunks of 1,000 points and searches in whole passes, alternating between builds so
that other load on the machine hits them alike; QPS is the median pass (the best pass is in the JSON).`;

function options() {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      data: { type: 'string', default: 'synthetic' },
      train: { type: 'string' },
      queries: { type: 'string' },
      dim: { type: 'string' },
      ef: { type: 'string', default: '20,64' },
      rounds: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  const smoke = values.smoke;
  if (values.data !== 'synthetic' && values.data !== 'fashion') throw new Error(`--data must be synthetic or fashion, got '${values.data}'`);
  return {
    help: values.help,
    smoke,
    data: values.data,
    train: positiveInt('train', values.train ?? (smoke ? '2000' : '20000')),
    queries: positiveInt('queries', values.queries ?? (smoke ? '100' : '1000')),
    dim: positiveInt('dim', values.dim ?? (smoke ? '64' : '784')),
    efs: intList('ef', values.ef),
    rounds: positiveInt('rounds', values.rounds ?? (smoke ? '1' : '11')),
  };
}

type NativeIndex = InstanceType<Hnswlib['HierarchicalNSW']>;

interface Engine {
  build: ResolvedBuild;
  path: string | null;
  reason: string;
  index: NativeIndex;
  buildSeconds: number;
  buildRate: number;
}

interface EfRow {
  build: ResolvedBuild;
  ef: number;
  /** Median over rounds of queries/s, one query at a time on this thread. */
  qps: number;
  bestQps: number;
  qpsRounds: number[];
  recall: number;
  /** Queries whose k labels equal the stock build's, in order. */
  sameAsStock: number;
}

const BUILD_CHUNK = 1000;

/** Inserts every row into every index, a chunk at a time per index in turn; returns each one's seconds. */
function buildInterleaved(indexes: NativeIndex[], rows: number[][]): number[] {
  const seconds = indexes.map(() => 0);
  for (let from = 0, chunk = 0; from < rows.length; from += BUILD_CHUNK, chunk++) {
    const to = Math.min(rows.length, from + BUILD_CHUNK);
    for (let j = 0; j < indexes.length; j++) {
      const which = (j + chunk) % indexes.length; // rotate who goes first
      const index = indexes[which];
      const started = performance.now();
      for (let i = from; i < to; i++) index.addPoint(rows[i], i);
      seconds[which] += (performance.now() - started) / 1000;
    }
  }
  return seconds;
}

/** One timed pass over every query; returns queries/s. */
function searchPass(index: NativeIndex, queries: number[][]): number {
  const started = performance.now();
  for (const q of queries) index.searchKnn(q, K);
  return queries.length / ((performance.now() - started) / 1000);
}

type SearchInto = (query: Float32Array, k: number, labels: Uint32Array, distances: Float32Array) => number;

/** The index's searchKnnInto, when its build has one. */
function searchInto(index: NativeIndex): SearchInto | null {
  const into = (index as Partial<{ searchKnnInto: SearchInto }>).searchKnnInto;
  return typeof into === 'function' ? into.bind(index) : null;
}

const OUT_LABELS = new Uint32Array(K);
const OUT_DISTANCES = new Float32Array(K);

/** searchPass through searchKnnInto, with Float32Array queries. */
function searchIntoPass(into: SearchInto, queries: Float32Array[]): number {
  const started = performance.now();
  for (const q of queries) into(q, K, OUT_LABELS, OUT_DISTANCES);
  return queries.length / ((performance.now() - started) / 1000);
}

/** searchKnnInto against searchKnn on the same index and queries. */
interface IntoRow {
  build: ResolvedBuild;
  ef: number;
  /** Medians over rounds of queries/s. */
  searchKnnQps: number;
  searchKnnIntoQps: number;
  /** Queries whose labels equal searchKnn's, in order. */
  sameAnswers: number;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function main(): void {
  const o = options();
  if (o.help) return console.log(USAGE);
  const log = (line: string): void => console.log(line);
  const started = new Date().toISOString();
  const dataset =
    o.data === 'fashion'
      ? loadFashionMnist(o.train, o.queries, false, log)
      : syntheticDataset({ train: o.train, queries: o.queries, dim: o.dim, clusters: 50, seed: 42 });
  const gt = groundTruth(dataset, K, o.smoke ? null : OUT_DIR);
  const truth: GroundTruth = gt.truth;
  const trainRows = Array.from({ length: dataset.train.n }, (_, i) => Array.from(row(dataset.train, i)));
  const queryRows = Array.from({ length: dataset.queries.n }, (_, i) => Array.from(row(dataset.queries, i)));
  const queryVectors = Array.from({ length: dataset.queries.n }, (_, i) => row(dataset.queries, i));
  log(`${dataset.name}: ${dataset.train.n} × ${dataset.train.dim}, ${dataset.queries.n} queries, k=${K}, M=${HNSW.m}, efConstruction=${HNSW.efConstruction}`);

  const engines: Engine[] = [];
  const skipped: { build: ResolvedBuild; reason: string }[] = [];
  for (const build of BUILDS) {
    const loaded = loadHnswlib(build);
    if (loaded.build !== build) {
      skipped.push({ build, reason: loaded.reason });
      log(`${build}: not available (${loaded.reason})`);
      continue;
    }
    const index = new loaded.lib.HierarchicalNSW(dataset.metric, dataset.train.dim);
    index.initIndex(dataset.train.n, HNSW.m, HNSW.efConstruction, HNSW.seed);
    engines.push({ build, path: loaded.path, reason: loaded.reason, index, buildSeconds: 0, buildRate: 0 });
  }
  const buildSeconds = buildInterleaved(engines.map((e) => e.index), trainRows);
  engines.forEach((e, i) => {
    e.buildSeconds = buildSeconds[i];
    e.buildRate = dataset.train.n / buildSeconds[i];
    log(`${e.build}: built in ${e.buildSeconds.toFixed(2)} s (${e.reason})`);
  });

  const rows: EfRow[] = [];
  const intoRows: IntoRow[] = [];
  // Each build's searchKnn, then searchKnnInto on the builds that have it.
  const withInto = engines.flatMap((e) => {
    const into = searchInto(e.index);
    return into ? [{ engine: e, into }] : [];
  });
  const passes = [
    ...engines.map((e) => () => searchPass(e.index, queryRows)),
    ...withInto.map(({ into }) => () => searchIntoPass(into, queryVectors)),
  ];
  for (const ef of o.efs) {
    const answers = engines.map((e) => {
      e.index.setEf(Math.max(ef, K));
      return queryRows.map((q) => e.index.searchKnn(q, K).neighbors);
    });
    for (const pass of passes) pass(); // warm-up
    // Builds and calls alternate within each round so drift on a shared machine hits them alike.
    const rounds = alternate(passes, o.rounds);
    engines.forEach((e, i) => {
      const same = answers[i].filter((a, q) => a.join() === answers[0][q].join()).length;
      rows.push({ build: e.build, ef, qps: median(rounds[i]), bestQps: Math.max(...rounds[i]), qpsRounds: rounds[i], recall: recall(dataset, truth, answers[i]), sameAsStock: same / queryRows.length });
    });
    withInto.forEach(({ engine, into }, w) => {
      const want = answers[engines.indexOf(engine)];
      const same = queryVectors.filter((q, i) => {
        const found = into(q, K, OUT_LABELS, OUT_DISTANCES);
        return Array.from(OUT_LABELS.subarray(0, found)).join() === want[i].join();
      }).length;
      const searchKnnQps = rows[rows.length - engines.length + engines.indexOf(engine)].qps;
      intoRows.push({ build: engine.build, ef, searchKnnQps, searchKnnIntoQps: median(rounds[engines.length + w]), sameAnswers: same / queryVectors.length });
    });
  }

  const stock = engines.find((e) => e.build === 'stock');
  const speedup = (x: number, base: number | undefined): string => (base === undefined ? '—' : `${(x / base).toFixed(2)}×`);
  const header = ['build', 'build vec/s', '×stock'];
  for (const ef of o.efs) header.push(`ef=${ef} QPS`, '×stock', 'recall', 'same as stock');
  const tableRows = engines.map((e) => {
    const cells = [e.build, Math.round(e.buildRate).toLocaleString('en-US'), speedup(e.buildRate, stock?.buildRate)];
    for (const ef of o.efs) {
      const r = rows.find((x) => x.build === e.build && x.ef === ef)!;
      const base = rows.find((x) => x.build === 'stock' && x.ef === ef)?.qps;
      cells.push(Math.round(r.qps).toLocaleString('en-US'), speedup(r.qps, base), r.recall.toFixed(4), `${(r.sameAsStock * 100).toFixed(1)} %`);
    }
    return cells;
  });
  const machine = describeMachine(ROOT, null);
  log('');
  log(`hnswlib-node builds${o.smoke ? ' (smoke)' : ''} — ${machine.cpu}, ${machine.cores} cores, node ${machine.node}; search single-thread, median of ${o.rounds} passes over ${dataset.queries.n} queries`);
  log(table(header, tableRows));
  for (const s of skipped) log(`${s.build}: skipped — ${s.reason}`);
  if (intoRows.length > 0) {
    log('');
    log('the query as a Float32Array (searchKnnInto) against a number[] (searchKnn), same index; µs per search from the median QPS');
    const us = (qps: number): string => (1e6 / qps).toFixed(1);
    log(table(
      ['build', 'ef', 'searchKnn QPS', 'µs', 'searchKnnInto QPS', 'µs', '×', 'same answers'],
      intoRows.map((r) => [
        r.build, String(r.ef), Math.round(r.searchKnnQps).toLocaleString('en-US'), us(r.searchKnnQps),
        Math.round(r.searchKnnIntoQps).toLocaleString('en-US'), us(r.searchKnnIntoQps), `${(r.searchKnnIntoQps / r.searchKnnQps).toFixed(2)}×`, `${(r.sameAnswers * 100).toFixed(1)} %`,
      ]),
    ));
  }

  const kernels = timeKernels(dataset, o.rounds);
  log('');
  log('exact scoring, one thread: µs per call, median of the passes (native: index/native/kernels.cc; WebAssembly: index/simd-module.ts)');
  const cell = (x: number | null): string => (x === null ? '—' : x.toFixed(1));
  log(table(
    ['work', 'native µs', 'WebAssembly µs', 'JavaScript µs', 'agree'],
    kernels.map((k) => [k.work, cell(k.native), cell(k.wasm), cell(k.js), `${(k.agree * 100).toFixed(1)} %`]),
  ));

  const report = {
    started,
    command: describeCommand(ROOT),
    smoke: o.smoke,
    machine,
    dataset: { name: dataset.name, source: dataset.source, train: dataset.train.n, queries: dataset.queries.n, dim: dataset.train.dim, metric: dataset.metric, k: K },
    groundTruth: { cached: gt.cached, seconds: gt.seconds, cachePath: gt.cachePath },
    hnsw: HNSW,
    rounds: o.rounds,
    builds: engines.map((e) => ({ build: e.build, path: e.path, reason: e.reason, buildSeconds: e.buildSeconds, buildRate: e.buildRate })),
    skipped,
    search: rows,
    searchInto: intoRows,
    kernels,
  };
  mkdirSync(OUT_DIR, { recursive: true });
  const file = join(OUT_DIR, `engine-build${o.smoke ? '-smoke' : ''}-${started.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote ${relative(ROOT, file)}`);
}

main();
