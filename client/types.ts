/** JSON shapes of the REST API as the client sees them (docs/api.md; server/schemas/index.ts). */

export type Metric = 'cosine' | 'l2' | 'ip';
export type ImportFormat = 'npy' | 'fvecs' | 'ndjson' | 'msgpack';
/** `auto` asks for the server's choice; a job reports the order it resolved to. */
export type BuildOrder = 'auto' | 'given' | 'random' | 'lid_desc' | 'lid_asc' | `by_payload:${string}`;
export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface Collection {
  name: string;
  dimension: number;
  metric: Metric;
  count: number;
  [field: string]: unknown;
}

export interface CollectionSpec {
  dimension: number;
  metric: Metric;
}

export interface ImportQuery {
  format: ImportFormat;
  idOffset?: number;
  buildOrder?: BuildOrder;
  seed?: number;
}

/** The 202 answer of an import: the body is received and staged; the build runs as a job. */
export interface ImportAccepted {
  job_id: string;
  records: number;
  bytes: number;
}

export interface Job {
  id: string;
  kind: 'import';
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
  records: number;
  bytes: number;
  build_order: BuildOrder;
  format?: ImportFormat;
  id_offset?: number;
  seed?: number;
  /** Since the job was created, until it finished. */
  seconds?: number;
}

export const FINISHED_STATES: readonly JobState[] = ['done', 'failed', 'cancelled'];

export interface SearchRequest {
  vector: number[];
  k: number;
  ef?: number;
  /** PCA collections: candidates = k × oversample, rescored with the full stored vectors. */
  oversample?: number;
  rescore?: boolean;
  where?: Record<string, unknown>;
  with_payload?: boolean;
  select?: SelectSpec;
  /** null turns off the collection's default expansion. */
  expand?: ExpandSpec | null;
  explain?: boolean;
}

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

export interface Explanation {
  source: 'index' | 'knn' | 'link';
  from?: string;
  link_type?: string;
  hop: number;
  similarity: number;
  gain: number;
}

export interface SearchHit {
  id: string | number;
  distance: number;
  payload?: Record<string, unknown> | null;
  explain?: Explanation;
}

export interface SearchAnswer {
  results: SearchHit[];
  quality?: { relevance: number; coverage: number; diversity: number };
  took_ms?: number;
}
