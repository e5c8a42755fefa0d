import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import type { LidSummary } from '../../index/lid.ts';
import { VectorStore } from '../../index/vector-store.ts';
import type { CollectionRecord } from '../../storage/collections.ts';
import { PayloadIndex } from '../../storage/payload-index.ts';
import type { PointRow, PointsRepo } from '../../storage/points.ts';
import type { CollectionModel } from './model.ts';
import { Mutex } from './mutex.ts';
import { PayloadBudget, PayloadTexts } from './payload-texts.ts';
import type { StoreSpec } from './protocol.ts';

/** Rows per read and the event loop's time per slice while points are taken in: an import's commit loads them while searches run. */
const PAGE = 250;
const SLICE_MS = 3;
/**
 * After an import's commit the loop also rests this long between slices: a third of it at most goes
 * to the points (and the garbage their rows leave, which GC pauses collect), so most searches find it free.
 */
const COMMIT_PAUSE_MS = 6;

/**
 * A collection's index snapshot as last written. One writer at a time holds `lock`: a periodic
 * snapshot (replica 0), or a job from its commit until every replica holds its new index, so no
 * snapshot is written between a commit and the index that has its points.
 */
export class SnapshotInfo {
  seq = 0;
  bytes = 0;
  /** Points changed since the last snapshot. */
  changes = 0;
  writtenAt = Date.now();
  /** Seconds the last periodic snapshot took to write. */
  seconds = 0;
  readonly lock = new Mutex();

  /** A snapshot covering `seq` was written while `changes` of the changes counted were in it, taking `seconds` (when known). */
  written(seq: number, bytes: number, changes: number, seconds?: number): void {
    this.seq = seq;
    this.bytes = bytes;
    this.changes -= changes;
    this.writtenAt = Date.now();
    if (seconds !== undefined) this.seconds = seconds;
  }
}

/**
 * What the main thread keeps of one collection: its payload index (to plan filters) and the
 * vectors in shared memory (for exact scoring in the workers, without copies). The HNSW indexes
 * live in the replicas.
 */
export class CollectionState {
  readonly record: CollectionRecord;
  readonly payloads = new PayloadIndex();
  /** Payload texts kept in memory for search answers, within the server's budget. */
  readonly texts: PayloadTexts;
  model: CollectionModel;
  /** The vectors as stored (the codec's bytes), replaced when the codec is fitted. */
  vectors: VectorStore;
  #filling: VectorStore | null = null;
  #storeGeneration = 0;
  /** Values clamped by the codec since start. */
  saturated = 0;
  /** The last k-NN pass's LID distribution, read once after each job (undefined: not read yet). */
  lidSummary: LidSummary | null | undefined = undefined;
  /** Point ids by label, so results without payloads need no SQLite read. */
  readonly ids: string[] = [];
  loaded = false;
  #ingesting = 0;
  /** Bumped on every write: plans cached for an older version are stale. */
  version = 0;
  readonly snapshot = new SnapshotInfo();

  readonly #storedModel: () => CollectionModel;

  /**
   * `storedModel` reads the model as SQLite has it now (for bytes a just-committed fit wrote);
   * payload texts are kept within `budget` (shared by every collection).
   */
  constructor(record: CollectionRecord, model: CollectionModel, storedModel: () => CollectionModel, budget = new PayloadBudget(Infinity)) {
    this.record = record;
    this.texts = new PayloadTexts(budget);
    this.model = model;
    this.#storedModel = storedModel;
    this.vectors = new VectorStore(record.config.dimension, record.config.metric, [], model.codec);
  }

  /**
   * Switches to a newly fitted model. When its codec differs, a new store in the new format fills
   * beside the current one, which keeps serving until `storeFilled()` swaps them (true is returned).
   */
  useModel(model: CollectionModel): boolean {
    const replaced = model.codec.name !== this.model.codec.name;
    this.model = model;
    if (replaced) this.#filling = new VectorStore(this.record.config.dimension, this.record.config.metric, [], model.codec);
    return replaced;
  }

