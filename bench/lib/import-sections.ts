import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from './datasets.ts';
import type { GroundTruth } from './ground-truth.ts';
import { writeMixtureNpy, type ImportFile } from './import-files.ts';
import { measureImport, type ImportSettings } from './import-measure.ts';
import type { FashionRun, LatencyRun, RawImportBuild, ScaleRun, ServerSide } from './import-report.ts';
import { runNodeLoad, runWrk, type BodySet, type LoadResult, type LoadTarget, type Wrk } from './load.ts';
import { buildRaw, loadEngine, queryArrays, searchRaw, type EngineRequest } from './raw-hnsw.ts';
import { jsonSearches, serverBuild } from './replicas-http.ts';
import { HttpClient, withServer, type ServerOptions, type ServerProcess } from './server.ts';
import { COLLECTION, recallOverHttp, SEARCH_PATH } from './vicinity.ts';

export interface SectionContext {
  root: string;
  /** Where the bench writes its import files (under bench/out/, never committed). */
  fileDir: string;
  server: ServerOptions;
  settings: ImportSettings;
  k: number;
  ef: number;
  keepFiles: boolean;
  /** Run when SIGINT/SIGTERM interrupts a server: removes the bench's files. */
  cleanup: () => void;
  log: (line: string) => void;
}

/** A fresh server and data directory for `body`; its failure is recorded, not thrown. */
async function onFreshServer(c: SectionContext, body: (server: ServerProcess) => Promise<void>): Promise<ServerSide> {
  let build: string | null = null;
  const run = await withServer(c.server, c.cleanup, async (server) => {
    build = serverBuild(server.log)?.build ?? null;
    await body(server);
  });
  return { ...run, build };
}

/** Raw hnswlib-node builds of the training set in this process, one thread: stock, then the fast binary. */
export async function rawBuilds(c: SectionContext, dataset: Dataset, truth: GroundTruth, fast: EngineRequest): Promise<RawImportBuild[]> {
  const queries = queryArrays(dataset);
  const out: RawImportBuild[] = [];
  for (const request of ['stock', fast] as EngineRequest[]) {
    const engine = await loadEngine(request);
    c.log(`raw hnswlib (${engine.build}): building ${dataset.train.n} vectors`);
    const { index, ...build } = buildRaw(engine, dataset, c.settings.hnsw);
    // One untimed pass is all that is needed: only its recall is reported.
    const pass = searchRaw(index, dataset, truth, queries, c.ef, 0);
    out.push({ build: engine.build, reason: engine.reason, ...build, recall: pass.recall });
    c.log(`raw hnswlib (${engine.build}): ${Math.round(build.rate)} vectors/s, recall ${pass.recall.toFixed(4)} at ef=${c.ef}`);
  }
  return out;
}

export interface Variant {
  label: string;
  file: ImportFile;
  via: 'cli' | 'http';
}

/** Each variant into collection `bench` of a fresh server, then recall over HTTP against the exact top-k. */
export async function fashionRuns(c: SectionContext, dataset: Dataset, truth: GroundTruth, variants: Variant[]): Promise<FashionRun[]> {
  const bodies = jsonSearches(`import-ef${c.ef}`, dataset, c.k, c.ef);
  const runs: FashionRun[] = [];
  for (const v of variants) {
    const run: FashionRun = { label: v.label, server: { startMs: NaN, stopMs: null, failure: null, build: null }, import: null, recall: null };
    c.log(`${v.label}: ${v.file.path}`);
    run.server = await onFreshServer(c, async (server) => {
      run.import = await measureImport(c.root, server, COLLECTION, v.file, v.via, c.settings);
      c.log(`${v.label}: ${Math.round(run.import.rate)} vectors/s, peak RSS ${mib(run.import.rss.hwmBytes)} MiB`);
      const client = new HttpClient(server.port);
      try {
        run.recall = await recallOverHttp(client, dataset, truth, bodies, c.ef);
      } finally {
        client.close();
      }
      server.assertAlive();
    });
    runs.push(run);
  }
  return runs;
}

const mib = (bytes: number | null): string => (bytes === null ? '?' : (bytes / 2 ** 20).toFixed(0));

