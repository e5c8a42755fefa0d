/**
 * Which `VDB_ERR_*` codes each route can answer, by status, for the OpenAPI document. The codes a
 * route shares with others follow from what it has (path parameters, a query, a body, a key rule);
 * the rest are listed per route in operations.ts. A test checks every code against the catalogue
 * (server/errors.ts) and its status.
 */
import { STATUS_CODES } from 'node:http';
import type { Access } from '../auth/policy.ts';

export type ErrorCodes = Readonly<Record<number, readonly string[]>>;

export interface RouteTraits {
  method: string;
  url: string;
  access: Access;
  hasQuery: boolean;
  /** A JSON or MessagePack body read by the common parsers (the import route streams its own). */
  hasBody: boolean;
}

/** Statuses whose answers are the same on every route that can give them: components.responses. */
export const SHARED_ERRORS: Readonly<Record<string, { status: number; code: string; description: string }>> = {
  Unauthenticated: {
    status: 401,
    code: 'VDB_ERR_UNAUTHENTICATED',
    description: 'With keys configured: no API key, or one the server does not know (with `WWW-Authenticate: Bearer`).',
  },
  Forbidden: { status: 403, code: 'VDB_ERR_FORBIDDEN', description: "With keys configured: the key's role or collections do not allow the call." },
  RequestTimeout: {
    status: 408,
    code: 'VDB_ERR_REQUEST_TIMEOUT',
    description: 'The body had not all arrived after VICINITY_REQUEST_TIMEOUT_S.',
  },
  RequestTooLarge: { status: 413, code: 'VDB_ERR_REQUEST_TOO_LARGE', description: 'The body is over VICINITY_BODY_LIMIT_BYTES.' },
  MediaType: { status: 415, code: 'VDB_ERR_REQUEST_MEDIA_TYPE', description: 'The content type is neither JSON nor MessagePack.' },
  Internal: { status: 500, code: 'VDB_ERR_INTERNAL', description: 'A bug: the server log has the details, the answer does not.' },
};

const SHARED_BY_STATUS = new Map(Object.entries(SHARED_ERRORS).map(([name, e]) => [e.status, name]));

/** An example message per code, for the document's error examples. */
export const EXAMPLE_MESSAGES: Readonly<Record<string, string>> = {
  VDB_ERR_REQUEST_INVALID: 'k must be >= 1',
  VDB_ERR_REQUEST_MALFORMED: 'body is malformed: Unexpected end of JSON input',
  VDB_ERR_REQUEST_TOO_LARGE: 'body is larger than the limit of 33554432 bytes: send fewer points per request, or use import',
  VDB_ERR_REQUEST_MEDIA_TYPE: "content type 'text/plain' is not supported: send application/json or application/msgpack",
  VDB_ERR_REQUEST_TIMEOUT: 'the request body had not all arrived after 60 s (VICINITY_REQUEST_TIMEOUT_S): send it faster, or in smaller requests',
  VDB_ERR_UNAUTHENTICATED: 'this call needs an API key: send Authorization: Bearer <key> or api-key: <key>',
  VDB_ERR_FORBIDDEN: "key 'app' has the role read; PUT /v1/collections/:name/points needs write",
  VDB_ERR_COLLECTION_NOT_FOUND: "collection 'docs' does not exist",
  VDB_ERR_COLLECTION_EXISTS: "collection 'docs' exists with a different configuration; drop it first or use another name",
  VDB_ERR_COLLECTION_CONFIG: 'storage.pca_dimension must be below the dimension',
  VDB_ERR_COLLECTION_LIMIT: 'the server holds 1000 collections, VICINITY_MAX_COLLECTIONS; drop one or raise the limit',
  VDB_ERR_POINT_NOT_FOUND: "point '42' does not exist in collection 'docs'",
  VDB_ERR_POINT_ID: 'points[0].id must be 1 to 256 UTF-8 bytes long, got 300',
  VDB_ERR_POINT_LIMIT: "collection 'docs' would hold 100000001 points, more than VICINITY_MAX_POINTS_PER_COLLECTION (100000000); nothing was written",
  VDB_ERR_PAYLOAD_INVALID: 'points[0].payload is nested more than 64 levels deep (VICINITY_MAX_PAYLOAD_DEPTH); flatten the payload',
  VDB_ERR_PAYLOAD_TOO_LARGE: 'points[0].payload is 70000 bytes of JSON, more than VICINITY_MAX_PAYLOAD_BYTES (65536)',
  VDB_ERR_WHERE_INVALID: 'where.lang: unknown operator $regex (use $eq $ne $gt $gte $lt $lte $in $nin $exists)',
  VDB_ERR_CURSOR_INVALID: 'cursor is not one this server returned: pass next_cursor unchanged, or omit it to start over',
  VDB_ERR_VECTOR_DIMENSION: "vector: dimension 2 differs from the collection's dimension 3",
  VDB_ERR_VECTOR_NOT_FINITE: 'vector[1] is NaN: values must be finite numbers',
  VDB_ERR_VECTOR_RANGE: 'vector[0] = 1e+39 is outside the float32 range (±3.4028234663852886e38)',
  VDB_ERR_VECTOR_ZERO: 'vector is all zeros: the cosine metric needs a non-zero vector',
  VDB_ERR_VECTOR_ENCODING: 'vector has 10 bytes: raw float32 vectors need a multiple of 4 bytes',
  VDB_ERR_LABELS_EXHAUSTED: "collection 'docs' has used all 2^32 internal labels",
  VDB_ERR_OVERLAY_OFF: "collection 'docs' has no k-NN overlay (graph.knn_k is 0); create it with graph.knn_k ≥ 1",
  VDB_ERR_LINK_LIMIT: "point '1' would have 1025 outgoing links, more than VICINITY_MAX_LINKS_PER_POINT (1024); nothing was linked",
  VDB_ERR_IMPORT_FORMAT: 'line 3: vector must be an array of numbers',
  VDB_ERR_IMPORT_OPTIONS: 'id_offset 9007199254740990 plus 10 rows passes 2^53 − 1, the largest integer id',
  VDB_ERR_IMPORT_TOO_LARGE: 'the body has more than VICINITY_IMPORT_MAX_RECORDS (100000000) records',
  VDB_ERR_IMPORT_TIMEOUT: 'body: nothing arrived for 60 s; the upload was dropped (VICINITY_IMPORT_IDLE_TIMEOUT_S)',
  VDB_ERR_IMPORT_LIMIT: '8 imports are uploading, queued or building (VICINITY_MAX_CONCURRENT_IMPORTS); retry once one has finished',
  VDB_ERR_JOB_NOT_FOUND: "job 'j-1' does not exist",
  VDB_ERR_JOB_FINISHED: "job 'j-1' is done; it can no longer be cancelled",
  VDB_ERR_BACKUP_RUNNING: 'backup 2026-12-06T13-00-00-000Z is running; wait for it (GET /v1/backups/2026-12-06T13-00-00-000Z)',
  VDB_ERR_BACKUP_NOT_FOUND: "no backup 'x' in /srv/vicinity/data/backups; GET /v1/backups lists them",
  VDB_ERR_NOT_READY: "collection 'docs' is loading; retry shortly",
  VDB_ERR_OVERLOADED: 'all 2 search replicas have 64 searches queued; retry shortly',
  VDB_ERR_STORAGE_FULL: 'the disk holding the data directory is full: nothing of this write was kept',
  VDB_ERR_INTERNAL: 'internal error; the server log has the details',
};

