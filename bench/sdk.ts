/**
 * The SDK's search throughput against wrk's: one server loaded with random vectors (imported as a
 * Float32Array through the SDK, the k-NN overlay off so nothing runs in the background), then the
 * same search bodies sent by wrk at c = 8 and by 8 concurrent loops on one `VicinityClient`, over
 * JSON and over MessagePack, and for reference by 8 loops of undici's `request()` and of `fetch`.
 * The SDK's ratio to wrk is its overhead: the target is ≥ 0.9×. Every client shares the machine with
 * the server, so each run reports the CPU the client, the server and everything else used.
 *
 *   npm run bench:sdk                        20,000 × 128 random vectors, 10 s runs (about 2 min)
 *   node --import tsx bench/sdk.ts --smoke   2,000 × 32, 1 s runs (< 30 s)
 *   node --import tsx bench/sdk.ts --help    flags
 *
 * Exit code 1 when the bench itself broke (a failed request, a run without answers); a missed
 * target is reported, never fails the run. wrk is required.
 */
import { Encoder } from '@msgpack/msgpack';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, fetch as undiciFetch } from 'undici';
import { VicinityClient, type TransportKind } from '../client/src/index.ts';
import { DATA_OPTIONS, dataSizes, positiveInt, positiveSeconds, runCli } from './lib/args.ts';
import { syntheticDataset, type Dataset } from './lib/datasets.ts';
import { ensureWrk, JSON_TYPE, MSGPACK_TYPE, type BodySet, type Wrk } from './lib/load.ts';
import { runWrkThreads, type WrkTarget } from './lib/ops-wrk.ts';
import { benchHead, cpu, finishBench, fixed, int, table, type BenchHead, type Check } from './lib/report.ts';
import { withServer } from './lib/server.ts';
import { Samples, startCpuMeter, waitForQuiet, type QuietRules } from './lib/stats.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
const COLLECTION = 'sdk';
const SEARCH_PATH = `/v1/collections/${COLLECTION}/search`;
const K = 10;
const TARGET_RATIO = 0.9;

const USAGE = `usage: node --import tsx bench/sdk.ts [flags]
  --smoke            2,000 × 32-d points, 200 queries, 1 s runs (< 30 s)
  --train N          points loaded (default 20000; smoke 2000)
  --dim N            dimension (default 128; smoke 32)
  --queries N        distinct search bodies, sent in turn (default 1000; smoke 200)
  --concurrency N    wrk connections and SDK loops (default 8)
  --seconds S        timed seconds per run (default 10; smoke 1)
  --warmup S         untimed wrk seconds before the runs (default 2; smoke 1)
  --quiet-wait S     before each run, wait up to S seconds for the other processes on the machine to use
                     less than 0.3 cores (default 20; smoke 0)
  --no-install       never apt-get install wrk
  --help`;

function options() {
  const { values } = parseArgs({
    options: {
      ...DATA_OPTIONS,
      dim: { type: 'string' },
      concurrency: { type: 'string', default: '8' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      'quiet-wait': { type: 'string' },
    },
  });
  const sizes = dataSizes(values, { train: [2000, 20000], queries: [200, 1000] });
  const pick = (value: string | undefined, smoke: string, full: string): string => value ?? (sizes.smoke ? smoke : full);
  const quiet: QuietRules = { disturbedCores: 0.3, maxReruns: 0, waitS: Number(pick(values['quiet-wait'], '0', '20')) };
  if (!(quiet.waitS >= 0)) throw new Error(`--quiet-wait must be a number of seconds ≥ 0, got '${values['quiet-wait']}'`);
  return {
    ...sizes,
    dim: positiveInt('dim', pick(values.dim, '32', '128')),
    concurrency: positiveInt('concurrency', values.concurrency),
    seconds: positiveSeconds('seconds', pick(values.seconds, '1', '10')),
    warmupS: positiveSeconds('warmup', pick(values.warmup, '1', '2')),
    quiet,
  };
}

type Options = ReturnType<typeof options>;

interface Run {
  client: string;
  transport: TransportKind;
  requests: number;
  seconds: number;
  qps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  clientCpuS: number | null;
  serverCpuS: number | null;
  otherCpuS: number | null;
  /** QPS ÷ wrk's over the same bodies. */
  ratio: number | null;
}

interface SdkReport extends BenchHead {
  settings: { concurrency: number; seconds: number; warmupS: number; quiet: QuietRules };
  load: { seconds: number; rate: number } | null;
  runs: Run[];
  failure: string | null;
  checks: Check[];
  targets: Check[];
}

const t0 = performance.now();
const log = (line: string): void => console.error(`[sdk ${((performance.now() - t0) / 1000).toFixed(0)} s] ${line}`);

/** `loops` concurrent loops calling `send` with the next body index for `seconds`. */
async function loops(loopCount: number, seconds: number, serverPid: number, send: (i: number) => Promise<void>): Promise<Omit<Run, 'client' | 'transport' | 'ratio'>> {
  const samples = new Samples();
  let next = 0;
  let errors = 0;
  const meter = startCpuMeter([serverPid]);
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: loopCount }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          await send(next++);
          samples.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  const reading = meter();
  const elapsed = (performance.now() - started) / 1000;
  const [p50Ms, p99Ms] = samples.percentiles(50, 99);
  return {
    requests: samples.count,
    seconds: elapsed,
    qps: samples.count / elapsed,
    p50Ms,
    p99Ms,
    errors,
    clientCpuS: reading.selfCpuS,
    serverCpuS: reading.pidsCpuS[0],
    otherCpuS: reading.otherCpuS,
  };
}

