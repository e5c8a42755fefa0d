import type { CodecName, CodecParams } from '../../index/codec.ts';
import type { ResolvedBuild } from '../../index/native/engine.ts';
import type { Quality, Selection } from '../../index/select.ts';
import type { CollectionConfig } from '../../storage/collections.ts';

/** What the main thread gives every replica worker at start. */
export interface ReplicaData {
  dbPath: string;
  snapshotDir: string;
  /** The hnswlib build the main thread resolved, so every replica builds the same graph. */
  engine: ResolvedBuild;
  /** VICINITY_MAX_LINKS_PER_POINT and VICINITY_MAX_POINTS_PER_COLLECTION, for what an import commits. */
  maxLinksPerPoint: number;
  maxPointsPerCollection: number;
  /** A replica's busy seconds (one float64), kept by its worker; it outlives the worker, so a restart does not reset it. */
  busy?: SharedArrayBuffer;
  /** Points received in writes and not yet in an index (one int32), kept by the worker; a new worker sets it to 0. */
  backlog?: SharedArrayBuffer;
}

/** The allow-list of a filtered search: a label bitmap (graph walk) or the labels to score exactly. */
export type SearchFilter = { bitmap: ArrayBuffer | SharedArrayBuffer; count: number } | { labels: Uint32Array };

export interface SearchItem {
  query: Float32Array;
  k: number;
  ef: number;
  filter: SearchFilter | null;
  /** Candidates the index returns: k, or k × oversample when they are rescored. */
  candidates: number;
  /** Rescore the candidates with the full stored vectors (PCA collections). */
  rescore: boolean;
  /** Diverse selection from a pool of candidates; null: the plain top-k. */
  select?: SelectItem | null;
}

/** How a search picks its k results from a larger pool, scored exactly with the stored vectors. */
export interface SelectItem {
  selection: Selection;
  /** Candidates the index returns for the selection to choose from (≥ k). */
  pool: number;
  /** At most `count` results share a value of payload field `field`. */
  maxPer: { field: string; count: number } | null;
  /** Graph expansion of the pool before selection; null: none. */
  expand: ExpandItem | null;
  explain: boolean;
}

/** Follow the k-NN overlay and/or links (all types, or these) for `hops` hops from the pool's best k. */
export interface ExpandItem {
  hops: number;
  fanout: number;
  decay: number;
  knn: boolean;
  links: boolean;
  /** Link types followed; null: every type. */
  linkTypes: string[] | null;
}

/** Where a result came from, with `explain`. */
export interface ResultSource {
  source: 'index' | 'knn' | 'link';
  hop: number;
  /** The label it was reached from (expanded results only). */
  from: number | null;
  linkType: string | null;
}

/**
 * The main thread's shared vectors of a collection, as stored: a new `generation` when the store
 * was replaced (its codec was fitted), more segments when it grew.
 */
export interface StoreSpec {
  generation: number;
  segments: readonly SharedArrayBuffer[];
  codec: CodecName;
  params: CodecParams | null;
}

/** One commit's changes to a collection. */
export interface ApplyTask {
  op: 'apply';
  collectionId: number;
  seq: number;
  /** Changed labels; `vectors` holds the live ones' vectors back to back, in order. */
  labels: Uint32Array;
  deleted: Uint8Array;
  vectors: Float32Array;
}

/** Tasks a replica runs, one at a time, in the order they were sent. */
export type ReplicaTask =
  | { op: 'init' }
  /** Does nothing: done once everything sent before it is. */
  | { op: 'barrier' }
  | { op: 'create'; collectionId: number; config: CollectionConfig }
  | { op: 'drop'; collectionId: number }
  /** Replaces the collection's index with its snapshot plus the rows changed after it. */
  | { op: 'reload'; collectionId: number; config: CollectionConfig }
  | ApplyTask
  /** Several commits' writes in one message, in commit order. */
  | { op: 'applies'; tasks: ApplyTask[] }
  | {
      op: 'search';
      collectionId: number;
      /** One search, or a slice of a batch: answered in order. */
      searches: SearchItem[];
      /** The collection's shared vectors, for exact scoring and rescoring; null when not needed. */
      store: StoreSpec | null;
    }
  | { op: 'stats'; collectionId: number }
  /** Each held collection's index bytes, by collection id (/metrics). */
  | { op: 'memory' }
  /**
   * The k-NN overlay's entries of these (live) labels: each one's k nearest other live points, by
   * a search of the index with its stored vector; and the entries of those neighbours that the
   * labels now belong in (neighbourhoods are nearly symmetric, so a new point's neighbours are
   * the entries it may enter).
   */
  | { op: 'neighbours'; collectionId: number; labels: Uint32Array; k: number; store: StoreSpec }
  | { op: 'snapshot'; collectionId: number; seq: number }
  /** Ends the worker: piscina starts a new one, which reloads from snapshots and SQLite. */
  | { op: 'exit' }
  /** Before the worker is terminated: no more index work (a termination inside a native call aborts the process). */
  | { op: 'stop' };

/** Pads a row of the `neighbours` reply (n × k labels) past the neighbours found. */
export const NO_NEIGHBOUR = 0xffffffff;

/** An entry of another point that one of the looked-up points now belongs in. */
export interface RefreshedEntry {
  label: number;
  /** The entry as the replica read it: the main thread replaces only that version. */
  seq: number;
  was: Uint32Array;
  neighbours: Uint32Array;
}

export interface NeighboursReply {
  /** n × k labels, each looked-up point's nearest first, padded with `NO_NEIGHBOUR`. */
  found: Uint32Array;
  /** Entries of the points found that a looked-up point is now nearer to than one of their neighbours. */
  refreshed: RefreshedEntry[];
}

export interface SearchReply {
  labels: Uint32Array;
  distances: Float32Array;
  /** With `explain`: per result, its similarity to the query and what it added to the objective. */
  explain?: { similarity: Float64Array; gain: Float64Array; sources: ResultSource[]; quality: Quality };
}

export interface IndexStats {
  state: 'ready' | 'missing';
  live: number;
  deleted: number;
  capacity: number;
  memory_bytes: number;
}

export interface SnapshotReply {
  seq: number;
  bytes: number;
  /** Writes counted as changes that the file does not hold yet (pending in the replica): the next snapshot's. */
  uncovered: number;
}