  /** Every live point is in the store being filled: it replaces the current one. */
  storeFilled(): void {
    if (!this.#filling) return;
    this.vectors = this.#filling;
    this.#filling = null;
    this.#storeGeneration++;
    this.version++;
  }

  /**
   * Decodes a stored vector. Between an import's commit of a codec fit and this thread taking the
   * new model, rows may already be in the new format: those are decoded with the stored model.
   */
  decode(bytes: Uint8Array): Float32Array {
    const { codec } = this.model;
    if (bytes.byteLength === codec.bytesPerVector || bytes.byteLength === 4 * codec.dimension) return codec.decode(bytes);
    return this.#storedModel().decode(bytes);
  }

  /** The shared vectors, for a replica's exact scoring and rescoring. */
  get storeSpec(): StoreSpec {
    // The store's own codec: while a new one fills, the model may already be the next one's.
    const codec = this.vectors.codec;
    return { generation: this.#storeGeneration, segments: this.vectors.segments, codec: codec?.name ?? 'float32', params: codec?.params ?? null };
  }

  get name(): string {
    return this.record.name;
  }

  /** The payload index holds every committed point: loaded, and not taking in an import's commit. */
  get current(): boolean {
    return this.loaded && this.#ingesting === 0;
  }

  /** Reads every live point's payload and vector, yielding to the event loop between slices. */
  async load(points: PointsRepo): Promise<void> {
    await this.ingestAll(points);
    this.loaded = true;
  }

  /** Reads every live point (into the store being filled, if any, which then takes over). */
  async ingestAll(points: PointsRepo): Promise<void> {
    await this.#ingest((after) => points.scroll(this.record.id, { limit: PAGE, afterLabel: after, withVector: true }));
    this.storeFilled();
  }

  /**
   * Takes in the live points an import's commit wrote (sequence `seq`). Later writes to the same
   * points, applied meanwhile, win: their rows no longer carry that sequence.
   */
  ingestCommit(points: PointsRepo, seq: number): Promise<void> {
    return this.#ingest((after) => points.rowsAtSeq(this.record.id, seq, after, PAGE), COMMIT_PAUSE_MS);
  }

  /** Pages of rows by label, each recorded as an upsert, yielding to the event loop (for `pauseMs`) between slices. */
  async #ingest(page: (afterLabel: number) => PointRow[], pauseMs = 0): Promise<void> {
    this.#ingesting++;
    try {
      await this.#ingestPages(page, pauseMs);
    } finally {
      this.#ingesting--;
    }
  }

  async #ingestPages(page: (afterLabel: number) => PointRow[], pauseMs: number): Promise<void> {
    let after = -1;
    let sliceStart = performance.now();
    for (;;) {
      const rows = page(after);
      for (const row of rows) {
        const payload = row.payload === null ? null : (JSON.parse(row.payload) as Record<string, unknown>);
        this.upserted(row.label, row.id, row.vector!, { value: payload, text: row.payload });
        after = row.label;
      }
      if (rows.length < PAGE) return;
      if (performance.now() - sliceStart > SLICE_MS) {
        await (pauseMs > 0 ? sleep(pauseMs) : yieldToLoop());
        sliceStart = performance.now();
      }
    }
  }

  /** Records a committed upsert of `label`, with its vector as stored and its payload (as parsed and as stored); none keeps the one known. */
  upserted(label: number, id: string, stored: Uint8Array, payload?: { value: Record<string, unknown> | null; text: string | null }): void {
    this.ids[label] = id;
    if (payload !== undefined) {
      this.payloads.set(label, payload.value);
      this.texts.set(label, payload.text);
    }
    const decode = (bytes: Uint8Array) => this.decode(bytes);
    this.vectors.setStored(label, stored, decode);
    this.#filling?.setStored(label, stored, decode);
    this.version++;
  }

  /** Records a committed delete of `label`. */
  deleted(label: number): void {
    this.payloads.delete(label);
    this.texts.delete(label);
    this.version++;
  }
}
