/**
 * Shapes of the Vicinity REST API as the client sees them (docs/api.md; docs/sdk.md).
 * Request and answer documents keep the server's field names (`with_payload`, `job_id`); the
 * options objects of the client's own methods are camelCase (`withVector`, `batchSize`).
 */

export type Metric = 'cosine' | 'l2' | 'ip';
export type Codec = 'float32' | 'float16' | 'float8_e4m3' | 'float8_e5m2' | 'int8';
export type ImportFormat = 'npy' | 'fvecs' | 'ndjson' | 'msgpack';
/** `auto` asks for the server's choice; a job reports the order it resolved to. */
export type BuildOrder = 'auto' | 'given' | 'random' | 'lid_desc' | 'lid_asc' | `by_payload:${string}`;
export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
/** Point ids: strings of 1–256 UTF-8 bytes or non-negative safe integers; answers give them as strings. */
export type PointId = string | number;
/** A vector: plain numbers, or a Float32Array (sent as raw float32 bytes over MessagePack). */
export type Vector = number[] | Float32Array;
/** A JSON object; `where` filters and payloads are such objects (docs/search.md: Filters). */
export type Payload = Record<string, unknown>;
export type Where = Record<string, unknown>;

/** Diverse selection of the k results from a pool of candidates. */
export interface SelectSpec {
  mode?: 'topk' | 'mmr' | 'cover';
  pool?: number;
  lambda?: number;
  coverage_weight?: number;
  max_per?: { field: string; count: number };
}

/** Graph expansion of the pool: `via` lists `knn`, `links` and `links:<type>`. */
export interface ExpandSpec {
  via: string[];
  hops?: number;
  fanout?: number;
  decay?: number;
}

/** The body of `PUT /v1/collections/{name}`. */
export interface CollectionSpec {
  dimension: number;
  metric: Metric;
  hnsw?: { m?: number; ef_construction?: number; ef_search?: number };
  storage?: { codec?: Codec; pca_dimension?: number };
  build_order?: BuildOrder;
  graph?: { knn_k?: number };
  search_defaults?: { select?: SelectSpec; expand?: ExpandSpec };
}

/** `GET /v1/collections/{name}`: `config` is the spec after defaults; `stats` grows with the server. */
export interface Collection {
  name: string;
  dimension: number;
  metric: Metric;
  count: number;
  deleted?: number;
  config?: CollectionSpec & Record<string, unknown>;
  stats?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface Point {
  id: PointId;
  vector: Vector;
  payload?: Payload | null;
}

/** A stored point as the server shows it: the id as a string, the vector only when asked for. */
export interface StoredPoint {
  id: string;
  payload?: Payload | null;
  vector?: number[];
}

export interface SearchRequest {
  vector: Vector;
  k: number;
  ef?: number;
  /** PCA collections: candidates = k × oversample, rescored with the full stored vectors. */
  oversample?: number;
  rescore?: boolean;
  where?: Where;
  with_payload?: boolean;
  with_vector?: boolean;
  select?: SelectSpec;
  /** null turns off the collection's default expansion. */
  expand?: ExpandSpec | null;
  explain?: boolean;
}

export interface Explanation {
  source: 'index' | 'knn' | 'link';
  from?: string;
  link_type?: string;
  hop: number;
  similarity: number;
  gain: number;
}

export interface SearchHit {
  id: string;
  distance: number;
  payload?: Payload | null;
  vector?: number[];
  explain?: Explanation;
}

export interface SearchQuality {
  relevance: number;
  coverage: number;
  diversity: number;
}

export interface SearchAnswer {
  results: SearchHit[];
  quality?: SearchQuality;
  took_ms: number;
}

/** One list of hits per request, in the order of the requests. */
export interface BatchSearchAnswer {
  results: SearchHit[][];
  quality?: (SearchQuality | null)[];
  took_ms: number;
}

export interface Link {
  from: PointId;
  to: PointId;
  /** Default `related`. */
  type?: string;
  /** In (0, 1], default 1. */
  weight?: number;
  /** Also writes the reverse link. */
  both?: boolean;
}

export interface StoredLink {
  from: string;
  to: string;
  type: string;
  weight: number;
}

export interface Neighbour {
  id: string;
  distance: number;
}

/** The 202 answer of an import: the body is received and staged; the build runs as a job. */
export interface ImportAccepted {
  job_id: string;
  records: number;
  bytes: number;
}

export interface Job {
  id: string;
  kind: 'import' | 'optimize';
  collection: string;
  state: JobState;
  phase: string | null;
  processed: number;
  /** null while unknown. */
  total: number | null;
  /** Records per second. */
  rate: number;
  eta_s: number | null;
  error?: { code: string; message: string };
  created_at: string;
  finished_at: string | null;
  /** Since the job was created, until it finished. */
  seconds?: number;
  records?: number;
  bytes?: number;
  build_order?: BuildOrder;
  format?: ImportFormat;
  id_offset?: number;
  seed?: number;
  [detail: string]: unknown;
}

export const FINISHED_STATES: readonly JobState[] = ['done', 'failed', 'cancelled'];

export interface Backup {
  id: string;
  state: 'running' | 'done' | 'failed';
  path: string;
  created_at: string;
  finished_at: string | null;
  /** The sequence the backup holds, its size and its collections: null until it is done. */
  seq: number | null;
  bytes: number | null;
  collections: { name: string; points: number }[] | null;
  /** Bytes copied so far while it runs. */
  progress?: { copied: number; total: number } | null;
  error?: { code: string; message: string };
  [detail: string]: unknown;
}
