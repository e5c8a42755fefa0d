import { Decoder, Encoder } from '@msgpack/msgpack';
import { Readable } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import { answerError, unreachable, VicinityError } from './errors.ts';

export type TransportKind = 'json' | 'msgpack';
export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

export interface TransportOptions {
  apiKey?: string | null;
  transport?: TransportKind;
  timeoutMs?: number;
  retries?: number;
  connections?: number;
  maxRetryDelayMs?: number;
}

export interface Call {
  method: Method;
  /** The path and query, e.g. `/v1/jobs?limit=5`. */
  path: string;
  /** A document, encoded as JSON or MessagePack. */
  body?: unknown;
  /** A body sent as it is (imports): not retried, not bound by `timeoutMs`. */
  upload?: { stream: Readable; contentType: string; length?: number };
  /** Read-only or repeatable: retried on 503 and on a dropped connection. Default: GET, PUT, DELETE. */
  idempotent?: boolean;
  signal?: AbortSignal;
  /** Statuses answered as they are instead of thrown (a 503 from /readyz). */
  accept?: readonly number[];
  /** The answer as text (Prometheus metrics). */
  text?: boolean;
}

export interface Answer<T> {
  status: number;
  body: T;
}

const MSGPACK = 'application/msgpack';
const JSON_TYPE = 'application/json';
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Codes of a connection that dropped before the answer: a repeatable request is sent again. */
const DROPPED = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** An answer as received: the decoded body, and what a retry or an error needs. */
type Raw = Answer<unknown> & { retryAfter: string | undefined; text: string };

function positiveInt(value: number | undefined, name: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) throw new TypeError(`options.${name} must be an integer ≥ ${min}, got ${String(value)}`);
  return value;
}

/**
 * HTTP to one server through an undici Agent (keep-alive connections, reused across calls), with
 * JSON or MessagePack documents, a per-request timeout, caller signals, and bounded retries.
 */
export class Transport {
  readonly url: string;
  readonly kind: TransportKind;
  readonly #origin: string;
  readonly #prefix: string;
  readonly #agent: Agent;
  readonly #headers: Record<string, string>;
  readonly #jsonBody: Record<string, string>;
  readonly #msgpackBody: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #maxRetryDelayMs: number;
  readonly #encoder = new Encoder({ ignoreUndefined: true });
  readonly #decoder = new Decoder();

  constructor(url: string, options: TransportOptions) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(`url must be an http:// or https:// URL, got '${url}'`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError(`url must be an http:// or https:// URL, got '${url}'`);
    this.url = parsed.href.replace(/\/+$/, '');
    this.#origin = parsed.origin;
    this.#prefix = parsed.pathname.replace(/\/+$/, '');
    const kind = options.transport ?? 'json';
    if (kind !== 'json' && kind !== 'msgpack') throw new TypeError(`options.transport must be 'json' or 'msgpack', got '${String(kind)}'`);
    this.kind = kind;
    this.#timeoutMs = positiveInt(options.timeoutMs, 'timeoutMs', 30_000, 0);
    this.#retries = positiveInt(options.retries, 'retries', 2, 0);
    this.#maxRetryDelayMs = positiveInt(options.maxRetryDelayMs, 'maxRetryDelayMs', 5_000, 0);
    const connections = options.connections === undefined ? null : positiveInt(options.connections, 'connections', 0);
    this.#agent = new Agent({ connections, keepAliveTimeout: 30_000, pipelining: 1 });
    this.#headers = { accept: kind === 'msgpack' ? MSGPACK : JSON_TYPE };
    const key = options.apiKey ?? null;
    if (key !== null) {
      if (typeof key !== 'string' || key === '') throw new TypeError('options.apiKey must be a non-empty string');
      this.#headers.authorization = `Bearer ${key}`;
    }
    this.#jsonBody = { ...this.#headers, 'content-type': JSON_TYPE };
    this.#msgpackBody = { ...this.#headers, 'content-type': MSGPACK };
  }