async function measure(o: Options, wrk: Wrk, workDir: string, dataset: Dataset, url: string, target: WrkTarget): Promise<Run[]> {
  const queries = Array.from({ length: dataset.queries.n }, (_, i) => dataset.queries.data.slice(i * dataset.train.dim, (i + 1) * dataset.train.dim));
  // The bodies the SDK sends for {vector: Float32Array, k}: JSON with the vector as an array, MessagePack with its float32 bytes.
  const encoder = new Encoder({ ignoreUndefined: true });
  const sets: Record<TransportKind, BodySet> = {
    json: { name: 'sdk-json', method: 'POST', contentType: JSON_TYPE, bodies: queries.map((q) => Buffer.from(JSON.stringify({ vector: Array.from(q), k: K }))) },
    msgpack: { name: 'sdk-msgpack', method: 'POST', contentType: MSGPACK_TYPE, bodies: queries.map((q) => Buffer.from(encoder.encode({ vector: q, k: K }))) },
  };
  const quiet = async (): Promise<void> => {
    await waitForQuiet([target.serverPid], o.quiet);
  };
  await runWrkThreads(wrk, workDir, sets.json, target, 1, o.concurrency, o.warmupS);
  const runs: Run[] = [];
  for (const transport of ['json', 'msgpack'] as const) {
    await quiet();
    const w = await runWrkThreads(wrk, workDir, sets[transport], target, 1, o.concurrency, o.seconds);
    const wrkRun: Run = {
      client: 'wrk',
      transport,
      requests: w.requests,
      seconds: w.seconds,
      qps: w.qps,
      p50Ms: w.p50Ms,
      p99Ms: w.p99Ms,
      errors: w.statusErrors + w.socketErrors,
      clientCpuS: w.wrkCpuS,
      serverCpuS: w.serverCpuS,
      otherCpuS: w.otherCpuS,
      ratio: 1,
    };
    runs.push(wrkRun);
    log(`wrk ${transport}: ${int(w.qps)} QPS, p50 ${fixed(w.p50Ms, 3)} ms`);

    const client = new VicinityClient(url, { transport });
    try {
      await loops(o.concurrency, Math.min(1, o.warmupS), target.serverPid, async (i) => void (await client.search(COLLECTION, { vector: queries[i % queries.length], k: K })));
      await quiet();
      const r = await loops(o.concurrency, o.seconds, target.serverPid, async (i) => void (await client.search(COLLECTION, { vector: queries[i % queries.length], k: K })));
      runs.push({ client: `VicinityClient (${o.concurrency} loops)`, transport, ...r, ratio: r.qps / wrkRun.qps });
      log(`SDK ${transport}: ${int(r.qps)} QPS (${fixed(r.qps / wrkRun.qps, 2)}× wrk), p50 ${fixed(r.p50Ms, 3)} ms`);
    } finally {
      await client.close();
    }
  }

  // For reference, in the same loops over the pre-encoded JSON bodies: undici's request() on a
  // keep-alive Agent (what the SDK would cost with nothing of its own), and fetch (undici's).
  const dispatcher = new Agent({ keepAliveTimeout: 30_000 });
  const bodies = sets.json.bodies;
  const origin = new URL(url).origin;
  const requestOne = async (i: number): Promise<void> => {
    const res = await dispatcher.request({ origin, path: SEARCH_PATH, method: 'POST', headers: { 'content-type': JSON_TYPE }, body: bodies[i % bodies.length] });
    JSON.parse(await res.body.text());
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
  };
  const fetchOne = async (i: number): Promise<void> => {
    const res = await undiciFetch(url + SEARCH_PATH, { method: 'POST', headers: { 'content-type': JSON_TYPE }, body: bodies[i % bodies.length], dispatcher });
    await res.json();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  };
  try {
    for (const [name, send] of [['undici request()', requestOne], ['fetch', fetchOne]] as const) {
      await quiet();
      const r = await loops(o.concurrency, o.seconds, target.serverPid, send);
      runs.push({ client: `${name} (${o.concurrency} loops)`, transport: 'json', ...r, ratio: r.qps / runs[0].qps });
      log(`${name} json: ${int(r.qps)} QPS`);
    }
  } finally {
    await dispatcher.close();
  }
  return runs;
}

