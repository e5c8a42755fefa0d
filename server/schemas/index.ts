/** JSON schemas of the REST API (docs/api.md). Bodies are validated strictly: no coercion, no unknown fields. */
import { BUILD_ORDER_PATTERN, type BuildOrderSetting } from '../../index/build-order.ts';
import { CODECS, type CodecName } from '../../index/codec.ts';

export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';

const MAX_DIMENSION = 4096;

export const pointId = { type: ['string', 'integer'] } as const;

const vector = {
  type: 'array',
  minItems: 1,
  maxItems: MAX_DIMENSION,
  items: { type: 'number' },
} as const;

const where = { type: 'object' } as const;
/** Neighbours per point the k-NN overlay may keep. */
export const MAX_KNN_K = 64;
/** Candidates a diverse selection may choose from. */
export const MAX_POOL = 10_000;

export const collectionParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: NAME_PATTERN } },
} as const;

export const pointParams = {
  type: 'object',
  required: ['name', 'id'],
  properties: { name: { type: 'string', pattern: NAME_PATTERN }, id: { type: 'string', minLength: 1 } },
} as const;

export const pointQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { with_vector: { type: 'boolean' }, with_payload: { type: 'boolean' } },
} as const;

/** Diverse selection of a search's results (index/select.ts). */
const select = {
  type: 'object',
  additionalProperties: false,
  properties: {
    mode: { enum: ['topk', 'mmr', 'cover'] },
    pool: { type: 'integer', minimum: 1, maximum: MAX_POOL },
    lambda: { type: 'number', minimum: 0, maximum: 1 },
    coverage_weight: { type: 'number', minimum: 0, maximum: 1000 },
    max_per: {
      type: 'object',
      additionalProperties: false,
      required: ['field', 'count'],
      properties: { field: { type: 'string', minLength: 1, maxLength: 256 }, count: { type: 'integer', minimum: 1, maximum: 1000 } },
    },
  },
} as const;

/** Graph expansion of a search's pool: what to follow, how far. */
const expand = {
  type: 'object',
  additionalProperties: false,
  required: ['via'],
  properties: {
    hops: { type: 'integer', minimum: 1, maximum: 3 },
    via: {
      type: 'array', minItems: 1, maxItems: 16, uniqueItems: true,
      items: { type: 'string', pattern: '^(knn|links|links:[a-z][a-z0-9_.-]{0,63})$' },
    },
    fanout: { type: 'integer', minimum: 1, maximum: 64 },
    decay: { type: 'number', minimum: 0, maximum: 1 },
  },
} as const;

export const collectionBody = {
  type: 'object',
  additionalProperties: false,
  required: ['dimension', 'metric'],
  properties: {
    dimension: { type: 'integer', minimum: 1, maximum: MAX_DIMENSION },
    metric: { enum: ['cosine', 'l2', 'ip'] },
    hnsw: {
      type: 'object',
      additionalProperties: false,
      properties: {
        m: { type: 'integer', minimum: 2, maximum: 128 },
        ef_construction: { type: 'integer', minimum: 1, maximum: 4096 },
        ef_search: { type: 'integer', minimum: 1, maximum: 10_000 },
      },
    },
    storage: {
      type: 'object',
      additionalProperties: false,
      properties: {
        codec: { enum: CODECS },
        pca_dimension: { type: 'integer', minimum: 1, maximum: MAX_DIMENSION },
      },
    },
    build_order: { type: 'string', pattern: BUILD_ORDER_PATTERN },
    graph: {
      type: 'object',
      additionalProperties: false,
      properties: { knn_k: { type: 'integer', minimum: 0, maximum: MAX_KNN_K } },
    },
    search_defaults: {
      type: 'object',
      additionalProperties: false,
      properties: { select, expand },
    },
  },
} as const;

export const upsertBody = {
  type: 'object',
  additionalProperties: false,
  required: ['points'],
  properties: {
    points: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'vector'],
        properties: { id: pointId, vector, payload: { type: ['object', 'null'] } },
      },
    },
  },
} as const;

export const deleteBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ids: { type: 'array', items: pointId },
    where,
  },
} as const;

export const scrollBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    where,
    limit: { type: 'integer', minimum: 1, maximum: 1000 },
    cursor: { type: ['string', 'null'] },
    with_vector: { type: 'boolean' },
    with_payload: { type: 'boolean' },
  },
} as const;

export function searchBody(maxK: number) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['vector', 'k'],
    properties: {
      vector,
      k: { type: 'integer', minimum: 1, maximum: maxK },
      ef: { type: 'integer', minimum: 1, maximum: 10_000 },
      oversample: { type: 'number', minimum: 1, maximum: 100 },
      rescore: { type: 'boolean' },
      where,
      with_payload: { type: 'boolean' },
      with_vector: { type: 'boolean' },
      select,
      expand: { anyOf: [expand, { type: 'null' }] },
      explain: { type: 'boolean' },
    },
  } as const;
}

export function batchBody(maxK: number) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['searches'],
    properties: { searches: { type: 'array', minItems: 1, maxItems: 1000, items: searchBody(maxK) } },
  } as const;
}

/** Plain JSON types of validated bodies. */
export interface SearchRequest {
  vector: number[];
  k: number;
  ef?: number;
  oversample?: number;
  rescore?: boolean;
  where?: Record<string, unknown>;
  with_payload?: boolean;
  with_vector?: boolean;
  select?: SelectRequest;
  /** null: no expansion, whatever the collection's `search_defaults` say. */
  expand?: ExpandRequest | null;
  explain?: boolean;
}

export interface ExpandRequest {
  hops?: number;
  via: string[];
  fanout?: number;
  decay?: number;
}

export interface SelectRequest {
  mode?: 'topk' | 'mmr' | 'cover';
  pool?: number;
  lambda?: number;
  coverage_weight?: number;
  max_per?: { field: string; count: number };
}

export interface CollectionRequest {
  dimension: number;
  metric: 'cosine' | 'l2' | 'ip';
  hnsw?: { m?: number; ef_construction?: number; ef_search?: number };
  storage?: { codec?: CodecName; pca_dimension?: number };
  build_order?: BuildOrderSetting;
  graph?: { knn_k?: number };
  search_defaults?: { select?: SelectRequest; expand?: ExpandRequest };
}

export interface UpsertRequest {
  points: { id: string | number; vector: number[]; payload?: Record<string, unknown> | null }[];
}

export interface DeleteRequest {
  ids?: (string | number)[];
  where?: Record<string, unknown>;
}

export interface ScrollRequest {
  where?: Record<string, unknown>;
  limit?: number;
  cursor?: string | null;
  with_vector?: boolean;
  with_payload?: boolean;
}

export const optimizeBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    build_order: { type: 'string', pattern: BUILD_ORDER_PATTERN },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295 },
    lid_k: { type: 'integer', minimum: 2, maximum: 200 },
  },
} as const;

export interface OptimizeRequest {
  build_order?: BuildOrderSetting;
  seed?: number;
  /** Neighbours per point for the LID estimate of the LID orders (default 20). */
  lid_k?: number;
}
