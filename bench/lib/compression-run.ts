import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codecParamsToBytes, fitCodecParams, type CodecName } from '../../index/codec.ts';
import { normalized } from '../../index/distance.ts';
import { HnswIndex } from '../../index/hnsw.ts';
import { loadHnswlib } from '../../index/native/load.ts';
import { VectorStore } from '../../index/vector-store.ts';
import type { Metric } from '../../index/vector-index.ts';
import { indexOptions } from '../../server/engine/load-index.ts';
import { CollectionModel, fitModel, fitRows } from '../../server/engine/model.ts';
import { searchCollection, type SearchTarget } from '../../server/engine/replica-state.ts';
import { candidateCount } from '../../server/engine/search.ts';
import type { CollectionConfig } from '../../storage/collections.ts';
import { updatedModel } from '../../storage/models.ts';
import { row, type Dataset } from './datasets.ts';
import { recall, type GroundTruth } from './ground-truth.ts';

/**
 * One way of storing a collection: a codec, with or without PCA. `clip` fits int8 with that share of
 * each dimension clipped instead of the default (INT8_CLIP), to compare the fits; PCA is not fitted then.
 */
export interface VariantSpec {
  codec: CodecName;
  pca: number | null;
  clip?: number;
}

export interface BuiltVariant {
  spec: VariantSpec;
  target: SearchTarget;
  fitSeconds: number;
  buildSeconds: number;
  saturated: number;
  /** Bytes per live vector: the SQLite vector column, the snapshot file, one replica's index, the shared vectors. */
  bytes: { store: number; snapshot: number; indexPerReplica: number; shared: number };
}

export interface SearchMeasure {
  ef: number;
  rescore: boolean;
  /** Null: the server's default candidate count (candidateCount). */
  oversample: number | null;
  recall: number;
  qps: number;
}

const EMPTY_MODEL = { codec: null, pca: null, pcaVersion: 0 };
const engine = loadHnswlib('auto').build;

/**
 * Builds a collection the way the server does, in this process: the model fitted on the server's
 * sample rows, every vector encoded into the shared store, and the index built from the stored
 * values (PCA-projected when configured), in the given order, single-threaded.
 */
export async function buildVariant(dataset: Dataset, metric: Metric, spec: VariantSpec, m: number, efConstruction: number): Promise<BuiltVariant> {
  const { n, dim } = dataset.train;
  const { codec } = spec;
  const config: CollectionConfig = {
    dimension: dim, metric, hnsw: { m, ef_construction: efConstruction, ef_search: 64 },
    storage: spec.pca === null ? { codec } : { codec, pca_dimension: spec.pca }, build_order: 'given', graph: { knn_k: 0 },
  };
  const train = dataset.train;
  const fitStarted = performance.now();
  const rows = fitRows(n);
  const sample = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => sample.set(row(train, r), i * dim));
  let model: CollectionModel;
  if (spec.clip === undefined) {
    const unfitted = new CollectionModel(config, EMPTY_MODEL);
    model = new CollectionModel(config, updatedModel(EMPTY_MODEL, fitModel(unfitted, sample, rows.length, { codec: true, pca: true })));
  } else {
    if (codec !== 'int8' || spec.pca !== null) throw new Error('clip is an int8 fit without PCA');
    // fitModel's codec step with another clip: the same sample, unit vectors under cosine.
    if (metric === 'cosine') for (let i = 0; i < rows.length; i++) sample.set(normalized(sample.subarray(i * dim, (i + 1) * dim)), i * dim);
    const params = fitCodecParams(codec, sample, rows.length, dim, { clip: spec.clip });
    model = new CollectionModel(config, { ...EMPTY_MODEL, codec: codecParamsToBytes(params) });
  }
  const fitSeconds = (performance.now() - fitStarted) / 1000;

  const store = new VectorStore(dim, metric, [], model.codec);
  const index = new HnswIndex({ ...indexOptions(model, engine), initialCapacity: n });
  let saturated = 0;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const encoded = model.encode(row(train, i));
    saturated += encoded.saturated;
    store.setStored(i, encoded.bytes, (b) => model.decode(b));
    index.upsert(i, model.toIndex(model.decode(encoded.bytes)));
  }
  const buildSeconds = (performance.now() - started) / 1000;
  const file = join(tmpdir(), `vicinity-compression-${process.pid}.hnsw`);
  await index.save(file);
  const snapshot = (await stat(file)).size;
  await rm(file, { force: true });
  return {
    spec, target: { config, model, index, store }, fitSeconds, buildSeconds, saturated,
    bytes: { store: model.codec.bytesPerVector, snapshot: snapshot / n, indexPerReplica: index.memoryBytes() / n, shared: store.bytes / n },
  };
}

