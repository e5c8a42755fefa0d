import { toVector } from '../../index/vectors.ts';
import type { PointsRepo } from '../../storage/points.ts';
import { parseWhere, type WhereNode } from '../../storage/where.ts';
import type { Quality } from '../../index/select.ts';
import { ServerErrors } from '../errors.ts';
import { MAX_POOL, type ExpandRequest, type SearchRequest, type SelectRequest } from '../schemas/index.ts';
import type { CollectionState } from './collection-state.ts';
import { planSearch, type Plan } from './planner.ts';
import type { ExpandItem, SearchItem, SearchReply, SelectItem } from './protocol.ts';
import type { RecallEstimator } from './recall.ts';
import type { ReplicaSet } from './replicas.ts';

/**
 * A payload as the JSON text SQLite stores (valid JSON, written by JSON.stringify): a JSON answer
 * embeds it as it is, and only a MessagePack answer parses it.
 */
export class PayloadJson {
  constructor(readonly text: string) {}
}

export interface SearchResult {
  id: string;
  distance: number;
  payload?: PayloadJson | null;
  vector?: number[];
  explain?: { source: 'index' | 'knn' | 'link'; from?: string; link_type?: string; hop: number; similarity: number; gain: number };
}

/** A search's answer: its results, and with `explain` the selection's quality. */
export interface SearchAnswer {
  results: SearchResult[];
  quality?: Quality;
}

/** A search request validated against its collection. */
export interface PreparedSearch {
  query: Float32Array;
  k: number;
  ef: number;
  candidates: number;
  rescore: boolean;
  where: WhereNode | null;
  /** The filter's cache key: its JSON text. */
  whereKey: string;
  withPayload: boolean;
  withVector: boolean;
  select: SelectItem | null;
}

/** Candidates per result a PCA collection rescores unless the search says otherwise (bench:compression). */
export const DEFAULT_OVERSAMPLE = 4;
const MAX_CANDIDATES = 10_000;

/**
 * How many candidates a rescored PCA search takes from the index. An `oversample` the search sets
 * gives k × oversample, and the index searches at least that wide. Without one, k × DEFAULT_OVERSAMPLE
 * but no more than ef (and at least k): the candidates come from the ef-wide search the request
 * asked for instead of widening it, so ef trades speed for recall as on any collection
 * (docs/research.md, Rescored PCA searches: at ef 32 on Fashion-MNIST with PCA 392, 32 candidates
 * instead of 40 cost 0.0022–0.0025 of recall@10 and gained 17–19 % QPS, hand-measured).
 */
export function candidateCount(k: number, ef: number, oversample: number | undefined): number {
  if (oversample !== undefined) return Math.min(MAX_CANDIDATES, Math.ceil(k * oversample));
  return Math.min(MAX_CANDIDATES, Math.max(k, Math.min(Math.ceil(k * DEFAULT_OVERSAMPLE), ef)));
}

export function prepareSearch(collection: CollectionState, request: SearchRequest, field: string): PreparedSearch {
  const { dimension, metric, hnsw } = collection.record.config;
  const hasWhere = request.where !== undefined && Object.keys(request.where).length > 0;
  const ef = request.ef ?? hnsw.ef_search;
  return {
    query: toVector(request.vector, { dimension, metric }, `${field}vector`),
    k: request.k,
    ef,
    candidates: candidateCount(request.k, ef, request.oversample),
    rescore: request.rescore ?? true,
    where: hasWhere ? parseWhere(request.where) : null,
    whereKey: hasWhere ? JSON.stringify(request.where) : '',
    withPayload: request.with_payload ?? true,
    withVector: request.with_vector ?? false,
    select: prepareSelect(collection, request, field),
  };
}

/** Candidates per result a selection chooses from unless the search says otherwise. */
export const DEFAULT_POOL_FACTOR = 4;
/** Edges of each kind an expansion follows per point, and the bonus's decay per hop, unless asked otherwise. */
export const DEFAULT_FANOUT = 8;
export const DEFAULT_DECAY = 0.5;

