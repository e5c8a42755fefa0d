/**
 * Mixed-load soak: a collection of clustered vectors with ~1 KiB payloads, then sustained load from ONE
 * wrk process whose Lua script takes each request's operation from a fixed, seeded-shuffled schedule of
 * 100 slots — 70 search (payloads returned), 10 filtered search (~1 % of points match), 15 upserts of
 * 1–10 points, 5 deletes of 1–5 ids — so the mix of requests is the spec's by construction. Deletes and
 * upserts balance (every deleted id is re-inserted by a later upsert; other upserts update loaded ids).
 * wrk gives latency and QPS of all operations together; per-operation latency comes from one low-rate
 * probe per operation (its own connection, one request at a time, about one every 50 ms) running beside
 * it. Meanwhile the server's RSS is sampled every second, a /healthz probe measures how long a cheap
 * request waits, and the server's own event-loop lag p99 over the load is read from GET /metrics. It
 * passes when every answer (wrk's and the probes') is 2xx or a 503 with Retry-After, and the RSS of
 * the last window after the warm-up is within 5 % of the first.
 *
 *   npm run bench:load                                     60,000 points × 128-d, 64 connections, 5 + 60 s
 *   node --import tsx bench/load.ts --points 60000 --duration 20
 *   node --import tsx bench/load.ts --smoke --fail-on-errors   2,000 × 16-d, 8 connections, 1 + 3 s (CI)
 *   node --import tsx bench/load.ts --help                 flags
 *
 * It exits 0 whatever it measured (it is a measurement) unless --fail-on-errors is given: then 1 when an
 * answer other than 2xx or 503-with-Retry-After, or a socket error, was seen. wrk is required.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { positiveInt, positiveSeconds, runCli, serverEnv } from './lib/args.ts';
import { ensureWrk, type Wrk } from './lib/load.ts';
import { bodyCounts, MIN_BODIES, mixData, mixOps, mixSchedule, type MixSizes } from './lib/load-mix-data.ts';
import { OpProbe, pairWrites, stopAll } from './lib/load-mix-probe.ts';
import { checks, formatLoad, rssFlatness, type LoadReport, type RssSample } from './lib/load-mix-report.ts';
import { runMix } from './lib/load-mix-wrk.ts';
import { probeIdle, startProbe } from './lib/probe.ts';
import { describeCommand, describeMachine, describeRevision, writeBenchJson } from './lib/report.ts';
import type { CollectionInfo } from './lib/soak-common.ts';
import { killOnInterrupt, ServerLog, withSoakServer, type SoakServer } from './lib/soak-server.ts';
import { procPeakRssBytes, procRssBytes, startCpuMeter } from './lib/stats.ts';
import { COLLECTION, uploadPoints } from './lib/vicinity.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
const MAX_RSS_DRIFT = 0.05;
const COLLECTION_PATH = `/v1/collections/${COLLECTION}`;

const USAGE = `usage: node --import tsx bench/load.ts [flags]
  --smoke             2,000 points × 16-d, 8 connections, 1 s warm-up + 3 s, 200 bodies (CI, < 60 s)
  --points N          points loaded before the load (default 60000; smoke 2000)
  --dim N             vector dimension (default 128; smoke 16)
  --metric M          cosine (default) or l2
  --batch N           points per PUT while loading (default 500; a PUT must stay under the 32 MiB body limit)
  --connections N     wrk's connections (one wrk -t1 process; default 64; smoke 8); every connection
                      sends whatever operation the 100-slot schedule (70/10/15/5) says next
  --warmup S          seconds of load before the RSS windows (default 5; smoke 1)
  --duration S        seconds of load after the warm-up (default 60; smoke 3); the RSS of its first and
                      last 30 s (half of it, when shorter) are compared
  --bodies N          pre-encoded bodies per search operation, cycled; upserts get N rounded up to a multiple
                      of 3 and deletes a third of that, so they cycle in step (default 2000; smoke 200;
                      at least ${MIN_BODIES}); the write probes get as many bodies of their own
  --timeout S         wrk and the operation probes count an answer slower than this as a timeout error (default 10)
  --op-probe-ms N     each operation's probe sends at most one request per N ms, one at a time (default 50)
  --probe-rate N      GET /healthz per second on its own connection (default 10)
  --seed N            data and schedule seed (default 1)
  --fail-on-errors    exit 1 when an answer was not 2xx or 503 with Retry-After (default: exit 0)
  --no-install        never apt-get install wrk
  --server-env K=V    a setting for the server, e.g. VICINITY_REPLICAS=1 (repeatable)
  --help`;

function options() {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      points: { type: 'string' },
      dim: { type: 'string' },
      metric: { type: 'string', default: 'cosine' },
      batch: { type: 'string', default: '500' },
      connections: { type: 'string' },
      warmup: { type: 'string' },
      duration: { type: 'string' },
      bodies: { type: 'string' },
      timeout: { type: 'string', default: '10' },
      'op-probe-ms': { type: 'string', default: '50' },
      'probe-rate': { type: 'string', default: '10' },
      seed: { type: 'string', default: '1' },
      'fail-on-errors': { type: 'boolean', default: false },
      'no-install': { type: 'boolean', default: false },
      'server-env': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', default: false },
    },
  });
  const smoke = values.smoke;
  if (values.metric !== 'cosine' && values.metric !== 'l2') throw new Error(`--metric must be cosine or l2, got '${values.metric}'`);
  const bodies = positiveInt('bodies', values.bodies ?? (smoke ? '200' : '2000'));
  if (bodies < MIN_BODIES) throw new Error(`--bodies must be at least ${MIN_BODIES}, got ${bodies}`);
  return {
    help: values.help,
    smoke,
    points: positiveInt('points', values.points ?? (smoke ? '2000' : '60000')),
    dim: positiveInt('dim', values.dim ?? (smoke ? '16' : '128')),
    metric: values.metric,
    batch: positiveInt('batch', values.batch),
    connections: positiveInt('connections', values.connections ?? (smoke ? '8' : '64')),
    warmupS: positiveSeconds('warmup', values.warmup ?? (smoke ? '1' : '5')),
    durationS: positiveSeconds('duration', values.duration ?? (smoke ? '3' : '60')),
    bodies,
    timeoutS: positiveSeconds('timeout', values.timeout),
    opProbeMs: positiveInt('op-probe-ms', values['op-probe-ms']),
    probeRate: positiveInt('probe-rate', values['probe-rate']),
    seed: positiveInt('seed', values.seed),
    failOnErrors: values['fail-on-errors'],
    allowInstall: !values['no-install'],
    serverEnv: serverEnv(values['server-env']),
  };
}

type Options = ReturnType<typeof options>;

const t0 = performance.now();
const log = (line: string): void => console.error(`[load ${((performance.now() - t0) / 1000).toFixed(0)} s] ${line}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Samples the server's RSS every second from now on; the result stops sampling and returns the samples. */
function sampleRss(pid: number): () => RssSample[] {
  const samples: RssSample[] = [];
  const started = performance.now();
  const take = (): void => {
    const bytes = procRssBytes(pid);
    if (bytes !== null) samples.push({ t: (performance.now() - started) / 1000, bytes });
  };
  take();
  const timer = setInterval(take, 1000);
  return () => {
    clearInterval(timer);
    return samples;
  };
}

