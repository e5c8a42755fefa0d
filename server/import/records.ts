import { toVector, bytesToFloats, type VectorRules } from '../../index/vectors.ts';
import type { Metric } from '../../index/vector-index.ts';
import { normaliseId } from '../../storage/ids.ts';
import { MAX_PAYLOAD_DEPTH, PAYLOAD_DEPTH_CEILING, payloadProblem } from '../payload.ts';
import { ImportErrors } from './errors.ts';

/** The body formats of `POST /v1/collections/{name}/import?format=`. */
export const IMPORT_FORMATS = ['npy', 'fvecs', 'ndjson', 'msgpack'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

const METRICS: readonly Metric[] = ['l2', 'cosine', 'ip'];
const MAX_DIMENSION = 4096;
/** Default cap on the whole body (docs/configuration.md, `VICINITY_IMPORT_MAX_BYTES`: 64 GiB). */
export const DEFAULT_MAX_BYTES = 64 * 2 ** 30;
/** Default cap on the record count: index labels are uint32. */
export const DEFAULT_MAX_RECORDS = 2 ** 32 - 1;
/** Default cap on one NDJSON line or MessagePack record, so a body without separators cannot exhaust memory. */
export const DEFAULT_MAX_RECORD_BYTES = 16 * 2 ** 20;
export const DEFAULT_BATCH_SIZE = 1024;
/** Default cap on one record's payload (the server passes VICINITY_MAX_PAYLOAD_BYTES). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 65536;
/** What one record's payload may be: bytes of its JSON, levels of nesting. */
export interface PayloadLimits {
  bytes: number;
  depth: number;
}
const DEFAULT_PAYLOAD_LIMITS: PayloadLimits = { bytes: DEFAULT_MAX_PAYLOAD_BYTES, depth: MAX_PAYLOAD_DEPTH };
const MAX_BATCH_SIZE = 65536;

/** What `parseImport` is given; omitted fields take the defaults above. */
export interface ImportOptionsInput {
  format: ImportFormat;
  dimension: number;
  metric: Metric;
  /** `.npy`/`.fvecs` row r gets the id `idOffset + r`. */
  idOffset?: number;
  maxBytes?: number;
  maxRecords?: number;
  /** Cap on one NDJSON line or one MessagePack record, in bytes. */
  maxRecordBytes?: number;
  /** Cap on one record's payload, in bytes of its JSON. */
  maxPayloadBytes?: number;
  /** Cap on one record's payload nesting (the payload itself is level 1). */
  maxPayloadDepth?: number;
  batchSize?: number;
  /** The body's length when known (Content-Length): gives `.fvecs` its total up front. */
  contentLength?: number | null;
}

/** Validated, complete and frozen import options. */
export type ImportOptions = Readonly<Required<ImportOptionsInput>>;

/**
 * One batch of parsed records. `firstRecord` is the 0-based index of the first one in the body
 * (for `.npy`/`.fvecs` its row). `vectors` holds `ids.length × dimension` float32 values, each
 * vector checked with `toVector`'s rules; `payloads` are JSON text of an object, or null.
 */
export interface ImportBatch {
  firstRecord: number;
  ids: string[];
  vectors: Float32Array;
  payloads: (string | null)[];
  /** Each record's links as JSON text of `[{to, type, weight}]` (normalised), or null. */
  links: (string | null)[];
  /** The number of records in the whole body, when known (`.npy` header, `.fvecs` with a content length). */
  totalRecords: number | null;
  /** Body bytes read when the batch was made (depends on chunking; for progress only). */
  bytesRead: number;
}

/** Where parsers put each valid record; the vector is owned by the callee only for the call. */
export interface RecordSink {
  add(id: string, vector: Float32Array, payload: string | null, links?: string | null): void;
  /** The body's record count, as soon as a parser knows it (`.npy` header, `.fvecs` content length); `where` names the source. */
  setTotal(total: number, where: string): void;
}

/** An incremental parser of one format: chunks of any size, split anywhere. */
export interface FormatParser {
  push(chunk: Uint8Array): void;
  /** The body ended: throws if it ended inside a header or a record. */
  end(): void;
}

/** Validates options with exact messages (`VDB_ERR_IMPORT_OPTIONS`) and fills in the defaults. */
export function importOptions(o: ImportOptionsInput): ImportOptions {
  if (!IMPORT_FORMATS.includes(o.format)) fail(`options.format must be one of ${IMPORT_FORMATS.join(', ')}`);
  if (!isInt(o.dimension, 1, MAX_DIMENSION)) fail(`options.dimension must be an integer from 1 to ${MAX_DIMENSION}`);
  if (!METRICS.includes(o.metric)) fail(`options.metric must be one of ${METRICS.join(', ')}`);
  const idOffset = o.idOffset ?? 0;
  if (!isInt(idOffset, 0, Number.MAX_SAFE_INTEGER)) fail('options.idOffset must be a non-negative safe integer');
  const maxBytes = o.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!isInt(maxBytes, 1, Number.MAX_SAFE_INTEGER)) fail('options.maxBytes must be a positive safe integer');
  const maxRecords = o.maxRecords ?? DEFAULT_MAX_RECORDS;
  if (!isInt(maxRecords, 1, Number.MAX_SAFE_INTEGER)) fail('options.maxRecords must be a positive safe integer');
  const maxRecordBytes = o.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  if (!isInt(maxRecordBytes, 64, 2 ** 30)) fail('options.maxRecordBytes must be an integer from 64 to 1073741824');
  const maxPayloadBytes = o.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (!isInt(maxPayloadBytes, 2, 2 ** 30)) fail('options.maxPayloadBytes must be an integer from 2 to 1073741824');
  const maxPayloadDepth = o.maxPayloadDepth ?? MAX_PAYLOAD_DEPTH;
  if (!isInt(maxPayloadDepth, 1, PAYLOAD_DEPTH_CEILING)) fail(`options.maxPayloadDepth must be an integer from 1 to ${PAYLOAD_DEPTH_CEILING}`);
  const batchSize = o.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!isInt(batchSize, 1, MAX_BATCH_SIZE)) fail(`options.batchSize must be an integer from 1 to ${MAX_BATCH_SIZE}`);
  const contentLength = o.contentLength ?? null;
  if (contentLength !== null && !isInt(contentLength, 0, Number.MAX_SAFE_INTEGER)) {
    fail('options.contentLength must be a non-negative safe integer or null');
  }
  return Object.freeze({
    format: o.format, dimension: o.dimension, metric: o.metric, idOffset, maxBytes, maxRecords, maxRecordBytes, maxPayloadBytes, maxPayloadDepth, batchSize, contentLength,
  });
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function fail(message: string): never {
  throw new ImportErrors.Options(message);
}