/** Null for a plain top-k search: no pool, no group limit, nothing to explain. */
/**
 * The search's selection and expansion: the collection's `search_defaults` with the request's own
 * fields over them (`expand: null` turns a default expansion off). Null for a plain top-k search.
 */
function prepareSelect(collection: CollectionState, request: SearchRequest, field: string): SelectItem | null {
  const defaults = (collection.record.config.search_defaults ?? {}) as { select?: SelectRequest; expand?: ExpandRequest };
  const select: SelectRequest = { ...defaults.select, ...request.select };
  const expand = request.expand === undefined ? defaults.expand : request.expand ?? undefined;
  const { explain = false, k } = request;
  const mode = select.mode ?? 'topk';
  if (mode === 'topk' && select.pool === undefined && !select.max_per && !explain && !expand) return null;
  // A default pool smaller than this search's k grows to k; a pool the search asks for must hold k.
  const asked = request.select?.pool;
  const pool = asked ?? Math.min(MAX_POOL, Math.max(k, select.pool ?? DEFAULT_POOL_FACTOR * k));
  if (select.max_per && select.max_per.field.split('.').some((segment) => segment === '')) {
    throw new ServerErrors.RequestInvalid(`${field}select.max_per.field '${select.max_per.field}' has an empty segment: name a field as where does (a.b is field b inside a)`);
  }
  if (pool < k) throw new ServerErrors.RequestInvalid(`${field}select.pool (${pool}) must be at least k (${k}): the pool is what k results are chosen from`);
  const selection =
    mode === 'mmr' ? { mode, lambda: select.lambda ?? 0.5 }
    : mode === 'cover' ? { mode, coverageWeight: select.coverage_weight ?? 1 }
    : { mode };
  return { selection, pool, maxPer: select.max_per ?? null, expand: prepareExpand(collection, expand, field), explain };
}

function prepareExpand(collection: CollectionState, expand: ExpandRequest | undefined, field: string): ExpandItem | null {
  if (!expand) return null;
  const knn = expand.via.includes('knn');
  if (knn && collection.record.config.graph.knn_k === 0) {
    throw new ServerErrors.OverlayOff(`${field}expand.via names knn, but collection '${collection.name}' keeps no k-NN overlay (graph.knn_k is 0): follow links only`);
  }
  const types = expand.via.filter((v) => v.startsWith('links:')).map((v) => v.slice('links:'.length));
  const allLinks = expand.via.includes('links');
  return {
    hops: expand.hops ?? 1,
    fanout: expand.fanout ?? DEFAULT_FANOUT,
    decay: expand.decay ?? DEFAULT_DECAY,
    knn,
    links: allLinks || types.length > 0,
    linkTypes: allLinks ? null : types,
  };
}

/** The answer of a search that no point passes. */
export function emptyAnswer(search: PreparedSearch): SearchAnswer {
  return search.select?.explain ? { results: [], quality: { relevance: 0, coverage: 0, diversity: 0 } } : { results: [] };
}

/** Turns a replica's labels and distances into results with ids, payloads, vectors and explanations. */
export function toAnswer(collection: CollectionState, points: PointsRepo, search: PreparedSearch, reply: SearchReply): SearchAnswer {
  const { explain } = reply;
  const explained = (result: SearchResult, i: number): SearchResult => {
    if (explain) {
      const { source, hop, from, linkType } = explain.sources[i];
      result.explain = { source, hop, similarity: explain.similarity[i], gain: explain.gain[i] };
      if (from !== null) result.explain.from = collection.ids[from];
      if (linkType !== null) result.explain.link_type = linkType;
    }
    return result;
  };
  const answer = (results: SearchResult[]): SearchAnswer => (explain ? { results, quality: explain.quality } : { results });
  if (!search.withPayload && !search.withVector) {
    return answer(Array.from(reply.labels, (label, i) => explained({ id: collection.ids[label], distance: reply.distances[i] }, i)));
  }
  // Payload texts come from memory; SQLite is read for the points whose text is not kept, and for vectors.
  // A text is kept only while its point is live.
  const { texts } = collection;
  const fromSqlite = (label: number): boolean => search.withVector || texts.get(label) === undefined;
  const read = Array.from(reply.labels).filter(fromSqlite);
  const rows = new Map(read.length === 0 ? [] : points.getByLabels(collection.record.id, read, search.withVector).map((r) => [r.label, r]));
  const results: SearchResult[] = [];
  for (let i = 0; i < reply.labels.length; i++) {
    const label = reply.labels[i];
    const row = fromSqlite(label) ? rows.get(label) : null;
    if (row === undefined) continue; // deleted after the search ran
    const result: SearchResult = { id: row?.id ?? collection.ids[label], distance: reply.distances[i] };
    if (search.withPayload) {
      const text = row ? row.payload : texts.get(label)!;
      result.payload = text === null ? null : new PayloadJson(text);
    }
    if (search.withVector && row?.vector) result.vector = Array.from(collection.decode(row.vector));
    results.push(explained(result, i));
  }
  return answer(results);
}

