import { exactTopK } from '../../index/brute-force.ts';
import type { SearchHit } from '../../index/vector-index.ts';
import { blobToVector, toVector } from '../../index/vectors.ts';
import type { PointsRepo } from '../../storage/points.ts';
import { parseWhere, type WhereNode } from '../../storage/where.ts';
import { ServerErrors } from '../errors.ts';
import type { SearchRequest } from '../schemas/index.ts';
import type { CollectionIndex } from './collection-index.ts';

export interface SearchResult {
  id: string;
  distance: number;
  payload?: Record<string, unknown> | null;
  vector?: number[];
}

/** Below this share of live points passing `where`, matches are scored exactly (STACK.md: ~5 %). */
const EXACT_SHARE = 0.05;

/** A search request, validated against the collection before any waiting. */
export interface PreparedSearch {
  query: Float32Array;
  k: number;
  ef: number | undefined;
  where: WhereNode | null;
  withPayload: boolean;
  withVector: boolean;
}

export function prepareSearch(
  collection: CollectionIndex,
  request: SearchRequest,
  field: string,
): PreparedSearch {
  const { dimension, metric } = collection.record.config;
  const where = request.where && Object.keys(request.where).length > 0 ? parseWhere(request.where) : null;
  return {
    query: toVector(request.vector, { dimension, metric }, `${field}vector`),
    k: request.k,
    ef: request.ef,
    where,
    withPayload: request.with_payload ?? true,
    withVector: request.with_vector ?? false,
  };
}

/** Runs one prepared search; the index must be current (see CollectionIndex.whenCurrent). */
export function runSearch(collection: CollectionIndex, points: PointsRepo, search: PreparedSearch): SearchResult[] {
  const index = collection.index;
  if (collection.state !== 'ready' || !index) {
    throw new ServerErrors.NotReady(`collection '${collection.record.name}' is loading; retry shortly`);
  }
  const id = collection.record.id;
  let hits: SearchHit[];
  if (!search.where) {
    hits = index.search(search.query, search.k, { ef: search.ef });
  } else {
    hits = filteredSearch(collection, points, search, search.where);
  }
  const rows = new Map(points.getByLabels(id, hits.map((h) => h.label)).map((r) => [r.label, r]));
  const results: SearchResult[] = [];
  for (const hit of hits) {
    const row = rows.get(hit.label);
    if (!row) continue;
    const result: SearchResult = { id: row.id, distance: hit.distance };
    if (search.withPayload) result.payload = row.payload === null ? null : (JSON.parse(row.payload) as Record<string, unknown>);
    if (search.withVector && row.vector) result.vector = Array.from(blobToVector(row.vector));
    results.push(result);
  }
  return results;
}

/**
 * A correct simple strategy: when few points match, score them exactly; otherwise walk the graph
 * with an allow-list, widening ef until k results come back, and fall back to exact scoring.
 */
function filteredSearch(
  collection: CollectionIndex,
  points: PointsRepo,
  search: PreparedSearch,
  where: WhereNode,
): SearchHit[] {
  const index = collection.index!;
  const id = collection.record.id;
  const { metric } = collection.record.config;
  const labels = points.matchingLabels(id, where);
  const want = Math.min(search.k, labels.length);
  if (want === 0) return [];
  if (labels.length > EXACT_SHARE * index.size) {
    const allowed = new Set(labels);
    const filter = (label: number) => allowed.has(label);
    let ef = Math.max(search.ef ?? collection.record.config.hnsw.ef_search, search.k);
    for (let attempt = 0; attempt < 4; attempt++) {
      const hits = index.search(search.query, search.k, { ef, filter });
      if (hits.length >= want) return hits;
      ef *= 4;
    }
  }
  const candidates = points
    .matchingVectors(id, where)
    .map((row) => ({ label: row.label, vector: blobToVector(row.vector) }));
  return exactTopK(metric, search.query, candidates, search.k);
}
