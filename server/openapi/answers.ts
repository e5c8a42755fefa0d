/**
 * Schemas of the API's answers, for the OpenAPI document only (components.schemas). They are never
 * attached to the live routes: Fastify would then serialize answers through them (dropping fields
 * they do not name), and the search routes write their JSON by hand. tests/integration/openapi.test.ts
 * checks real answers against them.
 */

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const int = { type: 'integer', minimum: 0 } as const;
const obj = (properties: Record<string, unknown>, required: string[] = Object.keys(properties), extra = false): Schema => ({
  type: 'object',
  required,
  properties,
  additionalProperties: extra,
});

const pointIdOut = { type: 'string', description: 'Point ids are answered as strings (an integer id as its decimal string).' };
const vectorOut = { type: 'array', items: { type: 'number' } };
const payloadOut = { type: ['object', 'null'], description: 'The point\'s payload as it was written.' };
const timestamp = { type: 'string', format: 'date-time' };

const searchResult = obj(
  {
    id: pointIdOut,
    distance: { type: 'number', description: 'squared L2 for l2, 1 − cos for cosine, 1 − dot for ip; lower is closer' },
    payload: payloadOut,
    vector: vectorOut,
    explain: obj(
      {
        source: { enum: ['index', 'knn', 'link'] },
        from: pointIdOut,
        link_type: { type: 'string' },
        hop: int,
        similarity: { type: 'number' },
        gain: { type: 'number' },
      },
      ['source', 'hop', 'similarity', 'gain'],
    ),
  },
  ['id', 'distance'],
);

const quality = obj({ relevance: { type: 'number' }, coverage: { type: 'number' }, diversity: { type: 'number' } });

/** Job detail fields beyond these depend on the kind (import: records, bytes, format; both: build_order, seed). */
const job = obj(
  {
    id: { type: 'string' },
    kind: { enum: ['import', 'optimize'] },
    collection: { type: 'string' },
    state: { enum: ['queued', 'running', 'done', 'failed', 'cancelled'] },
    phase: { type: ['string', 'null'], description: 'queued, staging, building, committing or loading while it runs; null once finished' },
    processed: int,
    total: { type: ['integer', 'null'], minimum: 0 },
    rate: { type: 'number', minimum: 0, description: 'records per second' },
    eta_s: { type: ['number', 'null'] },
    error: obj({ code: { type: 'string', pattern: '^VDB_ERR_' }, message: { type: 'string' } }),
    created_at: timestamp,
    finished_at: { type: ['string', 'null'], format: 'date-time' },
    seconds: { type: 'number', minimum: 0 },
    records: int,
    bytes: int,
    format: { enum: ['npy', 'fvecs', 'ndjson', 'msgpack'] },
    build_order: { type: 'string' },
    seed: int,
    built: int,
    phase_seconds: { type: 'object', additionalProperties: { type: 'number' } },
  },
  ['id', 'kind', 'collection', 'state', 'phase', 'processed', 'total', 'rate', 'eta_s', 'created_at', 'finished_at', 'seconds'],
  true,
);

const backup = obj(
  {
    id: { type: 'string' },
    state: { enum: ['running', 'done', 'failed'] },
    path: { type: 'string', description: 'the backup directory on the server' },
    created_at: timestamp,
    finished_at: { type: ['string', 'null'], format: 'date-time' },
    seq: { type: ['integer', 'null'], minimum: 0, description: 'every write acknowledged up to this sequence number is in the backup' },
    bytes: { type: ['integer', 'null'], minimum: 0 },
    collections: { type: ['array', 'null'], items: obj({ name: { type: 'string' }, points: int }) },
    progress: { anyOf: [obj({ copied: int, total: int }), { type: 'null' }] },
    error: obj({ code: { type: 'string', pattern: '^VDB_ERR_' }, message: { type: 'string' } }),
  },
  ['id', 'state', 'path', 'created_at', 'finished_at', 'seq', 'bytes', 'collections'],
);

/** components.schemas of the document. */
export const ANSWER_SCHEMAS: Readonly<Record<string, Schema>> = {
  Error: {
    ...obj({
      statusCode: { type: 'integer', minimum: 400, maximum: 599 },
      code: { type: 'string', pattern: '^VDB_ERR_[A-Z0-9_]+$', description: 'the error code (docs/api.md: Errors)' },
      error: { type: 'string', description: 'the HTTP reason phrase' },
      message: { type: 'string', description: 'what went wrong and what to change' },
    }),
    description: 'Every error answers this shape; 5xx messages never carry internal details.',
  },
  Status: obj({ status: { type: 'string' } }),
  Collection: obj(
    {
      name: { type: 'string' },
      dimension: { type: 'integer', minimum: 1 },
      metric: { enum: ['cosine', 'l2', 'ip'] },
      count: { ...int, description: 'live points' },
      deleted: { ...int, description: 'deleted points not yet purged by a rebuild' },
      config: { type: 'object', description: 'the configuration, defaults filled in', additionalProperties: true },
      stats: { type: 'object', description: 'index, memory, snapshot, storage, LID, links, overlay and recall figures', additionalProperties: true },
    },
    undefined,
  ),
  CollectionList: obj({ collections: { type: 'array', items: ref('Collection') } }),
  Dropped: obj({ dropped: { type: 'string', description: 'the name of the dropped collection' } }),
  Upserted: obj({ upserted: { ...int, description: 'points written' } }),
  Deleted: obj({ deleted: { ...int, description: 'points or links deleted (unknown ones are not counted)' } }),
  Linked: obj({ linked: { ...int, description: 'links written, reverse links of `both` included' } }),
  Point: obj({ id: pointIdOut, payload: payloadOut, vector: vectorOut }, ['id']),
  PointPage: obj({
    points: { type: 'array', items: ref('Point') },
    next_cursor: { type: ['string', 'null'], description: 'pass it back as `cursor` for the next page; null at the end' },
  }),
  SearchResult: searchResult,
  Quality: quality,
  SearchAnswer: obj(
    { results: { type: 'array', items: ref('SearchResult') }, quality: ref('Quality'), took_ms: { type: 'number', minimum: 0 } },
    ['results', 'took_ms'],
  ),
  BatchAnswer: obj(
    {
      results: { type: 'array', items: { type: 'array', items: ref('SearchResult') }, description: 'one list per search, in order' },
      quality: { type: 'array', items: { anyOf: [ref('Quality'), { type: 'null' }] } },
      took_ms: { type: 'number', minimum: 0 },
    },
    ['results', 'took_ms'],
  ),
  Neighbours: obj({ neighbours: { type: 'array', items: obj({ id: pointIdOut, distance: { type: 'number' } }) } }),
  LinkPage: obj({
    links: { type: 'array', items: obj({ from: pointIdOut, to: pointIdOut, type: { type: 'string' }, weight: { type: 'number' } }) },
    next_cursor: { type: ['string', 'null'] },
  }),
  ImportAccepted: obj({ job_id: { type: 'string' }, records: int, bytes: int }),
  Job: job,
  JobList: obj({ jobs: { type: 'array', items: ref('Job') } }),
  Backup: backup,
  BackupList: obj({ backups: { type: 'array', items: ref('Backup'), description: 'newest first' } }),
};

export { ref };
