/**
 * The operators' benchmark: what observability costs and whether it tells the truth.
 *
 *  1. Search throughput with metrics off, on, and on with the online recall estimate (the default):
 *     wrk -t2 -c8 over distinct default search bodies, each configuration on a server of its own
 *     started on ONE data directory loaded once, rounds interleaved; medians and ratios to `off`.
 *  2. The recall estimate (`stats.recall`, `vicinity_search_recall`) against offline recall@10 from
 *     exact ground truth over the same answers, on a fresh server per ef.
 *  3. GET /metrics with 100 collections: scrape latency and size, and search latency with and
 *     without a scraper every 100 ms.
 *  4. Reference: raw stock hnswlib-node on one thread at the same efs.
 *
 *   npm run bench:ops                         Fashion-MNIST 60k × 784, 1,000 queries (10–20 min)
 *   node --import tsx bench/ops.ts --smoke    3,000 × 32-d synthetic, 10 collections, short runs (< 60 s)
 *   node --import tsx bench/ops.ts --help     flags
 *
 * Exit code 1 when the bench itself broke (a server failed, an answer was not 2xx, a figure is
 * missing); missed targets are reported, never fail the run. wrk is required.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { intList, positiveInt, positiveSeconds, runCli, serverEnv } from './lib/args.ts';
import { loadFashionMnist, syntheticDataset, type Dataset } from './lib/datasets.ts';
import { groundTruth } from './lib/ground-truth.ts';
import { ensureWrk } from './lib/load.ts';
import { checks, formatOps, summariseQps, targets, type OpsReport } from './lib/ops-report.ts';
import { K, loadOnce, qpsRounds, recallAt, RECALL_WINDOW_SAMPLES, scrapePart, type OpsContext, type OpsOptions } from './lib/ops-run.ts';
import { loadEngine, rawSweep, type HnswParams } from './lib/raw-hnsw.ts';
import { benchHead, describeRevision, finishBench } from './lib/report.ts';
import { ServerLog } from './lib/soak-server.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
/** The server's collection defaults (server/engine/collection-config.ts), for the raw reference. */
const HNSW: HnswParams = { m: 16, efConstruction: 200, seed: 100 };
const DEFAULT_EF_SEARCH = 64;
const PARTS = ['qps', 'recall', 'scrape'] as const;
type Part = (typeof PARTS)[number];

const USAGE = `usage: node --import tsx bench/ops.ts [flags]
  --smoke                  3,000 × 32-d synthetic points, 200 queries, 10 collections, 1 round of 2 s runs (< 60 s)
  --train N                points loaded (default 60000 of Fashion-MNIST; smoke 3000 synthetic)
  --queries N              test vectors used as search bodies and recall queries (default 1000; smoke 200)
  --seconds S              timed seconds per wrk run (default 12; smoke 2)
  --warmup S               untimed wrk seconds after each server start (default 3; smoke 1)
  --rounds N               rounds of off/metrics/default, order rotated each round; also rounds of the
                           with/without-scraper runs (default 3; smoke 1)
  --threads N              wrk threads (default 2)
  --connections N          wrk connections (default 8)
  --ef LIST                efs of the recall-estimate test (default 16,64)
  --recall-rate R          VICINITY_RECALL_SAMPLE_RATE of the recall test (default 1: every search offered)
  --recall-cpu C            VICINITY_RECALL_CPU of the recall test (default 1: no pacing between checks, so each
                           search can be checked; the server's default 0.01 would pause ~13 s after each check)
  --recall-queries N       queries per ef in the recall test (default min(--queries, ${RECALL_WINDOW_SAMPLES}), the estimator's window)
  --recall-wait-ms N       longest wait for one search's sample before sending the next (default 5000)
  --collections N          collections on the /metrics server: the loaded one + N-1 small ones (default 100; smoke 10)
  --small-points N         points per small collection, 32-d (default 1000)
  --scrapes N              idle scrapes timed (default 60; smoke 20)
  --scrape-every MS        spacing of the idle scrapes (default 200; each scrape reads the collections afresh)
  --scrape-interval MS     the scraper beside the searches (default 100: 10× a fast Prometheus)
  --latency-concurrency L  wrk connections of the with/without-scraper runs (default 1,8)
  --batch N                points per PUT while loading (default 500)
  --parts LIST             which parts run after the load: qps, recall, scrape (default all three)
  --raw-seconds S          seconds per ef of the raw hnswlib reference (default 5; smoke 0.3)
  --no-raw                 skip the raw hnswlib reference (it builds the index in-process: ~2 min at 60k × 784)
  --no-install             never apt-get install (the data set or wrk)
  --server-env K=V         another setting for every server, e.g. VICINITY_REPLICAS=1 (repeatable); the
                           configurations set VICINITY_METRICS and VICINITY_RECALL_SAMPLE_RATE themselves
  --help`;

