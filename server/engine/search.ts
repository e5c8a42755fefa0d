import { toVector } from '../../index/vectors.ts';
import type { PointsRepo } from '../../storage/points.ts';
import { parseWhere, type WhereNode } from '../../storage/where.ts';
import type { SearchRequest } from '../schemas/index.ts';
import type { CollectionState } from './collection-state.ts';
import type { SearchReply } from './protocol.ts';

export interface SearchResult {
  id: string;
  distance: number;
  payload?: Record<string, unknown> | null;
  vector?: number[];
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
}

/** Candidates per result a PCA collection rescores unless the search says otherwise (bench:compression). */
export const DEFAULT_OVERSAMPLE = 4;
const MAX_CANDIDATES = 10_000;

export function prepareSearch(collection: CollectionState, request: SearchRequest, field: string): PreparedSearch {
  const { dimension, metric, hnsw } = collection.record.config;
  const hasWhere = request.where !== undefined && Object.keys(request.where).length > 0;
  return {
    query: toVector(request.vector, { dimension, metric }, `${field}vector`),
    k: request.k,
    ef: request.ef ?? hnsw.ef_search,
    candidates: Math.min(MAX_CANDIDATES, Math.ceil(request.k * (request.oversample ?? DEFAULT_OVERSAMPLE))),
    rescore: request.rescore ?? true,
    where: hasWhere ? parseWhere(request.where) : null,
    whereKey: hasWhere ? JSON.stringify(request.where) : '',
    withPayload: request.with_payload ?? true,
    withVector: request.with_vector ?? false,
  };
}

/** Turns a replica's labels and distances into results with ids, payloads and vectors. */
export function toResults(collection: CollectionState, points: PointsRepo, search: PreparedSearch, reply: SearchReply): SearchResult[] {
  if (!search.withPayload && !search.withVector) {
    return Array.from(reply.labels, (label, i) => ({ id: collection.ids[label], distance: reply.distances[i] }));
  }
  const rows = new Map(points.getByLabels(collection.record.id, Array.from(reply.labels), search.withVector).map((r) => [r.label, r]));
  const results: SearchResult[] = [];
  for (let i = 0; i < reply.labels.length; i++) {
    const row = rows.get(reply.labels[i]);
    if (!row) continue; // deleted after the search ran
    const result: SearchResult = { id: row.id, distance: reply.distances[i] };
    if (search.withPayload) result.payload = row.payload === null ? null : (JSON.parse(row.payload) as Record<string, unknown>);
    if (search.withVector && row.vector) result.vector = Array.from(collection.decode(row.vector));
    results.push(result);
  }
  return results;
}
