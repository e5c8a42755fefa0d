import { HnswIndex, type HnswOptions } from '../../index/hnsw.ts';
import type { ResolvedBuild } from '../../index/native/engine.ts';
import { loadSnapshot } from '../../index/snapshot.ts';
import type { CollectionConfig } from '../../storage/collections.ts';
import { currentSeq, type Db } from '../../storage/db.ts';
import { ModelsRepo } from '../../storage/models.ts';
import { PointsRepo } from '../../storage/points.ts';
import { CollectionModel } from './model.ts';

const PAGE = 1024;
const AFTER_ALL_LABELS = 2 ** 32;

export function snapshotName(collectionId: number): string {
  return `c${collectionId}`;
}

/** The index of a collection under its model: PCA's dimension and l2 once PCA is fitted. */
export function indexOptions(model: CollectionModel, engine: ResolvedBuild): HnswOptions {
  const { config } = model;
  return {
    ...model.index,
    m: config.hnsw.m,
    efConstruction: config.hnsw.ef_construction,
    efSearch: config.hnsw.ef_search,
    engine,
  };
}

export interface LoadedIndex {
  index: HnswIndex;
  model: CollectionModel;
  /** Every mutation up to this sequence is in the index. */
  caughtUp: number;
}

/** The collection's model as stored now. */
export function loadModel(db: Db, collectionId: number, config: CollectionConfig): CollectionModel {
  return new CollectionModel(config, new ModelsRepo(db).get(collectionId));
}

/**
 * A collection's index as of now: its verified snapshot (or an empty index), its tombstones, then
 * the current state of every row changed after the snapshot, all read in one transaction so the
 * model, the rows and `caughtUp` describe the same moment. A snapshot made under another PCA fit
 * is not used: the index is rebuilt from SQLite.
 */
export async function loadIndex(
  db: Db, snapshotDir: string, collectionId: number, config: CollectionConfig, engine: ResolvedBuild,
): Promise<LoadedIndex> {
  const points = new PointsRepo(db);
  for (;;) {
    const model = loadModel(db, collectionId, config);
    const options = indexOptions(model, engine);
    const loaded = await loadSnapshot(snapshotDir, snapshotName(collectionId), options, model.version);
    const index = loaded.index ?? new HnswIndex(options);
    const from = loaded.index ? loaded.manifest.seq : 0;
    const caughtUp = db.transaction(() => {
      // A fit committed while the snapshot loaded (PCA, or the codec, whose rows it re-encoded): start over.
      const now = loadModel(db, collectionId, config);
      if (now.version !== model.version || now.codec.name !== model.codec.name) return null;
      if (loaded.index) for (const label of points.deletedLabels(collectionId)) index.remove(label);
      catchUp(index, model, points, collectionId, from);
      return currentSeq(db);
    })();
    if (caughtUp !== null) return { index, model, caughtUp };
  }
}

/**
 * Applies the current state of the rows last changed after `from` and before `until`: live rows
 * are (re)inserted, tombstones removed. Call inside a read transaction.
 */
export function catchUp(
  index: HnswIndex, model: CollectionModel, points: PointsRepo, collectionId: number, from: number, until = Infinity,
): void {
  let seq = from;
  let label = AFTER_ALL_LABELS;
  for (;;) {
    const rows = points.changesAfter(collectionId, seq, label, PAGE);
    for (const row of rows) {
      if (row.seq >= until) return;
      if (row.vector) index.upsert(row.label, model.toIndex(model.decode(row.vector)));
      else index.remove(row.label);
      seq = row.seq;
      label = row.label;
    }
    if (rows.length < PAGE) return;
  }
}
