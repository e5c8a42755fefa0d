import { Packr } from 'msgpackr';
import { row, type Dataset } from './datasets.ts';
import { recall, squaredL2, type GroundTruth } from './ground-truth.ts';
import type { BodySet } from './load.ts';
import type { HnswParams } from './raw-hnsw.ts';
import { Samples } from './stats.ts';
import type { HttpClient } from './server.ts';

export const COLLECTION = 'bench';
export const SEARCH_PATH = `/v1/collections/${COLLECTION}/search`;

interface SearchAnswer {
  results: { id: string; distance: number }[];
  took_ms?: number;
}

interface CollectionInfo {
  count: number;
  deleted: number;
}

/** PUT /v1/collections/bench with the same HNSW parameters as the in-process index. */
export async function createCollection(client: HttpClient, dataset: Dataset, params: HnswParams): Promise<void> {
  await client.json(
    'PUT',
    `/v1/collections/${COLLECTION}`,
    {
      dimension: dataset.train.dim,
      metric: dataset.metric,
      hnsw: { m: params.m, ef_construction: params.efConstruction, ef_search: 64 },
    },
    [200, 201],
  );
}

function vectorJson(v: Float32Array): string {
  return JSON.stringify(Array.from(v));
}

export interface SearchOptions {
  /** A `where` filter, as JSON text. */
  where?: string;
  /** Default false: the benchmark measures search, not payload reads. */
  withPayload?: boolean;
}

/** The request body of one search; bodies are pre-generated so the load generators only send bytes. */
export function searchBody(vector: Float32Array, k: number, ef: number, opts: SearchOptions = {}): string {
  const where = opts.where === undefined ? '' : `,"where":${opts.where}`;
  return `{"vector":${vectorJson(vector)},"k":${k},"ef":${ef}${where},"with_payload":${opts.withPayload ?? false}}`;
}

// As docs/api.md (MessagePack) allows: the vector travels as a typed array, not 784 numbers.
const packr = new Packr({ moreTypes: true, useRecords: false });

/** The same search as MessagePack, the vector packed as a Float32Array (moreTypes). */
export function searchBodyMsgpack(vector: Float32Array, k: number, ef: number, opts: SearchOptions = {}): Buffer {
  const where = opts.where === undefined ? {} : { where: JSON.parse(opts.where) as unknown };
  return packr.pack({ vector: vector.slice(), k, ef, ...where, with_payload: opts.withPayload ?? false });
}

export interface Upload {
  vectors: number;
  requests: number;
  batch: number;
  /** From the first request until a search returned the last point. */
  seconds: number;
  rate: number;
  /** Median and worst time of one upsert request. */
  p50RequestMs: number;
  maxRequestMs: number;
  /** Time from the last acknowledgement until a search saw the last point. */
  visibleAfterMs: number;
  /** `count` reported by GET /v1/collections/bench afterwards. */
  count: number;
}

/** Upserts every training vector (id = row number, with `payload(row)` if given), `batch` per request, one at a time. */
export async function uploadPoints(
  client: HttpClient,
  dataset: Dataset,
  batch: number,
  payload?: (row: number) => Record<string, unknown>,
): Promise<Upload> {
  const { train } = dataset;
  const times: number[] = [];
  const started = performance.now();
  for (let from = 0; from < train.n; from += batch) {
    const to = Math.min(train.n, from + batch);
    const points: string[] = [];
    for (let i = from; i < to; i++) {
      const extra = payload === undefined ? '' : `,"payload":${JSON.stringify(payload(i))}`;
      points.push(`{"id":${i},"vector":${vectorJson(row(train, i))}${extra}}`);
    }
    const t0 = performance.now();
    const answer = await client.request('PUT', `/v1/collections/${COLLECTION}/points`, `{"points":[${points.join(',')}]}`);
    times.push(performance.now() - t0);
    if (answer.status !== 200) throw new Error(`upsert of rows ${from}–${to - 1} answered ${answer.status}: ${answer.body.slice(0, 500)}`);
    const { upserted } = JSON.parse(answer.body) as { upserted: number };
    if (upserted !== to - from) throw new Error(`upsert of ${to - from} points answered upserted = ${upserted}`);
  }
  const acked = performance.now();
  const last = train.n - 1;
  const probe = `{"vector":${vectorJson(row(train, last))},"k":10,"with_payload":false}`;
  for (let attempt = 0; ; attempt++) {
    const answer = await client.request('POST', SEARCH_PATH, probe);
    if (answer.status !== 200) throw new Error(`search after the upload answered ${answer.status}: ${answer.body.slice(0, 500)}`);
    if ((JSON.parse(answer.body) as SearchAnswer).results.some((r) => r.id === String(last))) break;
    if (performance.now() - acked > 60_000) throw new Error(`point ${last} not searchable 60 s after its upsert was acknowledged`);
    if (attempt > 0) await new Promise((r) => setTimeout(r, 10));
  }
  const seen = performance.now();
  const seconds = (seen - started) / 1000;
  const info = await client.json<CollectionInfo>('GET', `/v1/collections/${COLLECTION}`, undefined);
  times.sort((a, b) => a - b);
  return {
    vectors: train.n,
    requests: times.length,
    batch,
    seconds,
    rate: train.n / seconds,
    p50RequestMs: times[Math.floor((times.length - 1) / 2)],
    maxRequestMs: times[times.length - 1],
    visibleAfterMs: seen - acked,
    count: info.count,
  };
}

