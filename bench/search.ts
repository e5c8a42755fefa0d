/**
 * Search benchmark: raw hnswlib-node in-process against Vicinity over HTTP, same data, same machine.
 *
 *   npm run bench:search                      Fashion-MNIST 60k × 784, 1,000 queries, wrk
 *   npm run bench:smoke                       tiny synthetic set, node:http only (CI)
 *   node --import tsx bench/search.ts --help  flags
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCli, intList, positiveInt, positiveSeconds, serverEnv } from './lib/args.ts';
import { checkResults } from './lib/checks.ts';
import { loadFashionMnist, row, syntheticDataset, type Dataset } from './lib/datasets.ts';
import { groundTruth, type GroundTruth } from './lib/ground-truth.ts';
import { ensureWrk, jsonBodies, runNodeLoad, runWrk, type LoadTarget, type Wrk } from './lib/load.ts';
import { ENGINES, loadEngine, rawSweep, type EngineRequest, type HnswParams } from './lib/raw-hnsw.ts';
import { describeCommand, describeMachine, formatReport, writeReport, type BenchReport, type EfResult } from './lib/report.ts';
import { HttpClient, withServer, type ServerProcess } from './lib/server.ts';
import { procRssBytes } from './lib/stats.ts';
import { COLLECTION, createCollection, recallOverHttp, SEARCH_PATH, searchBody, uploadPoints } from './lib/vicinity.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
const K = 10;
const HNSW: HnswParams = { m: 16, efConstruction: 200, seed: 100 };

const USAGE = `usage: node --import tsx bench/search.ts [flags]
  --smoke              tiny synthetic data (2,000 × 32-d, 100 queries), node:http only, 1 s passes
  --train N            training vectors (default 60000; smoke 2000)
  --queries N          queries, the first N test vectors (default 1000; smoke 100)
  --ef LIST            ef values (default 10,20,40,80)
  --duration S         seconds per timed pass (default 10; smoke 1)
  --concurrency LIST   HTTP connections (default 1,8)
  --batch N            points per upsert request (default 500)
  --no-wrk             use the node:http load generator even when wrk is there
  --no-install         never apt-get install (the data set or wrk)
  --engine BUILD       hnswlib build for both sides: stock (default), avx2, native or auto; the raw
                       side loads it, the server gets VICINITY_HNSW_BUILD=BUILD
  --server-env K=V     another setting for the server, e.g. VICINITY_REPLICAS=1 (repeatable)
  --server-log LEVEL   the server's VICINITY_LOG_LEVEL (default warn)`;

function options() {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      train: { type: 'string' },
      queries: { type: 'string' },
      ef: { type: 'string', default: '10,20,40,80' },
      duration: { type: 'string' },
      concurrency: { type: 'string', default: '1,8' },
      batch: { type: 'string', default: '500' },
      'no-wrk': { type: 'boolean', default: false },
      'no-install': { type: 'boolean', default: false },
      engine: { type: 'string', default: 'stock' },
      'server-env': { type: 'string', multiple: true, default: [] },
      'server-log': { type: 'string', default: 'warn' },
      help: { type: 'boolean', default: false },
    },
  });
  const smoke = values.smoke;
  const engine = values.engine as EngineRequest;
  if (!ENGINES.includes(engine)) throw new Error(`--engine must be one of ${ENGINES.join(', ')}, got '${values.engine}'`);
  const env = serverEnv(values['server-env']);
  env.VICINITY_HNSW_BUILD ??= engine;
  return {
    help: values.help,
    smoke,
    train: positiveInt('train', values.train ?? (smoke ? '2000' : '60000')),
    queries: positiveInt('queries', values.queries ?? (smoke ? '100' : '1000')),
    efs: intList('ef', values.ef),
    durationS: positiveSeconds('duration', values.duration ?? (smoke ? '1' : '10')),
    concurrency: intList('concurrency', values.concurrency),
    batch: positiveInt('batch', values.batch),
    // Smoke mode runs in CI on every commit: no apt, no wrk.
    useWrk: !smoke && !values['no-wrk'],
    allowInstall: !smoke && !values['no-install'],
    serverLogLevel: values['server-log'],
    engine,
    serverEnv: env,
  };
}

type Options = ReturnType<typeof options>;

const log = (line: string): void => console.error(`[bench] ${line}`);

function loadDataset(o: Options): Dataset {
  if (o.smoke) return syntheticDataset({ train: o.train, queries: o.queries, dim: 32, clusters: 20, seed: 42 });
  return loadFashionMnist(o.train, o.queries, o.allowInstall, log);
}

/** (b) Vicinity over HTTP: create, upload, then per ef recall, a warm-up (once) and the load passes. */
async function benchVicinity(
  server: ServerProcess,
  dataset: Dataset,
  truth: GroundTruth,
  o: Options,
  wrk: Wrk | null,
  workDir: string,
  report: BenchReport,
): Promise<void> {
  const client = new HttpClient(server.port);
  try {
    await createCollection(client, dataset, HNSW);
    log(`uploading ${dataset.train.n} points to collection '${COLLECTION}' in batches of ${o.batch}`);
    report.vicinity.upload = await uploadPoints(client, dataset, o.batch);
    log(`upload: ${Math.round(report.vicinity.upload.rate)} vectors/s`);
    const target: LoadTarget = { port: server.port, path: SEARCH_PATH, serverPid: server.pid };
    for (const result of report.efs) {
      const texts: string[] = [];
      for (let q = 0; q < dataset.queries.n; q++) texts.push(searchBody(row(dataset.queries, q), K, result.ef));
      const bodies = jsonBodies(`search-ef${result.ef}`, texts);
      server.assertAlive();
      result.http = await recallOverHttp(client, dataset, truth, bodies, result.ef);
      log(`Vicinity ef=${result.ef}: recall ${result.http.recall.toFixed(4)}`);
      if (result === report.efs[0]) {
        // Untimed: the server's JIT and caches warm up here, not in the first reported pass.
        const warm = await runNodeLoad(bodies, target, 1, Math.min(2, o.durationS));
        log(`warm-up: ${warm.requests} requests, ${warm.errors} errors`);
        if (warm.errors > 0) throw new Error(`warm-up searches failed: ${warm.errors} errors`);
      }
      for (const c of o.concurrency) {
        const load =
          wrk === null
            ? await runNodeLoad(bodies, target, c, o.durationS)
            : await runWrk(wrk, workDir, bodies, target, c, o.durationS);
        result.loads.push(load);
        server.assertAlive();
        log(`Vicinity ef=${result.ef} c=${c}: ${Math.round(load.qps)} QPS, p99 ${load.p99Ms.toFixed(2)} ms, ${load.errors} errors`);
      }
    }
    report.vicinity.rssBytes = procRssBytes(server.pid);
  } finally {
    client.close();
  }
}

