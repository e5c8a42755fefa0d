import { HnswIndex } from '../../index/hnsw.ts';
import { writeSnapshot } from '../../index/snapshot.ts';
import { VectorStore } from '../../index/vector-store.ts';
import type { SearchHit } from '../../index/vector-index.ts';
import { CollectionsRepo, type CollectionConfig } from '../../storage/collections.ts';
import { openDatabase, type Db } from '../../storage/db.ts';
import { LabelBitmap } from '../../storage/label-bitmap.ts';
import { indexOptions, loadIndex, snapshotName } from './load-index.ts';
import type { IndexStats, ReplicaData, ReplicaTask, SearchItem, SearchReply, SnapshotReply } from './protocol.ts';

interface Held {
  config: CollectionConfig;
  index: HnswIndex;
  /** Mutations up to this sequence are in the index: older `apply` tasks are skipped. */
  caughtUp: number;
  /** The main thread's shared vectors, for exact scoring (set by the first filtered search). */
  store: VectorStore | null;
}

/**
 * One replica: every collection's HNSW index, in a worker thread. It starts from each verified
 * snapshot and catches up from SQLite (its own read-only connection), then follows the `apply`
 * tasks the main thread sends after each commit, in sequence order.
 */
export class ReplicaState {
  readonly #data: ReplicaData;
  readonly #held = new Map<number, Held>();
  #db: Db | null = null;

  constructor(data: ReplicaData) {
    this.#data = data;
  }

  /** Loads every collection: verified snapshot, tombstones, then the rows changed after it. */
  async init(): Promise<void> {
    this.#db = openDatabase({ path: this.#data.dbPath, synchronous: 'NORMAL', readonly: true });
    const collections = new CollectionsRepo(this.#db);
    for (const record of collections.list()) {
      await this.#load(record.id, record.config);
    }
  }

  async #load(collectionId: number, config: CollectionConfig): Promise<void> {
    const { index, caughtUp } = await loadIndex(this.#db!, this.#data.snapshotDir, collectionId, config, this.#data.engine);
    this.#held.set(collectionId, { config, index, caughtUp, store: null });
  }

  #last: Promise<unknown> = Promise.resolve();

  /**
   * Runs tasks strictly one after another, in arrival order, even when the main thread has sent
   * the next one already (it does, so the worker never idles waiting for the hand-off).
   */
  run(task: ReplicaTask): Promise<unknown> {
    const result = this.#last.then(() => this.#run(task));
    this.#last = result.catch(() => undefined);
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
          const index = new HnswIndex(indexOptions(task.config, this.#data.engine));
          this.#held.set(task.collectionId, { config: task.config, index, caughtUp: 0, store: null });
        }
        return null;
      case 'reload':
        // An import built a new index and wrote it as the snapshot: load it, catch up, swap.
        await this.#load(task.collectionId, task.config);
        return null;
      case 'drop':
        this.#held.delete(task.collectionId);
        return null;
      case 'apply':
        this.#apply(task);
        return null;
      case 'search':
        return this.#search(task);
      case 'stats':
        return this.#stats(task.collectionId);
      case 'snapshot':
        return this.#snapshot(task.collectionId, task.seq);
      case 'exit':
        process.exit(1);
    }
  }

  #apply(task: Extract<ReplicaTask, { op: 'apply' }>): void {
    const held = this.#held.get(task.collectionId);
    if (!held || task.seq <= held.caughtUp) return;
    const dim = held.config.dimension;
    let v = 0;
    for (let i = 0; i < task.labels.length; i++) {
      const label = task.labels[i];
      if (task.deleted[i]) held.index.remove(label);
      else {
        held.index.upsert(label, task.vectors.subarray(v * dim, (v + 1) * dim));
        v++;
      }
    }
  }

  #search(task: Extract<ReplicaTask, { op: 'search' }>): SearchReply[] {
    const held = this.#held.get(task.collectionId);
    if (!held) return task.searches.map(() => reply([]));
    // Segments only grow: the views are rebuilt when the main thread has added one, not per search.
    if (task.store.length > (held.store?.segments.length ?? 0)) {
      held.store = new VectorStore(held.config.dimension, held.config.metric, [...task.store]);
    }
    return task.searches.map((search) => reply(searchOne(held, search)));
  }

  #stats(collectionId: number): IndexStats {
    const held = this.#held.get(collectionId);
    if (!held) return { state: 'missing', live: 0, deleted: 0, capacity: 0, memory_bytes: 0 };
    const { index } = held;
    return { state: 'ready', live: index.size, deleted: index.deletedCount, capacity: index.capacity, memory_bytes: index.memoryBytes() };
  }

  async #snapshot(collectionId: number, seq: number): Promise<SnapshotReply | null> {
    const held = this.#held.get(collectionId);
    if (!held) return null;
    const covered = Math.max(seq, held.caughtUp);
    const manifest = await writeSnapshot(this.#data.snapshotDir, snapshotName(collectionId), held.index, covered);
    return { seq: covered, bytes: manifest.bytes };
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

/** Unfiltered, exact over given labels, or a graph walk with an allow-list that widens ef until k come back. */
function searchOne(held: Held, search: SearchItem): SearchHit[] {
  const { index, store } = held;
  const { filter, query, k } = search;
  if (!filter) return index.search(query, k, { ef: search.ef });
  if (!store) throw new Error('a filtered search needs the vector store');
  if ('labels' in filter) return store.topK(query, filter.labels, k);
  const bitmap = new LabelBitmap(filter.bitmap);
  const want = Math.min(k, filter.count);
  let ef = Math.max(search.ef, k);
  for (;;) {
    const hits = index.search(query, k, { ef, filter: (label) => bitmap.has(label) });
    if (hits.length >= want) return hits;
    if (ef >= filter.count) break;
    ef = Math.min(ef * 4, filter.count);
  }
  // The graph could not reach k allowed points (a disconnected allow-list): score them all.
  return store.topK(query, bitmap.toArray(), k);
}
