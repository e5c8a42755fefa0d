import type { Readable } from 'node:stream';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { BuildOrderSetting } from '../../index/build-order.ts';
import type { CollectionConfig } from '../../storage/collections.ts';
import type { Config } from '../config.ts';
import { ServerErrors } from '../errors.ts';
import { uploadChunks } from '../import/body.ts';
import type { ImportSummary } from '../import/parse.ts';
import type { ImportFormat, ImportOptionsInput } from '../import/records.ts';
import type { CollectionState } from './collection-state.ts';
import type { Job } from './job.ts';
import type { Logger } from './logger.ts';
import { LockLender } from './lent-lock.ts';
import type { Writer } from './writer.ts';

const WORKER = new URL('./upload-worker.ts', import.meta.url).href;
/** Body bytes passed to the upload thread and not yet parsed before the body is read no further. */
const IN_FLIGHT_BYTES = 4 << 20;
/** The thread ends once no upload has used it for this long (an empty worker holds tens of MiB). */
const LINGER_MS = 5000;

export interface ImportRequest {
  format: ImportFormat;
  idOffset: number;
  order?: BuildOrderSetting;
  seed?: number;
  contentLength: number | null;
}

export interface UploadDeps {
  config: Config;
  /** Counts and logs values a codec clamped. */
  saturated(state: CollectionState, count: number): void;
  /** The body's record count became known: tell a build that follows the upload. */
  expected(job: Job, records: number): void;
}

export interface UploadWorkerData {
  dbPath: string;
  maxLabel: number;
}

export interface UploadStart {
  jobId: string;
  collectionId: number;
  config: CollectionConfig;
  dedupe: boolean;
  options: Omit<ImportOptionsInput, 'dimension' | 'metric'>;
}

export type ToUpload =
  | { type: 'start'; start: UploadStart }
  | { type: 'chunk'; jobId: string; bytes: Uint8Array }
  /** The body is complete, or (`stop`) the upload ended early on this side. */
  | { type: 'end'; jobId: string; stop: boolean }
  | { type: 'purge'; jobId: string }
  | { type: 'locked'; id: number; granted: boolean };

export type FromUpload =
  | { type: 'consumed'; jobId: string; bytes: number }
  | { type: 'staged'; jobId: string; records: number; totalRecords: number | null; saturated: number }
  | { type: 'lock'; id: number; jobId: string; purpose: 'stage' | 'purge' }
  | { type: 'purged'; jobId: string; error: string | null }
  | { type: 'unlock'; id: number }
  | { type: 'done'; jobId: string; summary: ImportSummary }
  | { type: 'failed'; jobId: string; error: { code: string; message: string; statusCode: number } };

interface Thread {
  pool: Piscina;
  port: MessagePort;
  /** The write lock lent to this thread, by its lock ids (each thread counts from 0). */
  leases: LockLender;
}

interface Upload {
  /** The thread staging it: only that thread's end fails it. */
  thread: Thread;
  job: Job;
  state: CollectionState;
  deps: UploadDeps;
  inFlight: number;
  drained: (() => void) | null;
  settle: (outcome: { summary: ImportSummary } | { error: Error }) => void;
}

/**
 * The server's side of the upload thread (upload-worker.ts), which parses and stages import
 * bodies: chunks out (a few MiB ahead of the parser at most, so a fast client cannot fill memory),
 * progress back, and the write lock lent for each staging transaction — refused once the job has
 * ended, so nothing is staged after its rows are purged.
 */
export class UploadThread {
  readonly #data: UploadWorkerData;
  readonly #writer: Writer;
  readonly #log: Logger;
  #thread: Thread | null = null;
  readonly #uploads = new Map<string, Upload>();
  readonly #purges = new Map<string, { thread: Thread; purged: (error: string | null) => void }>();
  #linger: NodeJS.Timeout | null = null;

  constructor(data: UploadWorkerData, writer: Writer, log: Logger) {
    this.#data = data;
    this.#writer = writer;
    this.#log = log;
  }

  /**
   * Streams an import body into staging, a batch per write, each encoded as the collection stores
   * vectors (float32 while its codec awaits the fit the build makes). Stops at once when the job ends
   * (a cancel, a drop) or the client goes quiet. Resolves with the body's size once all of it is staged.
   */
  async stage(job: Job, state: CollectionState, request: ImportRequest, body: Readable, deps: UploadDeps): Promise<ImportSummary> {
    const { config } = deps;
    const thread = this.#start();
    const { port } = thread;
    let settle!: Upload['settle'];
    const settled = new Promise<{ summary: ImportSummary } | { error: Error }>((resolve) => (settle = resolve));
    const upload: Upload = { thread, job, state, deps, inFlight: 0, drained: null, settle };
    this.#uploads.set(job.id, upload);
    let outcome: { summary: ImportSummary } | { error: Error } | null = null;
    // The thread stopped early (a malformed body): the read ends at once, not at the client's next chunk.
    const stopped = new AbortController();
    void settled.then((o) => {
      outcome = o;
      upload.drained?.();
      stopped.abort(new Error('the upload thread stopped reading'));
    });
    port.postMessage({
      type: 'start',
      start: {
        jobId: job.id, collectionId: state.record.id, config: state.record.config, dedupe: request.format === 'ndjson' || request.format === 'msgpack',
        options: {
          format: request.format, idOffset: request.idOffset, contentLength: request.contentLength,
          maxBytes: config.importMaxBytes, maxRecords: config.importMaxRecords, maxRecordBytes: config.importMaxRecordBytes,
          maxPayloadBytes: config.maxPayloadBytes, maxPayloadDepth: config.maxPayloadDepth,
        },
      },
    } satisfies ToUpload);
    try {
      try {
        const signal = AbortSignal.any([job.signal, stopped.signal]);
        for await (const chunk of uploadChunks(body, { signal, idleMs: config.importIdleTimeoutMs })) {
          while (upload.inFlight >= IN_FLIGHT_BYTES && outcome === null) await new Promise<void>((resolve) => (upload.drained = resolve));
          if (outcome !== null) break; // the thread stopped (a malformed body): the rest is not read
          upload.inFlight += chunk.byteLength;
          port.postMessage({ type: 'chunk', jobId: job.id, bytes: chunk } satisfies ToUpload);
        }
      } catch (err) {
        // This side ended the upload (a cancel, a quiet client): the thread stops, and nothing it
        // staged is kept. Its last write ends before this job's rows can be purged. (When the
        // thread had stopped first, its outcome is the answer, below.)
        if (job.signal.aborted || !stopped.signal.aborted) {
          port.postMessage({ type: 'end', jobId: job.id, stop: true } satisfies ToUpload);
          await settled;
          throw err;
        }
      }
      port.postMessage({ type: 'end', jobId: job.id, stop: false } satisfies ToUpload);
      const result = await settled;
      if ('error' in result) throw result.error;
      return result.summary;
    } finally {
      this.#uploads.delete(job.id);
      this.#idle();
    }
  }

