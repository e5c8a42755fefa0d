import { availableParallelism, totalmem } from 'node:os';
import { hnswBytesPerPoint } from '../../index/hnsw.ts';
import type { ResolvedBuild } from '../../index/native/engine.ts';
import { loadHnswlib } from '../../index/native/load.ts';
import { DEFAULT_KNN_K, type CollectionConfig, type CollectionRecord } from '../../storage/collections.ts';
import type { Config } from '../config.ts';
import { ServerErrors } from '../errors.ts';
import type { CollectionRequest } from '../schemas/index.ts';
import type { Logger } from './logger.ts';

/** Fills in defaults; refuses what cannot work (PCA under ip, or not reducing the dimension). */
export function normaliseConfig(request: CollectionRequest): CollectionConfig {
  const codec = request.storage?.codec ?? 'float32';
  const pca = request.storage?.pca_dimension;
  if (pca !== undefined && request.metric === 'ip') {
    throw new ServerErrors.CollectionConfig(
      'storage.pca_dimension cannot be used with metric ip: centring changes inner products; use l2 or cosine, or leave pca_dimension out',
    );
  }
  if (pca !== undefined && pca >= request.dimension) {
    throw new ServerErrors.CollectionConfig(
      `storage.pca_dimension must be below the dimension (${request.dimension}); it is ${pca}`,
    );
  }
  const defaults = request.search_defaults;
  if (defaults?.expand?.via.includes('knn') && request.graph?.knn_k === 0) {
    throw new ServerErrors.CollectionConfig('search_defaults.expand.via names knn, but graph.knn_k is 0 (no k-NN overlay): follow links only, or keep the overlay');
  }
  if (defaults?.select?.pool !== undefined && defaults.select.pool < 1) throw new ServerErrors.CollectionConfig('search_defaults.select.pool must be at least 1');
  const config: CollectionConfig = {
    dimension: request.dimension,
    metric: request.metric,
    hnsw: {
      m: request.hnsw?.m ?? 16,
      ef_construction: request.hnsw?.ef_construction ?? 200,
      ef_search: request.hnsw?.ef_search ?? 64,
    },
    storage: pca === undefined ? { codec } : { codec, pca_dimension: pca },
    build_order: request.build_order ?? 'auto',
    graph: { knn_k: request.graph?.knn_k ?? DEFAULT_KNN_K },
  };
  if (defaults && (defaults.select || defaults.expand)) config.search_defaults = { ...defaults } as CollectionConfig['search_defaults'];
  return config;
}

/** Resolves the hnswlib build once, here, so every replica loads the same one. */
export function engineBuild(config: Config, log: Logger): ResolvedBuild {
  const loaded = loadHnswlib(config.hnswBuild);
  log.info({ requested: config.hnswBuild, build: loaded.build, path: loaded.path, reason: loaded.reason }, 'hnswlib build chosen');
  return loaded.build;
}

/** One replica per core but the one the event loop needs; one on a single core. */
export function defaultReplicas(cores: number): number {
  return Math.max(1, cores - 1);
}

/**
 * Replicas: `VICINITY_REPLICAS`, or one per core but one (at least one), capped so that the replicas' index copies
 * (estimated from the stored points) stay within half of the memory: the machine's, or a container's limit if lower.
 */
export function replicaCount(config: Config, collections: CollectionRecord[], log: Logger): number {
  if (config.replicas > 0) return config.replicas;
  const cores = availableParallelism();
  let perReplica = 64 * 1024 * 1024; // an empty worker with its heap
  for (const { config: c, liveCount, deletedCount } of collections) {
    // A PCA collection's index holds the reduced vectors (once fitted; the estimate assumes it is).
    const { slot, upper } = hnswBytesPerPoint(c.storage.pca_dimension ?? c.dimension, c.hnsw.m);
    perReplica += (liveCount + deletedCount) * (slot + upper);
  }
  // In a container with a memory limit, the limit (cgroup) is the machine's memory.
  const limit = process.constrainedMemory?.() ?? 0;
  const memory = limit > 0 && limit < totalmem() ? limit : totalmem();
  const byMemory = Math.max(1, Math.floor((0.5 * memory) / perReplica));
  // The event loop (HTTP, JSON, payloads) needs a core of its own: on 2 cores one replica served
  // 1.4× the searches two did at concurrency 8 (bench:rag), since a third busy thread took turns with it.
  const count = Math.min(defaultReplicas(cores), byMemory);
  log.info({ replicas: count, cores, memory, estimated_bytes_per_replica: Math.round(perReplica) }, 'replica count chosen');
  return count;
}

/**
 * True when a create request (`config` normalised from `request`) matches a collection's `existing`
 * config. Not naming a build_order matches any: collections made before the default became 'auto' have 'given'.
 */
export function matchesConfig(existing: CollectionConfig, config: CollectionConfig, request: CollectionRequest): boolean {
  const asked = request.build_order === undefined ? { ...config, build_order: existing.build_order } : config;
  return JSON.stringify(existing) === JSON.stringify(asked);
}
