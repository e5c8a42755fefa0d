import type { LidSummary } from '../../index/lid.ts';
import type { CollectionRecord } from '../../storage/collections.ts';
import type { KnnRepo } from '../../storage/knn.ts';
import type { CollectionState } from './collection-state.ts';
import type { IndexStats } from './protocol.ts';
import { WINDOW_MS } from './recall.ts';

/** `GET /v1/collections/{name}`: the record's counts and config, the index (of one replica), memory and storage. */
export function describeCollection(
  state: CollectionState, record: CollectionRecord, index: IndexStats | null, replicas: number, knn: KnnRepo,
  graph: { links: Record<string, number>; overlay: object; recall: { recall?: number; samples?: number; sample_rate: number } },
): object {
  const { config } = record;
  const perReplica = index?.memory_bytes ?? 0;
  const { snapshot } = state;
  return {
    name: record.name,
    dimension: config.dimension,
    metric: config.metric,
    count: record.liveCount,
    deleted: record.deletedCount,
    config,
    stats: {
      index: index ?? { state: 'loading' },
      replicas,
      memory_bytes: {
        indexes: perReplica * replicas,
        per_replica: perReplica,
        shared_vectors: state.vectors.bytes,
        payload_index: state.payloads.stats().approximateBytes,
      },
      snapshot: {
        seq: snapshot.seq,
        bytes: snapshot.bytes,
        changes_since: snapshot.changes,
        age_s: Math.round((Date.now() - snapshot.writtenAt) / 1000),
      },
      vector_store_bytes: record.liveCount * state.model.codec.bytesPerVector,
      storage: storageStats(state, record.liveCount, perReplica),
      lid: lidSummary(state, knn),
      links: { total: Object.values(graph.links).reduce((a, b) => a + b, 0), by_type: graph.links },
      overlay: graph.overlay,
      recall: {
        estimate: graph.recall.recall ?? null,
        samples: graph.recall.samples ?? 0,
        sample_rate: graph.recall.sample_rate,
        window_s: WINDOW_MS / 1000,
      },
    },
  };
}

/** LID distribution of the collection's last k-NN pass (a rebuild or import in a LID order); null before one. */
function lidSummary(state: CollectionState, knn: KnnRepo): LidSummary | null {
  if (state.lidSummary === undefined) {
    const stored = knn.summary(state.record.id);
    state.lidSummary = stored === null ? null : (JSON.parse(stored) as LidSummary | null);
  }
  return state.lidSummary;
}

/**
 * What compression buys, per live point: bytes in the SQLite vector column, the snapshot file,
 * one replica's index and the shared vectors, each beside its float32 equivalent.
 */
function storageStats(state: CollectionState, live: number, perReplica: number): object {
  const { model } = state;
  const { config } = model;
  const perPoint = (bytes: number) => (live > 0 ? Math.round(bytes / live) : 0);
  const float32 = config.dimension * 4;
  const stored = model.codec.bytesPerVector;
  return {
    codec: config.storage.codec,
    codec_fitted: !model.pending.codec,
    pca_dimension: config.storage.pca_dimension ?? null,
    pca_fitted: model.pca !== null,
    pca_version: model.version,
    saturated_values: state.saturated,
    bytes_per_vector: {
      vector_store: stored,
      snapshot: perPoint(state.snapshot.bytes),
      index_per_replica: perPoint(perReplica),
      shared: perPoint(state.vectors.bytes),
    },
    vector_store_ratio: ratio(stored, float32),
    shared_ratio: ratio(state.vectors.bytes, state.vectors.capacity * float32),
  };
}

const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 1000) / 1000 : 0);
