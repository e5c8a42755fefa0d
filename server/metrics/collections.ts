import { statSync } from 'node:fs';
import { Gauge, type Registry } from 'prom-client';
import type { CollectionGauges } from '../engine/describe.ts';

/** Collections past the cap are summed under `collection="_other"`, so label values stay bounded. */
export const OTHER = '_other';

interface Source {
  collectionGauges(): CollectionGauges[];
  readonly databasePath: string;
}

/**
 * Gauges of what is stored: points, links and index snapshots per collection (past `maxCollections`,
 * summed under `_other`: sizes and counts added, ages and durations the largest), the collection
 * count, and the SQLite file and WAL sizes. One scrape reads the collections once.
 */
export function registerCollectionGauges(registry: Registry, source: Source, maxCollections: number): void {
  let cached: { at: number; list: (CollectionGauges & { label: string })[] } = { at: -Infinity, list: [] };
  const collections = () => {
    const now = performance.now();
    if (now - cached.at > 100) cached = { at: now, list: source.collectionGauges().map((c, i) => ({ ...c, label: i < maxCollections ? c.name : OTHER })) };
    return cached.list;
  };
  new Gauge({
    name: 'vicinity_collection_points',
    help: `Points per collection: live, or deleted (tombstones an optimize will purge); past VICINITY_METRICS_MAX_COLLECTIONS collections, summed under collection="${OTHER}"`,
    labelNames: ['collection', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of collections()) {
        this.inc({ collection: c.label, state: 'live' }, c.live);
        this.inc({ collection: c.label, state: 'deleted' }, c.deleted);
      }
    },
  });
  new Gauge({
    name: 'vicinity_collection_links',
    help: 'Links per collection and type',
    labelNames: ['collection', 'type'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of collections()) for (const [type, n] of Object.entries(c.links)) this.inc({ collection: c.label, type }, n);
    },
  });
  const snapshotGauge = (name: string, help: string, pick: (s: NonNullable<CollectionGauges['snapshot']>) => number, sum: boolean) =>
    new Gauge({
      name,
      help,
      labelNames: ['collection'],
      registers: [registry],
      collect() {
        this.reset();
        const values = new Map<string, number>();
        for (const c of collections()) {
          if (!c.snapshot) continue;
          const v = pick(c.snapshot);
          values.set(c.label, sum ? (values.get(c.label) ?? 0) + v : Math.max(values.get(c.label) ?? 0, v));
        }
        for (const [collection, v] of values) this.set({ collection }, v);
      },
    });
  snapshotGauge('vicinity_snapshot_age_seconds', "Seconds since the collection's index snapshot was last written (or since start-up)", (s) => s.ageS, false);
  snapshotGauge('vicinity_snapshot_bytes', "Bytes of the collection's index snapshot file", (s) => s.bytes, true);
  snapshotGauge('vicinity_snapshot_duration_seconds', 'Seconds the last periodic snapshot took to write', (s) => s.seconds, false);
  new Gauge({
    name: 'vicinity_collections',
    help: 'Collections on this server',
    registers: [registry],
    collect() {
      this.set(collections().length);
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
}
