import { dot, normalized, squaredL2 } from '../../index/distance.ts';
import { expand, type Edge, type Reached } from '../../index/expand.ts';
import { quality, select, type Pool } from '../../index/select.ts';
import type { Metric, SearchHit } from '../../index/vector-index.ts';
import { LabelBitmap } from '../../storage/label-bitmap.ts';
import { MAX_POOL } from '../schemas/index.ts';
import type { ExpandItem, ResultSource, SearchFilter, SearchItem, SearchReply } from './protocol.ts';
import { isLive, type SearchTarget } from './replica-state.ts';

/** What a selection reads besides the index: payload groups and graph edges, from the replica's SQLite connection. */
export interface SelectionReads {
  /** The plain search (filtered, rescored) that gives the pool. */
  plain(search: SearchItem): SearchHit[];
  /** Each label's payload-field group (−1: none). */
  groupsOf(labels: Uint32Array, field: string): Int32Array;
  /** The overlay neighbours and/or outgoing links of a frontier of labels. */
  edgesOf(frontier: readonly number[], expand: ExpandItem): Map<number, Edge[]>;
}

interface Candidate {
  label: number;
  vector: Float32Array;
  /** Similarity to the query. */
  sim: number;
  bonus: number;
  reached: Reached | null;
}

/**
 * A search with graph expansion and diverse selection, in the replica (arXiv 2507.19715): the
 * index's top `pool` candidates (filtered and rescored as a plain search would be), plus what the
 * graph reaches from the best k of them, each scored exactly against the query with the stored
 * vectors, then `k` picked by `topk`, `mmr` or `cover`.
 */
export function selectSearch(held: SearchTarget, search: SearchItem, reads: SelectionReads): SearchReply {
  const { select: item, k } = search;
  if (!item) throw new Error('selectSearch needs a select item');
  const store = held.store;
  if (!store) throw new Error('selection needs the vector store');
  const { dimension: dim, metric } = held.config;
  const query = metric === 'cosine' ? normalized(search.query) : search.query;
  // A float32 store holds cosine vectors unit-length already (a view, no copy); decoded ones are normalised here.
  const unit = metric === 'cosine' && store.codec !== null;
  const candidate = (label: number, reached: Reached | null, distance?: number): Candidate => {
    const stored = store.get(label);
    const vector = unit ? normalizeInPlace(stored) : stored;
    const sim = distance === undefined ? similarityTo(metric, query, vector) : similarityOf(metric, distance);
    return { label, vector, sim, bonus: reached?.bonus ?? 0, reached };
  };

  const hits = reads.plain({ ...search, k: item.pool, select: null });
  // The pool's distances are exact already (the index holds the stored vectors, or they were
  // rescored with them), unless a PCA collection's search skipped rescoring.
  const exact = held.model.pca === null || search.rescore;
  const candidates = hits.map((h) => candidate(h.label, null, exact ? h.distance : undefined));
  if (item.expand && hits.length > 0) {
    const byLabel = new Map(candidates.map((c) => [c.label, c]));
    const seeds = [...candidates].sort(byRelevance).slice(0, k).map((c) => c.label);
    const allowed = allowList(search.filter);
    const strength = (seed: number): number => Math.max(0, byLabel.get(seed)!.sim);
    // The pool and what the graph adds stay within MAX_POOL candidates, however wide the walk.
    const limit = Math.max(0, MAX_POOL - candidates.length);
    const reached = expand(seeds, { ...item.expand, strength, limit }, (frontier) => reads.edgesOf(frontier, item.expand!), (label) => isLive(held, label));
    for (const r of reached.values()) {
      const known = byLabel.get(r.label);
      if (known) {
        // In the pool already: a link to it still adds its bonus.
        known.bonus = Math.max(known.bonus, r.bonus);
      } else if (allowed(r.label)) {
        candidates.push(candidate(r.label, r));
      }
    }
  }
  // The pool in relevance order (ties by label), as a search ranks.
  candidates.sort(byRelevance);

  const n = candidates.length;
  const labels = Uint32Array.from(candidates, (c) => c.label);
  const vectors = new Float32Array(n * dim);
  candidates.forEach((c, i) => vectors.set(c.vector, i * dim));
  const relevance = Float64Array.from(candidates, (c) => c.sim + c.bonus);
  const pool: Pool = { metric, dim, vectors, relevance, groups: item.maxPer ? reads.groupsOf(labels, item.maxPer.field) : null };

  const { picks, gains } = select(pool, k, item.selection, item.maxPer?.count ?? Infinity);
  const reply: SearchReply = {
    labels: Uint32Array.from(picks, (p) => labels[p]),
    distances: Float32Array.from(picks, (p) => distanceOf(metric, candidates[p].sim)),
  };
  if (item.explain) {
    const sims = Float64Array.from(candidates, (c) => c.sim);
    reply.explain = {
      similarity: Float64Array.from(picks, (p) => sims[p]),
      gain: Float64Array.from(gains),
      sources: picks.map((p) => sourceOf(candidates[p])),
      quality: quality(pool, picks, sims),
    };
  }
  return reply;
}

function byRelevance(a: Candidate, b: Candidate): number {
  return b.sim + b.bonus - (a.sim + a.bonus) || a.label - b.label;
}

function sourceOf(c: Candidate): ResultSource {
  const r = c.reached;
  if (!r) return { source: 'index', hop: 0, from: null, linkType: null };
  return { source: r.source, hop: r.hop, from: r.from, linkType: r.linkType };
}

/** Expanded candidates pass `where` as the pool's do. */
function allowList(filter: SearchFilter | null): (label: number) => boolean {
  if (!filter) return () => true;
  if ('labels' in filter) {
    const set = new Set(filter.labels);
    return (label) => set.has(label);
  }
  const bitmap = new LabelBitmap(filter.bitmap);
  return (label) => bitmap.has(label);
}

/** Scales a decoded copy to unit length (a zero vector stays zero). */
function normalizeInPlace(v: Float32Array): Float32Array {
  const norm = Math.sqrt(dot(v, v));
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}

/** The metric's similarity: cosine (unit vectors), the dot product, or 1 − ‖a − b‖²/2. */
function similarityTo(metric: Metric, a: Float32Array, b: Float32Array): number {
  return metric === 'l2' ? 1 - squaredL2(a, b) / 2 : dot(a, b);
}

/** The similarity for one of hnswlib's distances. */
function similarityOf(metric: Metric, distance: number): number {
  return metric === 'l2' ? 1 - distance / 2 : 1 - distance;
}

/** hnswlib's distance for a similarity: 1 − sim, or the squared l2 distance. */
function distanceOf(metric: Metric, sim: number): number {
  return metric === 'l2' ? 2 * (1 - sim) : 1 - sim;
}
