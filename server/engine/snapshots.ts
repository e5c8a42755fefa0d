import { readdir } from 'node:fs/promises';
import { readManifest, removeSnapshots } from '../../index/snapshot.ts';
import { currentSeq, type Db } from '../../storage/db.ts';
import type { CollectionState } from './collection-state.ts';
import { snapshotName } from './load-index.ts';
import type { Logger } from './logger.ts';
import type { SnapshotReply } from './protocol.ts';
import type { ReplicaSet } from './replicas.ts';

export interface SnapshotOptions {
  db: Db;
  replicas: ReplicaSet;
  log: Logger;
  dir: string;
  everyChanges: number;
  intervalMs: number;
  /** False until every replica has loaded: replica 0 must hold the index it would write. */
  ready: () => boolean;
}

/**
 * Periodic index snapshots (docs/operations.md, Durability: start-up catch-up stays bounded): replica 0 writes a collection's
 * index every `everyChanges` changed points or `intervalMs`, under the collection's snapshot lock,
 * while the other replicas keep serving. A job holds the same lock from its commit until every
 * replica has its index (jobs.ts), and a drop removes the files under it.
 */
export class Snapshots {
  readonly #o: SnapshotOptions;

  constructor(options: SnapshotOptions) {
    this.#o = options;
  }

  /** Reads the collection's manifest, if any: what its snapshot covers. */
  async recall(state: CollectionState): Promise<void> {
    const { manifest } = await readManifest(this.#o.dir, snapshotName(state.record.id));
    if (manifest) {
      state.snapshot.seq = manifest.seq;
      state.snapshot.bytes = manifest.bytes;
    }
  }

  /** Counts changes applied to the replicas; a snapshot follows once enough have piled up. */
  changed(state: CollectionState, points: number): void {
    state.snapshot.changes += points;
    if (state.snapshot.changes >= this.#o.everyChanges) void this.write(state);
  }

  /** Writes the snapshots that are due by count or by age. */
  due(states: Iterable<CollectionState>): void {
    const now = Date.now();
    for (const state of states) {
      const { changes, writtenAt } = state.snapshot;
      if (changes >= this.#o.everyChanges || (changes > 0 && now - writtenAt >= this.#o.intervalMs)) void this.write(state);
    }
  }

  /** Has replica 0 write the collection's index, unless a snapshot or a job holds the lock already. */
  write(state: CollectionState, force = false): Promise<void> {
    const { snapshot } = state;
    if ((snapshot.lock.busy && !force) || !this.#o.ready()) return Promise.resolve();
    return snapshot.lock.run(async () => {
      const changes = snapshot.changes;
      if (changes === 0) return;
      // Every change committed so far was sent to replica 0 before this task: its index covers `seq`.
      const seq = currentSeq(this.#o.db);
      try {
        const started = performance.now();
        const done = await this.#o.replicas.on<SnapshotReply | null>(0, { op: 'snapshot', collectionId: state.record.id, seq });
        if (done) snapshot.written(done.seq, done.bytes, Math.max(0, changes - done.uncovered), (performance.now() - started) / 1000);
      } catch (err) {
        this.#o.log.error({ err, collection: state.name }, 'snapshot failed; will retry');
      }
    });
  }

  /** Removes a dropped collection's files once no snapshot or job holds its lock. */
  remove(state: CollectionState): Promise<void> {
    return state.snapshot.lock.run(() => removeSnapshots(this.#o.dir, snapshotName(state.record.id)));
  }

  /** Removes snapshot files of collections that no longer exist (a crash between drop and clean-up). */
  async removeOrphans(live: Iterable<CollectionState>): Promise<void> {
    const files = await readdir(this.#o.dir).catch(() => [] as string[]);
    const names = new Set([...live].map((s) => snapshotName(s.record.id)));
    const orphans = new Set<string>();
    for (const file of files) {
      const match = /^(c\d+)[-.]/.exec(file);
      if (match && !names.has(match[1])) orphans.add(match[1]);
    }
    for (const name of orphans) await removeSnapshots(this.#o.dir, name).catch(() => undefined);
  }

  /**
   * Takes every collection's snapshot lock, in id order (so two holders cannot deadlock): no
   * snapshot is written and no job commits until `release`. For a backup.
   */
  async holdAll(states: Iterable<CollectionState>): Promise<{ release: () => void; names: string[] }> {
    const sorted = [...states].sort((a, b) => a.record.id - b.record.id);
    const releases: (() => void)[] = [];
    try {
      for (const state of sorted) releases.push(await state.snapshot.lock.acquire());
    } catch (err) {
      for (const release of releases) release();
      throw err;
    }
    return { release: () => releases.forEach((release) => release()), names: sorted.map((s) => snapshotName(s.record.id)) };
  }

  /** At shutdown: waits for snapshots and jobs holding a lock, then writes every changed collection. */
  async close(states: Iterable<CollectionState>): Promise<void> {
    await Promise.all([...states].filter((s) => s.loaded).map((state) => this.write(state, true)));
  }
}
