import { row, type Dataset } from './datasets.ts';
import { bucketPayload, type FilteredTruth } from './filters.ts';
import type { GroundTruth } from './ground-truth.ts';
import { jsonBodies, MSGPACK_TYPE, runNodeLoad, type BodySet, type LoadTarget, type Wrk } from './load.ts';
import { LoadRunner, type PassRules } from './passes.ts';
import { probeIdle } from './probe.ts';
import type { HnswParams } from './raw-hnsw.ts';
import { rawPass, type FilterResult, type HttpSeries, type ReplicasReport } from './replicas-report.ts';
import { HttpClient, type ServerProcess } from './server.ts';
import { procRssBytes, startCpuMeter, type QuietRules } from './stats.ts';
import { replacingUpserts } from './upserts.ts';
import {
  COLLECTION,
  createCollection,
  recallOverHttp,
  SEARCH_PATH,
  searchBody,
  searchBodyMsgpack,
  settleOverlay,
  uploadPoints,
  type SearchOptions,
} from './vicinity.ts';

export interface VicinityContext {
  dataset: Dataset;
  truth: GroundTruth;
  /** The data set with the filtered searches' queries, and each filter's exact top-k. */
  filterSet: Dataset;
  filtered: FilteredTruth[];
  hnsw: HnswParams;
  k: number;
  smoke: boolean;
  batch: number;
  rules: PassRules;
  quiet: QuietRules;
  concurrency: number[];
  healthRate: number;
  upserts: number;
  upsertConcurrency: number;
  wrk: Wrk | null;
  workDir: string;
  log: (line: string) => void;
}

const HEALTH_PATH = '/healthz';

/** Every query of `set` as a JSON search body (k, ef, options), named `name` for wrk's files. */
export function jsonSearches(name: string, set: Dataset, k: number, ef: number, opts?: SearchOptions): BodySet {
  const texts: string[] = [];
  for (let q = 0; q < set.queries.n; q++) texts.push(searchBody(row(set.queries, q), k, ef, opts));
  return jsonBodies(name, texts);
}

/** The same searches as MessagePack bodies, each vector a Float32Array. */
export function msgpackSearches(name: string, set: Dataset, k: number, ef: number, opts?: SearchOptions): BodySet {
  const bodies: Buffer[] = [];
  for (let q = 0; q < set.queries.n; q++) bodies.push(searchBodyMsgpack(row(set.queries, q), k, ef, opts));
  return { name, method: 'POST', contentType: MSGPACK_TYPE, bodies };
}

/** The engine the server chose, from its 'hnswlib build chosen' log line (info level; pino JSON). */
export function serverBuild(log: string): { build: string; reason: string } | null {
  for (const line of log.split('\n')) {
    if (!line.includes('hnswlib build chosen')) continue;
    try {
      const entry = JSON.parse(line) as { build?: string; reason?: string };
      if (entry.build !== undefined) return { build: entry.build, reason: entry.reason ?? '' };
    } catch {
      // not a JSON line
    }
  }
  return null;
}

