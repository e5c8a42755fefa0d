import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { VectorCodec } from '../../index/codec.ts';
import type { Edge } from '../../index/expand.ts';
import { normSquared } from '../../index/distance.ts';
import { HnswIndex } from '../../index/hnsw.ts';
import { writeSnapshot } from '../../index/snapshot.ts';
import { VectorStore } from '../../index/vector-store.ts';
import type { LabelFilter, Metric, SearchHit } from '../../index/vector-index.ts';
import { CollectionsRepo, type CollectionConfig } from '../../storage/collections.ts';
import { openDatabase, type Db } from '../../storage/db.ts';
import { LabelBitmap } from '../../storage/label-bitmap.ts';
import { KnnRepo } from '../../storage/knn.ts';
import { LinksRepo } from '../../storage/links.ts';
import { PayloadFields } from '../../storage/payload-fields.ts';
import { indexOptions, loadIndex, loadModel, snapshotName } from './load-index.ts';
import type { CollectionModel } from './model.ts';
import { liveWithPending, PendingWrites, searchWithPending, type PendingView } from './pending.ts';
import { NO_NEIGHBOUR, type ApplyTask, type NeighboursReply, type RefreshedEntry, type IndexStats, type ReplicaData, type ReplicaTask, type SearchItem, type SearchReply, type SnapshotReply, type StoreSpec } from './protocol.ts';
import { selectSearch, type SelectionReads } from './selection.ts';

/** What a search of one collection needs: its index and the writes not in it yet, the model it was built under, the shared vectors. */
export interface SearchTarget {
  config: CollectionConfig;
  model: CollectionModel;
  index: HnswIndex;
  pending?: PendingView | null;
  store: VectorStore | null;
}

/** True when the label is a live point of the target (its index, or a write pending for it). */
export function isLive(target: SearchTarget, label: number): boolean {
  return liveWithPending(target.pending ?? null, (l) => target.index.has(l), label);
}

/** The overlay looks for the entries a point may enter among its REACH · k nearest. */
const REACH = 2;

/** Milliseconds of pending writes a replica puts into its indexes between two tasks. */
export const APPLY_SLICE_MS = 4;

interface Held extends SearchTarget {
  /** Mutations up to this sequence are in the index: older `apply` tasks are skipped. */
  caughtUp: number;
  storeGeneration: number;
}

/**
 * One replica: every collection's HNSW index, in a worker thread. It starts from each verified
 * snapshot and catches up from SQLite (its own read-only connection), then follows the `apply`
 * tasks the main thread sends after each commit, in sequence order.
 */
export class ReplicaState {
  readonly #data: ReplicaData;
  readonly #held = new Map<number, Held>();
  readonly #pending = new PendingWrites();
  /** Points received in writes and not yet in an index, for the main thread (its backpressure and /metrics). */
  readonly #backlog: Int32Array | null;
  #sliceQueued = false;
  /** Told the worker is about to be terminated: no index work starts any more. */
  #stopped = false;
  #db: Db | null = null;
  #fields: PayloadFields | null = null;
  #knn: KnnRepo | null = null;
  #links: LinksRepo | null = null;

