import hnswlib from 'hnswlib-node';
import { row, type Dataset } from './datasets.ts';
import { recall, type GroundTruth } from './ground-truth.ts';
import { disturbance, machineBusySeconds, NO_QUIET, otherCpu, Samples, waitForQuiet, type QuietRules } from './stats.ts';

type Hnswlib = typeof hnswlib;
type NativeIndex = InstanceType<Hnswlib['HierarchicalNSW']>;

export const ENGINES = ['stock', 'avx2', 'native', 'auto'] as const;
export type EngineRequest = (typeof ENGINES)[number];

export interface Engine {
  lib: Hnswlib;
  /** The build that loaded: `stock` is the package as installed (SSE only). */
  build: string;
  reason: string;
}

/**
 * The hnswlib-node addon for the raw side. `stock` is the package itself; the faster builds are found
 * the way the server finds them (index/native), imported only when asked for, so the default path
 * depends on nothing but hnswlib-node. The server is started with the same VICINITY_HNSW_BUILD.
 */
export async function loadEngine(requested: EngineRequest): Promise<Engine> {
  if (requested === 'stock') return { lib: hnswlib, build: 'stock', reason: "import hnswlib from 'hnswlib-node'" };
  const { loadHnswlib } = await import('../../index/native/load.ts');
  const loaded = loadHnswlib(requested);
  return { lib: loaded.lib, build: loaded.build, reason: loaded.reason };
}

export interface HnswParams {
  m: number;
  efConstruction: number;
  /** hnswlib's level generator seed; the default of hnswlib is 100. */
  seed: number;
}

export interface RawBuild {
  index: NativeIndex;
  vectors: number;
  seconds: number;
  /** vectors/s, including the Float32Array → number[] conversion hnswlib-node requires. */
  rate: number;
  /** CPU seconds every other process on the machine used during the build. */
  otherCpuS: number | null;
}

/** Builds an in-process index from the training vectors, one addPoint per row, labels = row numbers. */
export function buildRaw(engine: Engine, dataset: Dataset, params: HnswParams): RawBuild {
  const { train } = dataset;
  const index = new engine.lib.HierarchicalNSW(dataset.metric, train.dim);
  index.initIndex(train.n, params.m, params.efConstruction, params.seed);
  const busyBefore = machineBusySeconds();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < train.n; i++) index.addPoint(Array.from(row(train, i)), i);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const otherCpuS = otherCpu(busyBefore, machineBusySeconds(), [(cpu.user + cpu.system) / 1e6]);
  return { index, vectors: train.n, seconds, rate: train.n / seconds, otherCpuS };
}

export interface SearchPass {
  ef: number;
  recall: number;
  /** Searches timed (whole passes over the queries) and their wall time. */
  requests: number;
  seconds: number;
  qps: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU seconds every other process on the machine used during the timed passes. */
  otherCpuS: number | null;
  /** Runs thrown away because other processes used more than `disturbedCores` meanwhile. */
  disturbedRuns?: number;
}

/**
 * One ef on a single thread: an untimed pass over every query for recall (it also warms the caches),
 * then whole timed passes until `durationS` has elapsed and at least `minRequests` searches were timed.
 */
export function searchRaw(
  index: NativeIndex,
  dataset: Dataset,
  truth: GroundTruth,
  queries: number[][],
  ef: number,
  durationS: number,
  minRequests = 0,
): SearchPass {
  const k = truth.k;
  index.setEf(Math.max(ef, k));
  const found = queries.map((q) => index.searchKnn(q, k).neighbors);
  const samples = new Samples();
  const busyBefore = machineBusySeconds();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + durationS * 1000;
  do {
    for (const q of queries) {
      const t0 = performance.now();
      index.searchKnn(q, k);
      samples.push(performance.now() - t0);
    }
  } while (performance.now() < deadline || samples.count < minRequests);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const otherCpuS = otherCpu(busyBefore, machineBusySeconds(), [(cpu.user + cpu.system) / 1e6]);
  const [p50Ms, p99Ms] = samples.percentiles(50, 99);
  return {
    ef,
    recall: recall(dataset, truth, found),
    requests: samples.count,
    seconds,
    qps: samples.count / seconds,
    p50Ms,
    p99Ms,
    otherCpuS,
  };
}

/** Queries as the plain arrays hnswlib-node (and a JSON client) needs, converted once up front. */
export function queryArrays(dataset: Dataset): number[][] {
  const out: number[][] = [];
  for (let q = 0; q < dataset.queries.n; q++) out.push(Array.from(row(dataset.queries, q)));
  return out;
}

export interface RawSweep {
  build: Omit<RawBuild, 'index'>;
  passes: SearchPass[];
}

export interface SweepOptions {
  efs: number[];
  /** Each ef is timed for at least this long and at least `minRequests` searches. */
  durationS: number;
  minRequests: number;
  /** Waits for a quiet machine before each ef and reruns a disturbed one (default: neither). */
  quiet?: QuietRules;
}

/** Builds with `engine`, then runs every ef in turn; the index is dropped when this returns. */
export async function rawSweep(
  engine: Engine,
  dataset: Dataset,
  truth: GroundTruth,
  params: HnswParams,
  opts: SweepOptions,
  log: (line: string) => void,
): Promise<RawSweep> {
  const quiet = opts.quiet ?? NO_QUIET;
  log(`raw hnswlib (${engine.build}): building ${dataset.train.n} vectors`);
  await waitForQuiet([], quiet);
  const { index, ...build } = buildRaw(engine, dataset, params);
  log(`raw hnswlib (${engine.build}): ${Math.round(build.rate)} vectors/s`);
  const queries = queryArrays(dataset);
  const passes: SearchPass[] = [];
  for (const ef of opts.efs) {
    let best: SearchPass | null = null;
    for (let disturbedRuns = 0; ; disturbedRuns++) {
      await waitForQuiet([], quiet);
      const pass = searchRaw(index, dataset, truth, queries, ef, opts.durationS, opts.minRequests);
      if (best === null || disturbance(pass) < disturbance(best)) best = pass;
      best.disturbedRuns = disturbedRuns;
      if (disturbance(pass) <= quiet.disturbedCores || disturbedRuns >= quiet.maxReruns) break;
    }
    passes.push(best);
    log(`raw hnswlib (${engine.build}) ef=${ef}: recall ${best.recall.toFixed(4)}, ${Math.round(best.qps)} QPS, p50 ${best.p50Ms.toFixed(3)} ms`);
  }
  return { build, passes };
}

/** The smallest ef whose recall reaches `target`, or null when none does. */
export function smallestEfReaching(passes: SearchPass[], target: number): SearchPass | null {
  const reaching = passes.filter((p) => p.recall >= target);
  return reaching.length === 0 ? null : reaching.reduce((a, b) => (b.ef < a.ef ? b : a));
}
