import { squaredL2At } from './distance.ts';
import { HnswIndex } from './hnsw.ts';
import { lid } from './lid.ts';
import type { EngineBuild } from './native/engine.ts';

/** What one k-NN pass over a set finds: each point's neighbours (positions), their distances and its LID. */
export interface KnnPass {
  k: number;
  /** n × k positions, nearest first. */
  neighbours: Uint32Array;
  /** n × k Euclidean distances (not squared), ascending. */
  distances: Float32Array;
  /** Each point's LID (NaN where it is undefined: duplicates, or fewer than two neighbours). */
  lids: Float64Array;
}

export interface KnnPassOptions {
  /** Neighbours per point (default 20, arXiv 2405.17813). */
  k?: number;
  /** The quick index's parameters: cheaper than a real build, good enough for LID. */
  m?: number;
  efConstruction?: number;
  /** Search beam for each point's neighbours (default 2k). */
  ef?: number;
  engine?: EngineBuild;
  /** Called every few hundred points so a long pass can let its process breathe; may be async. */
  pause?: () => Promise<void> | void;
}

const PAUSE_EVERY = 256;

/**
 * Each point's k nearest neighbours among `n` vectors of dimension `dim` (row-major), from a quick
 * HNSW index built in the given order and searched once per point; distances are recomputed
 * exactly (Euclidean) from the vectors, so the LIDs do not depend on the index's metric.
 */
export async function knnPass(vectors: Float32Array, n: number, dim: number, options: KnnPassOptions = {}): Promise<KnnPass> {
  const k = Math.min(options.k ?? 20, Math.max(0, n - 1));
  const neighbours = new Uint32Array(n * k);
  const distances = new Float32Array(n * k);
  const lids = new Float64Array(n).fill(NaN);
  if (k === 0) return { k, neighbours, distances, lids };
  const index = new HnswIndex({
    dimension: dim, metric: 'l2', m: options.m ?? 12, efConstruction: options.efConstruction ?? 64,
    efSearch: options.ef ?? 2 * k, initialCapacity: n, engine: options.engine,
  });
  for (let i = 0; i < n; i++) {
    index.upsert(i, vectors.subarray(i * dim, (i + 1) * dim));
    if (i % PAUSE_EVERY === 0) await options.pause?.();
  }
  const found = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const query = vectors.subarray(i * dim, (i + 1) * dim);
    const hits = index.search(query, k + 1).filter((h) => h.label !== i).slice(0, k);
    const ranked = hits.map((h) => ({ label: h.label, d: Math.sqrt(squaredL2At(query, vectors, h.label * dim)) })).sort((a, b) => a.d - b.d || a.label - b.label);
    ranked.forEach((h, j) => {
      neighbours[i * k + j] = h.label;
      distances[i * k + j] = h.d;
      found[j] = h.d;
    });
    lids[i] = ranked.length === k ? lid(found) : lid(found.subarray(0, ranked.length));
    if (i % PAUSE_EVERY === 0) await options.pause?.();
  }
  return { k, neighbours, distances, lids };
}