/** After the load: /readyz, then GET the collection until `count` equals the index's live points (30 s at most). */
async function afterLoad(server: SoakServer): Promise<NonNullable<LoadReport['after']>> {
  const readyz = (await server.client.request('GET', '/readyz')).status;
  const ended = performance.now();
  for (;;) {
    const info = await server.client.json<CollectionInfo>('GET', COLLECTION_PATH, undefined);
    const live = info.stats.index.live ?? null;
    const waited = performance.now() - ended;
    if (live === info.count) return { readyz, count: info.count, live, settledMs: waited };
    if (waited > 30_000) return { readyz, count: info.count, live, settledMs: null };
    await sleep(50);
  }
}

async function soak(server: SoakServer, o: Options, wrk: Wrk, report: LoadReport, workDir: string): Promise<void> {
  log(`server ready on port ${server.port} (pid ${server.child.pid})`);
  // Read when the server has loaded its code, not when the bench started: others may be editing it.
  report.revision = describeRevision(ROOT);
  const sizes: MixSizes = { points: o.points, dim: o.dim, bodies: o.bodies, seed: o.seed };
  const data = mixData(sizes);
  report.config.dataSource = data.dataset.source;
  await server.client.json('PUT', COLLECTION_PATH, { dimension: o.dim, metric: o.metric }, [200, 201]);
  log(`loading ${o.points} points, ${o.batch} per PUT`);
  report.load = await uploadPoints(server.client, data.dataset, o.batch, data.payload);
  if (report.load.count !== o.points) throw new Error(`after loading ${o.points} points the collection's count is ${report.load.count}`);
  log(`loaded in ${report.load.seconds.toFixed(1)} s; count ${report.load.count}`);

  const ops = mixOps(COLLECTION, data, sizes);
  const schedule = mixSchedule(o.seed + 3);
  const pid = server.child.pid ?? -1;
  report.probeIdle = await probeIdle(server.port, '/healthz', o.probeRate, o.smoke ? 1 : 3);
  report.countBefore = (await server.client.json<CollectionInfo>('GET', COLLECTION_PATH, undefined)).count;
  await eventLoopLagP99(server); // a scrape resets prom-client's event-loop histogram: the next one covers the load

  log(`mixed load: one wrk -t1, ${o.connections} connections, ${o.warmupS} + ${o.durationS} s; probes every ${o.opProbeMs} ms per operation`);
  const stopRss = sampleRss(pid);
  const meter = startCpuMeter([pid]);
  const probe = startProbe(server.port, '/healthz', o.probeRate);
  const opProbes = ops.map((op) => new OpProbe(server.port, op.name, op.path, op.probeSet, o.opProbeMs, o.timeoutS * 1000));
  const byName = (name: string): OpProbe => {
    const found = opProbes.find((p) => p.name === name);
    if (found === undefined) throw new Error(`no ${name} probe`);
    return found;
  };
  pairWrites(byName('upsert'), byName('delete'));
  for (const p of opProbes) p.start();
  try {
    report.wrk = await runMix(wrk, workDir, server.port, ops, schedule, o.connections, o.warmupS + o.durationS, o.timeoutS);
  } finally {
    report.opProbes = await stopAll(opProbes);
    report.probe = await probe.stop();
    report.eventLoopLagP99Ms = await eventLoopLagP99(server);
    const reading = meter();
    report.rss.samples = stopRss();
    report.rss.peakBytes = procPeakRssBytes(pid);
    const wrkS = report.wrk?.wrkCpuS ?? null;
    const otherS = reading.otherCpuS === null || wrkS === null ? null : Math.max(0, reading.otherCpuS - wrkS);
    report.cpu = { seconds: reading.seconds, serverS: reading.pidsCpuS[0], wrkS, benchS: reading.selfCpuS, otherS };
  }
  report.rss.flat = rssFlatness(report.rss.samples, o.warmupS, o.durationS);
  report.after = await afterLoad(server);
}

