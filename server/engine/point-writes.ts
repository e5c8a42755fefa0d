import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { toVector } from '../../index/vectors.ts';
import type { CollectionsRepo } from '../../storage/collections.ts';
import { nextSeq, type Db } from '../../storage/db.ts';
import { StorageErrors } from '../../storage/errors.ts';
import { normaliseId } from '../../storage/ids.ts';
import type { ModelsRepo } from '../../storage/models.ts';
import type { Mutation, PointsRepo } from '../../storage/points.ts';
import { parseWhere } from '../../storage/where.ts';
import type { Config } from '../config.ts';
import { ServerErrors } from '../errors.ts';
import { payloadProblem } from '../payload.ts';
import type { DeleteRequest, UpsertRequest } from '../schemas/index.ts';
import type { CollectionState } from './collection-state.ts';
import type { Logger } from './logger.ts';
import { matchingLabels } from './matches.ts';
import { CODEC_FIT_AT, CollectionModel, fitModel } from './model.ts';
import type { ReplicaSet } from './replicas.ts';
import type { Snapshots } from './snapshots.ts';
import type { Writer } from './writer.ts';

/** An upsert's payloads by point id: as parsed, and as stored. */
type Payloads = Map<string, { value: Record<string, unknown> | null; text: string | null }>;

/** Points one delete transaction tombstones: a large delete is several short writes, not one long one. */
export const DELETE_CHUNK = 256;

export interface PointWritesHost {
  config: Config;
  log: Logger;
  db: Db;
  writer: Writer;
  collections: CollectionsRepo;
  points: PointsRepo;
  models: ModelsRepo;
  replicas: ReplicaSet;
  snapshots: Snapshots;
  /** The collection's state, or a 404. */
  state(name: string): CollectionState;
  /** Inside a write: throws unless `state` is still the collection called `name` (not dropped, not replaced). */
  check(name: string, state: CollectionState): void;
  /** True while an import or optimize of the collection is in progress. */
  jobActive(collectionId: number): boolean;
}

/**
 * Upserts and deletes: each write is checked, committed through the writer, then applied to the
 * main thread's state and sent to every replica in commit order (inside the write lock).
 */
export class PointWrites {
  readonly #host: PointWritesHost;

  constructor(host: PointWritesHost) {
    this.#host = host;
  }

  async upsert(name: string, request: UpsertRequest): Promise<{ upserted: number }> {
    const host = this.#host;
    const state = host.state(name);
    const { dimension, metric } = state.record.config;
    const payloads: Payloads = new Map();
    const inputs = request.points.map((p, i) => {
      const id = normaliseId(p.id, `points[${i}].id`);
      const payload = p.payload ?? null;
      const problem = payload === null ? null : payloadProblem(payload, `points[${i}].payload`, host.config.maxPayloadDepth);
      if (problem) throw new ServerErrors.PayloadInvalid(problem);
      const text = payload === null ? null : JSON.stringify(payload);
      payloads.set(id, { value: payload, text });
      if (text !== null && Buffer.byteLength(text) > host.config.maxPayloadBytes) {
        throw new ServerErrors.PayloadTooLarge(`points[${i}].payload is ${Buffer.byteLength(text)} bytes of JSON, more than VICINITY_MAX_PAYLOAD_BYTES (${host.config.maxPayloadBytes}); store large text elsewhere and keep a reference`);
      }
      return { id, vector: toVector(p.vector, { dimension, metric }, `points[${i}].vector`), payload: text };
    });
    if (inputs.length === 0) return { upserted: 0 };
    let refit: CollectionModel | null = null;
    await host.writer.write(
      () => {
        this.#host.check(name, state);
        // The model as of this write: an import's commit may have fitted one while the write waited.
        // An import fits the codec itself (from more data): while one runs, rows stay float32 for its commit to re-encode.
        const fit = state.model.pending.codec && !host.jobActive(state.record.id) && host.collections.get(name)!.liveCount + inputs.length >= CODEC_FIT_AT;
        const fitted = fit ? this.#fitCodec(state, inputs.map((p) => p.vector)) : null;
        refit = fitted?.model ?? null;
        const model = refit ?? state.model;
        let saturated = 0;
        const writes = inputs.map((p) => {
          const encoded = model.encode(p.vector);
          saturated += encoded.saturated;
          return { id: p.id, vector: encoded.bytes, payload: p.payload };
        });
        const written = host.points.upsert(state.record.id, writes);
        const live = host.collections.get(name)!.liveCount;
        if (live > host.config.maxPointsPerCollection) {
          throw new StorageErrors.PointLimit(`collection '${name}' would hold ${live} points, more than VICINITY_MAX_POINTS_PER_COLLECTION (${host.config.maxPointsPerCollection}); nothing was written`);
        }
        this.saturated(state, saturated);
        return { seq: written.seq, changes: [...(fitted?.changes ?? []), ...written.changes] };
      },
      (mutation) => {
        // Committed: from here on the collection stores and decodes with the fitted codec. Every
        // live point is in the mutation (all were re-encoded), so the new store is full after it.
        const replaced = refit !== null && state.useModel(refit);
        this.#applied(state, mutation, payloads);
        if (replaced) state.storeFilled();
      },
    );
    await host.replicas.whenBacklogAtMost(host.config.maxIndexBacklog);
    return { upserted: request.points.length };
  }

