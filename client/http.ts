import { Readable } from 'node:stream';
import type {
  Collection,
  CollectionSpec,
  ImportAccepted,
  ImportQuery,
  Job,
  SearchAnswer,
  SearchRequest,
} from './types.ts';

export const DEFAULT_URL = 'http://127.0.0.1:7373';

/**
 * A failed request. `status` is the HTTP status, or 0 when the server could not be reached (then
 * `code` is the system's, e.g. `ECONNREFUSED`); otherwise `code` is the server's `VDB_ERR_…` code.
 */
export class VicinityError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'VicinityError';
    this.status = status;
    this.code = code;
  }
}

/** A small typed client of the Vicinity REST API, over `fetch`. */
export class VicinityClient {
  readonly url: string;
  readonly #apiKey: string | null;

  /** `apiKey` goes with every request as `Authorization: Bearer <key>`. */
  constructor(url: string = DEFAULT_URL, options: { apiKey?: string | null } = {}) {
    this.#apiKey = options.apiKey ?? null;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(`url must be an http:// or https:// URL, got '${url}'`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`url must be an http:// or https:// URL, got '${url}'`);
    }
    this.url = parsed.href.replace(/\/+$/, '');
  }

  /** PUT the collection: `created` is false when an identical one already existed. */
  async createCollection(name: string, spec: CollectionSpec): Promise<{ created: boolean; collection: Collection }> {
    const res = await this.#send('PUT', `/v1/collections/${enc(name)}`, json(spec));
    return { created: res.status === 201, collection: await answer<Collection>(res) };
  }

  async getCollection(name: string): Promise<Collection> {
    return answer(await this.#send('GET', `/v1/collections/${enc(name)}`));
  }

  /**
   * Streams a file to the import route. `onBytes` is called with each chunk's size as it is read
   * for sending; `size` becomes the Content-Length. Resolves with the 202 answer once the server has
   * received and staged the whole body.
   */
  async importFile(
    collection: string,
    body: Readable,
    query: ImportQuery,
    onBytes: (bytes: number) => void = () => {},
    options: { size?: number; signal?: AbortSignal } = {},
  ): Promise<ImportAccepted> {
    const params = new URLSearchParams({ format: query.format });
    if (query.idOffset !== undefined) params.set('id_offset', String(query.idOffset));
    if (query.buildOrder !== undefined) params.set('build_order', query.buildOrder);
    if (query.seed !== undefined) params.set('seed', String(query.seed));
    body.on('data', (chunk: Buffer) => onBytes(chunk.length));
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (options.size !== undefined) headers['content-length'] = String(options.size);
    const init = {
      method: 'POST',
      headers,
      body: Readable.toWeb(body) as ReadableStream<Uint8Array>,
      duplex: 'half',
      signal: options.signal,
    } as RequestInit;
    let res: Response;
    try {
      res = await this.#fetch(`/v1/collections/${enc(collection)}/import?${params.toString()}`, init);
    } catch (err) {
      // A server that answers early (a bad header, no such collection) and closes the connection
      // makes fetch fail on its next write, losing the answer.
      if (err instanceof VicinityError && (err.code === 'EPIPE' || err.code === 'ECONNRESET')) {
        const message = `the server at ${this.url} closed the connection during the upload (${err.code}): it probably refused the file early; check that its format and dimension fit the collection`;
        throw new VicinityError(0, err.code, message);
      }
      throw err;
    }
    return answer(res);
  }

  async getJob(id: string): Promise<Job> {
    return answer(await this.#send('GET', `/v1/jobs/${enc(id)}`));
  }

  /** Cancels a running job; a finished one answers 409 `VDB_ERR_JOB_FINISHED`. */
  async cancelJob(id: string): Promise<Job> {
    return answer(await this.#send('DELETE', `/v1/jobs/${enc(id)}`));
  }

  async search(collection: string, request: SearchRequest): Promise<SearchAnswer> {
    return answer(await this.#send('POST', `/v1/collections/${enc(collection)}/search`, json(request)));
  }

  #send(method: string, path: string, init: RequestInit = {}): Promise<Response> {
    return this.#fetch(path, { ...init, method });
  }

  async #fetch(path: string, init: RequestInit): Promise<Response> {
    if (this.#apiKey !== null) init = { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${this.#apiKey}` } };
    try {
      return await fetch(this.url + path, init);
    } catch (err) {
      if (init.signal?.aborted) throw err;
      throw unreachable(this.url, err);
    }
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function json(body: unknown): RequestInit {
  return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/** The body of a 2xx answer, or the answer's error as a `VicinityError`. */
async function answer<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.ok && body !== undefined) return body as T;
  if (isErrorBody(body)) throw new VicinityError(res.status, body.code, body.message);
  const detail = text.trim().slice(0, 200) || res.statusText || 'no body';
  const what = res.ok ? 'answered with a body that is not JSON' : `answered HTTP ${res.status}`;
  throw new VicinityError(res.status, `HTTP_${res.status}`, `the server ${what}: ${detail}`);
}

function isErrorBody(body: unknown): body is { code: string; message: string } {
  if (typeof body !== 'object' || body === null) return false;
  const { code, message } = body as Record<string, unknown>;
  return typeof code === 'string' && typeof message === 'string';
}

/** fetch's "fetch failed" names nothing: the cause (ECONNREFUSED, ENOTFOUND, …) says what happened. */
function unreachable(url: string, err: unknown): VicinityError {
  let cause: unknown = err;
  while (cause instanceof Error && cause.cause !== undefined) cause = cause.cause;
  const code = (cause as { code?: unknown } | null)?.code;
  const text = cause instanceof Error ? cause.message : String(cause);
  return new VicinityError(0, typeof code === 'string' ? code : 'EFETCH', `cannot reach the server at ${url}: ${text}`);
}
