/**
 * Replicas benchmark: raw hnswlib-node (stock and AVX2 builds, one thread) against Vicinity over HTTP
 * with its defaults (engine auto, one replica per core), at the efs that reach recall 0.95 and 0.99:
 * JSON and MessagePack bodies at concurrency 1, 8 and 32, /healthz under saturation, filtered search
 * at 50 %…0.1 % selectivity against exact filtered ground truth, and upserts.
 *
 *   npm run bench:replicas                      Fashion-MNIST 60k × 784, 1,000 queries, wrk
 *   node --import tsx bench/replicas.ts --smoke  tiny synthetic set, node:http only (CI)
 *   node --import tsx bench/replicas.ts --help   flags
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCli, intList, nonNegativeInt, positiveInt, positiveSeconds, serverEnv } from './lib/args.ts';
import { loadFashionMnist, syntheticDataset, type Dataset } from './lib/datasets.ts';
import { filteredTruths, withQueries } from './lib/filters.ts';
import { groundTruth } from './lib/ground-truth.ts';
import { ensureWrk, type Wrk } from './lib/load.ts';
import { loadEngine, rawSweep, smallestEfReaching, type EngineRequest, type HnswParams, type SearchPass } from './lib/raw-hnsw.ts';
import { checks, targets } from './lib/replicas-checks.ts';
import { benchVicinity, type VicinityContext } from './lib/replicas-http.ts';
import { formatReplicasReport, writeReplicasReport, type ChosenEf, type RawSide, type ReplicasReport } from './lib/replicas-report.ts';
import { describeCommand, describeMachine, describeRevision } from './lib/report.ts';
import { withServer } from './lib/server.ts';
import { NO_QUIET } from './lib/stats.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
const K = 10;
const HNSW: HnswParams = { m: 16, efConstruction: 200, seed: 100 };
const RECALL_TARGETS = [0.95, 0.99];

const USAGE = `usage: node --import tsx bench/replicas.ts [flags]
  --smoke               tiny synthetic data (2,000 × 32-d, 100 queries), node:http only, short passes
  --train N             training vectors (default 60000; smoke 2000)
  --queries N           queries, the first N test vectors (default 1000; smoke 100)
  --filter-queries N    queries of the filtered searches, the first N (default: all)
  --ef LIST             raw sweep; the server runs the smallest efs reaching recall 0.95 and 0.99
                        (default 10,16,20,24,32,40,48,64,80,96,128)
  --fast BUILD          the fast raw build to compare with stock: avx2 (default) or native
  --raw-duration S      seconds per raw pass (default 5; smoke 0.2)
  --duration S          least seconds per HTTP pass (default 10; smoke 1)
  --min-requests N      least requests per HTTP pass (default 5000; smoke 200)
  --max-duration S      longest HTTP pass (default 120; smoke 10)
  --concurrency LIST    HTTP connections (default 1,8,32); /healthz is probed during the largest, JSON
  --health-rate N       /healthz requests per second (default 20)
  --batch N             points per upload request (default 500)
  --upserts N           single-point upserts of existing ids (default 2000; smoke 200)
  --upsert-concurrency N  (default 8)
  --disturbed CORES     a pass during which other processes used more cores than this is run again
                        (default 0.2; smoke: never), after waiting up to --quiet-wait S (default 30)
                        for the machine to go quiet; at most --reruns N times (default 2), keeping
                        the least disturbed run
  --no-wrk              use the node:http load generator even when wrk is there
  --no-install          never apt-get install (the data set or wrk)
  --server-env K=V      a setting for the server, e.g. VICINITY_REPLICAS=1 (repeatable; default none)
  --server-log LEVEL    the server's VICINITY_LOG_LEVEL (default info: its engine choice is read from it)`;

function options() {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      train: { type: 'string' },
      queries: { type: 'string' },
      'filter-queries': { type: 'string' },
      ef: { type: 'string', default: '10,16,20,24,32,40,48,64,80,96,128' },
      fast: { type: 'string', default: 'avx2' },
      'raw-duration': { type: 'string' },
      duration: { type: 'string' },
      'min-requests': { type: 'string' },
      'max-duration': { type: 'string' },
      concurrency: { type: 'string', default: '1,8,32' },
      'health-rate': { type: 'string', default: '20' },
      batch: { type: 'string', default: '500' },
      upserts: { type: 'string' },
      'upsert-concurrency': { type: 'string', default: '8' },
      disturbed: { type: 'string', default: '0.2' },
      'quiet-wait': { type: 'string', default: '30' },
      reruns: { type: 'string', default: '2' },
      'no-wrk': { type: 'boolean', default: false },
      'no-install': { type: 'boolean', default: false },
      'server-env': { type: 'string', multiple: true, default: [] },
      'server-log': { type: 'string', default: 'info' },
      help: { type: 'boolean', default: false },
    },
  });
  const smoke = values.smoke;
  if (values.fast !== 'avx2' && values.fast !== 'native') throw new Error(`--fast must be avx2 or native, got '${values.fast}'`);
  const queries = positiveInt('queries', values.queries ?? (smoke ? '100' : '1000'));
  return {
    help: values.help,
    smoke,
    train: positiveInt('train', values.train ?? (smoke ? '2000' : '60000')),
    queries,
    filterQueries: Math.min(queries, positiveInt('filter-queries', values['filter-queries'] ?? String(queries))),
    efs: [...new Set(intList('ef', values.ef))].sort((a, b) => a - b),
    fast: values.fast as EngineRequest,
    rawSeconds: positiveSeconds('raw-duration', values['raw-duration'] ?? (smoke ? '0.2' : '5')),
    rules: {
      minSeconds: positiveSeconds('duration', values.duration ?? (smoke ? '1' : '10')),
      minRequests: positiveInt('min-requests', values['min-requests'] ?? (smoke ? '200' : '5000')),
      maxSeconds: positiveSeconds('max-duration', values['max-duration'] ?? (smoke ? '10' : '120')),
    },
    concurrency: intList('concurrency', values.concurrency),
    healthRate: positiveInt('health-rate', values['health-rate']),
    batch: positiveInt('batch', values.batch),
    upserts: positiveInt('upserts', values.upserts ?? (smoke ? '200' : '2000')),
    upsertConcurrency: positiveInt('upsert-concurrency', values['upsert-concurrency']),
    // CI's smoke run must not wait on a busy runner: it only checks that the paths work.
    quiet: smoke
      ? NO_QUIET
      : {
          disturbedCores: positiveSeconds('disturbed', values.disturbed),
          waitS: positiveSeconds('quiet-wait', values['quiet-wait']),
          maxReruns: nonNegativeInt('reruns', values.reruns),
        },
    // Smoke mode runs in CI on every commit: no apt, no wrk.
    useWrk: !smoke && !values['no-wrk'],
    allowInstall: !smoke && !values['no-install'],
    serverEnv: serverEnv(values['server-env']),
    serverLogLevel: values['server-log'],
  };
}

type Options = ReturnType<typeof options>;

const log = (line: string): void => console.error(`[bench] ${line}`);

function loadDataset(o: Options): Dataset {
  if (o.smoke) return syntheticDataset({ train: o.train, queries: o.queries, dim: 32, clusters: 20, seed: 42 });
  return loadFashionMnist(o.train, o.queries, o.allowInstall, log);
}

/** The smallest ef of the stock sweep reaching each recall target; the largest ef, marked, when none does. */
function chooseEfs(passes: SearchPass[]): ChosenEf[] {
  const largest = passes.at(-1)!;
  return RECALL_TARGETS.map((target) => {
    const pass = smallestEfReaching(passes, target);
    return pass === null
      ? { target, ef: largest.ef, reached: false, rawRecall: largest.recall }
      : { target, ef: pass.ef, reached: true, rawRecall: pass.recall };
  });
}

