import { dot, normalized, squaredL2 } from '../../index/distance.ts';
import { quality, select, type Pool } from '../../index/select.ts';
import type { Metric, SearchHit } from '../../index/vector-index.ts';
import type { SearchItem, SearchReply } from './protocol.ts';
import type { SearchTarget } from './replica-state.ts';

/** Each candidate's payload-field group (−1: none), read by the replica from SQLite. */
export type GroupsOf = (labels: Uint32Array, field: string) => Int32Array;

/**
 * A search with diverse selection, in the replica (arXiv 2507.19715): the index's top `pool`
 * candidates (filtered and rescored as a plain search would be), scored exactly against the query
 * with the stored vectors, then `k` of them picked by `topk`, `mmr` or `cover`.
 */
export function selectSearch(held: SearchTarget, search: SearchItem, plain: (search: SearchItem) => SearchHit[], groupsOf: GroupsOf): SearchReply {
  const { select: item, k } = search;
  if (!item) throw new Error('selectSearch needs a select item');
  if (!held.store) throw new Error('selection needs the vector store');
  const { dimension: dim, metric } = held.config;
  const hits = plain({ ...search, k: item.pool, select: null });
  const store = held.store;
  const query = metric === 'cosine' ? normalized(search.query) : search.query;

  // Exact similarity to the query, then the pool in relevance order (ties by label), as a search ranks.
  const scored = hits.map((h) => {
    const stored = store.get(h.label);
    const vector = metric === 'cosine' ? normalized(stored) : stored;
    return { label: h.label, vector, sim: similarityTo(metric, query, vector) };
  });
  scored.sort((a, b) => b.sim - a.sim || a.label - b.label);
  const n = scored.length;
  const labels = Uint32Array.from(scored, (s) => s.label);
  const vectors = new Float32Array(n * dim);
  scored.forEach((s, i) => vectors.set(s.vector, i * dim));
  const relevance = Float64Array.from(scored, (s) => s.sim);
  const pool: Pool = { metric, dim, vectors, relevance, groups: item.maxPer ? groupsOf(labels, item.maxPer.field) : null };

  const { picks, gains } = select(pool, k, item.selection, item.maxPer?.count ?? Infinity);
  const reply: SearchReply = {
    labels: Uint32Array.from(picks, (p) => labels[p]),
    distances: Float32Array.from(picks, (p) => distanceOf(metric, relevance[p])),
  };
  if (item.explain) {
    reply.explain = {
      similarity: Float64Array.from(picks, (p) => relevance[p]),
      gain: Float64Array.from(gains),
      quality: quality(pool, picks, relevance),
    };
  }
  return reply;
}

/** The metric's similarity: cosine (unit vectors), the dot product, or 1 − ‖a − b‖²/2. */
function similarityTo(metric: Metric, a: Float32Array, b: Float32Array): number {
  return metric === 'l2' ? 1 - squaredL2(a, b) / 2 : dot(a, b);
}

/** hnswlib's distance for a similarity: 1 − sim, or the squared l2 distance. */
function distanceOf(metric: Metric, sim: number): number {
  return metric === 'l2' ? 2 * (1 - sim) : 1 - sim;
}
