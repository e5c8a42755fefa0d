/**
 * The parts of `bench/ops.ts`, each against servers started on ONE data directory loaded at the
 * start (SoakServer keeps a data directory across restarts): search throughput per metrics
 * configuration, the recall estimate against offline recall, and /metrics with many collections.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { gaussianMixture, row, type Dataset } from './datasets.ts';
import { squaredL2, type GroundTruth } from './ground-truth.ts';
import { jsonBodies, type BodySet, type Wrk } from './load.ts';
import {
  CONFIG_ENV,
  CONFIG_NAMES,
  summariseLatency,
  type ConfigName,
  type OpsReport,
  type QpsRun,
  type RecallReading,
  type RecallResult,
  type SmallCollections,
} from './ops-report.ts';
import { metricValue, scrapeIdle, serverHnswBuild, startScraper, type ScrapeStats } from './ops-scrape.ts';
import { runWrkThreads, type WrkRun, type WrkTarget } from './ops-wrk.ts';
import type { HttpClient } from './server.ts';
import { ServerLog, SoakServer } from './soak-server.ts';
import { clockTicks, median, procCpuSeconds, Samples } from './stats.ts';
import { COLLECTION, overlayBehind, SEARCH_PATH, settleOverlay, uploadPoints } from './vicinity.ts';

export const K = 10;
const COLLECTION_PATH = `/v1/collections/${COLLECTION}`;
/** The estimator keeps at most this many samples per collection (server/engine/recall.ts). */
export const RECALL_WINDOW_SAMPLES = 1000;

export interface OpsOptions {
  smoke: boolean;
  seconds: number;
  warmupS: number;
  rounds: number;
  threads: number;
  connections: number;
  batch: number;
  efs: number[];
  recallRate: number;
  /** VICINITY_RECALL_CPU of the recall test: 1 lifts the pacing, so every search can be checked. */
  recallCpu: number;
  recallQueries: number;
  recallWaitMs: number;
  collections: number;
  smallPoints: number;
  smallDim: number;
  scrapes: number;
  idleScrapeMs: number;
  scrapeIntervalMs: number;
  latencyConcurrency: number[];
  serverEnv: Record<string, string>;
}

