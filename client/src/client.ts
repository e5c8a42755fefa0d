import { Readable } from 'node:stream';
import { counted, formatOfPath, importQuery, npyBody, openFile, type ImportOptions, type StreamImportOptions } from './imports.ts';
import { pause, Transport, type Call, type TransportKind } from './transport.ts';
import {
  FINISHED_STATES,
  type Backup,
  type BatchSearchAnswer,
  type BuildOrder,
  type Collection,
  type CollectionSpec,
  type ImportAccepted,
  type Job,
  type Link,
  type Neighbour,
  type Point,
  type PointId,
  type SearchAnswer,
  type SearchRequest,
  type StoredLink,
  type StoredPoint,
  type Where,
} from './types.ts';

export const DEFAULT_URL = 'http://127.0.0.1:7373';
/** Points per `PUT …/points` request of `upsert`. */
export const DEFAULT_BATCH_SIZE = 256;

export interface ClientOptions {
  /** Sent with every request as `Authorization: Bearer <key>`. */
  apiKey?: string | null;
  /** Request and answer documents as JSON (default) or MessagePack. */
  transport?: TransportKind;
  /** Each attempt of a request fails with `ETIMEDOUT` after this long (default 30,000; 0: never). Imports are not bound by it. */
  timeoutMs?: number;
  /** Retries of a repeatable request on 503 (after `Retry-After`) or a dropped connection (default 2). */
  retries?: number;
  /** The longest wait before a retry, whatever `Retry-After` says (default 5,000 ms). */
  maxRetryDelayMs?: number;
  /** Connections kept to the server at most (default: no limit). */
  connections?: number;
}

export interface Signal {
  signal?: AbortSignal;
}

export interface UpsertOptions extends Signal {
  batchSize?: number;
  /** Called after each batch is durable, with the points written so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface ScrollOptions extends Signal {
  where?: Where;
  /** Points per page (1–1,000; the server's default is 100). The iterator follows every page. */
  limit?: number;
  withPayload?: boolean;
  withVector?: boolean;
}

export interface LinkListOptions extends Signal {
  type?: string;
  direction?: 'out' | 'in' | 'both';
  /** Links per page (1–1,000). The iterator follows every page. */
  limit?: number;
}

export interface WaitOptions extends Signal {
  /** Called with the job at each poll. */
  onProgress?: (job: Job) => void;
  /** Between polls (default 500 ms). */
  pollMs?: number;
}

export interface OptimizeOptions extends Signal {
  buildOrder?: BuildOrder;
  seed?: number;
  /** Neighbours per point for the LID estimate of the LID orders (the server's default is 20). */
  lidK?: number;
}

const enc = encodeURIComponent;

/**
 * A client of one Vicinity server. Connections are kept alive and shared by concurrent calls;
 * call `close()` when done. Every failure is a `VicinityError` (an aborted call rejects with the
 * signal's reason).
 */
export class VicinityClient {
  readonly url: string;
  readonly #http: Transport;

  constructor(url: string = DEFAULT_URL, options: ClientOptions = {}) {
    this.#http = new Transport(url, options);
    this.url = this.#http.url;
  }

  /** `json` or `msgpack`. */
  get transport(): TransportKind {
    return this.#http.kind;
  }

  /** Closes the kept-alive connections. */
  close(): Promise<void> {
    return this.#http.close();
  }

  // Collections

  async listCollections(options: Signal = {}): Promise<Collection[]> {
    return (await this.#body<{ collections: Collection[] }>({ method: 'GET', path: '/v1/collections', ...options })).collections;
  }

  /** PUT the collection: `created` is false when an identical one already existed (a different one is a 409). */
  async createCollection(name: string, spec: CollectionSpec, options: Signal = {}): Promise<{ created: boolean; collection: Collection }> {
    const res = await this.#http.send<Collection>({ method: 'PUT', path: `/v1/collections/${enc(name)}`, body: spec, ...options });
    return { created: res.status === 201, collection: res.body };
  }

  getCollection(name: string, options: Signal = {}): Promise<Collection> {
    return this.#body({ method: 'GET', path: `/v1/collections/${enc(name)}`, ...options });
  }

  /** Drops the collection; its points are purged in the background. */
  dropCollection(name: string, options: Signal = {}): Promise<{ dropped: string }> {
    return this.#body({ method: 'DELETE', path: `/v1/collections/${enc(name)}`, ...options });
  }

  /** Rebuilds the index in a build order, as a job (follow it with `waitForJob`). */
  optimize(name: string, options: OptimizeOptions = {}): Promise<Job> {
    const body = { build_order: options.buildOrder, seed: options.seed, lid_k: options.lidK };
    return this.#body({ method: 'POST', path: `/v1/collections/${enc(name)}/optimize`, body, signal: options.signal });
  }

  // Points

  /**
   * Writes the points in batches of `batchSize`, one after another; each batch is atomic and
   * acknowledged once durable. A failed batch rejects, leaving the earlier ones written.
   */
  async upsert(collection: string, points: readonly Point[], options: UpsertOptions = {}): Promise<{ upserted: number }> {
    const size = options.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isSafeInteger(size) || size < 1) throw new TypeError(`options.batchSize must be a positive integer, got ${String(size)}`);
    let upserted = 0;
    for (let start = 0; start < points.length; start += size) {
      const batch = points.slice(start, start + size);
      const answer = await this.#body<{ upserted: number }>({ method: 'PUT', path: `/v1/collections/${enc(collection)}/points`, body: { points: batch }, signal: options.signal });
      upserted += answer.upserted;
      options.onProgress?.(start + batch.length, points.length);
    }
    return { upserted };
  }