function options() {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      train: { type: 'string' },
      queries: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      threads: { type: 'string', default: '2' },
      connections: { type: 'string', default: '8' },
      ef: { type: 'string', default: '16,64' },
      'recall-rate': { type: 'string', default: '1' },
      'recall-queries': { type: 'string' },
      'recall-cpu': { type: 'string', default: '1' },
      'recall-wait-ms': { type: 'string', default: '5000' },
      collections: { type: 'string' },
      'small-points': { type: 'string', default: '1000' },
      scrapes: { type: 'string' },
      'scrape-every': { type: 'string', default: '200' },
      'scrape-interval': { type: 'string', default: '100' },
      'latency-concurrency': { type: 'string', default: '1,8' },
      batch: { type: 'string', default: '500' },
      parts: { type: 'string', default: 'qps,recall,scrape' },
      'raw-seconds': { type: 'string' },
      'no-raw': { type: 'boolean', default: false },
      'no-install': { type: 'boolean', default: false },
      'server-env': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', default: false },
    },
  });
  const smoke = values.smoke;
  const pick = (value: string | undefined, smokeDefault: string, fullDefault: string): string => value ?? (smoke ? smokeDefault : fullDefault);
  const queries = positiveInt('queries', pick(values.queries, '200', '1000'));
  const recallQueries = positiveInt('recall-queries', values['recall-queries'] ?? String(Math.min(queries, RECALL_WINDOW_SAMPLES)));
  if (recallQueries > queries) throw new Error(`--recall-queries (${recallQueries}) cannot exceed --queries (${queries})`);
  if (recallQueries > RECALL_WINDOW_SAMPLES) throw new Error(`--recall-queries must be at most ${RECALL_WINDOW_SAMPLES}, the estimator's window`);
  const recallRate = Number(values['recall-rate']);
  if (!(recallRate > 0 && recallRate <= 1)) throw new Error(`--recall-rate must be in (0, 1], got '${values['recall-rate']}'`);
  const parts = values.parts.split(',').map((p) => p.trim());
  for (const part of parts) if (!(PARTS as readonly string[]).includes(part)) throw new Error(`--parts takes ${PARTS.join(', ')}, got '${part}'`);
  const recallCpu = Number(values['recall-cpu']);
  if (!(recallCpu > 0 && recallCpu <= 1)) throw new Error(`--recall-cpu must be in (0, 1], got '${values['recall-cpu']}'`);
  const collections = positiveInt('collections', pick(values.collections, '10', '100'));
  if (collections < 2) throw new Error('--collections must be at least 2 (the loaded one and a small one)');
  const o: OpsOptions & { help: boolean; train: number; queries: number; parts: Part[]; raw: boolean; rawSeconds: number; allowInstall: boolean } = {
    help: values.help,
    smoke,
    train: positiveInt('train', pick(values.train, '3000', '60000')),
    queries,
    seconds: positiveSeconds('seconds', pick(values.seconds, '2', '12')),
    warmupS: positiveSeconds('warmup', pick(values.warmup, '1', '3')),
    rounds: positiveInt('rounds', pick(values.rounds, '1', '3')),
    threads: positiveInt('threads', values.threads),
    connections: positiveInt('connections', values.connections),
    batch: positiveInt('batch', values.batch),
    efs: [...new Set(intList('ef', values.ef))].sort((a, b) => a - b),
    recallRate,
    recallCpu,
    recallQueries,
    recallWaitMs: positiveInt('recall-wait-ms', values['recall-wait-ms']),
    collections,
    smallPoints: positiveInt('small-points', values['small-points']),
    smallDim: 32,
    scrapes: positiveInt('scrapes', pick(values.scrapes, '20', '60')),
    idleScrapeMs: positiveInt('scrape-every', values['scrape-every']),
    scrapeIntervalMs: positiveInt('scrape-interval', values['scrape-interval']),
    latencyConcurrency: intList('latency-concurrency', values['latency-concurrency']),
    parts: PARTS.filter((p) => parts.includes(p)),
    raw: !values['no-raw'],
    rawSeconds: positiveSeconds('raw-seconds', pick(values['raw-seconds'], '0.3', '5')),
    allowInstall: !values['no-install'],
    serverEnv: serverEnv(values['server-env']),
  };
  return o;
}

