import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../../storage/db.ts';
import type { KnnRepo, KnnRow, OverlayMark } from '../../storage/knn.ts';
import type { PointsRepo } from '../../storage/points.ts';
import type { CollectionState } from './collection-state.ts';
import type { Logger } from './logger.ts';
import { ServerErrors } from '../errors.ts';
import { NO_NEIGHBOUR, type NeighboursReply } from './protocol.ts';
import type { ReplicaSet } from './replicas.ts';
import type { Writer } from './writer.ts';

export interface OverlayHost {
  db: Db;
  writer: Writer;
  points: PointsRepo;
  knn: KnnRepo;
  replicas: ReplicaSet;
  log: Logger;
  /** True while `state` is still a live collection. */
  current(state: CollectionState): boolean;
  /** True while an import or optimize of the collection runs (it rewrites the k-NN table). */
  jobActive(collectionId: number): boolean;
  ready(): boolean;
}

/** Point changes one round reads at most. */
export const OVERLAY_BATCH = 64;
/**
 * The replica time one round aims at: a search that reaches the replica behind a round waits for
 * all of it. With rounds of 64 points at 784 dimensions the search p99 stayed at 25–53 ms for as long
 * as the filler ran, 4–10 ms after (bench:import --sections latency; round times not measured apart).
 */
const ROUND_MS = 5;
/** Share of one replica's time the filler may take: it waits 1/share − 1 times as long as each round ran. */
const SHARE = 0.25;

/**
 * The k-NN overlay's background filler (arXiv 2507.19715, k-NN links): every live point keeps its
 * `graph.knn_k` nearest neighbours in the `knn` table. Points written since its mark get their entry
 * from a search of the replica's index with their stored vector, a batch at a time, in the order of
 * their changes, and enter the entries of the neighbours they are nearer to than those entries' own;
 * an optimize's k-NN pass provides them for every point at once. It runs beside
 * writes and searches, at a bounded share of one replica, and pauses while a job rebuilds the table.
 */
export class Overlay {
  readonly #host: OverlayHost;
  readonly #running = new Set<CollectionState>();
  /** Replica milliseconds per point looked up, by collection: the last round's. */
  readonly #msPerPoint = new WeakMap<CollectionState, number>();

  constructor(host: OverlayHost) {
    this.#host = host;
  }

  /** Starts a round of filling for every collection that is behind and not being filled. */
  tick(states: Iterable<CollectionState>): void {
    if (!this.#host.ready()) return;
    for (const state of states) {
      if (state.loaded && state.record.config.graph.knn_k > 0 && !this.#running.has(state)) void this.#fill(state);
    }
  }

  /** `stats.overlay`: k, live points whose entry is current, and point changes not yet looked at (none when it is off). */
  describe(state: CollectionState): { knn_k: number; covered: number; behind: number } {
    const id = state.record.id;
    const knnK = state.record.config.graph.knn_k;
    if (knnK === 0) return { knn_k: 0, covered: 0, behind: 0 };
    const mark = this.#host.knn.mark(id);
    return { knn_k: knnK, covered: this.#host.knn.covered(id), behind: this.#host.points.countChangesAfter(id, mark.seq, mark.label) };
  }

  /**
   * `GET …/points/{id}/neighbours`: the point's overlay neighbours that are still live, nearest
   * first, with their exact distance now (from the stored vectors); none while the filler has not
   * reached the point.
   */
  neighboursOf(state: CollectionState, id: string, k: number | undefined): { neighbours: { id: string; distance: number }[] } {
    const { knn_k } = state.record.config.graph;
    if (knn_k === 0) throw new ServerErrors.OverlayOff(`collection '${state.name}' has no k-NN overlay (graph.knn_k is 0); create it with graph.knn_k ≥ 1`);
    const label = this.#host.points.liveLabel(state.record.id, id);
    if (label === null) throw new ServerErrors.PointNotFound(`point '${id}' does not exist in collection '${state.name}'`);
    const [entry] = this.#host.knn.entries(state.record.id, [label]);
    if (!entry || entry.seq < 0) return { neighbours: [] };
    const live = Array.from(entry.neighbours).filter((l) => l !== label && state.payloads.has(l));
    const nearest = state.vectors.topK(state.vectors.get(label), live, Math.min(k ?? knn_k, knn_k));
    return { neighbours: nearest.map((h) => ({ id: state.ids[h.label], distance: h.distance })) };
  }

  async #fill(state: CollectionState): Promise<void> {
    const host = this.#host;
    const id = state.record.id;
    this.#running.add(state);
    try {
      while (host.current(state) && !host.jobActive(id)) {
        const started = performance.now();
        if (!(await this.#round(state))) break;
        await sleep((performance.now() - started) * (1 / SHARE - 1));
      }
    } catch (err) {
      host.log.warn({ err, collection: state.name }, 'k-NN overlay round failed; it resumes at the next tick');
    } finally {
      this.#running.delete(state);
    }
  }

  /** Points the next round looks up: as many as fit in ROUND_MS at the last round's pace. */
  #batch(state: CollectionState): number {
    const ms = this.#msPerPoint.get(state);
    return ms === undefined ? 1 : Math.max(1, Math.min(OVERLAY_BATCH, Math.floor(ROUND_MS / ms)));
  }

  /** One batch: false when there was nothing left to do. */
  async #round(state: CollectionState): Promise<boolean> {
    const host = this.#host;
    const id = state.record.id;
    const k = state.record.config.graph.knn_k;
    const mark = host.knn.mark(id);
    const changes = host.points.changedAfter(id, mark.seq, mark.label, this.#batch(state));
    if (changes.length === 0) return false;
    const last = changes[changes.length - 1];
    const next: OverlayMark = { seq: last.seq, label: last.label };
    // Live points whose entry does not already hold for this version (an optimize's pass may have written it).
    const current = new Map(host.knn.entries(id, changes.map((c) => c.label)).map((e) => [e.label, e.seq]));
    const stale = changes.filter((c) => !c.deleted && (current.get(c.label) ?? -2) < c.seq);
    let reply: NeighboursReply = { found: new Uint32Array(0), refreshed: [] };
    if (stale.length > 0) {
      const started = performance.now();
      reply = await host.replicas.read<NeighboursReply>({
        op: 'neighbours', collectionId: id, labels: Uint32Array.from(stale, (c) => c.label), k, store: state.storeSpec,
      });
      this.#msPerPoint.set(state, (performance.now() - started) / stale.length);
    }
    return host.writer.write(() => {
      if (!host.current(state) || host.jobActive(id)) return false;
      const rows: KnnRow[] = [];
      const moved = new Set<number>();
      for (let i = 0; i < stale.length; i++) {
        const c = stale[i];
        // Changed again (or deleted) since it was read: a later round has it.
        if (host.points.seqOf(id, c.label) !== c.seq) {
          moved.add(c.label);
          continue;
        }
        const row = reply.found.subarray(i * k, (i + 1) * k);
        const n = row.indexOf(NO_NEIGHBOUR);
        // None found for a live point among others: the replica did not hold it yet. Try again later.
        if (n === 0 && state.payloads.size > 1) return false;
        rows.push({ label: c.label, lid: null, neighbours: row.slice(0, n < 0 ? k : n), seq: c.seq });
      }
      host.knn.put(id, rows);
      // Entries that changed since the replica read them (an optimize's pass, a purge) keep their new version,
      // and none takes in a point that has moved or gone since.
      for (const r of reply.refreshed) if (!r.neighbours.some((l) => moved.has(l))) host.knn.refresh(id, r);
      host.knn.setMark(id, next);
      return true;
    });
  }
}