export interface OpsContext {
  root: string;
  o: OpsOptions;
  dataset: Dataset;
  truth: GroundTruth;
  wrk: Wrk;
  workDir: string;
  dataDir: string;
  serverLog: ServerLog;
  /** The server running now, for Ctrl-C. */
  current: { server: SoakServer | null };
  log: (line: string) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface CollectionInfo {
  count: number;
  deleted: number;
  stats: { recall: RecallReading };
}

async function info(client: HttpClient, path = COLLECTION_PATH): Promise<CollectionInfo> {
  return client.json<CollectionInfo>('GET', path, undefined);
}

/** Starts a server on the shared data directory with `env` on top of `--server-env`; returns it and its start time. */
async function start(c: OpsContext, env: Record<string, string>): Promise<{ server: SoakServer; startMs: number }> {
  const t0 = performance.now();
  const server = await SoakServer.start({ dir: c.root, env: { ...c.o.serverEnv, ...env }, readyTimeoutMs: 180_000 }, c.serverLog, c.dataDir);
  c.current.server = server;
  return { server, startMs: performance.now() - t0 };
}

async function stop(c: OpsContext, server: SoakServer): Promise<void> {
  await server.stop('SIGTERM');
  c.current.server = null;
}

/** Runs `body` on a server started for it, stopping the server (its data directory stays) however `body` ends. */
async function withServerOn<T>(c: OpsContext, env: Record<string, string>, body: (server: SoakServer, startMs: number) => Promise<T>): Promise<T> {
  const { server, startMs } = await start(c, env);
  try {
    return await body(server, startMs);
  } finally {
    await stop(c, server);
  }
}

/** The default search request: vector and k only (the collection's ef_search, payloads returned). */
export function defaultSearches(dataset: Dataset, count: number, ef?: number): BodySet {
  const bodies: string[] = [];
  for (let q = 0; q < count; q++) {
    bodies.push(`{"vector":${JSON.stringify(Array.from(row(dataset.queries, q)))},"k":${K}${ef === undefined ? '' : `,"ef":${ef}`}}`);
  }
  return jsonBodies(ef === undefined ? `ops-default-${count}` : `ops-ef${ef}-${count}`, bodies);
}

/** Creates the collection (default config) and loads the training vectors with a small payload, then stops the server. */
export async function loadOnce(c: OpsContext, report: OpsReport): Promise<void> {
  await withServerOn(c, { VICINITY_RECALL_SAMPLE_RATE: '0' }, async (server) => {
    c.log(`loading server ready on port ${server.port}; loading ${c.dataset.train.n} points, ${c.o.batch} per PUT`);
    await server.client.json('PUT', COLLECTION_PATH, { dimension: c.dataset.train.dim, metric: c.dataset.metric }, [200, 201]);
    report.upload = await uploadPoints(server.client, c.dataset, c.o.batch, (i) => ({ row: i, bucket: i % 100 }));
    c.log(`loaded ${report.upload.count} points in ${report.upload.seconds.toFixed(1)} s (${Math.round(report.upload.rate)}/s); waiting for the k-NN overlay`);
    report.overlaySettleS.load = await settleOverlay(server.client, c.log);
    report.settings.serverBuild = await serverHnswBuild(server.client);
  });
}

const target = (server: SoakServer, path = SEARCH_PATH): WrkTarget => ({ port: server.port, path, serverPid: server.child.pid ?? -1 });

/** Part 1: each configuration on a server of its own, `rounds` times, the order rotated every round. */
export async function qpsRounds(c: OpsContext, report: OpsReport): Promise<void> {
  const bodies = defaultSearches(c.dataset, c.dataset.queries.n);
  for (let round = 0; round < c.o.rounds; round++) {
    const order = CONFIG_NAMES.map((_, i) => CONFIG_NAMES[(i + round) % CONFIG_NAMES.length]);
    for (const config of order) report.qps.runs.push(await qpsRun(c, bodies, config, round));
  }
}

async function qpsRun(c: OpsContext, bodies: BodySet, config: ConfigName, round: number): Promise<QpsRun> {
  return withServerOn(c, CONFIG_ENV[config], async (server, startMs) => {
    const metricsStatus = (await server.client.request('GET', '/metrics')).status;
    const behind = await overlayBehind(server.client);
    const t = target(server);
    const warmup = await runWrkThreads(c.wrk, c.workDir, bodies, t, c.o.threads, c.o.connections, c.o.warmupS);
    const run = await runWrkThreads(c.wrk, c.workDir, bodies, t, c.o.threads, c.o.connections, c.o.seconds);
    const recall = (await info(server.client)).stats.recall;
    c.log(
      `round ${round + 1} ${config.padEnd(7)}: ${Math.round(run.qps)} QPS, p50 ${run.p50Ms.toFixed(2)} ms, p99 ${run.p99Ms.toFixed(2)} ms, ` +
        `${run.statusErrors + run.socketErrors} errors; started in ${Math.round(startMs)} ms; /metrics ${metricsStatus}; recall samples ${recall.samples}`,
    );
    return { config, round, startMs, metricsStatus, overlayBehind: behind, recall, warmup, run };
  });
}

/** Distinct valid results within the k-th exact distance (ties count, as the estimator), and plain id-set hits. */
function queryHits(dataset: Dataset, truth: GroundTruth, q: number, ids: number[]): { tie: number; idSet: number } {
  const { k } = truth;
  const threshold = truth.distances[q * k + k - 1] * (1 + 1e-6) + 1e-9;
  const exact = new Set(truth.ids.subarray(q * k, q * k + k));
  const seen = new Set<number>();
  let tie = 0;
  let idSet = 0;
  for (const id of ids.slice(0, k)) {
    if (!Number.isInteger(id) || id < 0 || id >= dataset.train.n || seen.has(id)) continue;
    seen.add(id);
    if (squaredL2(row(dataset.queries, q), row(dataset.train, id)) <= threshold) tie++;
    if (exact.has(id)) idSet++;
  }
  return { tie, idSet };
}

/** Names (comm) of the threads of `pid` whose nice value (field 19 of /proc/<pid>/task/<tid>/stat) is 19; null where unreadable. */
function niceThreads(pid: number): string[] | null {
  try {
    const names: string[] = [];
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).trim().split(/\s+/);
      if (Number(fields[16]) === 19) names.push(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
    }
    return names;
  } catch {
    return null;
  }
}

/**
 * Part 2, one ef: a fresh server (empty window) samples at `recallRate`; each query is sent alone and
 * the next only once the previous one's sample shows (or `recallWaitMs` passed), so no check is
 * skipped for being busy and each sample is known to be that query's.
 */
