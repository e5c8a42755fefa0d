import { randomBytes } from 'node:crypto';
import { readdirSync, unlinkSync } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { HnswIndex, type HnswOptions } from '../../index/hnsw.ts';
import type { ResolvedBuild } from '../../index/native/engine.ts';
import { loadParallelBuilder, type ParallelBuilder } from '../../index/native/parallel-build.ts';

const POLL_MS = 100;
const PAGE = 1000;
/** The parallel builder's file: in the snapshot directory, named so that nothing takes it for a snapshot. */
const TEMP_FILE = /^\.build-[0-9a-f]+\.tmp$/;

/** How the build process builds a fresh index. */
export interface BulkBuildSettings {
  /** The hnswlib build the server resolved; the parallel builder sits beside it (none with `stock`). */
  engine: ResolvedBuild;
  /** VICINITY_BUILD_THREADS, resolved: 1 keeps hnswlib-node's addPoint loop. */
  threads: number;
  /** Where the parallel builder writes its file (the snapshot directory). */
  dir: string;
}

/** Rows to insert: `vectors` row-major in index space, `order` the rows in insertion order. */
export interface BulkRows {
  labels: Uint32Array;
  vectors: Float32Array;
  order: Uint32Array;
}

export interface BulkHooks {
  /** Points inserted so far. */
  progress(inserted: number): void;
  /** Lets the process breathe between pages of the loop. */
  pause(): Promise<void>;
}

/**
 * Inserts `rows` into `index`. When `index` is still empty and the parallel builder is there, the
 * graph is built by `settings.threads` threads off the event loop, written to a file and read back
 * as a new HnswIndex (returned in place of `index`); else it is hnswlib-node's addPoint loop. Both
 * draw the levels from the same seed: with one thread they build the same graph.
 */
export async function insertRows(index: HnswIndex, options: HnswOptions, rows: BulkRows, settings: BulkBuildSettings, hooks: BulkHooks): Promise<HnswIndex> {
  const n = rows.order.length;
  const builder = n > 1 ? parallelBuilder(index, settings) : null;
  if (builder === null) {
    const dim = index.dimension;
    index.reserve(n);
    for (let i = 0; i < n; i++) {
      const p = rows.order[i];
      index.upsert(rows.labels[p], rows.vectors.subarray(p * dim, (p + 1) * dim));
      if (i % PAGE === 0) {
        hooks.progress(i);
        await hooks.pause();
      }
    }
    hooks.progress(n);
    return index;
  }
  await mkdir(settings.dir, { recursive: true });
  removeBuildFiles(settings.dir);
  const path = join(settings.dir, `.build-${randomBytes(6).toString('hex')}.tmp`);
  try {
    const run = builder.build({
      metric: index.metric, dimension: index.dimension, m: index.m, efConstruction: options.efConstruction, seed: options.seed ?? 100,
      threads: settings.threads, vectors: rows.vectors, labels: rows.labels, order: rows.order, path,
    });
    // The threads run off the event loop: it stays free for control messages and progress reports.
    hooks.progress(0);
    const poll = setInterval(() => hooks.progress(run.inserted), POLL_MS);
    try {
      await run.done;
    } finally {
      clearInterval(poll);
    }
    hooks.progress(n);
    return await HnswIndex.load(path, options);
  } finally {
    await unlink(path).catch(() => undefined);
  }
}

/** The parallel builder, when `index` is still empty, more than one thread is allowed and it was installed. */
export function parallelBuilder(index: HnswIndex, settings: BulkBuildSettings): ParallelBuilder | null {
  if (settings.threads < 2 || index.size > 0 || index.deletedCount > 0) return null;
  return loadParallelBuilder(settings.engine).builder;
}

/**
 * Removes the files of parallel builds that a kill cut short (the build process killed by a cancel
 * while it wrote or read back its file, or the server killed). Call it only while no build process
 * runs: only one build runs at a time, so any such file left in `dir` then belongs to none.
 */
export function removeBuildFiles(dir: string): void {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return; // no snapshot directory yet
  }
  for (const f of files) {
    if (!TEMP_FILE.test(f)) continue;
    try {
      unlinkSync(join(dir, f));
    } catch {
      // gone already
    }
  }
}