function format(r: SdkReport): string {
  const out = [`Vicinity SDK throughput${r.smoke ? ' (smoke)' : ''} — ${r.started}`, `command:  ${r.command}`, `revision: ${r.revision}`];
  const m = r.machine;
  out.push(`machine:  ${m.cpu}, ${m.cores} cores; node ${m.node}; wrk ${m.wrk ?? '-'}; load average ${m.loadAverage}`);
  out.push(`data:     ${r.dataset.name}: ${r.dataset.train} × ${r.dataset.dim}-d, ${r.dataset.queries} distinct search bodies, k=${r.dataset.k}, default request`);
  if (r.load) out.push(`load:     importVectors + waitForJob in ${fixed(r.load.seconds, 1)} s (${int(r.load.rate)} points/s)`);
  out.push(`runs:     c=${r.settings.concurrency}, ${r.settings.seconds} s each; wrk 1 thread; SDK and fetch loops in this process`, '');
  const rows = r.runs.map((x) => [
    x.client,
    x.transport,
    int(x.qps),
    x.ratio === null ? '-' : `${fixed(x.ratio, 2)}×`,
    fixed(x.p50Ms, 3),
    fixed(x.p99Ms, 3),
    cpu(x.clientCpuS, x.seconds),
    cpu(x.serverCpuS, x.seconds),
    cpu(x.otherCpuS, x.seconds),
    String(x.errors),
  ]);
  out.push(table(['client', 'transport', 'QPS', 'vs wrk', 'p50 ms', 'p99 ms', 'client CPU', 'server CPU', 'other CPU', 'errors'], rows, [false, false, true, true, true, true, true, true, true, true]));
  if (r.failure) out.push('', `FAILED: ${r.failure}`);
  out.push('', ...r.targets.map((c) => `target ${c.ok ? 'met' : 'MISSED'}: ${c.name}: ${c.detail}`));
  out.push(...r.checks.map((c) => `check ${c.ok ? 'ok' : 'FAILED'}: ${c.name}: ${c.detail}`));
  return out.join('\n');
}

async function main(o: Options): Promise<number> {
  const started = new Date().toISOString();
  const found = ensureWrk(o.install, log);
  if (found.wrk === null) {
    console.error(`bench/sdk.ts needs wrk: ${found.why}`);
    return 1;
  }
  const dataset = syntheticDataset({ train: o.train, queries: o.queries, dim: o.dim, clusters: 20, seed: 5 });
  const report: SdkReport = {
    ...benchHead(ROOT, started, o.smoke, found.wrk.version, dataset, K),
    settings: { concurrency: o.concurrency, seconds: o.seconds, warmupS: o.warmupS, quiet: o.quiet },
    load: null,
    runs: [],
    failure: null,
    checks: [],
    targets: [],
  };
  const workDir = mkdtempSync(join(tmpdir(), 'vicinity-bench-sdk-'));
  const removeWorkDir = (): void => rmSync(workDir, { recursive: true, force: true });
  const run = await withServer({ cwd: ROOT, logLevel: 'warn', env: {}, readyTimeoutMs: 120_000 }, removeWorkDir, async (server) => {
    const url = `http://127.0.0.1:${server.port}`;
    const client = new VicinityClient(url);
    try {
      await client.createCollection(COLLECTION, { dimension: o.dim, metric: dataset.metric, graph: { knn_k: 0 } });
      const loadStart = performance.now();
      const accepted = await client.importVectors(COLLECTION, dataset.train.data, o.dim, { buildOrder: 'given' });
      const job = await client.waitForJob(accepted.job_id, { pollMs: 200 });
      if (job.state !== 'done') throw new Error(`the import ended ${job.state}: ${JSON.stringify(job.error)}`);
      const seconds = (performance.now() - loadStart) / 1000;
      report.load = { seconds, rate: o.train / seconds };
      log(`loaded ${o.train} points in ${fixed(seconds, 1)} s`);
    } finally {
      await client.close();
    }
    report.runs = await measure(o, found.wrk!, workDir, dataset, url, { port: server.port, path: SEARCH_PATH, serverPid: server.pid });
    server.assertAlive();
  });
  removeWorkDir();
  report.failure = run.failure;
  const sdk = report.runs.filter((x) => x.client.startsWith('VicinityClient'));
  report.checks = [
    { name: 'the bench ran', ok: run.failure === null && report.runs.length === 6, detail: run.failure ?? `${report.runs.length} runs` },
    { name: 'every request answered 2xx', ok: report.runs.every((x) => x.errors === 0 && x.requests > 0), detail: report.runs.map((x) => `${x.client} ${x.transport}: ${x.errors} errors of ${x.requests}`).join('; ') },
  ];
  report.targets = sdk.map((x) => ({
    name: `SDK over ${x.transport} ≥ ${TARGET_RATIO}× wrk`,
    ok: (x.ratio ?? 0) >= TARGET_RATIO,
    detail: `${fixed(x.ratio ?? NaN, 2)}×`,
  }));
  return finishBench(OUT_DIR, 'sdk', report, t0, format);
}

runCli(options, USAGE, main);