function add(into: Map<number, Set<string>>, status: number, ...codes: string[]): void {
  const set = into.get(status) ?? new Set<string>();
  for (const code of codes) set.add(code);
  into.set(status, set);
}

/** Every error a route can answer: the common ones its traits bring, and its own. */
export function routeErrors(traits: RouteTraits, own: ErrorCodes = {}): Map<number, string[]> {
  const out = new Map<number, Set<string>>();
  // The router answers a path segment that is not valid percent-encoded UTF-8 with 400.
  if (traits.url.includes(':')) add(out, 400, 'VDB_ERR_REQUEST_INVALID', 'VDB_ERR_REQUEST_MALFORMED');
  if (traits.hasQuery) add(out, 400, 'VDB_ERR_REQUEST_INVALID');
  if (traits.hasBody) {
    add(out, 400, 'VDB_ERR_REQUEST_INVALID', 'VDB_ERR_REQUEST_MALFORMED');
    add(out, 408, 'VDB_ERR_REQUEST_TIMEOUT');
    add(out, 413, 'VDB_ERR_REQUEST_TOO_LARGE');
    add(out, 415, 'VDB_ERR_REQUEST_MEDIA_TYPE');
  }
  if (traits.access !== 'open') add(out, 401, 'VDB_ERR_UNAUTHENTICATED');
  // Every key may read: 403 is for a role below the route's, or a key limited to other collections.
  if (traits.access === 'write' || traits.access === 'admin' || traits.url.includes(':name')) add(out, 403, 'VDB_ERR_FORBIDDEN');
  for (const [status, codes] of Object.entries(own)) add(out, Number(status), ...codes);
  add(out, 500, 'VDB_ERR_INTERNAL');
  return new Map([...out].sort(([a], [b]) => a - b).map(([status, codes]) => [status, [...codes].sort()]));
}

/** The document's response for one error status: a shared component, or the route's codes inline. */
export function errorResponse(status: number, codes: readonly string[]): Record<string, unknown> {
  const shared = SHARED_BY_STATUS.get(status);
  if (shared !== undefined && codes.length === 1 && codes[0] === SHARED_ERRORS[shared].code) return { $ref: `#/components/responses/${shared}` };
  return {
    description: `${STATUS_CODES[status] ?? 'Error'}: ${codes.map((c) => `\`${c}\``).join(', ')}`,
    content: { 'application/json': errorMedia(status, codes) },
  };
}

export function errorMedia(status: number, codes: readonly string[]): Record<string, unknown> {
  return {
    schema: {
      allOf: [
        { $ref: '#/components/schemas/Error' },
        { type: 'object', properties: { statusCode: { const: status }, code: { enum: [...codes] } } },
      ],
    },
    examples: Object.fromEntries(
      codes.map((code) => [
        code,
        { summary: code, value: { statusCode: status, code, error: STATUS_CODES[status] ?? 'Error', message: EXAMPLE_MESSAGES[code] ?? code } },
      ]),
    ),
  };
}
