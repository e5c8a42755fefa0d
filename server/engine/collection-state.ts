import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { blobToVector } from '../../index/vectors.ts';
import { VectorStore } from '../../index/vector-store.ts';
import type { CollectionRecord } from '../../storage/collections.ts';
import { PayloadIndex } from '../../storage/payload-index.ts';
import type { PointRow, PointsRepo } from '../../storage/points.ts';

const PAGE = 1000;
const SLICE_MS = 8;

/**
 * What the main thread keeps of one collection: its payload index (to plan filters) and the
 * vectors in shared memory (for exact scoring in the workers, without copies). The HNSW indexes
 * live in the replicas.
 */
export class CollectionState {
  readonly record: CollectionRecord;
  readonly payloads = new PayloadIndex();
  readonly vectors: VectorStore;
  /** Point ids by label, so results without payloads need no SQLite read. */
  readonly ids: string[] = [];
  loaded = false;
  /** Bumped on every write: plans cached for an older version are stale. */
  version = 0;
  changesSinceSnapshot = 0;
  snapshotSeq = 0;
  snapshotBytes = 0;
  lastSnapshotAt = Date.now();
  snapshotting: Promise<void> | null = null;

  constructor(record: CollectionRecord) {
    this.record = record;
    this.vectors = new VectorStore(record.config.dimension, record.config.metric);
  }

  get name(): string {
    return this.record.name;
  }

  /** Reads every live point's payload and vector, yielding to the event loop between slices. */
  async load(points: PointsRepo): Promise<void> {
    await this.#ingest((after) => points.scroll(this.record.id, { limit: PAGE, afterLabel: after, withVector: true }));
    this.loaded = true;
  }

  /**
   * Takes in the live points an import's commit wrote (sequence `seq`). Later writes to the same
   * points, applied meanwhile, win: their rows no longer carry that sequence.
   */
  ingestCommit(points: PointsRepo, seq: number): Promise<void> {
    return this.#ingest((after) => points.rowsAtSeq(this.record.id, seq, after, PAGE));
  }

  /** Pages of rows by label, each recorded as an upsert, yielding to the event loop between slices. */
  async #ingest(page: (afterLabel: number) => PointRow[]): Promise<void> {
    let after = -1;
    let sliceStart = performance.now();
    for (;;) {
      const rows = page(after);
      for (const row of rows) {
        const payload = row.payload === null ? null : (JSON.parse(row.payload) as Record<string, unknown>);
        this.upserted(row.label, row.id, blobToVector(row.vector!), payload);
        after = row.label;
      }
      if (rows.length < PAGE) return;
      if (performance.now() - sliceStart > SLICE_MS) {
        await yieldToLoop();
        sliceStart = performance.now();
      }
    }
  }

  /** Records a committed upsert of `label`. */
  upserted(label: number, id: string, vector: Float32Array, payload: Record<string, unknown> | null): void {
    this.ids[label] = id;
    this.payloads.set(label, payload);
    this.vectors.set(label, vector);
    this.version++;
  }

  /** Records a committed delete of `label`. */
  deleted(label: number): void {
    this.payloads.delete(label);
    this.version++;
  }
}