/** Point changes the k-NN overlay's background filler has not looked at yet, over every collection. */
export async function overlayBehind(client: HttpClient): Promise<number> {
  const { collections } = await client.json<{ collections: { stats: { overlay?: { behind: number } } }[] }>('GET', '/v1/collections', undefined);
  return collections.reduce((sum, x) => sum + (x.stats.overlay?.behind ?? 0), 0);
}

/**
 * Waits until the k-NN overlay filler has caught up with every write (it runs in the background at
 * up to a quarter of one replica, so it would otherwise share the CPU with the first measurements);
 * returns the seconds waited.
 */
export async function settleOverlay(client: HttpClient, log: (line: string) => void, timeoutS = 900): Promise<number> {
  const started = performance.now();
  let lastLog = started;
  for (;;) {
    const behind = await overlayBehind(client);
    const waited = (performance.now() - started) / 1000;
    if (behind === 0) {
      if (waited > 1) log(`k-NN overlay caught up after ${waited.toFixed(0)} s`);
      return waited;
    }
    if (waited > timeoutS) throw new Error(`the k-NN overlay is still ${behind} changes behind after ${timeoutS} s`);
    if (performance.now() - lastLog > 15_000) {
      log(`waiting for the k-NN overlay: ${behind} changes behind`);
      lastLog = performance.now();
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

export interface HttpRecall {
  ef: number;
  recall: number;
  /** Largest |server distance − exact distance| / max(1, exact) over all results: a wrong metric shows here. */
  maxDistanceError: number;
  /** Results with fewer than k hits (the truth's k: fewer when fewer points pass a filter). */
  shortAnswers: number;
  /** Results per answer. */
  minResults: number;
  meanResults: number;
  /** Results that fail the filter (counted as misses). */
  violations: number;
  /** Median and 99th percentile of the server's own `took_ms`, one request at a time. */
  tookP50Ms: number;
  tookP99Ms: number;
}

/**
 * Every query once over one keep-alive connection, for recall@k and a check of the reported distances.
 * `bodies[q]` searches query q; `passes(row)` says whether a row passes the search's filter.
 */
export async function recallOverHttp(
  client: HttpClient,
  dataset: Dataset,
  truth: GroundTruth,
  bodies: BodySet,
  ef: number,
  passes: (row: number) => boolean = () => true,
): Promise<HttpRecall> {
  const found: number[][] = [];
  let maxDistanceError = 0;
  let shortAnswers = 0;
  let violations = 0;
  let totalResults = 0;
  let minResults = Infinity;
  const took = new Samples();
  for (let q = 0; q < bodies.bodies.length; q++) {
    const answer = await client.request(bodies.method, SEARCH_PATH, bodies.bodies[q], bodies.contentType);
    if (answer.status !== 200) throw new Error(`search (${bodies.name}, query ${q}) answered ${answer.status}: ${answer.body.slice(0, 500)}`);
    const { results, took_ms } = JSON.parse(answer.body) as SearchAnswer;
    if (took_ms !== undefined) took.push(took_ms);
    if (results.length < truth.k) shortAnswers++;
    totalResults += results.length;
    minResults = Math.min(minResults, results.length);
    const ids = results.map((r) => (/^\d+$/.test(r.id) ? Number(r.id) : -1));
    for (let i = 0; i < results.length; i++) {
      const id = ids[i];
      if (id < 0 || id >= dataset.train.n) continue;
      if (!passes(id)) {
        violations++;
        ids[i] = -1;
      }
      const exact = squaredL2(row(dataset.queries, q), row(dataset.train, id));
      maxDistanceError = Math.max(maxDistanceError, Math.abs(results[i].distance - exact) / Math.max(1, exact));
    }
    found.push(ids);
  }
  const [tookP50Ms, tookP99Ms] = took.percentiles(50, 99);
  return {
    ef,
    recall: recall(dataset, truth, found),
    maxDistanceError,
    shortAnswers,
    minResults,
    meanResults: totalResults / bodies.bodies.length,
    violations,
    tookP50Ms,
    tookP99Ms,
  };
}