/** `VDB_ERR_IMPORT_FORMAT` (400) saying where: `formatError('line 3', 'invalid JSON')` → `line 3: invalid JSON`. */
export function formatError(where: string, problem: string): Error {
  return new ImportErrors.Format(`${where}: ${problem}`);
}

/** `VDB_ERR_IMPORT_TOO_LARGE` (413) saying where and which cap. */
export function tooLarge(where: string, problem: string): Error {
  return new ImportErrors.TooLarge(`${where}: ${problem}`);
}

/** The id of `.npy`/`.fvecs` row `row`, checked with the id rules. */
export function rowId(idOffset: number, row: number): string {
  return normaliseId(idOffset + row, `row ${row}: id`);
}

const FIELDS = new Set(['id', 'vector', 'payload', 'links']);
/** Links one record may carry (the server's VICINITY_MAX_LINKS_PER_POINT default). */
export const MAX_RECORD_LINKS = 1024;
const LINK_TYPE = /^[a-z][a-z0-9_.-]{0,63}$/;

/**
 * Checks one decoded NDJSON or MessagePack record `{id, vector, payload?}` and hands it to `sink`.
 * Vectors may be number arrays, Float32Array/Float64Array, or raw little-endian float32 bytes.
 * `kind` names what a record must be in messages: `an object` (JSON), `a map` (MessagePack).
 */