  /**
   * Deletes by ids, or by `where` (the points matching when the delete starts, each still matching
   * when its chunk commits). `DELETE_CHUNK` points per write (3–15 ms each on a 2-core machine, measured): a large delete lets other writes and
   * searches in between, and is not atomic (a crash leaves part of it done; repeat it).
   */
  async delete(name: string, request: DeleteRequest): Promise<{ deleted: number }> {
    const host = this.#host;
    const state = host.state(name);
    if ((request.ids === undefined) === (request.where === undefined)) {
      throw new ServerErrors.RequestInvalid('give either ids or where (not both)');
    }
    const collectionId = state.record.id;
    let deleted = 0;
    let writes = 0;
    const write = async (chunk: (() => Mutation)) => {
      // An uncontended write resolves on microtasks alone: yield, so searches run between chunks.
      if (writes++ > 0) await yieldToLoop();
      const mutation = await host.writer.write(
        () => {
          this.#host.check(name, state);
          return chunk();
        },
        (m) => this.#applied(state, m, new Map()),
      );
      deleted += mutation.changes.length;
    };
    if (request.ids) {
      const ids = [...new Set(request.ids.map((raw, i) => normaliseId(raw, `ids[${i}]`)))];
      for (let at = 0; at < ids.length; at += DELETE_CHUNK) {
        const chunk = ids.slice(at, at + DELETE_CHUNK);
        await write(() => host.points.deleteIds(collectionId, chunk));
      }
    } else {
      if (Object.keys(request.where!).length === 0) {
        throw new StorageErrors.WhereInvalid(
          'where: {} matches every point; to delete them all, drop the collection (DELETE /v1/collections/{name}) and create it again',
        );
      }
      const where = parseWhere(request.where);
      const labels = (await matchingLabels(state, host.points, where)).bitmap.toArray();
      for (let at = 0; at < labels.length; at += DELETE_CHUNK) {
        const chunk = Array.from(labels.subarray(at, at + DELETE_CHUNK));
        await write(() => host.points.deleteLabels(collectionId, chunk, where));
      }
    }
    await host.replicas.whenBacklogAtMost(host.config.maxIndexBacklog);
    return { deleted };
  }


  /**
   * Fits a float8 codec on the collection's points and the batch being written (inside its
   * transaction): stores the params and re-encodes the rows written as float32 so far.
   */
  #fitCodec(state: CollectionState, batch: Float32Array[]): { model: CollectionModel; changes: Mutation['changes'] } {
    const { points, models, db } = this.#host;
    const d = state.record.config.dimension;
    const rows = points.scroll(state.record.id, { limit: CODEC_FIT_AT * 4, afterLabel: -1, withVector: true });
    const sample = new Float32Array((rows.length + batch.length) * d);
    rows.forEach((row, i) => sample.set(state.model.decode(row.vector!), i * d));
    batch.forEach((v, i) => sample.set(v, (rows.length + i) * d));
    const old = state.model;
    const update = fitModel(old, sample, rows.length + batch.length, { codec: true, pca: false });
    const model = new CollectionModel(state.record.config, models.install(state.record.id, update));
    const seq = nextSeq(db);
    const changes = points.reencode(state.record.id, seq, model.codec.bytesPerVector, (bytes) => model.encode(old.decode(bytes)).bytes);
    this.#host.log.info({ collection: state.name, codec: model.codec.name, rows: changes.length }, 'codec fitted; earlier rows re-encoded');
    return { model, changes };
  }

  saturated(state: CollectionState, count: number): void {
    if (count === 0) return;
    state.saturated += count;
    this.#host.log.warn(
      { collection: state.name, codec: state.model.codec.name, saturated: count, total: state.saturated },
      'vector values beyond the codec range were clamped to its largest value',
    );
  }

  /**
   * After a commit: update the main thread's payload index and vectors, then send the change to
   * every replica. A change whose id is not in `payloads` (a re-encoded row) keeps its payload.
   */
  #applied(state: CollectionState, mutation: Mutation, payloads: Payloads): void {
    const { changes } = mutation;
    if (changes.length === 0) return;
    const dim = state.record.config.dimension;
    const { model } = state;
    const labels = new Uint32Array(changes.length);
    const deleted = new Uint8Array(changes.length);
    const vectors = new Float32Array(changes.filter((c) => c.vector).length * dim);
    let v = 0;
    changes.forEach((change, i) => {
      labels[i] = change.label;
      if (!change.vector) {
        deleted[i] = 1;
        state.deleted(change.label);
        return;
      }
      model.codec.decodeInto(change.vector, vectors.subarray(v * dim, (v + 1) * dim));
      v++;
      state.upserted(change.label, change.id!, change.vector, payloads.get(change.id!));
    });
    this.#host.replicas.broadcast({ op: 'apply', collectionId: state.record.id, seq: mutation.seq, labels, deleted, vectors });
    this.#host.snapshots.changed(state, changes.length);
  }
}