export async function recallAt(c: OpsContext, ef: number): Promise<RecallResult> {
  const { dataset, truth, o } = c;
  const bodies = defaultSearches(dataset, o.recallQueries, ef);
  // VICINITY_RECALL_CPU=1 (--recall-cpu): no pacing between checks (the default 1 % of a core would space them seconds apart).
  const env = { VICINITY_METRICS: 'true', VICINITY_RECALL_SAMPLE_RATE: String(o.recallRate), VICINITY_RECALL_CPU: String(o.recallCpu) };
  return withServerOn(c, env, async (server, startMs) => {
    const client = server.client;
    let samples = (await info(client)).stats.recall.samples;
    if (samples !== 0) throw new Error(`a fresh server reports ${samples} recall samples before any search`);
    const checkMs = new Samples();
    let sampled = 0;
    let tieSampled = 0;
    let tieAll = 0;
    let idSetAll = 0;
    for (let q = 0; q < bodies.bodies.length; q++) {
      const answer = await client.request('POST', SEARCH_PATH, bodies.bodies[q]);
      if (answer.status !== 200) throw new Error(`search ${q} at ef=${ef} answered ${answer.status}: ${answer.body.slice(0, 300)}`);
      const t0 = performance.now();
      const ids = (JSON.parse(answer.body) as { results: { id: string }[] }).results.map((r) => (/^\d+$/.test(r.id) ? Number(r.id) : -1));
      const hits = queryHits(dataset, truth, q, ids);
      tieAll += hits.tie;
      idSetAll += hits.idSet;
      for (;;) {
        const now = (await info(client)).stats.recall.samples;
        if (now > samples) {
          samples = now;
          sampled++;
          tieSampled += hits.tie;
          checkMs.push(performance.now() - t0);
          break;
        }
        if (performance.now() - t0 > o.recallWaitMs) {
          if (q - sampled < 5) c.log(`ef=${ef}: query ${q} was not checked within ${o.recallWaitMs} ms (paced or dropped); going on`);
          break;
        }
        await sleep(2);
      }
      if ((q + 1) % 250 === 0) c.log(`ef=${ef}: ${q + 1} of ${bodies.bodies.length} queries, ${sampled} sampled`);
    }
    const recall = (await info(client)).stats.recall;
    const metrics = await client.request('GET', '/metrics');
    const label = `collection="${COLLECTION}"`;
    const [checkP50Ms, checkP99Ms] = checkMs.percentiles(50, 99);
    const n = bodies.bodies.length;
    const result: RecallResult = {
      ef,
      sampleRate: recall.sample_rate,
      startMs,
      queriesSent: n,
      queriesSampled: sampled,
      estimate: recall.estimate,
      samples: recall.samples,
      metricsEstimate: metrics.status === 200 ? metricValue(metrics.body, 'vicinity_search_recall', label) : null,
      metricsSamples: metrics.status === 200 ? metricValue(metrics.body, 'vicinity_search_recall_samples', label) : null,
      offlineSampled: sampled === 0 ? NaN : tieSampled / (sampled * K),
      offlineAll: tieAll / (n * K),
      idSetAll: idSetAll / (n * K),
      checkP50Ms,
      checkP99Ms,
      niceThreads: niceThreads(server.child.pid ?? -1),
    };
    c.log(
      `ef=${ef}: estimate ${result.estimate?.toFixed(4) ?? 'null'} over ${result.samples} samples; offline ${result.offlineSampled.toFixed(4)} (sampled), ` +
        `${result.offlineAll.toFixed(4)} (all ${n}); check p50 ${checkP50Ms.toFixed(1)} ms`,
    );
    return result;
  });
}

const smallName = (i: number): string => `ops-${String(i).padStart(3, '0')}`;

/** `count` small collections: points with payloads, links of two types, deleted points, a few searches each. */
async function createSmall(client: HttpClient, count: number, points: number, dim: number, log: (line: string) => void): Promise<SmallCollections> {
  const started = performance.now();
  let links = 0;
  const deleteIds = Array.from({ length: Math.floor(points / 20) }, (_, i) => points - 1 - i * 10).filter((id) => id >= points / 2);
  for (let i = 1; i <= count; i++) {
    const path = `/v1/collections/${smallName(i)}`;
    await client.json('PUT', path, { dimension: dim, metric: 'l2' }, [200, 201]);
    const set = gaussianMixture(dim, 8, 1000 + i)(points);
    const rows = Array.from({ length: points }, (_, id) => `{"id":${id},"vector":${JSON.stringify(Array.from(row(set, id)))},"payload":{"n":${id}}}`);
    const put = await client.request('PUT', `${path}/points`, `{"points":[${rows.join(',')}]}`);
    if (put.status !== 200) throw new Error(`PUT ${path}/points answered ${put.status}: ${put.body.slice(0, 300)}`);
    const chain = Math.min(30, points - 1);
    const cites = Math.min(10, Math.floor(points / 4));
    const linkList = [
      ...Array.from({ length: chain }, (_, j) => ({ from: j, to: j + 1, type: 'next' })),
      ...Array.from({ length: cites }, (_, j) => ({ from: 100 + j, to: 200 + j, type: 'cites', both: true })),
    ].filter((l) => l.from < points && l.to < points);
    const linked = await client.json<{ linked: number }>('PUT', `${path}/links`, { links: linkList });
    links = linked.linked;
    await client.json('POST', `${path}/points/delete`, { ids: deleteIds });
    for (let s = 0; s < 5; s++) await client.json('POST', `${path}/search`, { vector: Array.from(row(set, s * 7)), k: K });
    if (i % 25 === 0) log(`${i} of ${count} small collections created`);
  }
  return { count, points, dim, links, deleted: deleteIds.length, seconds: (performance.now() - started) / 1000 };
}

