import { checkIntOption, IndexErrors } from '../errors.ts';
import type { Metric } from '../vector-index.ts';
import { loadOwnAddon } from './addon.ts';
import type { EngineBuild } from './engine.ts';

/** What `parallel-build.cc` exports. */
interface Addon {
  build(options: {
    metric: Metric; dim: number; m: number; efConstruction: number; seed: number; threads: number;
    path: string; vectors: Float32Array; labels: Uint32Array; order: Uint32Array;
  }): { promise: Promise<BuildResult>; progress(): number; cancel(): void };
  levels(count: number, m: number, seed: number): Int32Array;
}

export interface BuildResult {
  /** Points inserted (all of them). */
  inserted: number;
  /** The top layer of the graph. */
  maxLevel: number;
}

/** An index built in one go by several threads and written to `path` in hnswlib's file format. */
export interface ParallelBuildInput {
  metric: Metric;
  dimension: number;
  m: number;
  efConstruction: number;
  /** Seeds the levels exactly as hnswlib-node's `randomSeed` does: one thread builds the same graph as its addPoint loop. */
  seed: number;
  threads: number;
  /** Row-major, `dimension` values per label. */
  vectors: Float32Array;
  /** Distinct labels, one per row. */
  labels: Uint32Array;
  /** Rows in insertion order (default: as given). */
  order?: Uint32Array;
  path: string;
}

/** Thrown by `done` when the build was cancelled. */
export class BuildCancelled extends Error {
  constructor() {
    super('the parallel build was cancelled');
    this.name = 'BuildCancelled';
  }
}

/** A build running on its own threads, off the event loop. */
export class ParallelBuild {
  /** Resolves once the file is written; rejects with `BuildCancelled`, or `VDB_ERR_INDEX_OPTIONS` when hnswlib failed. */
  readonly done: Promise<BuildResult>;
  readonly #handle: ReturnType<Addon['build']>;
  #cancelled = false;

  constructor(handle: ReturnType<Addon['build']>) {
    this.#handle = handle;
    this.done = handle.promise.catch((err: unknown) => {
      if (this.#cancelled) throw new BuildCancelled();
      throw new IndexErrors.Options(`parallel build failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    });
  }

  /** Points inserted so far (read from the threads' shared counter). */
  get inserted(): number {
    return this.#handle.progress();
  }

  /** Stops the threads after the points they are inserting; `done` then rejects and no file is written. */
  cancel(): void {
    this.#cancelled = true;
    this.#handle.cancel();
  }
}

export class ParallelBuilder {
  /** The addon file. */
  readonly path: string;
  readonly #addon: Addon;

  constructor(path: string, addon: Addon) {
    this.path = path;
    this.#addon = addon;
  }

  build(input: ParallelBuildInput): ParallelBuild {
    const n = input.labels.length;
    checkIntOption(input.dimension, 'dimension', 1, 4096);
    checkIntOption(input.m, 'm', 2, 128);
    checkIntOption(input.efConstruction, 'efConstruction', 1, 4096);
    checkIntOption(input.seed, 'seed', 0, 2 ** 32 - 1);
    checkIntOption(input.threads, 'threads', 1, 256);
    if (input.vectors.length !== n * input.dimension) {
      throw new IndexErrors.Options(`vectors must hold ${n} × ${input.dimension} values, got ${input.vectors.length}`);
    }
    // Two threads inserting one label at once would race inside hnswlib (it updates the point the other is linking).
    const sorted = Uint32Array.from(input.labels).sort();
    for (let i = 1; i < n; i++) if (sorted[i] === sorted[i - 1]) throw new IndexErrors.Options(`labels must be distinct; ${sorted[i]} repeats`);
    const order = input.order ?? Uint32Array.from({ length: n }, (_, i) => i);
    const seen = new Uint8Array(n);
    const once = (p: number): boolean => p < n && seen[p] === 0 && (seen[p] = 1) === 1;
    if (order.length !== n || !order.every(once)) throw new IndexErrors.Options(`order must hold each row from 0 to ${n - 1} once`);
    return new ParallelBuild(this.#addon.build({
      metric: input.metric, dim: input.dimension, m: input.m, efConstruction: input.efConstruction, seed: input.seed,
      threads: input.threads, path: input.path, vectors: input.vectors, labels: input.labels, order,
    }));
  }

  /** The level of each of `count` insertions, as a build with `m` and `seed` draws them. */
  levels(count: number, m: number, seed: number): Int32Array {
    return this.#addon.levels(count, m, seed);
  }
}

export interface LoadedBuilder {
  builder: ParallelBuilder | null;
  /** Why there is none, or which file it is. */
  reason: string;
}

const built = new Map<EngineBuild, LoadedBuilder>();

/**
 * The parallel builder installed beside the hnswlib-node build `requested` resolves to (build-fast.mjs
 * compiles it with the same flags), or null with the reason: the stock build has none.
 */
export function loadParallelBuilder(requested: EngineBuild = 'auto'): LoadedBuilder {
  let result = built.get(requested);
  if (result === undefined) {
    const { exports, path, reason } = loadOwnAddon(requested);
    const addon = exports as Partial<Addon> | null;
    if (!addon || !path) result = { builder: null, reason: `${reason}: no parallel builder` };
    else if (typeof addon.build !== 'function' || typeof addon.levels !== 'function') result = { builder: null, reason: `${reason} is not the parallel builder` };
    else result = { builder: new ParallelBuilder(path, addon as Addon), reason: `parallel builder: ${reason}` };
    built.set(requested, result);
  }
  return result;
}
