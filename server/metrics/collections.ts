import { statSync } from 'node:fs';
import { Gauge, type Registry } from 'prom-client';
import type { CollectionGauges, EngineGauges } from '../engine/gauges.ts';

/** Collections past the cap are summed under `collection="_other"`, so label values stay bounded. */
export const OTHER = '_other';

type Source = Pick<EngineGauges, 'collections' | 'databasePath' | 'disk'>;
type Labelled = CollectionGauges & { label: string };

/**
 * One scrape reads the collections once, however long it takes (it yields between metrics): a
 * scrape starts by forgetting what the last one read; a reading is kept at most this long.
 */
export const SCRAPE_CACHE_MS = 1000;

/**
 * Gauges of what is stored: points, links, memory, the recall estimate and index snapshots per
 * collection (past `maxCollections`, summed under `_other`: sizes and counts added, ages and
 * durations the largest, recall the mean over all samples), the collection count, the SQLite file
 * and WAL sizes and the data directory's disk. Returns what a scrape calls first, to read afresh.
 */
export function registerCollectionGauges(registry: Registry, source: Source, maxCollections: number): () => void {
  let cached: { at: number; list: Promise<Labelled[]> } = { at: -Infinity, list: Promise.resolve([]) };
  const collections = () => {
    const now = performance.now();
    if (now - cached.at > SCRAPE_CACHE_MS) {
      cached = { at: now, list: source.collections().then((list) => list.map((c, i) => ({ ...c, label: i < maxCollections ? c.name : OTHER }))) };
    }
    return cached.list;
  };
  /** A gauge of one figure per collection (null: none); under `_other`, added up or the largest. */
  const perCollection = (name: string, help: string, pick: (c: Labelled) => number | null, combine: 'sum' | 'max' = 'sum') =>
    new Gauge({
      name,
      help,
      labelNames: ['collection'],
      registers: [registry],
      async collect() {
        this.reset();
        const values = new Map<string, number>();
        for (const c of await collections()) {
          const v = pick(c);
          if (v === null) continue;
          const before = values.get(c.label);
          values.set(c.label, before === undefined ? v : combine === 'sum' ? before + v : Math.max(before, v));
        }
        for (const [collection, v] of values) this.set({ collection }, v);
      },
    });
  new Gauge({
    name: 'vicinity_collection_points',
    help: `Points per collection: live, or deleted (tombstones an optimize will purge); past VICINITY_METRICS_MAX_COLLECTIONS collections, summed under collection="${OTHER}"`,
    labelNames: ['collection', 'state'],
    registers: [registry],
    async collect() {
      // Summed before the gauge is touched: two scrapes at once must not add to each other's reset.
      const sums = new Map<string, { collection: string; state: string; n: number }>();
      for (const c of await collections()) {
        for (const [state, n] of [['live', c.live], ['deleted', c.deleted]] as const) {
          const key = `${c.label}\0${state}`;
          sums.set(key, { collection: c.label, state, n: (sums.get(key)?.n ?? 0) + n });
        }
      }
      this.reset();
      for (const { collection, state, n } of sums.values()) this.set({ collection, state }, n);
    },
  });
  new Gauge({
    name: 'vicinity_collection_links',
    help: 'Links per collection and type',
    labelNames: ['collection', 'type'],
    registers: [registry],
    async collect() {
      const sums = new Map<string, { collection: string; type: string; n: number }>();
      for (const c of await collections()) {
        for (const [type, n] of Object.entries(c.links)) {
          const key = `${c.label}\0${type}`;
          sums.set(key, { collection: c.label, type, n: (sums.get(key)?.n ?? 0) + n });
        }
      }
      this.reset();
      for (const { collection, type, n } of sums.values()) this.set({ collection, type }, n);
    },
  });
  perCollection('vicinity_snapshot_age_seconds', "Seconds since the collection's index snapshot was last written (or since start-up)", (c) => c.snapshot?.ageS ?? null, 'max');
  perCollection('vicinity_snapshot_bytes', "Bytes of the collection's index snapshot file", (c) => c.snapshot?.bytes ?? null);
  perCollection('vicinity_snapshot_pending_changes', 'Points changed since the collection\'s last snapshot (a restart replays them from SQLite)', (c) => c.snapshot?.pending ?? null);
  perCollection('vicinity_snapshot_duration_seconds', 'Seconds the last periodic snapshot took to write', (c) => c.snapshot?.seconds ?? null, 'max');
  perCollection('vicinity_index_bytes', "Bytes of the collection's index in one replica (each replica holds a copy: see vicinity_replicas)", (c) => c.indexBytes);
  perCollection('vicinity_shared_vector_bytes', "Bytes of the collection's vectors in shared memory (one copy, read by every replica)", (c) => c.sharedVectorBytes);
  perCollection('vicinity_saturated_values', "Vector values the collection's codec clamped to its range since start-up", (c) => c.saturated);
  perCollection('vicinity_search_recall_samples', 'Searches in the recall estimate\'s window (the last hour, at most 1,000 per collection)', (c) => c.recall?.samples ?? null);
  new Gauge({
    name: 'vicinity_search_recall',
    help: 'Estimated recall@k of graph searches: sampled searches checked again by exact scoring (VICINITY_RECALL_SAMPLE_RATE), the mean over the window; absent before the first sample',
    labelNames: ['collection'],
    registers: [registry],
    async collect() {
      this.reset();
      const sums = new Map<string, { recall: number; samples: number }>();
      for (const c of await collections()) {
        if (!c.recall) continue;
        const sum = sums.get(c.label) ?? { recall: 0, samples: 0 };
        sums.set(c.label, { recall: sum.recall + c.recall.recall * c.recall.samples, samples: sum.samples + c.recall.samples });
      }
      for (const [collection, sum] of sums) this.set({ collection }, sum.recall / sum.samples);
    },
  });
  new Gauge({
    name: 'vicinity_collections',
    help: 'Collections on this server',
    registers: [registry],
    async collect() {
      this.set((await collections()).length);
    },
  });
  new Gauge({
    name: 'vicinity_data_disk_bytes',
    help: 'Bytes of the file system holding the data directory: free (to this user) and total',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const { free, total } = source.disk();
      this.set({ state: 'free' }, free);
      this.set({ state: 'total' }, total);
    },
  });
  new Gauge({
    name: 'vicinity_sqlite_bytes',
    help: 'Bytes of the SQLite database file and of its write-ahead log',
    labelNames: ['file'],
    registers: [registry],
    collect() {
      const size = (path: string) => {
        try {
          return statSync(path).size;
        } catch {
          return 0; // no WAL file at the moment
        }
      };
      this.set({ file: 'db' }, size(source.databasePath));
      this.set({ file: 'wal' }, size(`${source.databasePath}-wal`));
    },
  });
  return () => {
    cached = { at: -Infinity, list: cached.list };
  };
}