/** Part 3: the loaded collection plus small ones; idle scrapes, then searches with and without a scraper, alternated. */
export async function scrapePart(c: OpsContext, report: OpsReport): Promise<void> {
  const { o } = c;
  const s = report.scrape;
  const bodies = defaultSearches(c.dataset, c.dataset.queries.n);
  await withServerOn(c, {}, async (server) => {
    const client = server.client;
    c.log(`creating ${o.collections - 1} small collections beside '${COLLECTION}'`);
    s.small = await createSmall(client, o.collections - 1, o.smallPoints, o.smallDim, c.log);
    report.overlaySettleS.small = await settleOverlay(client, c.log);
    const t = target(server);
    await runWrkThreads(c.wrk, c.workDir, bodies, t, o.threads, o.connections, o.warmupS);
    const pid = server.child.pid ?? -1;
    const cpuBefore = procCpuSeconds(pid, clockTicks());
    const idle = await scrapeIdle(server.port, o.scrapes, o.idleScrapeMs);
    const cpuAfter = procCpuSeconds(pid, clockTicks());
    s.idle = idle.stats;
    s.idleServerCpuMsPerScrape = cpuBefore === null || cpuAfter === null ? null : ((cpuAfter - cpuBefore) * 1000) / idle.stats.scrapes;
    const small = `collection="${smallName(1)}"`;
    const linksOf = (type: string) => metricValue(idle.body, 'vicinity_collection_links', `${small},type="${type}"`) ?? 0;
    s.content = {
      collections: metricValue(idle.body, 'vicinity_collections'),
      smallLive: metricValue(idle.body, 'vicinity_collection_points', `${small},state="live"`),
      smallDeleted: metricValue(idle.body, 'vicinity_collection_points', `${small},state="deleted"`),
      smallLinks: linksOf('next') + linksOf('cites'),
      recallSeries: metricValue(idle.body, 'vicinity_search_recall', `collection="${COLLECTION}"`) !== null,
    };
    c.log(`idle scrapes: p50 ${s.idle.p50Ms.toFixed(1)} ms, p99 ${s.idle.p99Ms.toFixed(1)} ms, max ${s.idle.maxMs.toFixed(1)} ms, ${s.idle.bodyBytes} bytes, ${s.idle.series} series, server CPU ${s.idleServerCpuMsPerScrape?.toFixed(1) ?? 'n/a'} ms per scrape`);

    for (let round = 0; round < o.rounds; round++) {
      for (const conc of o.latencyConcurrency) {
        for (const withScraper of round % 2 === 0 ? [false, true] : [true, false]) {
          const scraper = withScraper ? startScraper(server.port, o.scrapeIntervalMs) : null;
          let run: WrkRun;
          let scraped: ScrapeStats | null = null;
          try {
            run = await runWrkThreads(c.wrk, c.workDir, bodies, t, conc === 1 ? 1 : o.threads, conc, o.seconds);
          } finally {
            if (scraper !== null) scraped = await scraper.stop();
          }
          s.runs.push({ concurrency: conc, withScraper, round, run, scraper: scraped });
          c.log(
            `round ${round + 1} c=${conc} ${withScraper ? 'with' : 'without'} scraper: ${Math.round(run.qps)} QPS, p50 ${run.p50Ms.toFixed(2)} ms, p99 ${run.p99Ms.toFixed(2)} ms` +
              (scraped === null ? '' : `; ${scraped.scrapes} scrapes, p50 ${scraped.p50Ms.toFixed(1)} ms, max ${scraped.maxMs.toFixed(1)} ms`),
          );
        }
      }
    }
    const withScrapes = s.runs.filter((x) => x.scraper !== null).map((x) => x.scraper!);
    if (withScrapes.length > 0) {
      s.underLoad = {
        scrapes: withScrapes.reduce((sum, x) => sum + x.scrapes, 0),
        errors: withScrapes.reduce((sum, x) => sum + x.errors, 0),
        p50Ms: median(withScrapes.map((x) => x.p50Ms)),
        p99Ms: Math.max(...withScrapes.map((x) => x.p99Ms)),
        maxMs: Math.max(...withScrapes.map((x) => x.maxMs)),
      };
    }
    s.summary = summariseLatency(s.runs);
  });
}