const ALL: Plan = { kind: 'all' };

/** How a search ran, for /metrics: the graph, the graph with an allow-list, exact over the matches, nothing to match, or a diverse selection. */
export type PlanName = 'graph' | 'filtered_graph' | 'exact' | 'none' | 'diverse';

function planName(plan: Plan, search: PreparedSearch): PlanName {
  if (plan.kind === 'none') return 'none';
  if (search.select) return 'diverse';
  return plan.kind === 'all' ? 'graph' : plan.exact ? 'exact' : 'filtered_graph';
}

/** Told of every search done: its collection, plan and seconds (the whole task's, for a batch). */
export type SearchObserver = (collection: string, plan: PlanName, seconds: number) => void;

/** Who hears of searches done: /metrics, and the recall estimate (which may sample them). */
export interface SearchHooks {
  observe?: SearchObserver;
  recall?: RecallEstimator;
}

/** Plans each search's filter, runs them as one task on the least busy replica, and fills in ids and payloads. */
export async function runSearches(
  state: CollectionState, points: PointsRepo, replicas: ReplicaSet, searches: PreparedSearch[], hooks: SearchHooks = {},
): Promise<SearchAnswer[]> {
  const started = performance.now();
  const plans = await Promise.all(searches.map((s) => (s.where ? planSearch(state, points, s.where, s.whereKey) : Promise.resolve(ALL))));
  const items: SearchItem[] = [];
  searches.forEach((s, i) => {
    const plan = plans[i];
    if (plan.kind !== 'none') {
      items.push({ query: s.query, k: s.k, ef: s.ef, filter: plan.kind === 'filtered' ? plan.filter : null, candidates: s.candidates, rescore: s.rescore, select: s.select });
    }
  });
  const needStore = state.model.pca !== null || plans.some((p) => p.kind === 'filtered') || searches.some((s) => s.select);
  const replies =
    items.length === 0
      ? []
      : await replicas.read<SearchReply[]>({ op: 'search', collectionId: state.record.id, searches: items, store: needStore ? state.storeSpec : null });
  let next = 0;
  const answers = searches.map((s, i) => (plans[i].kind === 'none' ? emptyAnswer(s) : toAnswer(state, points, s, replies[next++])));
  const seconds = (performance.now() - started) / 1000;
  const { observe, recall } = hooks;
  if (observe) searches.forEach((s, i) => observe(state.name, planName(plans[i], s), seconds));
  if (recall) items.forEach((item, i) => recall.offer(state, item, replies[i]));
  return answers;
}

/** A batch's searches in one slice per replica (at most one per search), answered in order. */
export async function runBatch(
  state: CollectionState, points: PointsRepo, replicas: ReplicaSet, searches: PreparedSearch[], hooks: SearchHooks,
): Promise<SearchAnswer[]> {
  const slices = Math.min(replicas.size, searches.length);
  const size = Math.ceil(searches.length / slices);
  const parts = await Promise.all(Array.from({ length: slices }, (_, i) => runSearches(state, points, replicas, searches.slice(i * size, (i + 1) * size), hooks)));
  return parts.flat();
}
