import { statfsSync } from 'node:fs';
import type { CollectionsRepo } from '../../storage/collections.ts';
import type { LinksRepo } from '../../storage/links.ts';
import type { CollectionState } from './collection-state.ts';
import type { Jobs } from './jobs.ts';
import type { RecallEstimate, RecallEstimator } from './recall.ts';
import type { ReplicaSet } from './replicas.ts';
import type { SearchHooks, SearchObserver } from './search.ts';
import type { Writer } from './writer.ts';

/** What /metrics reads of a collection. */
export interface CollectionGauges {
  name: string;
  live: number;
  deleted: number;
  links: Record<string, number>;
  /** Its last snapshot: age, size, how long it took to write, points changed since. */
  snapshot: { ageS: number; bytes: number; seconds: number; pending: number } | null;
  /** One replica's index (null while the replicas load), the shared vectors, values the codec clamped. */
  indexBytes: number | null;
  sharedVectorBytes: number;
  saturated: number;
  recall: RecallEstimate | null;
}

export interface GaugeDeps {
  collections: CollectionsRepo;
  states: ReadonlyMap<string, CollectionState>;
  links: LinksRepo;
  replicas: ReplicaSet;
  writer: Writer;
  jobs: Jobs;
  recall: RecallEstimator;
  /** Told of every search (the engine passes them to runSearches). */
  hooks: SearchHooks;
  ready: () => boolean;
  replicasReady: () => boolean;
  hnswBuild: string;
  databasePath: string;
  dataDir: string;
  snapshotIntervalMs: number;
}

/** The engine as /metrics sees it: read at each scrape, and observers the metrics set (metrics.ts). */
export class EngineGauges {
  readonly #deps: GaugeDeps;
  readonly hnswBuild: string;
  readonly databasePath: string;
  readonly snapshotIntervalS: number;

  constructor(deps: GaugeDeps) {
    this.#deps = deps;
    this.hnswBuild = deps.hnswBuild;
    this.databasePath = deps.databasePath;
    this.snapshotIntervalS = deps.snapshotIntervalMs / 1000;
  }

  get ready(): boolean {
    return this.#deps.ready();
  }

  /** Each collection as stored, with its snapshot, links by type, memory and recall estimate; one replica task for all indexes. */
  async collections(): Promise<CollectionGauges[]> {
    const { collections, states, links, replicas, recall } = this.#deps;
    const memory = this.#deps.replicasReady() ? await replicas.stats<Record<number, number>>({ op: 'memory' }).catch(() => null) : null;
    return collections.list().map((record) => {
      const state = states.get(record.name);
      const snapshot = state?.snapshot;
      return {
        name: record.name,
        live: record.liveCount,
        deleted: record.deletedCount,
        links: links.countsByType(record.id),
        snapshot: snapshot ? { ageS: (Date.now() - snapshot.writtenAt) / 1000, bytes: snapshot.bytes, seconds: snapshot.seconds, pending: snapshot.changes } : null,
        indexBytes: memory?.[record.id] ?? null,
        sharedVectorBytes: state?.vectors.bytes ?? 0,
        saturated: state?.saturated ?? 0,
        recall: recall.estimate(record.id),
      };
    });
  }

  get replicaCount(): number {
    return this.#deps.replicas.size;
  }

  /** Tasks and searches queued per replica. */
  replicaQueues(): { pending: number; reads: number }[] {
    return this.#deps.replicas.queues();
  }

  /** Busy seconds and worker restarts per replica, since start-up. */
  replicaActivity(): { busySeconds: number; restarts: number }[] {
    return this.#deps.replicas.activity();
  }

  /** Points written but not yet in every replica's index. */
  get indexBacklog(): number {
    return this.#deps.replicas.backlog;
  }

  /** Free and total bytes of the file system holding the data directory. */
  disk(): { free: number; total: number } {
    const fs = statfsSync(this.#deps.dataDir);
    return { free: fs.bavail * fs.bsize, total: fs.blocks * fs.bsize };
  }

  /** The jobs kept, newest first. */
  jobs(limit: number): ReturnType<Jobs['list']> {
    return this.#deps.jobs.list(limit);
  }

  set searchObserver(observe: SearchObserver) {
    this.#deps.hooks.observe = observe;
  }

  set writeObserver(observe: NonNullable<Writer['observe']>) {
    this.#deps.writer.observe = observe;
  }

  set jobObserver(observe: NonNullable<Jobs['finished']>) {
    this.#deps.jobs.finished = observe;
  }
}