async function main(o: Options): Promise<number> {
  const started = new Date().toISOString();
  const dataset = loadDataset(o);
  log(`${dataset.name}: ${dataset.train.n} × ${dataset.train.dim}, ${dataset.queries.n} queries`);
  const gt = groundTruth(dataset, K, o.smoke ? null : OUT_DIR);
  log(`ground truth ${gt.cached ? 'loaded' : 'computed'} in ${gt.seconds.toFixed(1)} s`);
  const engine = await loadEngine(o.engine);
  const raw = await rawSweep(engine, dataset, gt.truth, HNSW, { efs: o.efs, durationS: o.durationS, minRequests: 0 }, log);

  let wrk: Wrk | null = null;
  let loadToolNote = o.smoke ? 'smoke mode: node:http fallback only' : '--no-wrk: node:http fallback';
  if (o.useWrk) {
    const found = ensureWrk(o.allowInstall, log);
    wrk = found.wrk;
    if (wrk === null) loadToolNote = `wrk unavailable (${found.why}): node:http fallback, whose own CPU competes with the server`;
    else loadToolNote = 'wrk -t1 (one thread), Lua script cycling the pre-generated bodies';
  }

  const report: BenchReport = {
    started,
    command: describeCommand(ROOT),
    smoke: o.smoke,
    machine: describeMachine(ROOT, wrk?.version ?? null),
    dataset: { name: dataset.name, source: dataset.source, train: dataset.train.n, queries: dataset.queries.n, dim: dataset.train.dim, metric: dataset.metric, k: K },
    groundTruth: {
      cached: gt.cached,
      seconds: gt.seconds,
      cachePath: gt.cachePath,
      recallDefinition: 'recall@10 counts distinct results within the 10th exact distance (ties count)',
    },
    hnsw: HNSW,
    engine: { requested: o.engine, raw: engine.build, rawReason: engine.reason, serverEnv: o.serverEnv },
    durationS: o.durationS,
    rawBuild: raw.build,
    vicinity: { startMs: NaN, upload: null, loadTool: wrk === null ? 'node:http keep-alive loop' : `wrk ${wrk.version}`, loadToolNote, rssBytes: null, stopMs: null, failure: null },
    efs: raw.passes.map((pass): EfResult => ({ ef: pass.ef, raw: pass, http: null, loads: [] })),
    checks: [],
  };

  const workDir = mkdtempSync(join(tmpdir(), 'vicinity-bench-load-'));
  const removeWorkDir = (): void => rmSync(workDir, { recursive: true, force: true });
  const serverOptions = { cwd: ROOT, logLevel: o.serverLogLevel, env: o.serverEnv, readyTimeoutMs: 60_000 };
  const run = await withServer(serverOptions, removeWorkDir, async (server) => {
    log(`server ready on port ${server.port} (pid ${server.pid})`);
    await benchVicinity(server, dataset, gt.truth, o, wrk, workDir, report);
  });
  removeWorkDir();
  Object.assign(report.vicinity, { startMs: run.startMs, stopMs: run.stopMs, exitCode: run.exitCode, failure: run.failure });
  if (run.exitCode !== undefined && run.exitCode !== 0) log(`server exit code ${run.exitCode}`);

  report.checks = checkResults(report, o.smoke);
  console.log(formatReport(report));
  console.log(`\nJSON: ${writeReport(OUT_DIR, report)}`);
  return report.vicinity.failure === null && report.checks.every((c) => c.ok) ? 0 : 1;
}

runCli(options, USAGE, main);
