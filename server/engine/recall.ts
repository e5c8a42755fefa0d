import { Piscina } from 'piscina';
import type { CollectionState } from './collection-state.ts';
import type { Logger } from './logger.ts';
import type { SearchItem, SearchReply } from './protocol.ts';
import type { RecallCheck } from './recall-worker.ts';

const WORKER = new URL('./recall-worker.ts', import.meta.url).href;
/** The estimate covers at most this many samples per collection… */
const WINDOW_SAMPLES = 1000;
/** …from at most this long ago. */
export const WINDOW_MS = 60 * 60 * 1000;

/** A collection's recall estimate: the mean recall@k of its checked samples, and how many there are. */
export interface RecallEstimate {
  recall: number;
  samples: number;
}

interface Sample {
  at: number;
  recall: number;
}

/**
 * The online recall estimate: a share (`rate`) of graph searches is checked again by exact scoring
 * of every allowed point, in one worker thread at the lowest CPU priority (nice 19), one check at a
 * time, and on average within `cpu` of one core: after a check that took t, the next waits t ×
 * (1 / cpu − 1). A sample offered while one runs or during that wait is dropped. So the checks
 * take little of the CPU the replicas leave over (and of the memory bandwidth: a check reads every
 * vector) and never queue ahead of a search. Exact and diverse searches are not sampled: their
 * recall is not the index's. A check runs a moment after its search, so under heavy writes it may
 * score against points the search could not have seen.
 */
export class RecallEstimator {
  readonly rate: number;
  readonly #cpu: number;
  readonly #log: Logger;
  /** No check starts before this (performance.now()). */
  #nextAt = 0;
  readonly #samples = new Map<number, Sample[]>();
  #pool: Piscina<RecallCheck, { recall: number | null; ms: number }> | null = null;
  #busy = false;
  #closed = false;

  constructor(rate: number, cpu: number, log: Logger) {
    this.rate = rate;
    this.#cpu = cpu;
    this.#log = log;
  }

  /** Draws whether this search is sampled; then checks it in the background. */
  offer(state: CollectionState, item: SearchItem, reply: SearchReply): void {
    if (this.rate === 0 || this.#busy || this.#closed || Math.random() >= this.rate) return;
    if (item.select || (item.filter && 'labels' in item.filter) || this.#cpu === 0) return;
    if (performance.now() < this.#nextAt) return;
    const { dimension, metric } = state.record.config;
    const allowed = item.filter && 'bitmap' in item.filter ? item.filter.bitmap : state.payloads.live().buffer;
    const task: RecallCheck = { dimension, metric, store: state.storeSpec, query: item.query, k: item.k, allowed, found: reply.labels.slice() };
    this.#busy = true;
    this.#pool ??= new Piscina({ filename: WORKER, minThreads: 0, maxThreads: 1, idleTimeout: 60_000, niceIncrement: 19 });
    this.#pool
      .run(task)
      .then(({ recall, ms }) => {
        if (recall !== null) this.#record(state.record.id, recall);
        this.#nextAt = performance.now() + ms * (1 / this.#cpu - 1);
      })
      .catch((err: unknown) => this.#log.warn({ err, collection: state.name }, 'a recall check failed'))
      .finally(() => {
        this.#busy = false;
      });
  }

  #record(collectionId: number, recall: number): void {
    let samples = this.#samples.get(collectionId);
    if (!samples) this.#samples.set(collectionId, (samples = []));
    samples.push({ at: Date.now(), recall });
    if (samples.length > WINDOW_SAMPLES) samples.shift();
  }

  /** The collection's estimate over the window; null before its first sample. */
  estimate(collectionId: number): RecallEstimate | null {
    const samples = this.#samples.get(collectionId);
    if (!samples) return null;
    const since = Date.now() - WINDOW_MS;
    while (samples.length > 0 && samples[0].at < since) samples.shift();
    if (samples.length === 0) return null;
    return { recall: samples.reduce((sum, s) => sum + s.recall, 0) / samples.length, samples: samples.length };
  }

  /** Forgets a dropped collection's samples. */
  dropped(collectionId: number): void {
    this.#samples.delete(collectionId);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#pool?.destroy();
  }
}
