import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { row, type Dataset, type VectorSet } from './datasets.ts';
import { squaredL2At } from '../../index/distance.ts';

/** Exact k nearest training rows of every query, closest first. */
export interface GroundTruth {
  k: number;
  /** queries × k row numbers. */
  ids: Int32Array;
  /** queries × k squared L2 distances, matching `ids`. */
  distances: Float64Array;
}

/** Squared L2 (index/distance.ts's in-place version, exact for Fashion-MNIST's integer pixels). */
export function squaredL2(a: Float32Array, b: Float32Array): number {
  return squaredL2At(a, b, 0);
}

/**
 * Brute force: every query against every training row (or only the row numbers in `rows`, for a
 * filter's ground truth), keeping the k best by insertion.
 */
export function computeGroundTruth(train: VectorSet, queries: VectorSet, k: number, rows?: ArrayLike<number>): GroundTruth {
  const candidates = rows === undefined ? train.n : rows.length;
  if (k > candidates) throw new Error(`k = ${k} is more than the ${candidates} candidate vectors`);
  const ids = new Int32Array(queries.n * k);
  const distances = new Float64Array(queries.n * k);
  const bestIds = new Int32Array(k);
  const bestDist = new Float64Array(k);
  for (let q = 0; q < queries.n; q++) {
    const query = row(queries, q);
    bestDist.fill(Infinity);
    bestIds.fill(-1);
    for (let c = 0; c < candidates; c++) {
      const t = rows === undefined ? c : rows[c];
      const d = squaredL2(query, train.data.subarray(t * train.dim, (t + 1) * train.dim));
      if (d >= bestDist[k - 1]) continue;
      let j = k - 1;
      while (j > 0 && bestDist[j - 1] > d) {
        bestDist[j] = bestDist[j - 1]!;
        bestIds[j] = bestIds[j - 1]!;
        j--;
      }
      bestDist[j] = d;
      bestIds[j] = t;
    }
    ids.set(bestIds, q * k);
    distances.set(bestDist, q * k);
  }
  return { k, ids, distances };
}

/** A cheap fingerprint of bytes (strided FNV-1a) to catch a stale cache. */
function fnv(bytes: Uint8Array): string {
  const stride = Math.max(1, Math.floor(bytes.length / 65_536));
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i += stride) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h.toString(16);
}

function fingerprint(set: VectorSet): string {
  return `${set.n}x${set.dim}:${fnv(new Uint8Array(set.data.buffer, set.data.byteOffset, set.data.byteLength))}`;
}

/** The candidate rows of a filter's ground truth: its name (part of the cache file name) and row numbers. */
export interface RowSubset {
  name: string;
  rows: Int32Array;
}

interface CacheFile {
  dataset: string;
  train: string;
  queries: string;
  /** Fingerprint of the subset's rows; '' for all rows. */
  rows?: string;
  k: number;
  ids: number[];
  distances: number[];
}

export interface GroundTruthResult {
  truth: GroundTruth;
  /** The cache file, or null when caching was off. */
  cachePath: string | null;
  cached: boolean;
  seconds: number;
}

/**
 * Exact ground truth, cached in `cacheDir` keyed by (data set, train n, queries n, k, subset) and checked
 * against a fingerprint of the vectors (and of the subset's rows). `cacheDir` null computes without caching.
 */
export function groundTruth(dataset: Dataset, k: number, cacheDir: string | null, subset?: RowSubset): GroundTruthResult {
  const started = performance.now();
  const rows = subset === undefined ? '' : `${subset.rows.length}:${fnv(new Uint8Array(subset.rows.buffer, subset.rows.byteOffset, subset.rows.byteLength))}`;
  const key = { dataset: dataset.name, train: fingerprint(dataset.train), queries: fingerprint(dataset.queries), rows, k };
  const suffix = subset === undefined ? '' : `-${subset.name}`;
  const path =
    cacheDir === null
      ? null
      : join(cacheDir, `gt-${dataset.name}-train${dataset.train.n}-queries${dataset.queries.n}-k${k}${suffix}.json`);
  if (path !== null && existsSync(path)) {
    const file = JSON.parse(readFileSync(path, 'utf8')) as CacheFile;
    const sameRows = (file.rows ?? '') === rows;
    if (file.dataset === key.dataset && file.train === key.train && file.queries === key.queries && sameRows && file.k === k) {
      const truth = { k, ids: Int32Array.from(file.ids), distances: Float64Array.from(file.distances) };
      return { truth, cachePath: path, cached: true, seconds: (performance.now() - started) / 1000 };
    }
  }
  const truth = computeGroundTruth(dataset.train, dataset.queries, k, subset?.rows);
  if (path !== null && cacheDir !== null) {
    mkdirSync(cacheDir, { recursive: true });
    const file: CacheFile = { ...key, ids: Array.from(truth.ids), distances: Array.from(truth.distances) };
    writeFileSync(`${path}.tmp`, JSON.stringify(file));
    renameSync(`${path}.tmp`, path);
  }
  return { truth, cachePath: path, cached: false, seconds: (performance.now() - started) / 1000 };
}

/**
 * Mean recall@k, tie-aware as in ann-benchmarks: a returned row counts when it is distinct, a valid row
 * number, and its true distance is within the k-th exact distance (so equally distant duplicates of a
 * true neighbour are not penalised). `results[q]` holds the row numbers returned for query q.
 */
export function recall(dataset: Dataset, truth: GroundTruth, results: ArrayLike<number>[]): number {
  const { k } = truth;
  let hits = 0;
  for (let q = 0; q < results.length; q++) {
    const threshold = truth.distances[q * k + k - 1] * (1 + 1e-6) + 1e-9;
    const query = row(dataset.queries, q);
    const seen = new Set<number>();
    const got = results[q];
    for (let i = 0; i < Math.min(k, got.length); i++) {
      const id = got[i];
      if (!Number.isInteger(id) || id < 0 || id >= dataset.train.n || seen.has(id)) continue;
      seen.add(id);
      if (squaredL2(query, row(dataset.train, id)) <= threshold) hits++;
    }
  }
  return hits / (results.length * k);
}
