/**
 * The RAG-shaped search benchmark: the path a retrieval-augmented application takes — points loaded
 * with ~1 KiB payloads over PUT …/points, the server restarted as after a deploy, then k = 10 searches
 * that bring the payloads back — against raw stock hnswlib-node measured in the same run.
 *
 *  1. Raw hnswlib-node, in-process on one thread, built from the same vectors (the server's M and
 *     ef_construction), searched with the same queries at each candidate ef; before any server runs.
 *  2. A no-op Fastify route (a child process) that parses and validates the same search bodies:
 *     the floor of one client's latency.
 *  3. Vicinity: load, restart on the same data directory, pick the smallest ef whose recall@10
 *     reaches the target, then four modes — default (payloads), with_payload: false, MessagePack,
 *     a `where` on 1 % of the points — each at c = 1 and c = 8 under wrk over distinct bodies.
 *
 *   npm run bench:rag                        Fashion-MNIST 60k × 784, 1,000 queries (about 10 min)
 *   node --import tsx bench/rag.ts --smoke   2,000 × 32-d synthetic, 200 queries, 2 s runs (< 60 s)
 *   node --import tsx bench/rag.ts --help    flags
 *
 * Exit code 1 when the bench itself broke (a step failed, an answer was not 2xx or not what was
 * asked for); missed targets are reported, never fail the run. wrk is required.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DATA_OPTIONS, dataSizes, intList, positiveInt, positiveSeconds, runCli, serverEnv } from './lib/args.ts';
import { loadFashionMnist, readFashionLabels, syntheticDataset, type Dataset } from './lib/datasets.ts';
import { matchingRows } from './lib/filters.ts';
import { groundTruth } from './lib/ground-truth.ts';
import { ensureWrk } from './lib/load.ts';
import { loadEngine, rawSweep, type HnswParams } from './lib/raw-hnsw.ts';
import { ONE_PERCENT, ragModes, ragPayloads } from './lib/rag-data.ts';
import { checks, formatRag, targets, type RagReport } from './lib/rag-report.ts';
import { K, loadAndRestart, measureModes, measureNoop, pickEf, type RagContext, type RagOptions, type TruthOf } from './lib/rag-run.ts';
import { benchHead, describeRevision, finishBench } from './lib/report.ts';
import { killOnInterrupt, ServerLog, withSoakServer, type SoakServer } from './lib/soak-server.ts';
import { replacingUpserts } from './lib/upserts.ts';
import { COLLECTION, SEARCH_PATH } from './lib/vicinity.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
/** The server's collection defaults (server/engine/collection-config.ts), for the raw index. */
const HNSW: HnswParams = { m: 16, efConstruction: 200, seed: 100 };

const USAGE = `usage: node --import tsx bench/rag.ts [flags]
  --smoke            2,000 × 32-d synthetic points, 200 queries, 1 s warm-ups and 2 s runs (< 60 s)
  --train N          points loaded (default 60000 of Fashion-MNIST; smoke 2000 synthetic)
  --queries N        test vectors: the distinct search bodies and the recall queries (default 1000; smoke 200)
  --ef LIST          efs tried in turn; the first whose recall@10 reaches --recall is used (default 16,24,32,48)
  --recall R         the recall the ef must reach (default 0.95)
  --seconds S        timed seconds per wrk run (default 10; smoke 2)
  --warmup S         untimed wrk seconds at c = 8 before each path (default 2; smoke 1)
  --threads N        wrk threads of the c = 8 runs (default 1: wrk shares the 2 cores with the server)
  --raw-seconds S    seconds of the raw hnswlib searches per ef (default 5; smoke 0.3)
  --batch N          points per PUT while loading (default 500)
  --seed N           payload text seed (default 1)
  --quiet-wait S     before each timed run, wait up to S seconds for the other processes on the machine
                     to use less than --disturbed CORES (defaults 30 and 0.3; smoke 0: no wait); what
                     they used during each run is reported either way
  --no-install       never apt-get install (the data set or wrk)
  --server-env K=V   a setting for the server and the no-op route, e.g. VICINITY_REPLICAS=1 (repeatable)
  --help`;

