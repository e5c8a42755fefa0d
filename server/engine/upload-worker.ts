import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { MessagePort } from 'node:worker_threads';
import { vectorToBlob } from '../../index/vectors.ts';
import { openDatabase, truncateWal, vacuumStep, type Db } from '../../storage/db.ts';
import { StagingRepo } from '../../storage/staging.ts';
import { parseImport, type ImportSummary } from '../import/parse.ts';
import { loadModel } from './load-index.ts';
import type { CollectionModel } from './model.ts';
import type { FromUpload, ToUpload, UploadStart, UploadWorkerData } from './upload.ts';
import { LockBorrower } from './lent-lock.ts';
import { Writer } from './writer.ts';

/** Searches come first: this thread runs at the lowest priority, as the build process does. */
const UPLOAD_NICE = 19;
/** About 256 KiB of vectors per staging transaction keeps each one to a few milliseconds. */
const STAGE_BYTES = 256 * 1024;
/** Staged rows deleted per transaction, once their job has ended. */
const PURGE_CHUNK = 500;
/** Free pages given back to the file system per transaction (16 MiB of 16 KiB pages). */
const VACUUM_PAGES = 1024;

/**
 * The upload thread: parses import bodies, encodes their vectors as the collection stores them and
 * stages them through its own connection, borrowing the server's write lock for each transaction;
 * and once a job has ended, deletes its staged rows and gives their pages and the WAL back. The
 * server's event loop only passes the body's chunks on, so searches do not wait behind either.
 */
export default function serve({ port, dbPath, maxLabel }: UploadWorkerData & { port: MessagePort }): Promise<void> {
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), UPLOAD_NICE);
  } catch {
    // not Linux, or not permitted: normal priority
  }
  const db = openDatabase({ path: dbPath, synchronous: 'NORMAL' });
  const uploads = new Uploads(db, new StagingRepo(db, { maxLabel }), (message) => port.postMessage(message));
  port.on('message', (message: ToUpload) => uploads.receive(message));
  // The task lasts as long as the thread serves: until the server closes the port.
  return new Promise((resolve) => port.once('close', () => {
    db.close();
    resolve();
  }));
}

/** One body's chunks as the server passes them on; each is acknowledged once the parser takes it. */
class Chunks implements AsyncIterable<Uint8Array> {
  readonly #queue: Uint8Array[] = [];
  #ended = false;
  #failure: Error | null = null;
  #wake: (() => void) | null = null;

  constructor(
    readonly jobId: string,
    readonly send: (message: FromUpload) => void,
  ) {}

  push(chunk: Uint8Array): void {
    this.#queue.push(chunk);
    this.#notify();
  }

  end(failure: Error | null): void {
    this.#ended = true;
    this.#failure = failure;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.#failure) throw this.#failure;
      const chunk = this.#queue.shift();
      if (chunk) {
        this.send({ type: 'consumed', jobId: this.jobId, bytes: chunk.byteLength });
        yield chunk;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

/** The bodies being staged, and the write locks asked of the server for them. */
class Uploads {
  readonly #bodies = new Map<string, Chunks>();
  readonly #lock: LockBorrower<{ jobId: string; purpose: 'stage' | 'purge' }>;

  constructor(
    readonly db: Db,
    readonly staging: StagingRepo,
    readonly send: (message: FromUpload) => void,
  ) {
    this.#lock = new LockBorrower<{ jobId: string; purpose: 'stage' | 'purge' }>(send);
  }

  receive(message: ToUpload): void {
    switch (message.type) {
      case 'start': {
        const { jobId } = message.start;
        const chunks = new Chunks(jobId, this.send);
        this.#bodies.set(jobId, chunks);
        this.#stage(message.start, chunks)
          .then(
            (summary) => this.send({ type: 'done', jobId, summary }),
            (err: unknown) => {
              const e = err as { code?: unknown; message?: unknown; statusCode?: unknown };
              const code = typeof e.code === 'string' ? e.code : 'VDB_ERR_INTERNAL';
              this.send({ type: 'failed', jobId, error: { code, message: String(e.message ?? err), statusCode: typeof e.statusCode === 'number' ? e.statusCode : 500 } });
            },
          )
          .finally(() => this.#bodies.delete(jobId));
        return;
      }
      case 'chunk':
        this.#bodies.get(message.jobId)?.push(message.bytes);
        return;
      case 'end':
        this.#bodies.get(message.jobId)?.end(message.stop ? new Error('the upload stopped') : null);
        return;
      case 'purge':
        this.#purge(message.jobId).then(
          () => this.send({ type: 'purged', jobId: message.jobId, error: null }),
          (err: unknown) => this.send({ type: 'purged', jobId: message.jobId, error: String((err as Error).message ?? err) }),
        );
        return;
      case 'locked':
        this.#lock.answered(message.id, message.granted);
    }
  }

  /** Removes an ended job's staged rows in short writes, then gives the space back. */
  async #purge(jobId: string): Promise<void> {
    const writer = this.#writer(jobId, 'purge');
    while (!(await writer.write(() => this.staging.purge(jobId, PURGE_CHUNK))));
    // The staged rows' pages go back to the file system, a few megabytes per write.
    while (!(await writer.write(() => vacuumStep(this.db, VACUUM_PAGES))));
    // And the WAL, which the commit and the vacuum grew to its limit, goes back to nothing.
    const release = await this.#lock.acquire({ jobId, purpose: 'purge' });
    try {
      truncateWal(this.db);
    } finally {
      release();
    }
  }

  /** Each transaction borrows the server's lock, which it refuses to staging once the job has ended. */
  #writer(jobId: string, purpose: 'stage' | 'purge'): Writer {
    return new Writer(this.db, () => this.#lock.acquire({ jobId, purpose }));
  }

  async #stage(start: UploadStart, chunks: Chunks): Promise<ImportSummary> {
    const { jobId, collectionId, config, dedupe } = start;
    const { dimension } = config;
    const batchSize = Math.max(16, Math.min(1024, Math.floor(STAGE_BYTES / (dimension * 4))));
    const writer = this.#writer(jobId, 'stage');
    const batches = parseImport(chunks, { ...start.options, dimension, metric: config.metric, batchSize });
    let model: CollectionModel | null = null;
    for (;;) {
      const next = await batches.next();
      if (next.done) return next.value;
      const batch = next.value;
      // Until a build fits the codec, vectors are staged as float32 (the commit encodes them).
      if (model === null || model.pending.codec) model = loadModel(this.db, collectionId, config);
      const current = model;
      let saturated = 0;
      const writes = batch.ids.map((id, i) => {
        const vector = batch.vectors.subarray(i * dimension, (i + 1) * dimension);
        const row = { row: batch.firstRecord + i, id, payload: batch.payloads[i], links: batch.links[i] };
        if (current.pending.codec) return { ...row, vector: vectorToBlob(vector) };
        const encoded = current.encode(vector);
        saturated += encoded.saturated;
        return { ...row, vector: encoded.bytes };
      });
      await writer.write(() => this.staging.stage(jobId, collectionId, writes, dedupe));
      this.send({ type: 'staged', jobId, records: writes.length, totalRecords: batch.totalRecords, saturated });
    }
  }
}
