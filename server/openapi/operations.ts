/**
 * What the OpenAPI document says of each route beyond its request schemas: a summary, its answers
 * (schemas in answers.ts), the error codes it adds to the common ones (errors.ts), and examples.
 * Keys are those of server/auth/policy.ts; a route missing here fails the document (document.ts).
 * The request examples are sent, in this table's order, to a real server by
 * tests/integration/openapi.test.ts: each must succeed on a fresh server after the ones before it.
 */
import type { ErrorCodes } from './errors.ts';

export interface Answer {
  description: string;
  /** A components.schemas name, or an inline schema. */
  schema: string | Record<string, unknown>;
  /** Defaults to application/json (also sent as MessagePack for `Accept: application/msgpack`). */
  contentType?: string;
  example?: unknown;
}

export interface RequestExample {
  summary: string;
  value: unknown;
}

export interface Operation {
  /** The operationId: what generated clients call it. */
  id: string;
  summary: string;
  description?: string;
  tag: 'health' | 'collections' | 'points' | 'search' | 'links' | 'import and jobs' | 'backups' | 'meta';
  answers: Readonly<Record<number, Answer>>;
  errors?: ErrorCodes;
  /** Request bodies, by example name. */
  examples?: Readonly<Record<string, RequestExample>>;
}

const COLLECTION = 'VDB_ERR_COLLECTION_NOT_FOUND';
const FULL = 'VDB_ERR_STORAGE_FULL';
const VECTOR_422 = ['VDB_ERR_VECTOR_DIMENSION', 'VDB_ERR_VECTOR_NOT_FINITE', 'VDB_ERR_VECTOR_RANGE', 'VDB_ERR_VECTOR_ZERO'];

const Q = [0.1, 0.2, 0.25];

const collectionExample = {
  name: 'docs',
  dimension: 3,
  metric: 'cosine',
  count: 4,
  deleted: 0,
  config: {
    dimension: 3, metric: 'cosine', hnsw: { m: 16, ef_construction: 200, ef_search: 64 }, storage: { codec: 'float32' },
    build_order: 'auto', graph: { knn_k: 16 },
  },
  stats: { index: { count: 4 }, replicas: 2 },
};

const jobExample = {
  id: 'b3d1c7de-77a4-4f55-9a53-4fd1f2a4e5b0', kind: 'import', collection: 'docs', state: 'done', phase: null, processed: 2, total: 2,
  rate: 40, eta_s: 0, created_at: '2026-12-06T13:00:00.000Z', finished_at: '2026-12-06T13:00:00.050Z', seconds: 0.05,
  records: 2, bytes: 120, format: 'ndjson', build_order: 'random', seed: 1,
};

const backupExample = {
  id: '2026-12-06T13-00-00-000Z', state: 'running', path: '/srv/vicinity/data/backups/2026-12-06T13-00-00-000Z',
  created_at: '2026-12-06T13:00:00.000Z', finished_at: null, seq: null, bytes: null, collections: null, progress: null,
};

