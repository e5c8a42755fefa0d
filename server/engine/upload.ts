import type { Readable } from 'node:stream';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { BuildOrderSetting } from '../../index/build-order.ts';
import { vectorToBlob } from '../../index/vectors.ts';
import type { StagingRepo } from '../../storage/staging.ts';
import type { Config } from '../config.ts';
import { uploadChunks } from '../import/body.ts';
import { parseImport, type ImportSummary } from '../import/parse.ts';
import type { ImportFormat } from '../import/records.ts';
import type { CollectionState } from './collection-state.ts';
import type { Job } from './job.ts';
import type { Writer } from './writer.ts';

/** About 256 KiB of vectors per staging transaction keeps each one to a few milliseconds. */
const STAGE_BYTES = 256 * 1024;
const SLICE_MS = 4;

export interface ImportRequest {
  format: ImportFormat;
  idOffset: number;
  order?: BuildOrderSetting;
  seed?: number;
  contentLength: number | null;
}

export interface UploadDeps {
  config: Config;
  writer: Writer;
  staging: StagingRepo;
  /** Counts and logs values a codec clamped. */
  saturated(state: CollectionState, count: number): void;
  /** The body's record count became known: tell a build that follows the upload. */
  expected(job: Job, records: number): void;
}

/**
 * Streams an import body into staging, a batch per write, each encoded as the collection stores
 * vectors (float32 while its codec awaits the fit the build makes). Stops at once when the job ends
 * (a cancel, a drop) or the client goes quiet. Resolves with the body's size once all of it is staged.
 */
export async function stageUpload(job: Job, state: CollectionState, request: ImportRequest, body: Readable, deps: UploadDeps): Promise<ImportSummary> {
  const { config, writer, staging } = deps;
  const { dimension, metric } = state.record.config;
  const dedupe = request.format === 'ndjson' || request.format === 'msgpack';
  const batches = parseImport(uploadChunks(body, { signal: job.signal, idleMs: config.importIdleTimeoutMs }), {
    format: request.format, dimension, metric, idOffset: request.idOffset, contentLength: request.contentLength,
    batchSize: Math.max(16, Math.min(1024, Math.floor(STAGE_BYTES / (dimension * 4)))),
    maxBytes: config.importMaxBytes, maxRecords: config.importMaxRecords, maxRecordBytes: config.importMaxRecordBytes, maxPayloadBytes: config.maxPayloadBytes, maxPayloadDepth: config.maxPayloadDepth,
  });
  let sliceStart = performance.now();
  for (;;) {
    const next = await batches.next();
    if (next.done) return next.value;
    const batch = next.value;
    const { model } = state;
    let saturated = 0;
    const writes = batch.ids.map((id, i) => {
      const vector = batch.vectors.subarray(i * dimension, (i + 1) * dimension);
      const links = batch.links[i];
      if (model.pending.codec) return { row: batch.firstRecord + i, id, payload: batch.payloads[i], links, vector: vectorToBlob(vector) };
      const encoded = model.encode(vector);
      saturated += encoded.saturated;
      return { row: batch.firstRecord + i, id, payload: batch.payloads[i], links, vector: encoded.bytes };
    });
    if (saturated > 0) deps.saturated(state, saturated);
    await writer.write(() => {
      job.signal.throwIfAborted(); // a drop or cancel may have ended the job while this write waited
      staging.stage(job.id, state.record.id, writes, dedupe);
    });
    job.staged += writes.length;
    job.lastStagedAt = Date.now();
    job.total = batch.totalRecords;
    if (batch.totalRecords !== null) deps.expected(job, batch.totalRecords);
    // A fast upload arrives already buffered, so this loop would run on microtasks alone: let searches in between.
    if (performance.now() - sliceStart > SLICE_MS) {
      await yieldToLoop();
      sliceStart = performance.now();
    }
  }
}