  constructor(data: ReplicaData) {
    this.#data = data;
    this.#backlog = data.backlog ? new Int32Array(data.backlog) : null;
    // A new worker starts from SQLite: what an earlier one held pending is in its catch-up.
    if (this.#backlog) Atomics.store(this.#backlog, 0, 0);
  }

  /** Loads every collection: verified snapshot, tombstones, then the rows changed after it. */
  async init(): Promise<void> {
    this.#db = openDatabase({ path: this.#data.dbPath, synchronous: 'NORMAL', readonly: true });
    try {
      for (const record of new CollectionsRepo(this.#db).list()) await this.#load(record.id, record.config);
    } catch (err) {
      // The next task starts over rather than serving with some collections missing.
      this.#db.close();
      this.#db = null;
      this.#fields = null;
      this.#knn = null;
      this.#links = null;
      this.#held.clear();
      throw err;
    }
  }

  async #load(collectionId: number, config: CollectionConfig): Promise<void> {
    const { index, model, caughtUp } = await loadIndex(this.#db!, this.#data.snapshotDir, collectionId, config, this.#data.engine);
    this.#held.set(collectionId, { config, model, index, caughtUp, store: null, storeGeneration: -1 });
  }

  #last: Promise<unknown> = Promise.resolve();
  /** Tasks run or waiting in the chain below, the running one included. */
  #chained = 0;
  /** The running task is a snapshot, waiting for its file to be written. */
  #saving = false;

  /**
   * Runs tasks strictly one after another, in arrival order, even when the main thread has sent
   * the next one already (it does, so the worker never idles waiting for the hand-off). One
   * exception: a read that arrives while a snapshot is being written, with nothing waiting behind
   * it, runs at once: the index saw every write sent before the read, and takes none until the
   * snapshot ends (hnswlib reads it from another thread meanwhile).
   */
  run(task: ReplicaTask): Promise<unknown> {
    // A queued slice of index work is no write: the read sees those writes pending already.
    const waiting = this.#chained - (this.#sliceQueued ? 1 : 0);
    if ((task.op === 'search' || task.op === 'stats' || task.op === 'memory') && this.#saving && waiting === 1) return this.#run(task);
    return this.#chain(() => this.#run(task));
  }

  #chain<T>(step: () => Promise<T>): Promise<T> {
    this.#chained++;
    const result = this.#last.then(step);
    this.#last = result.catch(() => undefined).then(() => {
      this.#chained--;
    });
    return result;
  }

  async #run(task: ReplicaTask): Promise<unknown> {
    if (!this.#db) await this.init(); // first task, or a replaced worker starting over
    switch (task.op) {
      case 'init':
      case 'barrier':
        return null;
      case 'create':
        if (!this.#held.has(task.collectionId)) {
          const model = loadModel(this.#db!, task.collectionId, task.config);
          const index = new HnswIndex(indexOptions(model, this.#data.engine));
          this.#held.set(task.collectionId, { config: task.config, model, index, caughtUp: 0, store: null, storeGeneration: -1 });
        }
        return null;
      case 'reload':
        // An import built a new index and wrote it as the snapshot: load it, catch up, swap.
        await this.#load(task.collectionId, task.config);
        this.#settled(this.#pending.discard(task.collectionId, this.#held.get(task.collectionId)!.caughtUp));
        return null;
      case 'drop':
        this.#held.delete(task.collectionId);
        this.#settled(this.#pending.discard(task.collectionId));
        return null;
      case 'apply':
        this.#queue(task);
        return null;
      case 'applies':
        for (const one of task.tasks) this.#queue(one);
        return null;
      case 'search':
        return this.#search(task);
      case 'stats':
        return this.#stats(task.collectionId);
      case 'memory':
        return Object.fromEntries([...this.#held].map(([id, held]) => [id, held.index.memoryBytes()]));
      case 'neighbours':
        return this.#neighbours(task);
      case 'snapshot':
        return this.#snapshot(task.collectionId, task.seq);
      case 'exit':
        process.exit(1);
        return null;
      case 'stop':
        this.#stopped = true;
        return null;
    }
  }

  /** Queues a committed write for the index; searches see it from now on (`searchWithPending`). */
  #queue(task: ApplyTask): void {
    const held = this.#held.get(task.collectionId);
    if (!held || task.seq <= held.caughtUp) return;
    const dim = held.config.dimension;
    const { model } = held;
    let v = 0;
    const at = new Int32Array(task.labels.length);
    for (let i = 0; i < at.length; i++) at[i] = task.deleted[i] ? -1 : v++;
    this.#pending.add(task.collectionId, held.index.metric, task.seq, task.labels, task.deleted, (i) =>
      // A copy: the PCA projection reuses one output buffer.
      Float32Array.from(model.toIndex(task.vectors.subarray(at[i] * dim, (at[i] + 1) * dim))),
    );
    if (this.#backlog) Atomics.add(this.#backlog, 0, task.labels.length);
    this.#schedule();
  }

  /**
   * Chains a slice of index work behind the tasks waiting now, after a turn of the event loop (so
   * tasks sent meanwhile arrive first): searches and index work take turns.
   */
  #schedule(): void {
    if (this.#sliceQueued || this.#stopped || this.#pending.size === 0) return;
    this.#sliceQueued = true;
    void this.#chain(async () => {
      await yieldToLoop();
      this.#sliceQueued = false;
      if (this.#stopped) return;
      try {
        this.#settled(this.#pending.applyFor(APPLY_SLICE_MS, (collectionId, label, vector) => this.#applyOne(collectionId, label, vector)));
      } catch (err) {
        // The index may hold part of a write: a new worker reloads the committed state.
        console.error('replica: applying a write to the index failed; restarting the replica', err);
        process.exit(1);
      }
      this.#schedule();
    });
  }

  #applyOne(collectionId: number, label: number, vector: Float32Array | null): void {
    const index = this.#held.get(collectionId)?.index;
    if (!index) return;
    if (vector) index.upsert(label, vector);
    else index.remove(label);
  }

  /** `points` pending writes reached the index or were dropped: tell the main thread. */
  #settled(points: number): void {
    if (points === 0 || !this.#backlog) return;
    Atomics.sub(this.#backlog, 0, points);
    Atomics.notify(this.#backlog, 0);
  }

  #target(collectionId: number, held: Held): SearchTarget {
    return { ...held, pending: this.#pending.view(collectionId) };
  }

  #search(task: Extract<ReplicaTask, { op: 'search' }>): SearchReply[] {
    const held = this.#held.get(task.collectionId);
    if (!held) return task.searches.map(() => reply([]));
    if (task.store) this.#useStore(held, task.store);
    const target = this.#target(task.collectionId, held);
    const reads = this.#reads(task.collectionId, target);
    return task.searches.map((search) => (search.select ? selectSearch(target, search, reads) : reply(reads.plain(search))));
  }

  /** What a selection reads besides the index, from this replica's own read-only connection. */
  #reads(collectionId: number, target: SearchTarget): SelectionReads {
    const db = this.#db!;
    return {
      plain: (search) => searchCollection(target, search),
      groupsOf: (labels, field) => (this.#fields ??= new PayloadFields(db)).groups(collectionId, labels, field),
      edgesOf: (frontier, expand) => {
        const edges = new Map<number, Edge[]>(frontier.map((label) => [label, []]));
        if (expand.knn) {
          for (const entry of (this.#knn ??= new KnnRepo(db)).entries(collectionId, frontier)) {
            if (entry.seq < 0) continue; // not trusted (an import's pass, or labels freed since): being redone
            for (const to of entry.neighbours) edges.get(entry.label)!.push({ kind: 'knn', to });
          }
        }
        if (expand.links) {
          const types = expand.linkTypes && new Set(expand.linkTypes);
          for (const step of (this.#links ??= new LinksRepo(db)).steps(collectionId, frontier, 'out')) {
            if (!types || types.has(step.type)) edges.get(step.from)!.push({ kind: 'link', to: step.to, type: step.type, weight: step.weight });
          }
        }
        return edges;
      },
    };
  }

  /** Segments only grow: the views are rebuilt when the main thread added one or replaced the store, not per search. */
  #useStore(held: Held, spec: StoreSpec): void {
    if (spec.generation === held.storeGeneration && spec.segments.length <= (held.store?.segments.length ?? 0)) return;
    const { dimension, metric } = held.config;
    held.store = new VectorStore(dimension, metric, [...spec.segments], new VectorCodec(spec.codec, dimension, spec.params));
    held.storeGeneration = spec.generation;
  }

  #neighbours(task: Extract<ReplicaTask, { op: 'neighbours' }>): NeighboursReply {
    const { labels, k } = task;
    const found = new Uint32Array(labels.length * k).fill(NO_NEIGHBOUR);
    const held = this.#held.get(task.collectionId);
    if (!held) return { found, refreshed: [] };
    this.#useStore(held, task.store);
    const store = held.store!;
    const target = this.#target(task.collectionId, held);
    // A point is often among another's k nearest without that one among its own (hubs): the entries
    // it may enter are looked for among its REACH · k nearest.
    const reach = REACH * k;
    const near = new Uint32Array(labels.length * reach).fill(NO_NEIGHBOUR);
    const ef = Math.max(held.config.hnsw.ef_search, 2 * (reach + 1));
    for (let i = 0; i < labels.length; i++) {
      if (!isLive(target, labels[i])) continue; // deleted meanwhile
      const search: SearchItem = { query: store.get(labels[i]), k: reach + 1, ef, filter: null, candidates: (reach + 1) * 4, rescore: true };
      let j = 0;
      for (const hit of searchCollection(target, search)) {
        if (hit.label !== labels[i] && j < reach) near[i * reach + j++] = hit.label;
      }
      found.set(near.subarray(i * reach, i * reach + k), i * k);
    }
    return { found, refreshed: this.#refreshed(task.collectionId, target, store, labels, near, reach, k) };
  }

  /**
   * Entries filled before the looked-up points were written do not hold them: each point found
   * as a neighbour gets the looked-up points that found it, if they are nearer than its own k-th.
   */
  #refreshed(collectionId: number, target: SearchTarget, store: VectorStore, labels: Uint32Array, near: Uint32Array, reach: number, k: number): RefreshedEntry[] {
    const looked = new Set(labels);
    const arrivals = new Map<number, number[]>();
    for (let i = 0; i < near.length; i++) {
      const q = near[i];
      if (q === NO_NEIGHBOUR || looked.has(q)) continue;
      const from = labels[Math.floor(i / reach)];
      const list = arrivals.get(q);
      if (list) list.push(from);
      else arrivals.set(q, [from]);
    }
    const refreshed: RefreshedEntry[] = [];
    for (const entry of (this.#knn ??= new KnnRepo(this.#db!)).entries(collectionId, [...arrivals.keys()])) {
      if (entry.seq < 0 || !isLive(target, entry.label)) continue; // not trusted, or gone: being redone
      const near = arrivals.get(entry.label)!;
      const query = store.get(entry.label);
      // Most arrivals are farther than a full entry's k-th: two distances each settle that.
      if (entry.neighbours.length === k && isLive(target, entry.neighbours[k - 1])) {
        const last = entry.neighbours[k - 1];
        const ranked = store.topK(query, [last, ...near], near.length + 1);
        if (ranked[0].label === last) continue;
      }
      const candidates = [...new Set([...entry.neighbours, ...near])].filter((l) => l !== entry.label && isLive(target, l));
      const neighbours = Uint32Array.from(store.topK(query, candidates, k), (h) => h.label);
      if (neighbours.length !== entry.neighbours.length || neighbours.some((l, i) => l !== entry.neighbours[i])) {
        refreshed.push({ label: entry.label, seq: entry.seq, was: entry.neighbours, neighbours });
      }
    }
    return refreshed;
  }

  #stats(collectionId: number): IndexStats {
    const held = this.#held.get(collectionId);
    if (!held) return { state: 'missing', live: 0, deleted: 0, capacity: 0, memory_bytes: 0 };
    const { index } = held;
    // As the index will be with its pending writes in it: what every write acknowledged so far made it.
    const delta = this.#pending.liveDelta(collectionId, (label) => index.has(label));
    return { state: 'ready', live: index.size + delta.live, deleted: index.deletedCount + delta.deleted, capacity: index.capacity, memory_bytes: index.memoryBytes() };
  }

  async #snapshot(collectionId: number, seq: number): Promise<SnapshotReply | null> {
    const held = this.#held.get(collectionId);
    if (!held) return null;
    // Writes still pending are not in the file: it covers up to the oldest of them, and the catch-up from SQLite after a restart does the rest.
    const appliedBefore = this.#pending.appliedBefore(collectionId);
    const covered = appliedBefore ?? Math.max(seq, held.caughtUp);
    const uncovered = appliedBefore === null ? 0 : this.#pending.count(collectionId);
    this.#saving = true;
    try {
      const manifest = await writeSnapshot(this.#data.snapshotDir, snapshotName(collectionId), held.index, covered, held.model.version);
      return { seq: covered, bytes: manifest.bytes, uncovered };
    } finally {
      this.#saving = false;
    }
  }
}

function reply(hits: SearchHit[]): SearchReply {
  const labels = new Uint32Array(hits.length);
  const distances = new Float32Array(hits.length);
  hits.forEach((h, i) => {
    labels[i] = h.label;
    distances[i] = h.distance;
  });
  return { labels, distances };
}

/**
 * Exact over given labels; otherwise the index, unfiltered or with an allow-list (ef widening
 * until enough come back). PCA collections search the projected query and rescore the
 * candidates with the full stored vectors.
 */
export function searchCollection(held: SearchTarget, search: SearchItem): SearchHit[] {
  const { store, model } = held;
  const { filter, query, k } = search;
  if (filter && 'labels' in filter) return needStore(store).topK(query, filter.labels, k);
  const rescore = search.rescore && model.pca !== null;
  const projected = model.toIndex(query);
  const slack = rescore ? 1e-4 * normSquared(projected) : 0;
  const { hits, exact } = indexSearch(held, projected, rescore ? Math.max(k, search.candidates) : k, search);
  if (exact) return hits;
  if (rescore) return needStore(store).topKBounded(query, hits.map((h) => h.label), pcaBounds(hits, slack, held.config.metric), k);
  // Without rescoring, PCA distances are squared l2 between projections; for unit vectors half of it approximates 1 − cos.
  if (model.pca && held.config.metric === 'cosine') for (const h of hits) h.distance /= 2;
  return hits;
}

/**
 * Lower bounds of the rescored distances from the index's: PCA's components are orthonormal, so the
 * squared l2 between projections is at most the squared l2 between the vectors (under cosine, unit
 * vectors: 2 · (1 − cos)). Lowered by `slack` (10⁻⁴ of the projected query's squared norm) and
 * 0.1 %, far more than float32 rounding moves either distance, so the bound holds.
 */
function pcaBounds(hits: SearchHit[], slack: number, metric: Metric): Float64Array {
  const bounds = new Float64Array(hits.length);
  for (let i = 0; i < hits.length; i++) bounds[i] = ((metric === 'cosine' ? hits[i].distance / 2 : hits[i].distance) - slack) * (1 - 1e-3);
  return bounds;
}

function needStore(store: VectorStore | null): VectorStore {
  if (!store) throw new Error('this search needs the vector store');
  return store;
}

/** `n` candidates from the index; `exact` when it fell back to scoring every allowed point. */
function indexSearch(held: SearchTarget, query: Float32Array, n: number, search: SearchItem): { hits: SearchHit[]; exact: boolean } {
  const { index, pending } = held;
  const { filter } = search;
  const find = (ef: number, allow?: LabelFilter): SearchHit[] =>
    pending ? searchWithPending(pending, (m, without) => index.search(query, m, { ef, filter: without }), query, n, allow) : index.search(query, n, { ef, filter: allow });
  if (!filter) return { hits: find(Math.max(search.ef, n)), exact: false };
  if ('labels' in filter) throw new Error('exact filters do not search the index');
  const bitmap = new LabelBitmap(filter.bitmap);
  const want = Math.min(n, filter.count);
  let ef = Math.max(search.ef, n);
  for (;;) {
    const hits = find(ef, (label) => bitmap.has(label));
    if (hits.length >= want) return { hits, exact: false };
    if (ef >= filter.count) break;
    ef = Math.min(ef * 4, filter.count);
  }
  // The graph could not reach enough allowed points (a disconnected allow-list): score them all.
  return { hits: needStore(held.store).topK(search.query, bitmap.toArray(), search.k), exact: true };
}