/** Every route, in the order the examples run (policy.ts has the same keys). */
export const OPERATIONS: Readonly<Record<string, Operation>> = {
  'GET /healthz': {
    id: 'health',
    summary: 'Liveness: the process answers',
    tag: 'health',
    answers: { 200: { description: 'alive', schema: 'Status', example: { status: 'ok' } } },
  },
  'GET /readyz': {
    id: 'ready',
    summary: 'Readiness: every index is loaded',
    tag: 'health',
    answers: { 200: { description: 'ready', schema: 'Status', example: { status: 'ready' } } },
    errors: { 503: ['VDB_ERR_NOT_READY'] },
  },
  'GET /metrics': {
    id: 'metrics',
    summary: 'Prometheus metrics',
    description: 'Absent with VICINITY_METRICS=false. Any key may read them, or none with VICINITY_METRICS_PUBLIC=true.',
    tag: 'health',
    answers: { 200: { description: 'the Prometheus text format', schema: { type: 'string' }, contentType: 'text/plain', example: '# HELP vicinity_points …\n' } },
  },
  'GET /openapi.json': {
    id: 'openApi',
    summary: 'This document',
    description: 'Open on a loopback VICINITY_HOST, else any key may read it (VICINITY_DOCS_PUBLIC). Interactive docs at /docs.',
    tag: 'meta',
    answers: { 200: { description: 'the OpenAPI 3.1 document', schema: { type: 'object' } } },
  },
  'PUT /v1/collections/:name': {
    id: 'createCollection',
    summary: 'Create a collection',
    description: 'Idempotent: 200 when an identical collection exists (after defaults), 409 when a different one does.',
    tag: 'collections',
    answers: {
      201: { description: 'created', schema: 'Collection', example: { ...collectionExample, count: 0 } },
      200: { description: 'an identical collection exists', schema: 'Collection', example: collectionExample },
    },
    errors: { 409: ['VDB_ERR_COLLECTION_EXISTS'], 422: ['VDB_ERR_COLLECTION_CONFIG', 'VDB_ERR_COLLECTION_LIMIT'], 507: [FULL] },
    examples: {
      plain: { summary: 'cosine, defaults for the rest', value: { dimension: 3, metric: 'cosine' } },
      tuned: {
        summary: 'HNSW parameters, int8 storage, a k-NN overlay and search defaults',
        value: {
          dimension: 3, metric: 'l2', hnsw: { m: 32, ef_construction: 400, ef_search: 100 }, storage: { codec: 'int8' },
          build_order: 'random', graph: { knn_k: 8 }, search_defaults: { select: { mode: 'mmr', lambda: 0.7 } },
        },
      },
    },
  },
  'GET /v1/collections': {
    id: 'listCollections',
    summary: 'List collections',
    description: 'A key limited to some collections lists only those.',
    tag: 'collections',
    answers: { 200: { description: 'every collection, by name', schema: 'CollectionList', example: { collections: [collectionExample] } } },
  },
  'GET /v1/collections/:name': {
    id: 'describeCollection',
    summary: 'Describe a collection',
    tag: 'collections',
    answers: { 200: { description: 'its counts, configuration and figures', schema: 'Collection', example: collectionExample } },
    errors: { 404: [COLLECTION] },
  },
  'PUT /v1/collections/:name/points': {
    id: 'upsertPoints',
    summary: 'Upsert points',
    description: 'Atomic, answered once durable. Ids are strings of 1–256 UTF-8 bytes or non-negative safe integers (5 and "5" are one point).',
    tag: 'points',
    answers: { 200: { description: 'written', schema: 'Upserted', example: { upserted: 4 } } },
    errors: {
      400: ['VDB_ERR_POINT_ID', 'VDB_ERR_PAYLOAD_INVALID', 'VDB_ERR_VECTOR_ENCODING'],
      404: [COLLECTION],
      413: ['VDB_ERR_PAYLOAD_TOO_LARGE'],
      422: [...VECTOR_422, 'VDB_ERR_POINT_LIMIT', 'VDB_ERR_LABELS_EXHAUSTED'],
      507: [FULL],
    },
    examples: {
      points: {
        summary: 'four points with payloads',
        value: {
          points: [
            { id: 1, vector: [0.1, 0.2, 0.3], payload: { lang: 'en', doc_id: 'a', year: 2024 } },
            { id: 2, vector: [0.1, 0.25, 0.3], payload: { lang: 'en', doc_id: 'a', year: 2025 } },
            { id: 'intro-3', vector: [0.3, 0.1, 0.2], payload: { lang: 'fr', doc_id: 'b' } },
            { id: 4, vector: [0.2, 0.2, 0.2], payload: null },
          ],
        },
      },
    },
  },
  'GET /v1/collections/:name/points/:id': {
    id: 'getPoint',
    summary: 'Get a point',
    tag: 'points',
    answers: { 200: { description: 'the point', schema: 'Point', example: { id: '1', payload: { lang: 'en', doc_id: 'a', year: 2024 } } } },
    errors: { 400: ['VDB_ERR_POINT_ID'], 404: [COLLECTION, 'VDB_ERR_POINT_NOT_FOUND'] },
  },
  'POST /v1/collections/:name/points/scroll': {
    id: 'scrollPoints',
    summary: 'Page through points',
    description: 'In a stable order; pass `next_cursor` back as `cursor` for the next page.',
    tag: 'points',
    answers: {
      200: {
        description: 'a page of points',
        schema: 'PointPage',
        example: { points: [{ id: '1', payload: { lang: 'en', doc_id: 'a', year: 2024 } }], next_cursor: 'eyJsIjoxfQ' },
      },
    },
    errors: { 400: ['VDB_ERR_WHERE_INVALID', 'VDB_ERR_CURSOR_INVALID'], 404: [COLLECTION] },
    examples: {
      filtered: { summary: 'English points, two a page', value: { where: { lang: 'en' }, limit: 2 } },
      vectors: { summary: 'with vectors, without payloads', value: { limit: 10, with_vector: true, with_payload: false } },
    },
  },
  'POST /v1/collections/:name/search': {
    id: 'search',
    summary: 'Search',
    description: 'The k nearest points to `vector`, filtered by `where`; `select` picks them for diversity, `expand` adds what the graph reaches.',
    tag: 'search',
    answers: {
      200: {
        description: 'the results, nearest first (or in the order a selection picked them)',
        schema: 'SearchAnswer',
        example: { results: [{ id: '2', distance: 0.0029, payload: { lang: 'en', doc_id: 'a', year: 2025 } }], took_ms: 0.412 },
      },
    },
    errors: {
      400: ['VDB_ERR_WHERE_INVALID', 'VDB_ERR_VECTOR_ENCODING'],
      404: [COLLECTION],
      422: [...VECTOR_422, 'VDB_ERR_OVERLAY_OFF'],
      503: ['VDB_ERR_NOT_READY', 'VDB_ERR_OVERLOADED'],
    },
    examples: {
      plain: { summary: 'the 5 nearest', value: { vector: Q, k: 5 } },
      filtered: { summary: 'a filter and a larger ef', value: { vector: Q, k: 2, ef: 100, where: { lang: 'en', year: { $gte: 2024 } } } },
      diverse: {
        summary: 'MMR over 20 candidates, at most one per document, explained',
        value: { vector: Q, k: 2, select: { mode: 'mmr', lambda: 0.5, pool: 20, max_per: { field: 'doc_id', count: 1 } }, explain: true },
      },
      expanded: { summary: 'expanded through links and the k-NN overlay', value: { vector: Q, k: 3, expand: { via: ['links:next', 'knn'], hops: 2 } } },
    },
  },
  'POST /v1/collections/:name/search/batch': {
    id: 'searchBatch',
    summary: 'Several searches in one request',
    description: 'Every search is checked first: one bad search fails the batch.',
    tag: 'search',
    answers: {
      200: { description: 'one list of results per search', schema: 'BatchAnswer', example: { results: [[{ id: '2', distance: 0.0029 }], [{ id: 'intro-3', distance: 0.19 }]], took_ms: 0.61 } },
    },
    errors: {
      400: ['VDB_ERR_WHERE_INVALID', 'VDB_ERR_VECTOR_ENCODING'],
      404: [COLLECTION],
      422: [...VECTOR_422, 'VDB_ERR_OVERLAY_OFF'],
      503: ['VDB_ERR_NOT_READY', 'VDB_ERR_OVERLOADED'],
    },
    examples: {
      two: {
        summary: 'two searches',
        value: { searches: [{ vector: Q, k: 1, with_payload: false }, { vector: [0.3, 0.1, 0.2], k: 1, where: { lang: 'fr' }, with_payload: false }] },
      },
    },
  },
  'PUT /v1/collections/:name/links': {
    id: 'putLinks',
    summary: 'Put links between points',
    description: 'Atomic, answered once durable. Both ends must be points of the collection; `both` also writes the reverse link.',
    tag: 'links',
    answers: { 200: { description: 'written', schema: 'Linked', example: { linked: 3 } } },
    errors: { 400: ['VDB_ERR_POINT_ID'], 404: [COLLECTION, 'VDB_ERR_POINT_NOT_FOUND'], 422: ['VDB_ERR_LINK_LIMIT'], 507: [FULL] },
    examples: {
      chain: {
        summary: 'a chain of chunks, and a weighted citation both ways',
        value: { links: [{ from: 1, to: 2, type: 'next' }, { from: 2, to: 'intro-3', type: 'cites', weight: 0.5, both: true }] },
      },
    },
  },
  'GET /v1/collections/:name/points/:id/links': {
    id: 'listLinks',
    summary: "List a point's links",
    tag: 'links',
    answers: {
      200: { description: 'a page of links', schema: 'LinkPage', example: { links: [{ from: '1', to: '2', type: 'next', weight: 1 }], next_cursor: null } },
    },
    errors: { 400: ['VDB_ERR_POINT_ID', 'VDB_ERR_CURSOR_INVALID'], 404: [COLLECTION, 'VDB_ERR_POINT_NOT_FOUND'] },
  },
  'GET /v1/collections/:name/points/:id/neighbours': {
    id: 'neighbours',
    summary: "A point's k-NN overlay neighbours",
    description: 'Nearest first, with their exact distance now. The overlay fills in the background: a new point may have none yet.',
    tag: 'links',
    answers: { 200: { description: 'its neighbours', schema: 'Neighbours', example: { neighbours: [{ id: '2', distance: 0.0034 }] } } },
    errors: { 400: ['VDB_ERR_POINT_ID'], 404: [COLLECTION, 'VDB_ERR_POINT_NOT_FOUND'], 422: ['VDB_ERR_OVERLAY_OFF'] },
  },
  'POST /v1/collections/:name/links/delete': {
    id: 'deleteLinks',
    summary: 'Delete links',
    description: 'Given links, or every link touching the given points (not both).',
    tag: 'links',
    answers: { 200: { description: 'deleted', schema: 'Deleted', example: { deleted: 1 } } },
    errors: { 400: ['VDB_ERR_POINT_ID'], 404: [COLLECTION], 507: [FULL] },
    examples: {
      links: { summary: 'one link', value: { links: [{ from: 1, to: 2, type: 'next' }] } },
      ids: { summary: 'every link of a point', value: { ids: ['intro-3'] } },
    },
  },
  'POST /v1/collections/:name/import': {
    id: 'importFile',
    summary: 'Import a file',
    description:
      'The file is the body, streamed: .npy, .fvecs, NDJSON or MessagePack records (`?format=` wins over the content type). ' +
      'Not bound by VICINITY_BODY_LIMIT_BYTES but by the VICINITY_IMPORT_* caps. Answered once the body is all received and staged; the build follows as a job.',
    tag: 'import and jobs',
    answers: { 202: { description: 'received and staged: follow the job', schema: 'ImportAccepted', example: { job_id: jobExample.id, records: 2, bytes: 120 } } },
    errors: {
      400: ['VDB_ERR_IMPORT_FORMAT', 'VDB_ERR_IMPORT_OPTIONS'],
      404: [COLLECTION],
      408: ['VDB_ERR_IMPORT_TIMEOUT'],
      413: ['VDB_ERR_IMPORT_TOO_LARGE'],
      422: ['VDB_ERR_VECTOR_DIMENSION'],
      429: ['VDB_ERR_IMPORT_LIMIT'],
      503: ['VDB_ERR_NOT_READY'],
      507: [FULL],
    },
    examples: {
      ndjson: {
        summary: 'two NDJSON records (Content-Type: application/x-ndjson)',
        value: '{"id": "n1", "vector": [0.5, 0.1, 0.1], "payload": {"lang": "de"}}\n{"id": "n2", "vector": [0.1, 0.5, 0.1]}\n',
      },
    },
  },
  'GET /v1/jobs': {
    id: 'listJobs',
    summary: 'List jobs',
    description: 'Newest first; a key limited to some collections sees only their jobs.',
    tag: 'import and jobs',
    answers: { 200: { description: 'the jobs', schema: 'JobList', example: { jobs: [jobExample] } } },
  },
  'GET /v1/jobs/:id': {
    id: 'getJob',
    summary: 'Follow a job',
    tag: 'import and jobs',
    answers: { 200: { description: 'the job', schema: 'Job', example: jobExample } },
    // A key limited to some collections may not see the jobs of others.
    errors: { 403: ['VDB_ERR_FORBIDDEN'], 404: ['VDB_ERR_JOB_NOT_FOUND'] },
  },
  'POST /v1/collections/:name/optimize': {
    id: 'optimize',
    summary: 'Rebuild the index in a build order',
    description: 'Default order: lid_desc, or the collection\'s build_order when it is neither auto nor given. No body means the defaults.',
    tag: 'import and jobs',
    answers: { 202: { description: 'queued: follow the job', schema: 'Job', example: { ...jobExample, kind: 'optimize', state: 'queued', phase: 'queued', finished_at: null, build_order: 'lid_desc' } } },
    errors: { 404: [COLLECTION], 503: ['VDB_ERR_NOT_READY'], 507: [FULL] },
    examples: {
      lid: { summary: 'high local intrinsic dimensionality first', value: { build_order: 'lid_desc', lid_k: 10 } },
      shuffle: { summary: 'a seeded shuffle', value: { build_order: 'random', seed: 7 } },
    },
  },
  'DELETE /v1/jobs/:id': {
    id: 'cancelJob',
    summary: 'Cancel a job',
    description: 'An import or optimize that has not committed; nothing of it is kept.',
    tag: 'import and jobs',
    answers: { 200: { description: 'the cancelled job', schema: 'Job', example: { ...jobExample, state: 'cancelled', error: { code: 'VDB_ERR_JOB_CANCELLED', message: 'the import was cancelled; nothing of it was kept' } } } },
    errors: { 404: ['VDB_ERR_JOB_NOT_FOUND'], 409: ['VDB_ERR_JOB_FINISHED'] },
  },
  'POST /v1/collections/:name/points/delete': {
    id: 'deletePoints',
    summary: 'Delete points',
    description: 'By ids or by a filter (not both); unknown ids are ignored.',
    tag: 'points',
    answers: { 200: { description: 'deleted', schema: 'Deleted', example: { deleted: 1 } } },
    errors: { 400: ['VDB_ERR_POINT_ID', 'VDB_ERR_WHERE_INVALID'], 404: [COLLECTION], 507: [FULL] },
    examples: {
      ids: { summary: 'by id', value: { ids: [4, 'missing-ids-are-ignored'] } },
      where: { summary: 'by filter', value: { where: { lang: { $in: ['fr', 'de'] } } } },
    },
  },
  'POST /v1/backups': {
    id: 'startBackup',
    summary: 'Start an online backup',
    description: 'Writes and searches go on; one backup runs at a time. Admin keys only.',
    tag: 'backups',
    answers: { 202: { description: 'started: follow it', schema: 'Backup', example: backupExample } },
    errors: { 409: ['VDB_ERR_BACKUP_RUNNING'], 503: ['VDB_ERR_NOT_READY'] },
  },
  'GET /v1/backups': {
    id: 'listBackups',
    summary: 'List backups',
    tag: 'backups',
    answers: { 200: { description: 'newest first', schema: 'BackupList', example: { backups: [backupExample] } } },
  },
  'GET /v1/backups/:id': {
    id: 'getBackup',
    summary: 'Follow a backup',
    tag: 'backups',
    answers: { 200: { description: 'the backup', schema: 'Backup', example: backupExample } },
    errors: { 404: ['VDB_ERR_BACKUP_NOT_FOUND'] },
  },
  'DELETE /v1/collections/:name': {
    id: 'dropCollection',
    summary: 'Drop a collection',
    description: 'Hidden at once; its points are purged in the background and its running jobs fail.',
    tag: 'collections',
    answers: { 200: { description: 'dropped', schema: 'Dropped', example: { dropped: 'docs' } } },
    errors: { 404: [COLLECTION], 507: [FULL] },
  },
};