  /** Sends a call (again, when it may be retried) and decodes its answer; a 4xx or 5xx becomes a VicinityError. */
  async send<T>(call: Call): Promise<Answer<T>> {
    const idempotent = call.upload === undefined && (call.idempotent ?? call.method !== 'POST');
    const payload = call.body === undefined ? undefined : this.#encode(call.body);
    for (let attempt = 0; ; attempt++) {
      const retry = idempotent && attempt < this.#retries;
      let res: Raw;
      try {
        res = await this.#once(call, payload);
      } catch (err) {
        // A connection dropped before the answer may have carried out the request: sent again, a
        // DELETE would answer that its target is gone (404) or its job already finished (409).
        if (retry && call.method !== 'DELETE' && err instanceof VicinityError && DROPPED.has(err.code)) continue;
        throw err;
      }
      if (res.status >= 200 && res.status < 300) return res as Answer<T>;
      if (call.accept?.includes(res.status)) return res as Answer<T>;
      if (res.status === 503 && retry) {
        await pause(this.#retryDelay(res.retryAfter, attempt), call.signal);
        continue;
      }
      throw answerError(res.status, res.body, res.text);
    }
  }

  /** Closes the kept-alive connections; the client cannot be used afterwards. */
  close(): Promise<void> {
    return this.#agent.close();
  }

  #retryDelay(header: string | undefined, attempt: number): number {
    let ms = 100 * 2 ** attempt;
    if (header !== undefined) {
      const seconds = Number(header);
      if (Number.isFinite(seconds) && seconds >= 0) ms = seconds * 1000;
      else {
        const date = Date.parse(header);
        if (!Number.isNaN(date)) ms = Math.max(0, date - Date.now());
      }
    }
    return Math.min(ms, this.#maxRetryDelayMs);
  }

  #encode(body: unknown): { bytes: Uint8Array | string; type: string } {
    if (this.kind === 'msgpack') return { bytes: this.#encoder.encode(wireVectors(body, true)), type: MSGPACK };
    return { bytes: JSON.stringify(wireVectors(body, false)), type: JSON_TYPE };
  }

  #once(call: Call, payload: { bytes: Uint8Array | string; type: string } | undefined): Promise<Raw> {
    const { signal: user, upload } = call;
    user?.throwIfAborted();
    let headers = this.#headers;
    let body: Dispatcher.DispatchOptions['body'];
    if (payload) {
      headers = payload.type === MSGPACK ? this.#msgpackBody : this.#jsonBody;
      body = payload.bytes;
    } else if (upload) {
      headers = { ...this.#headers, 'content-type': upload.contentType };
      if (upload.length !== undefined) headers['content-length'] = String(upload.length);
      body = upload.stream;
    }
    if (call.text) headers = { ...headers, accept: 'text/plain' };
    // undici's own timers bound the wait for the answer's headers and each pause in its body; an
    // upload keeps undici's defaults (its wait starts again with every chunk written).
    const timeout = upload === undefined ? this.#timeoutMs : undefined;
    const options: Dispatcher.DispatchOptions = {
      origin: this.#origin,
      path: this.#prefix + call.path,
      method: call.method,
      headers,
      body,
      headersTimeout: timeout,
      bodyTimeout: timeout,
    };
    return new Promise<Raw>((resolve, reject) => {
      let controller: Dispatcher.DispatchController | null = null;
      let status = 0;
      let type = '';
      let retryAfter: string | undefined;
      const chunks: Buffer[] = [];
      // Aborted while waiting for a connection: settled now; undici is told once it starts the request.
      const onAbort = () => (controller ? controller.abort(user!.reason as Error) : reject(user!.reason as Error));
      const done = () => user?.removeEventListener('abort', onAbort);
      user?.addEventListener('abort', onAbort, { once: true });
      this.#agent.dispatch(options, {
        onRequestStart: (c) => {
          controller = c;
          if (user?.aborted) c.abort(user.reason as Error);
        },
        onResponseStart: (_c, statusCode, responseHeaders) => {
          status = statusCode;
          type = String(responseHeaders['content-type'] ?? '');
          retryAfter = responseHeaders['retry-after'] as string | undefined;
        },
        onResponseData: (_c, chunk) => {
          chunks.push(chunk);
        },
        onResponseEnd: () => {
          done();
          try {
            resolve(this.#decode(call, status, type, retryAfter, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        },
        onResponseError: (_c, err) => {
          done();
          if (user?.aborted) reject(user.reason as Error);
          else if (TIMEOUTS.has((err as { code?: string }).code ?? '')) {
            reject(new VicinityError(0, 'ETIMEDOUT', `no answer from ${this.url} within ${this.#timeoutMs} ms (options.timeoutMs)`, { cause: err }));
          } else reject(uploadRefused(unreachable(this.url, err), upload !== undefined, this.url));
        },
      });
    });
  }

  #decode(call: Call, status: number, type: string, retryAfter: string | undefined, bytes: Buffer): Raw {
    if (type.includes('msgpack')) {
      try {
        return { status, body: bytes.length ? this.#decoder.decode(bytes) : undefined, retryAfter, text: '' };
      } catch (err) {
        throw new VicinityError(status, 'HTTP_BODY', `the server answered with a body that is not MessagePack (${(err as Error).message})`, { cause: err });
      }
    }
    const text = bytes.toString('utf8');
    if (call.text && status < 300) return { status, body: text, retryAfter, text };
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      if (status < 300) throw new VicinityError(status, 'HTTP_BODY', `the server answered with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    return { status, body: parsed, retryAfter, text };
  }
}

/** A server that refuses an upload early and closes the connection leaves the client with a write error. */
function uploadRefused(err: VicinityError, upload: boolean, url: string): VicinityError {
  if (!upload || !DROPPED.has(err.code)) return err;
  return new VicinityError(
    0,
    err.code,
    `the server at ${url} closed the connection during the upload (${err.code}): it probably refused the body early; check that its format and dimension fit the collection`,
    { cause: err },
  );
}

/** Waits `ms`, or rejects with the signal's reason once it aborts. */
export function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Vectors as the transport carries them, in the slots the server reads them from (`vector`,
 * `points[i].vector`, `searches[i].vector`): over JSON a Float32Array becomes a plain array; over
 * MessagePack it travels as its little-endian float32 bytes (a bin the server reads as a vector).
 * Other values are left as they are; objects are copied only when a vector changes.
 */
export function wireVectors(body: unknown, msgpack: boolean): unknown {
  if (typeof body !== 'object' || body === null) return body;
  const doc = body as Record<string, unknown>;
  let out = doc;
  if ('vector' in doc) {
    const v = wireVector(doc.vector, msgpack);
    if (v !== doc.vector) out = { ...doc, vector: v };
  }
  for (const key of ['points', 'searches']) {
    const list = doc[key];
    if (!Array.isArray(list)) continue;
    let changed = false;
    const mapped = list.map((item: unknown) => {
      const next = wireVectors(item, msgpack);
      changed ||= next !== item;
      return next;
    });
    if (changed) out = { ...out, [key]: mapped };
  }
  return out;
}

function wireVector(v: unknown, msgpack: boolean): unknown {
  if (!ArrayBuffer.isView(v)) return v;
  if (msgpack && v instanceof Float32Array && LITTLE_ENDIAN) return v;
  // A plain loop: Array.from goes through the iterator protocol.
  const values = v as unknown as ArrayLike<number>;
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i];
  return out;
}
