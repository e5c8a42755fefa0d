import { payloadKey, type BuildOrder } from '../../index/build-order.ts';
import { HnswIndex } from '../../index/hnsw.ts';
import type { CollectionConfig } from '../../storage/collections.ts';
import { currentSeq, type Db } from '../../storage/db.ts';
import { KNN_CHUNK, KnnRepo, type KnnRow } from '../../storage/knn.ts';
import { ModelsRepo, updatedModel, type ModelUpdate } from '../../storage/models.ts';
import { PointsRepo } from '../../storage/points.ts';
import { insertRows, type BulkBuildSettings } from './bulk-build.ts';
import { indexOptions, loadModel } from './load-index.ts';
import { CollectionModel, fitModel, fitRows } from './model.ts';
import { knnRows, planOrder } from './insertion-order.ts';
import type { Writer } from './writer.ts';

const PAGE = 1000;

/** Rows to index, all in memory: labels, index-space vectors (row-major), payloads as stored. */
export interface RowSet {
  labels: Uint32Array;
  dim: number;
  vectors: Float32Array;
  payloads: (string | null)[];
}

export interface Rebuilt {
  index: HnswIndex;
  model: CollectionModel;
  before: CollectionModel;
  update: ModelUpdate | null;
  /** Every mutation up to this sequence is in the index. */
  caughtUp: number;
  /** A k-NN pass ran (a LID order) and wrote its findings. */
  passRan: boolean;
}

export interface RebuildTask {
  collectionId: number;
  config: CollectionConfig;
  order: BuildOrder;
  seed: number;
  /** Neighbours per point for the LID estimate (default 20). */
  lidK?: number;
}

/**
 * A new index of every live point, as optimize builds it (arXiv 2405.17813, arXiv 2505.00105): the rows read at one
 * moment, PCA refitted when the collection has it, the points ordered (a k-NN pass for the LID
 * orders, whose findings are kept, written through `writer`), then inserted. Tombstones are left
 * out (by several threads when `settings` allow, see `insertRows`). `progress` gets the points
 * inserted; `pause` lets the process breathe.
 */
export async function rebuildIndex(
  db: Db, writer: Writer, settings: BulkBuildSettings, task: RebuildTask, progress: (inserted: number, total: number) => void, pause: () => Promise<void>,
): Promise<Rebuilt> {
  const { engine } = settings;
  const points = new PointsRepo(db);
  const before = loadModel(db, task.collectionId, task.config);
  let model = before;
  let update: ModelUpdate | null = null;
  if (task.config.storage.pca_dimension !== undefined) {
    const labels = points.liveLabels(task.collectionId);
    if (labels.length > 0) {
      update = refitPca(points, task.collectionId, before, labels);
      model = new CollectionModel(task.config, updatedModel(new ModelsRepo(db).get(task.collectionId), update));
    }
  }
  const withPayloads = payloadKey(task.order) !== null;
  const { rows, caughtUp } = db.transaction(() => ({ rows: readRows(points, task.collectionId, model, withPayloads), caughtUp: currentSeq(db) }))();
  const n = rows.labels.length;
  const plan = await planOrder(task.order, task.seed, { n, dim: rows.dim, vectors: rows.vectors, payloads: rows.payloads }, engine, pause, task.lidK);
  if (plan.pass) {
    const knn = new KnnRepo(db);
    while (!(await writer.write(() => knn.clear(task.collectionId)))) await pause();
    // The pass saw every live point as of `caughtUp`, by Euclidean distance: its entries serve the
    // overlay of an l2 collection without PCA when deep enough (else the filler redoes them).
    const trusted = task.config.metric === 'l2' && model.pca === null && plan.pass.k >= Math.min(task.config.graph.knn_k, n - 1);
    const seq = trusted ? caughtUp : -1;
    await putKnn(writer, knn, task.collectionId, knnRows(plan.pass, rows.labels).map((r) => ({ ...r, seq })), pause);
    // The filler goes on after the pass's moment, or redoes every point when the pass is not trusted.
    await writer.write(() => {
      const mark = knn.mark(task.collectionId);
      if (!trusted) knn.setMark(task.collectionId, { seq: -1, label: -1 });
      else if (mark.seq > caughtUp) knn.setMark(task.collectionId, { seq: caughtUp, label: 2 ** 32 });
    });
  }
  // No capacity up front: the addPoint loop reserves the rows itself, and the parallel builder
  // replaces this index, which would only hold its allocation (≈45 MiB resident per million points) meanwhile.
  const options = indexOptions(model, engine);
  const hooks = { progress: (inserted: number) => progress(inserted, n), pause };
  const index = await insertRows(new HnswIndex(options), options, { labels: rows.labels, vectors: rows.vectors, order: plan.positions }, settings, hooks);
  return { index, model, before, update, caughtUp, passRan: plan.pass !== null };
}

/** Writes a pass's k-NN entries, `KNN_CHUNK` per write; an import's (`pending`) only where they replace nothing current. */
export async function putKnn(
  writer: Writer, knn: KnnRepo, collectionId: number, rows: readonly KnnRow[], pause: () => Promise<void>, pending = false,
): Promise<void> {
  for (let at = 0; at < rows.length; at += KNN_CHUNK) {
    const chunk = rows.slice(at, at + KNN_CHUNK);
    await writer.write(() => (pending ? knn.putPass(collectionId, chunk) : knn.put(collectionId, chunk)));
    await pause();
  }
}

/** Every live point's index-space vector under `model`, with its label (and payload, when asked). Call inside a read transaction. */
function readRows(points: PointsRepo, collectionId: number, model: CollectionModel, withPayloads: boolean): RowSet {
  const dim = model.index.dimension;
  const labels: number[] = [];
  const payloads: (string | null)[] = [];
  const chunks: Float32Array[] = [];
  for (let after = -1; ; ) {
    const page = points.scroll(collectionId, { limit: PAGE, afterLabel: after, withVector: true });
    const chunk = new Float32Array(page.length * dim);
    page.forEach((row, i) => {
      labels.push(row.label);
      if (withPayloads) payloads.push(row.payload);
      chunk.set(model.toIndex(model.decode(row.vector!)), i * dim);
    });
    chunks.push(chunk);
    if (page.length < PAGE) break;
    after = page[page.length - 1].label;
  }
  const vectors = new Float32Array(labels.length * dim);
  let at = 0;
  for (const c of chunks) {
    vectors.set(c, at);
    at += c.length;
  }
  return { labels: Uint32Array.from(labels), dim, vectors, payloads };
}

/** PCA fitted again on a sample of the stored points (the codec's params never change). */
function refitPca(points: PointsRepo, collectionId: number, model: CollectionModel, labels: readonly number[]): ModelUpdate {
  const d = model.config.dimension;
  const sampleLabels = Array.from(fitRows(labels.length), (i) => labels[i]);
  const sample = new Float32Array(sampleLabels.length * d);
  let n = 0;
  for (const row of points.getByLabels(collectionId, sampleLabels)) sample.set(model.decode(row.vector!), d * n++);
  return fitModel(model, sample.subarray(0, n * d), n, { codec: false, pca: true });
}