/** Synthetic `.npy` files of growing size, each written by streaming and imported over HTTP into a fresh server. */
export async function scaleRuns(c: SectionContext, sizes: number[], dim: number, clusters: number, seed: number): Promise<ScaleRun[]> {
  const runs: ScaleRun[] = [];
  for (const n of sizes) {
    const file = writeMixtureNpy(join(c.fileDir, `synthetic-${dim}d-${n}.npy`), n, dim, clusters, seed);
    c.log(`${n} × ${dim}: ${file.path} written in ${file.writeS.toFixed(1)} s`);
    const run: ScaleRun = { n, file, server: { startMs: NaN, stopMs: null, failure: null, build: null }, import: null };
    run.server = await onFreshServer(c, async (server) => {
      run.import = await measureImport(c.root, server, 'synthetic', file, 'http', c.settings);
      c.log(`${n} × ${dim}: ${Math.round(run.import.rate)} vectors/s, peak RSS ${mib(run.import.rss.hwmBytes)} MiB, index ${mib(run.import.after.perReplicaBytes)} MiB/replica`);
      server.assertAlive();
    });
    if (!c.keepFiles) rmSync(file.path, { force: true });
    runs.push(run);
  }
  return runs;
}

export interface LatencyOptions {
  /** The searched collection's file, imported first over HTTP into `bench`. */
  loaded: ImportFile;
  /** The import that runs during the loaded pass. */
  duringFile: ImportFile;
  concurrency: number;
  durationS: number;
  wrk: Wrk | null;
  workDir: string;
}

function loadPass(o: LatencyOptions, set: BodySet, target: LoadTarget): Promise<LoadResult> {
  return o.wrk === null ? runNodeLoad(set, target, o.concurrency, o.durationS) : runWrk(o.wrk, o.workDir, set, target, o.concurrency, o.durationS);
}

/**
 * A server holding `dataset` in `bench`: the same search load for `durationS` idle, then in windows of
 * `durationS` back to back from the moment `duringFile` starts importing into another collection until
 * it is done, so every phase of the import (upload, build, commit, replicas loading) is under load.
 */
export async function latencyRun(c: SectionContext, dataset: Dataset, o: LatencyOptions): Promise<LatencyRun> {
  const run: LatencyRun = {
    server: { startMs: NaN, stopMs: null, failure: null, build: null },
    tool: o.wrk === null ? 'node:http' : `wrk ${o.wrk.version}`,
    concurrency: o.concurrency,
    loaded: null,
    idle: null,
    during: [],
    duringFile: o.duringFile,
    duringImport: null,
  };
  const set = jsonSearches(`import-load-ef${c.ef}`, dataset, c.k, c.ef);
  run.server = await onFreshServer(c, async (server) => {
    run.loaded = await measureImport(c.root, server, COLLECTION, o.loaded, 'http', c.settings);
    const target: LoadTarget = { port: server.port, path: SEARCH_PATH, serverPid: server.pid };
    // Untimed: the server's JIT and caches warm up here, not in the idle pass.
    await runNodeLoad(set, target, 1, Math.min(2, o.durationS));
    run.idle = await loadPass(o, set, target);
    c.log(`search idle: p50 ${run.idle.p50Ms.toFixed(2)} ms, p99 ${run.idle.p99Ms.toFixed(2)} ms, ${Math.round(run.idle.qps)} QPS`);
    const importStart = performance.now();
    const importing = measureImport(c.root, server, 'during', o.duringFile, 'http', c.settings);
    const finished = { at: NaN };
    importing.then(
      () => void (finished.at = performance.now()),
      () => void (finished.at = performance.now()),
    );
    const maxWindows = Math.ceil(c.settings.jobTimeoutS / o.durationS);
    while (Number.isNaN(finished.at) && run.during.length < maxWindows) {
      const startS = (performance.now() - importStart) / 1000;
      const pass = await loadPass(o, set, target);
      run.during.push({ ...pass, startS, endS: (performance.now() - importStart) / 1000 });
      c.log(`search during import, window ${run.during.length}: p50 ${pass.p50Ms.toFixed(2)} ms, p99 ${pass.p99Ms.toFixed(2)} ms`);
      server.assertAlive();
    }
    run.duringImport = await importing;
    server.assertAlive();
  });
  return run;
}