/** Timed passes over the queries per measurement, after one untimed pass; QPS is the best pass's (one pass of 1,000 queries takes about 0.1 s, so one pass alone moved with whatever else the machine did). */
const PASSES = 3;

/**
 * Every query through the replicas' search path, one after another, with the candidates a search
 * with this `oversample` (null: none given) gets from the server; recall against exact float32 truth.
 */
export function measureSearch(built: BuiltVariant, dataset: Dataset, truth: GroundTruth, ef: number, rescore: boolean, oversample: number | null): SearchMeasure {
  const k = truth.k;
  const candidates = candidateCount(k, ef, oversample ?? undefined);
  const pass = (): { results: Uint32Array[]; seconds: number } => {
    const results: Uint32Array[] = [];
    const started = performance.now();
    for (let q = 0; q < dataset.queries.n; q++) {
      const hits = searchCollection(built.target, {
        query: row(dataset.queries, q), k, ef, filter: null, candidates, rescore,
      });
      results.push(Uint32Array.from(hits, (h) => h.label));
    }
    return { results, seconds: (performance.now() - started) / 1000 };
  };
  const { results } = pass();
  let seconds = Infinity;
  for (let i = 0; i < PASSES; i++) seconds = Math.min(seconds, pass().seconds);
  return { ef, rescore, oversample, recall: recall(dataset, truth, results), qps: dataset.queries.n / seconds };
}

/**
 * Where a rescored PCA search's time goes, µs per query (each the best of PASSES timed passes):
 * projecting the query, hnswlib's search of the reduced index for the candidates alone, and the whole
 * search as measureSearch runs it; rescoring and everything else is the whole less the two.
 */
export interface PhaseMeasure {
  ef: number;
  candidates: number;
  projectUs: number;
  indexSearchUs: number;
  wholeUs: number;
}

export function measurePhases(built: BuiltVariant, dataset: Dataset, ef: number, k: number): PhaseMeasure {
  const { model, index } = built.target;
  const candidates = Math.max(k, candidateCount(k, ef, undefined));
  const queries = Array.from({ length: dataset.queries.n }, (_, q) => row(dataset.queries, q));
  const projected = queries.map((q) => Float32Array.from(model.toIndex(q)));
  const time = (call: (q: number) => unknown): number => {
    const pass = (): number => {
      const started = performance.now();
      for (let q = 0; q < queries.length; q++) call(q);
      return ((performance.now() - started) * 1000) / queries.length;
    };
    pass();
    return Math.min(...Array.from({ length: PASSES }, pass));
  };
  return {
    ef, candidates,
    projectUs: time((q) => model.toIndex(queries[q])),
    // searchCollection widens ef to the candidates when they are more.
    indexSearchUs: time((q) => index.search(projected[q], candidates, { ef: Math.max(ef, candidates) })),
    wholeUs: time((q) => searchCollection(built.target, { query: queries[q], k, ef, filter: null, candidates, rescore: true })),
  };
}

export function variantName(spec: VariantSpec): string {
  const fit = spec.clip === undefined ? '' : spec.clip === 0 ? ' min–max' : ` clip ${spec.clip * 100} %`;
  return `${spec.codec}${fit}${spec.pca === null ? '' : ` + PCA ${spec.pca}`}`;
}