async function main(o: Options): Promise<number> {
  const started = new Date().toISOString();
  const dataset = loadDataset(o);
  log(`${dataset.name}: ${dataset.train.n} × ${dataset.train.dim}, ${dataset.queries.n} queries`);
  const cacheDir = o.smoke ? null : OUT_DIR;
  const gt = groundTruth(dataset, K, cacheDir);
  log(`ground truth ${gt.cached ? 'loaded' : 'computed'} in ${gt.seconds.toFixed(1)} s`);
  const filterSet = withQueries(dataset, o.filterQueries);
  const filtered = filteredTruths(filterSet, K, cacheDir, log);

  const sides: RawSide[] = [];
  for (const request of ['stock', o.fast] as EngineRequest[]) {
    const engine = await loadEngine(request);
    const sweep = await rawSweep(engine, dataset, gt.truth, HNSW, { efs: o.efs, durationS: o.rawSeconds, minRequests: o.rules.minRequests, quiet: o.quiet }, log);
    sides.push({ build: engine.build, reason: engine.reason, construction: sweep.build, passes: sweep.passes });
  }
  const chosen = chooseEfs(sides[0].passes);
  log(`chosen: ${chosen.map((c) => `recall ≥ ${c.target} → ef=${c.ef}${c.reached ? '' : ' (not reached)'}`).join(', ')}`);

  let wrk: Wrk | null = null;
  let loadToolNote = o.smoke ? 'smoke mode: node:http fallback only' : '--no-wrk: node:http fallback';
  if (o.useWrk) {
    const found = ensureWrk(o.allowInstall, log);
    wrk = found.wrk;
    loadToolNote =
      wrk === null
        ? `wrk unavailable (${found.why}): node:http fallback, whose own CPU competes with the server`
        : 'wrk -t1 (one thread), Lua script cycling the pre-encoded bodies (binary-safe)';
  }

  const report: ReplicasReport = {
    started,
    command: describeCommand(ROOT),
    revision: describeRevision(ROOT),
    smoke: o.smoke,
    machine: describeMachine(ROOT, wrk?.version ?? null),
    dataset: {
      name: dataset.name, source: dataset.source, train: dataset.train.n, queries: dataset.queries.n,
      filterQueries: filterSet.queries.n, dim: dataset.train.dim, metric: dataset.metric, k: K,
    },
    groundTruth: {
      seconds: gt.seconds, cached: gt.cached, cachePath: gt.cachePath,
      filtered: filtered.map((f) => ({ name: f.filter.name, cached: f.cached, seconds: f.seconds })),
      recallDefinition: 'recall@10 counts distinct results within the 10th exact distance (ties count); a result failing the filter counts as a miss',
    },
    hnsw: HNSW,
    rules: { rawSeconds: o.rawSeconds, ...o.rules, quiet: o.quiet },
    raw: { stock: sides[0], fast: sides[1] },
    chosen,
    server: {
      startMs: NaN, stopMs: null, failure: null, env: o.serverEnv, build: null, buildReason: null, replicas: null, memoryBytes: null,
      rssBytes: null, loadTool: wrk === null ? 'node:http keep-alive loops' : `wrk ${wrk.version}`, loadToolNote,
    },
    upload: null,
    uploadCpu: null,
    overlaySettleS: null,
    healthIdle: null,
    http: [],
    filtered: [],
    upserts: [],
    countAfterUpserts: null,
    targets: [],
    checks: [],
  };

  const workDir = mkdtempSync(join(tmpdir(), 'vicinity-bench-load-'));
  const removeWorkDir = (): void => rmSync(workDir, { recursive: true, force: true });
  const serverOptions = { cwd: ROOT, logLevel: o.serverLogLevel, env: o.serverEnv, readyTimeoutMs: 60_000 };
  const run = await withServer(serverOptions, removeWorkDir, async (server) => {
    log(`server ready on port ${server.port} (pid ${server.pid})`);
    // Read when the server has loaded its code, not when the bench started: others may be editing it.
    report.revision = describeRevision(ROOT);
    const context: VicinityContext = { dataset, truth: gt.truth, filterSet, filtered, hnsw: HNSW, k: K, wrk, workDir, log, ...o };
    await benchVicinity(server, context, report);
  });
  removeWorkDir();
  Object.assign(report.server, run);

  report.targets = targets(report);
  report.checks = checks(report);
  console.log(formatReplicasReport(report));
  console.log(`\nJSON: ${writeReplicasReport(OUT_DIR, report)}`);
  return report.server.failure === null && report.checks.every((c) => c.ok) ? 0 : 1;
}

runCli(options, USAGE, main);
