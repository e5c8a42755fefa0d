import { HnswIndex, type HnswOptions } from '../../index/hnsw.ts';
import type { ResolvedBuild } from '../../index/native/engine.ts';
import { loadSnapshot } from '../../index/snapshot.ts';
import { blobToVector } from '../../index/vectors.ts';
import type { CollectionConfig } from '../../storage/collections.ts';
import { currentSeq, type Db } from '../../storage/db.ts';
import { PointsRepo } from '../../storage/points.ts';

const PAGE = 1024;
const AFTER_ALL_LABELS = 2 ** 32;

export function snapshotName(collectionId: number): string {
  return `c${collectionId}`;
}

export function indexOptions(config: CollectionConfig, engine: ResolvedBuild): HnswOptions {
  return {
    dimension: config.dimension,
    metric: config.metric,
    m: config.hnsw.m,
    efConstruction: config.hnsw.ef_construction,
    efSearch: config.hnsw.ef_search,
    engine,
  };
}

export interface LoadedIndex {
  index: HnswIndex;
  /** Every mutation up to this sequence is in the index. */
  caughtUp: number;
}

/**
 * A collection's index as of now: its verified snapshot (or an empty index), its tombstones, then
 * the current state of every row changed after the snapshot, all read in one transaction so the
 * rows and `caughtUp` describe the same moment.
 */
export async function loadIndex(
  db: Db, snapshotDir: string, collectionId: number, config: CollectionConfig, engine: ResolvedBuild,
): Promise<LoadedIndex> {
  const points = new PointsRepo(db);
  const options = indexOptions(config, engine);
  const loaded = await loadSnapshot(snapshotDir, snapshotName(collectionId), options);
  const index = loaded.index ?? new HnswIndex(options);
  const from = loaded.index ? loaded.manifest.seq : 0;
  const caughtUp = db.transaction(() => {
    if (loaded.index) for (const label of points.deletedLabels(collectionId)) index.remove(label);
    catchUp(index, points, collectionId, from);
    return currentSeq(db);
  })();
  return { index, caughtUp };
}

/**
 * Applies the current state of the rows last changed after `from` and before `until`: live rows
 * are (re)inserted, tombstones removed. Call inside a read transaction.
 */
export function catchUp(index: HnswIndex, points: PointsRepo, collectionId: number, from: number, until = Infinity): void {
  let seq = from;
  let label = AFTER_ALL_LABELS;
  for (;;) {
    const rows = points.changesAfter(collectionId, seq, label, PAGE);
    for (const row of rows) {
      if (row.seq >= until) return;
      if (row.vector) index.upsert(row.label, blobToVector(row.vector));
      else index.remove(row.label);
      seq = row.seq;
      label = row.label;
    }
    if (rows.length < PAGE) return;
  }
}