type Options = ReturnType<typeof options>;

const t0 = performance.now();
const log = (line: string): void => console.error(`[ops ${((performance.now() - t0) / 1000).toFixed(0)} s] ${line}`);

function loadDataset(o: Options): Dataset {
  if (o.smoke) return syntheticDataset({ train: o.train, queries: o.queries, dim: 32, clusters: 20, seed: 7 });
  return loadFashionMnist(o.train, o.queries, o.allowInstall, log);
}

async function main(o: Options): Promise<number> {
  const started = new Date().toISOString();
  const found = ensureWrk(o.allowInstall, log);
  if (found.wrk === null) {
    console.error(`bench/ops.ts needs wrk to measure throughput: ${found.why}`);
    return 1;
  }
  const dataset = loadDataset(o);
  log(`${dataset.name}: ${dataset.train.n} × ${dataset.train.dim}, ${dataset.queries.n} queries`);
  const gt = groundTruth(dataset, K, o.smoke ? null : OUT_DIR);
  log(`ground truth ${gt.cached ? 'loaded' : 'computed'} in ${gt.seconds.toFixed(1)} s`);

  const report: OpsReport = {
    ...benchHead(ROOT, started, o.smoke, found.wrk.version, dataset, K),
    groundTruth: {
      cached: gt.cached, seconds: gt.seconds, cachePath: gt.cachePath,
      recallDefinition: 'recall@10 counts distinct results no farther than the exact 10th neighbour (ties count), as the server\'s estimator does; id-set recall@10 also given',
    },
    settings: {
      parts: o.parts, serverEnv: o.serverEnv, serverBuild: null, seconds: o.seconds, warmupS: o.warmupS, rounds: o.rounds, threads: o.threads, connections: o.connections,
      efs: o.efs, recallRate: o.recallRate, recallCpu: o.recallCpu, scrapeIntervalMs: o.scrapeIntervalMs, idleScrapeIntervalMs: o.idleScrapeMs,
    },
    upload: null,
    overlaySettleS: { load: null, small: null },
    qps: { runs: [], summary: [], ratios: [] },
    recall: [],
    scrape: { collections: o.collections, small: null, idle: null, idleServerCpuMsPerScrape: null, content: null, runs: [], summary: [], underLoad: null },
    raw: null,
    serverErrors: {},
    failure: null,
    checks: [],
    targets: [],
  };

  const dataDir = mkdtempSync(join(tmpdir(), 'vicinity-bench-ops-data-'));
  const workDir = mkdtempSync(join(tmpdir(), 'vicinity-bench-ops-wrk-'));
  const serverLog = new ServerLog();
  const c: OpsContext = { root: ROOT, o, dataset, truth: gt.truth, wrk: found.wrk, workDir, dataDir, serverLog, current: { server: null }, log };
  const cleanup = (): void => {
    c.current.server?.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(workDir, { recursive: true, force: true });
  };
  const interrupted = (): void => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    if (o.raw) {
      // In-process and single-threaded, before any server runs, so nothing competes with it.
      const engine = await loadEngine('stock');
      const efs = [...new Set([...o.efs, DEFAULT_EF_SEARCH])].sort((a, b) => a - b);
      const sweep = await rawSweep(engine, dataset, gt.truth, HNSW, { efs, durationS: o.rawSeconds, minRequests: 0 }, log);
      report.raw = { build: engine.build, buildSeconds: sweep.build.seconds, passes: sweep.passes };
    }
    await loadOnce(c, report);
    report.revision = describeRevision(ROOT);
    if (o.parts.includes('qps')) await qpsRounds(c, report);
    if (o.parts.includes('recall')) for (const ef of o.efs) report.recall.push(await recallAt(c, ef));
    if (o.parts.includes('scrape')) await scrapePart(c, report);
  } catch (err) {
    report.failure = (err as Error).stack ?? String(err);
    log(`FAILED: ${report.failure}`);
    if (c.current.server !== null) console.error(`--- server output (tail) ---\n${serverLog.tail.slice(-4000)}`);
  } finally {
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
    cleanup();
  }
  Object.assign(report.qps, summariseQps(report.qps.runs));
  report.serverErrors = Object.fromEntries(serverLog.errors);
  report.targets = targets(report);
  report.checks = checks(report);
  return finishBench(OUT_DIR, 'ops', report, t0, formatOps);
}

runCli(options, USAGE, main);