export function addRecord(value: unknown, where: string, rules: VectorRules, sink: RecordSink, kind = 'an object', limits: PayloadLimits = DEFAULT_PAYLOAD_LIMITS): void {
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) {
    throw formatError(where, `expected ${kind} {id, vector, payload}, got ${describe(value)}`);
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!FIELDS.has(key)) throw formatError(where, `unknown field ${JSON.stringify(key)}: records have id, vector, payload and links`);
  }
  if (record.id === undefined) throw formatError(where, 'id is missing');
  const id = normaliseId(record.id, `${where}: id`);
  const raw = record.vector;
  if (raw === undefined) throw formatError(where, 'vector is missing');
  let values: ArrayLike<number>;
  if (Array.isArray(raw) || raw instanceof Float32Array || raw instanceof Float64Array) values = raw as ArrayLike<number>;
  else if (raw instanceof Uint8Array) values = bytesToFloats(raw, `${where}: vector`);
  else throw formatError(where, `vector must be an array of numbers, got ${describe(raw)}`);
  const vector = toVector(values, rules, `${where}: vector`);
  const payload = payloadText(record.payload, where, limits.depth);
  if (payload !== null && Buffer.byteLength(payload) > limits.bytes) {
    throw tooLarge(where, `payload is ${Buffer.byteLength(payload)} bytes of JSON, more than the server's limit of ${limits.bytes} (VICINITY_MAX_PAYLOAD_BYTES)`);
  }
  sink.add(id, vector, payload, linksText(record.links, where));
}

/**
 * A record's links `[{to, type?, weight?}]` as normalised JSON text (ids as strings, type and weight
 * filled in), or null when absent or empty. Their targets are checked when the import commits.
 */
function linksText(links: unknown, where: string): string | null {
  if (links === undefined || links === null) return null;
  if (!Array.isArray(links)) throw formatError(where, `links must be an array of {to, type?, weight?}, got ${describe(links)}`);
  if (links.length > MAX_RECORD_LINKS) throw formatError(where, `${links.length} links, more than ${MAX_RECORD_LINKS} per record`);
  if (links.length === 0) return null;
  const out = links.map((link: unknown, i) => {
    const at = `${where}: links[${i}]`;
    if (link === null || typeof link !== 'object' || Array.isArray(link)) throw formatError(at, `expected {to, type?, weight?}, got ${describe(link)}`);
    const { to, type = 'related', weight = 1, ...rest } = link as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) throw formatError(at, `unknown field ${JSON.stringify(extra[0])}: links have to, type and weight`);
    if (to === undefined) throw formatError(at, 'to is missing');
    if (typeof type !== 'string' || !LINK_TYPE.test(type)) throw formatError(at, `type must match ${LINK_TYPE.source}`);
    if (typeof weight !== 'number' || !(weight > 0 && weight <= 1)) throw formatError(at, 'weight must be a number in (0, 1]');
    return { to: normaliseId(to, `${at}.to`), type, weight };
  });
  return JSON.stringify(out);
}

/** The payload as JSON text: an object, or null when null or absent. */
function payloadText(payload: unknown, where: string, maxDepth: number): string | null {
  if (payload === undefined || payload === null) return null;
  if (typeof payload !== 'object' || Array.isArray(payload) || Object.getPrototypeOf(payload) !== Object.prototype) {
    throw formatError(where, `payload must be an object or null, got ${describe(payload)}`);
  }
  const problem = payloadProblem(payload, 'payload', maxDepth);
  if (problem) throw formatError(where, problem);
  return JSON.stringify(payload);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'binary data';
  if (typeof value === 'object') return value.constructor?.name ?? 'an object';
  return typeof value;
}