/** The server's own event-loop lag p99 since the last scrape (prom-client's default metrics), in ms; null if unreadable. */
async function eventLoopLagP99(server: SoakServer): Promise<number | null> {
  const answer = await server.client.request('GET', '/metrics').catch(() => null);
  const seconds = answer?.status === 200 ? /^vicinity_nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(answer.body)?.[1] : undefined;
  return seconds === undefined ? null : Number(seconds) * 1000;
}

async function main(o: Options): Promise<number> {
  const started = new Date().toISOString();
  const found = ensureWrk(o.allowInstall, log);
  if (found.wrk === null) {
    console.error(`bench/load.ts needs wrk (its Lua script sends the mix from a fixed schedule): ${found.why}`);
    return 1;
  }
  const wrk = found.wrk;
  const report: LoadReport = {
    started,
    command: describeCommand(ROOT),
    revision: describeRevision(ROOT),
    smoke: o.smoke,
    machine: describeMachine(ROOT, wrk.version),
    serverEnv: o.serverEnv,
    config: {
      collection: COLLECTION, points: o.points, dim: o.dim, metric: o.metric, bodies: bodyCounts(o.bodies), connections: o.connections,
      schedule: mixSchedule(o.seed + 3).map((name) => name[0]).join(''),
      warmupS: o.warmupS, durationS: o.durationS, timeoutS: o.timeoutS, opProbeIntervalMs: o.opProbeMs, seed: o.seed, dataSource: '',
    },
    load: null,
    countBefore: null,
    wrk: null,
    opProbes: [],
    cpu: null,
    rss: { samples: [], peakBytes: null, flat: null },
    probeIdle: null,
    probe: null,
    after: null,
    serverErrors: {},
    failure: null,
    checks: [],
  };
  const workDir = mkdtempSync(join(tmpdir(), 'vicinity-bench-mix-'));
  const release = killOnInterrupt(() => rmSync(workDir, { recursive: true, force: true }));
  const serverLog = new ServerLog();
  try {
    await withSoakServer({ dir: ROOT, env: o.serverEnv, readyTimeoutMs: 120_000 }, serverLog, (server) => soak(server, o, wrk, report, workDir));
  } catch (err) {
    report.failure = (err as Error).stack ?? String(err);
    log(`FAILED: ${report.failure}`);
  } finally {
    release();
    rmSync(workDir, { recursive: true, force: true });
  }
  report.serverErrors = Object.fromEntries(serverLog.errors);
  report.checks = checks(report, MAX_RSS_DRIFT);
  console.log(formatLoad(report));
  console.log(`\nJSON: ${writeBenchJson(OUT_DIR, 'load', report)}`);
  return o.failOnErrors && !report.checks[0].ok ? 1 : 0;
}

runCli(options, USAGE, main);