  getPoint(collection: string, id: PointId, options: { withVector?: boolean; withPayload?: boolean } & Signal = {}): Promise<StoredPoint> {
    const params = new URLSearchParams();
    if (options.withVector !== undefined) params.set('with_vector', String(options.withVector));
    if (options.withPayload !== undefined) params.set('with_payload', String(options.withPayload));
    const query = params.size ? `?${params.toString()}` : '';
    return this.#body({ method: 'GET', path: `/v1/collections/${enc(collection)}/points/${enc(String(id))}${query}`, signal: options.signal });
  }

  /** Deletes by ids (unknown ones are ignored) or by a filter. */
  deletePoints(collection: string, selector: { ids: PointId[] } | { where: Where }, options: Signal = {}): Promise<{ deleted: number }> {
    return this.#body({ method: 'POST', path: `/v1/collections/${enc(collection)}/points/delete`, body: selector, signal: options.signal });
  }

  /** Every point (matching `where`), page by page in the server's stable order. */
  async *scroll(collection: string, options: ScrollOptions = {}): AsyncGenerator<StoredPoint, void, undefined> {
    let cursor: string | null = null;
    do {
      const body = { where: options.where, limit: options.limit, cursor, with_payload: options.withPayload, with_vector: options.withVector };
      const page: { points: StoredPoint[]; next_cursor: string | null } = await this.#body({
        method: 'POST',
        path: `/v1/collections/${enc(collection)}/points/scroll`,
        body,
        idempotent: true,
        signal: options.signal,
      });
      yield* page.points;
      cursor = page.next_cursor;
    } while (cursor !== null);
  }

  // Search

  search(collection: string, request: SearchRequest, options: Signal = {}): Promise<SearchAnswer> {
    return this.#body({ method: 'POST', path: `/v1/collections/${enc(collection)}/search`, body: request, idempotent: true, signal: options.signal });
  }

  /** Up to 1,000 searches in one request; `results[i]` answers `requests[i]`. */
  searchBatch(collection: string, requests: readonly SearchRequest[], options: Signal = {}): Promise<BatchSearchAnswer> {
    return this.#body({ method: 'POST', path: `/v1/collections/${enc(collection)}/search/batch`, body: { searches: requests }, idempotent: true, signal: options.signal });
  }

  // Links

  /** One transaction: every link is written, or none (a missing end is a 404). */
  putLinks(collection: string, links: readonly Link[], options: Signal = {}): Promise<{ linked: number }> {
    return this.#body({ method: 'PUT', path: `/v1/collections/${enc(collection)}/links`, body: { links }, signal: options.signal });
  }

  /** `{links}` (without `type`: every type between the two points) or `{ids}` (every link touching them). */
  deleteLinks(
    collection: string,
    selector: { links: Omit<Link, 'weight' | 'both'>[] } | { ids: PointId[] },
    options: Signal = {},
  ): Promise<{ deleted: number }> {
    return this.#body({ method: 'POST', path: `/v1/collections/${enc(collection)}/links/delete`, body: selector, signal: options.signal });
  }

  /** A point's links (outgoing by default), page by page. */
  async *links(collection: string, id: PointId, options: LinkListOptions = {}): AsyncGenerator<StoredLink, void, undefined> {
    const params = new URLSearchParams();
    if (options.type !== undefined) params.set('type', options.type);
    if (options.direction !== undefined) params.set('direction', options.direction);
    if (options.limit !== undefined) params.set('limit', String(options.limit));
    const base = `/v1/collections/${enc(collection)}/points/${enc(String(id))}/links`;
    let cursor: string | null = null;
    do {
      if (cursor !== null) params.set('cursor', cursor);
      const query = params.size ? `?${params.toString()}` : '';
      const page: { links: StoredLink[]; next_cursor: string | null } = await this.#body({ method: 'GET', path: base + query, signal: options.signal });
      yield* page.links;
      cursor = page.next_cursor ?? null;
    } while (cursor !== null);
  }

  /** The point's k-NN overlay entry, nearest first, with distances from the current vectors. */
  async neighbours(collection: string, id: PointId, k?: number, options: Signal = {}): Promise<Neighbour[]> {
    const query = k === undefined ? '' : `?k=${k}`;
    const answer = await this.#body<{ neighbours: Neighbour[] }>({ method: 'GET', path: `/v1/collections/${enc(collection)}/points/${enc(String(id))}/neighbours${query}`, signal: options.signal });
    return answer.neighbours;
  }

  // Imports and jobs

  /** Streams a file (`.npy`, `.fvecs`, `.ndjson`/`.jsonl`, `.msgpack`/`.mpk`, or `options.format`); resolves once it is staged. */
  async importFile(collection: string, path: string, options: ImportOptions = {}): Promise<ImportAccepted> {
    const format = formatOfPath(path, options.format);
    const { stream, size } = await openFile(path);
    try {
      return await this.importStream(collection, stream, { ...options, format, size });
    } finally {
      // Read to its end after an upload; otherwise (aborted, refused, unreachable) its file is closed here.
      stream.destroy();
    }
  }

  /** Streams a body in `options.format`; resolves with the 202 answer once the server has staged it. */
  async importStream(collection: string, body: Readable | AsyncIterable<Uint8Array>, options: StreamImportOptions): Promise<ImportAccepted> {
    const stream = counted(body, options.size ?? null, options.onProgress);
    const upload = { stream, contentType: 'application/octet-stream', length: options.size };
    return this.#body<ImportAccepted>({ method: 'POST', path: `/v1/collections/${enc(collection)}/import?${importQuery(options)}`, upload, signal: options.signal });
  }

  /** `n × dimension` float32 values, sent as an `.npy` body: row r gets the id `idOffset + r`. */
  async importVectors(collection: string, vectors: Float32Array, dimension: number, options: Omit<ImportOptions, 'format'> = {}): Promise<ImportAccepted> {
    const { chunks, size } = npyBody(vectors, dimension);
    return this.importStream(collection, Readable.from(chunks, { objectMode: false }), { ...options, format: 'npy', size });
  }

  getJob(id: string, options: Signal = {}): Promise<Job> {
    return this.#body({ method: 'GET', path: `/v1/jobs/${enc(id)}`, ...options });
  }

  /** The newest jobs first (at most `limit`, default 100). */
  async listJobs(options: { limit?: number } & Signal = {}): Promise<Job[]> {
    const query = options.limit === undefined ? '' : `?limit=${options.limit}`;
    return (await this.#body<{ jobs: Job[] }>({ method: 'GET', path: `/v1/jobs${query}`, signal: options.signal })).jobs;
  }

  /** Cancels a job that has not committed; a finished one is a 409 `VDB_ERR_JOB_FINISHED`. */
  cancelJob(id: string, options: Signal = {}): Promise<Job> {
    return this.#body({ method: 'DELETE', path: `/v1/jobs/${enc(id)}`, ...options });
  }

  /** Polls the job until it is `done`, `failed` or `cancelled` and resolves with it (whatever the state). */
  async waitForJob(id: string, options: WaitOptions = {}): Promise<Job> {
    const pollMs = options.pollMs ?? 500;
    for (;;) {
      const job = await this.getJob(id, { signal: options.signal });
      options.onProgress?.(job);
      if (FINISHED_STATES.includes(job.state)) return job;
      await pause(pollMs, options.signal);
    }
  }

  // Backups and operations

  /** Starts an online backup (admin keys); one runs at a time (409 `VDB_ERR_BACKUP_RUNNING`). */
  startBackup(options: Signal = {}): Promise<Backup> {
    return this.#body({ method: 'POST', path: '/v1/backups', ...options });
  }

  async listBackups(options: Signal = {}): Promise<Backup[]> {
    return (await this.#body<{ backups: Backup[] }>({ method: 'GET', path: '/v1/backups', ...options })).backups;
  }

  getBackup(id: string, options: Signal = {}): Promise<Backup> {
    return this.#body({ method: 'GET', path: `/v1/backups/${enc(id)}`, ...options });
  }

  /** Liveness: `{status: 'ok'}`. */
  health(options: Signal = {}): Promise<{ status: string }> {
    return this.#body({ method: 'GET', path: '/healthz', ...options });
  }

  /** Readiness: false while the server loads its indexes (a 503, not retried). */
  async ready(options: Signal = {}): Promise<boolean> {
    const res = await this.#http.send({ method: 'GET', path: '/readyz', accept: [503], idempotent: false, ...options });
    return res.status === 200;
  }

  /** The Prometheus text of `GET /metrics`. */
  async metrics(options: Signal = {}): Promise<string> {
    return (await this.#http.send<string>({ method: 'GET', path: '/metrics', text: true, ...options })).body;
  }

  async #body<T>(call: Call): Promise<T> {
    return (await this.#http.send<T>(call)).body;
  }
}