/** Upload, then unfiltered searches per chosen ef and encoding, the payload row, filtered searches and upserts. */
export async function benchVicinity(server: ServerProcess, c: VicinityContext, report: ReplicasReport): Promise<void> {
  const { dataset, k, log } = c;
  const chosen = serverBuild(server.log);
  report.server.build = chosen?.build ?? null;
  report.server.buildReason = chosen?.reason ?? null;
  const client = new HttpClient(server.port);
  try {
    await createCollection(client, dataset, c.hnsw);
    log(`uploading ${dataset.train.n} points with payloads {bucket: row % 1000} in batches of ${c.batch}`);
    const meter = startCpuMeter([server.pid]);
    report.upload = await uploadPoints(client, dataset, c.batch, bucketPayload);
    const cpu = meter();
    report.uploadCpu = { serverCpuS: cpu.pidsCpuS[0], otherCpuS: cpu.otherCpuS };
    log(`upload: ${Math.round(report.upload.rate)} points/s`);
    // The k-NN overlay's filler works through the load in the background for a while (about two
    // minutes for Fashion-MNIST 60k): searches measured meanwhile would share the replica with it.
    report.overlaySettleS = await settleOverlay(client, log);
    const target: LoadTarget = { port: server.port, path: SEARCH_PATH, serverPid: server.pid };
    const runner = new LoadRunner(c.wrk, c.workDir, target, c.rules, c.quiet);
    report.healthIdle = await probeIdle(server.port, HEALTH_PATH, c.healthRate, c.smoke ? 0.5 : 3);

    const efs = [...new Set(report.chosen.map((x) => x.ef))].sort((a, b) => a - b);
    const probeAt = Math.max(...c.concurrency);
    for (const ef of efs) {
      const sets = { json: jsonSearches(`search-ef${ef}-json`, dataset, k, ef), msgpack: msgpackSearches(`search-ef${ef}-msgpack`, dataset, k, ef) };
      if (ef === efs[0]) {
        // Untimed: the server's JIT and caches warm up here, not in the first reported pass.
        const warm = await runNodeLoad(sets.json, target, 1, c.smoke ? 0.5 : 2);
        if (warm.errors > 0) throw new Error(`warm-up searches failed: ${warm.errors} errors`);
      }
      for (const encoding of ['json', 'msgpack'] as const) {
        const series: HttpSeries = {
          ef, targets: report.chosen.filter((x) => x.ef === ef).map((x) => x.target), encoding, withPayload: false, recall: null, passes: [],
        };
        report.http.push(series);
        series.recall = await recallOverHttp(client, dataset, c.truth, sets[encoding], ef);
        log(`Vicinity ef=${ef} ${encoding}: recall ${series.recall.recall.toFixed(4)}`);
        let expected = rawPass(report, 'stock', ef)?.qps;
        for (const conc of c.concurrency) {
          const probe = encoding === 'json' && conc === probeAt ? { path: HEALTH_PATH, ratePerS: c.healthRate } : undefined;
          const pass = await runner.run(sets[encoding], conc, expected, probe);
          series.passes.push(pass);
          expected = Math.max(pass.qps, expected ?? 0);
          server.assertAlive();
          log(`Vicinity ef=${ef} ${encoding} c=${conc}: ${Math.round(pass.qps)} QPS, p50 ${pass.p50Ms.toFixed(3)} ms, p99 ${pass.p99Ms.toFixed(3)} ms, ${pass.requests} requests, ${pass.errors} errors`);
        }
      }
    }

    // The payload's cost: the same searches at the first chosen ef and concurrency 8, payloads read.
    const ef = report.chosen[0].ef;
    const withPayload = jsonSearches(`search-ef${ef}-json-payload`, dataset, k, ef, { withPayload: true });
    const payloadPass = await runner.run(withPayload, 8, rawPass(report, 'stock', ef)?.qps);
    report.http.push({ ef, targets: [], encoding: 'json', withPayload: true, recall: null, passes: [payloadPass] });
    log(`Vicinity ef=${ef} json with payload c=8: ${Math.round(payloadPass.qps)} QPS`);

    for (const f of c.filtered) report.filtered.push(await filteredSearch(server, client, runner, c, f, ef));

    log(`${c.upserts} single-point upserts of existing ids, concurrency ${c.upsertConcurrency}, then ${c.upserts} in one request`);
    const pointsPath = `/v1/collections/${COLLECTION}/points`;
    const upsertTarget = { port: server.port, serverPid: server.pid, pointsPath, searchPath: SEARCH_PATH };
    report.upserts.push(await replacingUpserts(upsertTarget, dataset, bucketPayload, { points: c.upserts, pointsPerRequest: 1, concurrency: c.upsertConcurrency, shift: 1 }));
    report.upserts.push(await replacingUpserts(upsertTarget, dataset, bucketPayload, { points: c.upserts, pointsPerRequest: c.upserts, concurrency: 1, shift: 2 }));
    server.assertAlive();
    const info = await client.json<{ count: number; stats: { replicas?: number; memory_bytes?: unknown } }>('GET', `/v1/collections/${COLLECTION}`, undefined);
    report.countAfterUpserts = info.count;
    report.server.replicas = info.stats.replicas ?? null;
    report.server.memoryBytes = info.stats.memory_bytes ?? null;
    report.server.rssBytes = procRssBytes(server.pid);
  } finally {
    client.close();
  }
}

/** One filter at `ef`: sequential recall against its exact top-k, then wrk at concurrency 1 and 8. */
async function filteredSearch(
  server: ServerProcess,
  client: HttpClient,
  runner: LoadRunner,
  c: VicinityContext,
  f: FilteredTruth,
  ef: number,
): Promise<FilterResult> {
  const result: FilterResult = { name: f.filter.name, label: f.filter.label, where: f.filter.where, matches: f.matches, ef, recall: null, c1: null, c8: null };
  const set = jsonSearches(`filter-${f.filter.name}-ef${ef}`, c.filterSet, c.k, ef, { where: f.filter.where });
  const started = performance.now();
  result.recall = await recallOverHttp(client, c.filterSet, f.truth, set, ef, f.filter.passes);
  const sequentialQps = set.bodies.length / ((performance.now() - started) / 1000);
  result.c1 = await runner.run(set, 1, sequentialQps);
  result.c8 = await runner.run(set, 8, result.c1.qps);
  server.assertAlive();
  c.log(
    `filtered ${f.filter.label}: recall ${result.recall.recall.toFixed(4)}, results min ${result.recall.minResults}, ` +
      `c=1 p50 ${result.c1.p50Ms.toFixed(3)} ms, c=8 ${Math.round(result.c8.qps)} QPS`,
  );
  return result;
}