  /**
   * Deletes an ended job's staged rows in the thread, then gives their pages and the WAL back.
   * Rejects when the thread stops first; what is left is removed at the next start.
   */
  async purge(jobId: string): Promise<void> {
    const thread = this.#start();
    const error = await new Promise<string | null>((resolve) => {
      this.#purges.set(jobId, { thread, purged: resolve });
      thread.port.postMessage({ type: 'purge', jobId } satisfies ToUpload);
    });
    this.#purges.delete(jobId);
    this.#idle();
    if (error !== null) throw new Error(error);
  }

  #idle(): void {
    if (this.#uploads.size === 0 && this.#purges.size === 0) this.#linger = setTimeout(() => void this.close(), LINGER_MS).unref();
  }

  /** Ends the thread (uploads still running fail). */
  async close(): Promise<void> {
    const thread = this.#thread;
    this.#thread = null;
    if (!thread) return;
    thread.port.close();
    await thread.pool.destroy();
  }

  #start(): Thread {
    if (this.#linger) clearTimeout(this.#linger);
    this.#linger = null;
    if (this.#thread) return this.#thread;
    // A pool of one thread, for the way piscina loads the worker's TypeScript; one task serves every upload.
    const pool = new Piscina({ filename: WORKER, minThreads: 1, maxThreads: 1, idleTimeout: Infinity, atomics: 'disabled' });
    const { port1, port2 } = new MessageChannel();
    // Timed like the server's own transactions (/metrics), which staging and purges were.
    const thread: Thread = { pool, port: port1, leases: new LockLender(this.#writer, 'server') };
    port1.on('message', (message: FromUpload) => this.#receive(thread, message));
    const ended = (err: unknown) => {
      if (this.#thread === thread) {
        this.#thread = null;
        this.#log.error({ err }, 'the upload thread stopped');
        void pool.destroy();
      }
      // A thread gone inside a transaction never committed it; SQLite dropped its lock with it.
      // Only this thread's work ends with it: a thread started meanwhile (an upload that came as
      // the lingering one was being destroyed) keeps its leases, uploads and purges.
      thread.leases.returnAll();
      for (const upload of this.#uploads.values()) {
        if (upload.thread === thread) upload.settle({ error: new ServerErrors.Internal('the upload thread stopped; the import was not kept') });
      }
      for (const purge of this.#purges.values()) if (purge.thread === thread) purge.purged('the upload thread stopped');
    };
    pool.run({ port: port2, ...this.#data }, { transferList: [port2] }).then(() => ended(null), ended);
    this.#thread = thread;
    return thread;
  }

  #receive(thread: Thread, message: FromUpload): void {
    const upload = 'jobId' in message ? this.#uploads.get(message.jobId) : undefined;
    switch (message.type) {
      case 'consumed':
        if (!upload) return;
        upload.inFlight -= message.bytes;
        if (upload.inFlight < IN_FLIGHT_BYTES) upload.drained?.();
        return;
      case 'staged': {
        if (!upload) return;
        const { job, state, deps } = upload;
        job.staged += message.records;
        job.lastStagedAt = Date.now();
        job.total = message.totalRecords;
        if (message.totalRecords !== null) deps.expected(job, message.totalRecords);
        if (message.saturated > 0) deps.saturated(state, message.saturated);
        return;
      }
      case 'lock':
        return thread.leases.lend(message.id, () => {
          const staging = upload !== undefined && !upload.job.signal.aborted;
          const granted = this.#thread === thread && (message.purpose === 'purge' ? this.#purges.get(message.jobId)?.thread === thread : staging);
          thread.port.postMessage({ type: 'locked', id: message.id, granted } satisfies ToUpload);
          return granted;
        });
      case 'unlock':
        return thread.leases.returned(message.id);
      case 'done':
        upload?.settle({ summary: message.summary });
        return;
      case 'purged':
        this.#purges.get(message.jobId)?.purged(message.error);
        return;
      case 'failed':
        upload?.settle({ error: Object.assign(new Error(message.error.message), { code: message.error.code, statusCode: message.error.statusCode }) });
    }
  }
}