function options() {
  const { values } = parseArgs({
    options: {
      ...DATA_OPTIONS,
      ef: { type: 'string', default: '16,24,32,48' },
      recall: { type: 'string', default: '0.95' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      threads: { type: 'string', default: '1' },
      'raw-seconds': { type: 'string' },
      batch: { type: 'string', default: '500' },
      seed: { type: 'string', default: '1' },
      'quiet-wait': { type: 'string' },
      disturbed: { type: 'string', default: '0.3' },
      'server-env': { type: 'string', multiple: true, default: [] },
    },
  });
  const sizes = dataSizes(values, { train: [2000, 60000], queries: [200, 1000] });
  const pick = (value: string | undefined, smoke: string, full: string): string => value ?? (sizes.smoke ? smoke : full);
  const recallTarget = Number(values.recall);
  if (!(recallTarget > 0 && recallTarget <= 1)) throw new Error(`--recall must be in (0, 1], got '${values.recall}'`);
  const o: RagOptions & typeof sizes & { rawSeconds: number } = {
    ...sizes,
    seconds: positiveSeconds('seconds', pick(values.seconds, '2', '10')),
    warmupS: positiveSeconds('warmup', pick(values.warmup, '1', '2')),
    threads: positiveInt('threads', values.threads),
    batch: positiveInt('batch', values.batch),
    efs: [...new Set(intList('ef', values.ef))].sort((a, b) => a - b),
    recallTarget,
    seed: positiveInt('seed', values.seed),
    serverEnv: serverEnv(values['server-env']),
    rawSeconds: positiveSeconds('raw-seconds', pick(values['raw-seconds'], '0.3', '5')),
    quiet: { disturbedCores: Number(values.disturbed), maxReruns: 0, waitS: Number(pick(values['quiet-wait'], '0', '30')) },
  };
  if (!(o.quiet.waitS >= 0)) throw new Error(`--quiet-wait must be a number of seconds ≥ 0, got '${values['quiet-wait']}'`);
  if (!(o.quiet.disturbedCores >= 0)) throw new Error(`--disturbed must be a number of cores ≥ 0, got '${values.disturbed}'`);
  return o;
}

type Options = ReturnType<typeof options>;

const t0 = performance.now();
const log = (line: string): void => console.error(`[rag ${((performance.now() - t0) / 1000).toFixed(0)} s] ${line}`);

/** The vectors and each point's class (the `label` payload field; synthetic points get row % 10). */
function loadDataset(o: Options): { dataset: Dataset; labels: Uint8Array } {
  if (o.smoke) {
    const dataset = syntheticDataset({ train: o.train, queries: o.queries, dim: 32, clusters: 20, seed: 7 });
    return { dataset, labels: Uint8Array.from({ length: o.train }, (_, i) => i % 10) };
  }
  return { dataset: loadFashionMnist(o.train, o.queries, o.install, log), labels: readFashionLabels(o.train, o.install, log) };
}

async function main(o: Options): Promise<number> {
  const started = new Date().toISOString();
  const found = ensureWrk(o.install, log);
  if (found.wrk === null) {
    console.error(`bench/rag.ts needs wrk to measure throughput: ${found.why}`);
    return 1;
  }
  const { dataset, labels } = loadDataset(o);
  log(`${dataset.name}: ${dataset.train.n} × ${dataset.train.dim}, ${dataset.queries.n} queries`);
  const cacheDir = o.smoke ? null : OUT_DIR;
  const gt = groundTruth(dataset, K, cacheDir);
  const rows = matchingRows(dataset.train.n, ONE_PERCENT);
  if (rows.length === 0) throw new Error(`the 1 % filter selects none of the ${dataset.train.n} points: use more`);
  const filtered = groundTruth(dataset, Math.min(K, rows.length), cacheDir, { name: ONE_PERCENT.name, rows });
  log(`ground truth ${gt.cached ? 'loaded' : 'computed'} in ${gt.seconds.toFixed(1)} s; filtered (${rows.length} points) in ${filtered.seconds.toFixed(1)} s`);

  const report: RagReport = {
    ...benchHead(ROOT, started, o.smoke, found.wrk.version, dataset, K),
    groundTruth: {
      cached: gt.cached,
      seconds: gt.seconds + filtered.seconds,
      filteredCached: filtered.cached,
      recallDefinition: 'recall@10 counts distinct results no farther than the exact 10th neighbour (ties count); the filtered mode against exact top-10 over the matching points',
    },
    settings: { seconds: o.seconds, warmupS: o.warmupS, threads: o.threads, batch: o.batch, efs: o.efs, recallTarget: o.recallTarget, serverEnv: o.serverEnv, quiet: o.quiet },
    hnsw: HNSW,
    raw: null,
    load: null,
    ef: null,
    noop: null,
    modes: [],
    upserts: [],
    serverErrors: {},
    failure: null,
    checks: [],
    targets: [],
  };

  const workDir = mkdtempSync(join(tmpdir(), 'vicinity-bench-rag-'));
  const c: RagContext = { root: ROOT, o, dataset, truth: gt.truth, labels, wrk: found.wrk, workDir, log };
  const serverLog = new ServerLog();
  const removeWorkDir = (): void => rmSync(workDir, { recursive: true, force: true });
  let release = (): void => {};
  const vicinity: { server: SoakServer | null } = { server: null };
  try {
    // In-process and single-threaded, before any server runs, so nothing competes with it.
    const engine = await loadEngine('stock');
    const sweep = await rawSweep(engine, dataset, gt.truth, HNSW, { efs: o.efs, durationS: o.rawSeconds, minRequests: 0, quiet: o.quiet }, log);
    report.raw = { build: engine.build, buildSeconds: sweep.build.seconds, passes: sweep.passes };

    const floorBodies = ragModes(dataset, K, o.efs[0]).find((m) => m.name === 'default')!;
    // withServer kills the no-op app on SIGINT/SIGTERM; from here on killOnInterrupt kills Vicinity.
    report.noop = await measureNoop(c, floorBodies, removeWorkDir);
    release = killOnInterrupt(removeWorkDir);
    await withSoakServer({ dir: ROOT, env: o.serverEnv, readyTimeoutMs: 300_000 }, serverLog, async (first, track) => {
      vicinity.server = first;
      const { server, load } = await loadAndRestart(c, first);
      vicinity.server = track(server);
      report.load = load;
      report.revision = describeRevision(ROOT);
      report.ef = await pickEf(c, server.client);
      const modes = ragModes(dataset, K, report.ef.chosen);
      const truthOf: TruthOf = (mode) => (mode.filter === null ? { truth: gt.truth, matches: null } : { truth: filtered.truth, matches: rows.length });
      report.modes = await measureModes(c, server, modes, truthOf, report.ef.chosen);
      // Last: the collection no longer matches the ground truth afterwards.
      const target = { port: server.port, serverPid: server.child.pid!, pointsPath: `/v1/collections/${COLLECTION}/points`, searchPath: SEARCH_PATH };
      const payload = ragPayloads(labels, o.seed);
      const points = o.smoke ? 200 : 2000;
      report.upserts.push(await replacingUpserts(target, dataset, payload, { points, pointsPerRequest: 1, concurrency: 8, shift: 1 }));
      report.upserts.push(await replacingUpserts(target, dataset, payload, { points, pointsPerRequest: points, concurrency: 1, shift: 2 }));
    });
  } catch (err) {
    // A server killed from outside prints nothing: say how it ended.
    const ended = vicinity.server?.alive === false ? ` (the server had exited: code ${vicinity.server.child.exitCode}, signal ${vicinity.server.child.signalCode})` : '';
    report.failure = `${(err as Error).stack ?? String(err)}${ended}`;
    log(`FAILED: ${report.failure}`);
    console.error(`--- server output (tail) ---\n${serverLog.tail.slice(-4000)}`);
  } finally {
    release();
    removeWorkDir();
  }
  report.serverErrors = Object.fromEntries(serverLog.errors);
  report.targets = targets(report);
  report.checks = checks(report);
  return finishBench(OUT_DIR, 'rag', report, t0, formatRag);
}

runCli(options, USAGE, main);
