/**
 * The report of `bench/ops.ts`: what metrics and the recall estimate cost search throughput, how
 * well the estimate agrees with offline recall, what a /metrics scrape costs with many collections,
 * and the raw hnswlib reference. `checks` say whether the bench ran (they decide the exit code);
 * `targets` are the operators' goals, reported as met or missed (they never fail the run).
 */
import type { SearchPass } from './raw-hnsw.ts';
import { fixed, int, markdownTable, type BenchHead, type Check } from './report.ts';
import { median } from './stats.ts';
import type { ScrapeStats } from './ops-scrape.ts';
import type { WrkRun } from './ops-wrk.ts';
import type { Upload } from './vicinity.ts';

export const CONFIG_NAMES = ['off', 'metrics', 'default'] as const;
export type ConfigName = (typeof CONFIG_NAMES)[number];

/** The server settings of each configuration, on top of `--server-env`. */
export const CONFIG_ENV: Record<ConfigName, Record<string, string>> = {
  off: { VICINITY_METRICS: 'false', VICINITY_RECALL_SAMPLE_RATE: '0' },
  metrics: { VICINITY_METRICS: 'true', VICINITY_RECALL_SAMPLE_RATE: '0' },
  default: {},
};

export interface RecallReading {
  estimate: number | null;
  samples: number;
  sample_rate: number;
  window_s: number;
}

/** One timed wrk run of one configuration, on a server started for it. */
export interface QpsRun {
  config: ConfigName;
  round: number;
  /** Server start → /readyz on the loaded data directory. */
  startMs: number;
  /** GET /metrics status: 404 expected with metrics off, 200 otherwise. */
  metricsStatus: number;
  /** The k-NN overlay's backlog when the run started (0: its background filler was idle). */
  overlayBehind: number;
  /** `stats.recall` of the collection after the timed run (samples taken during warm-up and run). */
  recall: RecallReading | null;
  warmup: WrkRun;
  run: WrkRun;
}

export interface ConfigSummary {
  config: ConfigName;
  env: Record<string, string>;
  runs: number;
  qps: number;
  p50Ms: number;
  p99Ms: number;
  /** Median cores the server and everything else used during the timed runs. */
  serverCores: number | null;
  otherCores: number | null;
  errors: number;
}

export interface RatioSummary {
  name: string;
  /** Median QPS of the configuration / median QPS of `off`. */
  ofMedians: number;
  /** The same ratio within each round (the two runs were minutes apart at most). */
  perRound: number[];
}

export interface RecallResult {
  ef: number;
  sampleRate: number;
  startMs: number;
  queriesSent: number;
  /** Queries whose check was seen to land (samples went up before the next search was sent). */
  queriesSampled: number;
  estimate: number | null;
  samples: number;
  /** The same figures from GET /metrics. */
  metricsEstimate: number | null;
  metricsSamples: number | null;
  /** Offline recall@k, tie-aware (as the estimator): over the sampled queries and over all sent. */
  offlineSampled: number;
  offlineAll: number;
  /** Standard id-set recall@k over all queries sent (ties counted as misses). */
  idSetAll: number;
  /** Milliseconds from a search's answer until its sample showed in GET /v1/collections/{name}. */
  checkP50Ms: number;
  checkP99Ms: number;
  /** Names of the server's threads at nice 19 after the checks (the estimator's worker should be one); null where unreadable. */
  niceThreads: string[] | null;
}

export interface SmallCollections {
  count: number;
  points: number;
  dim: number;
  links: number;
  deleted: number;
  seconds: number;
}

export interface LatencyRun {
  concurrency: number;
  withScraper: boolean;
  round: number;
  run: WrkRun;
  /** The concurrent scraper's statistics over the run (null without it). */
  scraper: ScrapeStats | null;
}

export interface LatencySummary {
  concurrency: number;
  withScraper: boolean;
  runs: number;
  qps: number;
  p50Ms: number;
  p99Ms: number;
  /** Median cores everything but the server and wrk used during the runs (this bench's scraper included). */
  otherCores: number | null;
  errors: number;
}

export interface ScrapeSection {
  collections: number;
  small: SmallCollections | null;
  idle: ScrapeStats | null;
  /** Server CPU (all threads, clock-tick resolution) over the idle scrapes, per scrape. */
  idleServerCpuMsPerScrape: number | null;
  /** What the last idle scrape said, checked against what was written. */
  content: { collections: number | null; smallLive: number | null; smallDeleted: number | null; smallLinks: number | null; recallSeries: boolean } | null;
  runs: LatencyRun[];
  summary: LatencySummary[];
  /** The concurrent scrapes during the search runs: all runs together. */
  underLoad: { scrapes: number; errors: number; p50Ms: number; p99Ms: number; maxMs: number } | null;
}

export interface Target {
  name: string;
  met: boolean | null;
  detail: string;
}

export interface OpsReport extends BenchHead {
  groundTruth: { cached: boolean; seconds: number; cachePath: string | null; recallDefinition: string };
  settings: {
    /** The parts run after the load: qps, recall, scrape. */
    parts: string[];
    serverEnv: Record<string, string>;
    serverBuild: string | null;
    seconds: number;
    warmupS: number;
    rounds: number;
    threads: number;
    connections: number;
    efs: number[];
    recallRate: number;
    recallCpu: number;
    scrapeIntervalMs: number;
    idleScrapeIntervalMs: number;
  };
  upload: Upload | null;
  /** Seconds the k-NN overlay's background filler took to catch up after the load and after creating the small collections. */
  overlaySettleS: { load: number | null; small: number | null };
  qps: { runs: QpsRun[]; summary: ConfigSummary[]; ratios: RatioSummary[] };
  recall: RecallResult[];
  scrape: ScrapeSection;
  raw: { build: string; buildSeconds: number; passes: SearchPass[] } | null;
  /** Error-level lines the servers logged, by message. */
  serverErrors: Record<string, number>;
  failure: string | null;
  checks: Check[];
  targets: Target[];
}

const cores = (s: number | null, seconds: number): number | null => (s === null ? null : s / seconds);
const coresText = (x: number | null): string => (x === null ? 'n/a' : fixed(x, 2));

export function summariseQps(runs: QpsRun[]): { summary: ConfigSummary[]; ratios: RatioSummary[] } {
  const summary = CONFIG_NAMES.filter((c) => runs.some((r) => r.config === c)).map((config): ConfigSummary => {
    const mine = runs.filter((r) => r.config === config).map((r) => r.run);
    const server = mine.map((r) => cores(r.serverCpuS, r.seconds));
    const other = mine.map((r) => cores(r.otherCpuS, r.seconds));
    return {
      config,
      env: CONFIG_ENV[config],
      runs: mine.length,
      qps: median(mine.map((r) => r.qps)),
      p50Ms: median(mine.map((r) => r.p50Ms)),
      p99Ms: median(mine.map((r) => r.p99Ms)),
      serverCores: server.includes(null) ? null : median(server as number[]),
      otherCores: other.includes(null) ? null : median(other as number[]),
      errors: mine.reduce((sum, r) => sum + r.statusErrors + r.socketErrors, 0),
    };
  });
  // metrics/off: what the metrics cost; default/metrics: what the recall checks add; default/off: both.
  const ratios: RatioSummary[] = [];
  const rounds = [...new Set(runs.map((r) => r.round))].sort((a, b) => a - b);
  for (const [top, bottom] of [['metrics', 'off'], ['default', 'metrics'], ['default', 'off']] as const) {
    const a = summary.find((s) => s.config === top);
    const b = summary.find((s) => s.config === bottom);
    if (a === undefined || b === undefined) continue;
    const perRound = rounds.flatMap((round) => {
      const x = runs.find((r) => r.round === round && r.config === top);
      const y = runs.find((r) => r.round === round && r.config === bottom);
      return x === undefined || y === undefined ? [] : [x.run.qps / y.run.qps];
    });
    ratios.push({ name: `${top}/${bottom}`, ofMedians: a.qps / b.qps, perRound });
  }
  return { summary, ratios };
}

export function summariseLatency(runs: LatencyRun[]): LatencySummary[] {
  const out: LatencySummary[] = [];
  for (const concurrency of [...new Set(runs.map((r) => r.concurrency))]) {
    for (const withScraper of [false, true]) {
      const mine = runs.filter((r) => r.concurrency === concurrency && r.withScraper === withScraper).map((r) => r.run);
      if (mine.length === 0) continue;
      out.push({
        concurrency,
        withScraper,
        runs: mine.length,
        qps: median(mine.map((r) => r.qps)),
        p50Ms: median(mine.map((r) => r.p50Ms)),
        p99Ms: median(mine.map((r) => r.p99Ms)),
        otherCores: mine.some((r) => r.otherCpuS === null) ? null : median(mine.map((r) => r.otherCpuS! / r.seconds)),
        errors: mine.reduce((sum, r) => sum + r.statusErrors + r.socketErrors, 0),
      });
    }
  }
  return out;
}

const QPS_TARGET = 0.97;
const RECALL_TARGET = 0.02;
const SCRAPE_TARGET_MS = 50;
/** "Scraping never delays searches": search p99 with the scraper at most this much above without (the run-to-run noise allowed). */
const SCRAPE_DELAY_TARGET = 1.1;

/** The operators' goals: met, missed, or null when not measured. */
export function targets(r: OpsReport): Target[] {
  const out: Target[] = [];
  for (const ratio of r.qps.ratios) {
    if (ratio.name === 'default/off') continue; // both costs together: shown, no target of its own
    const what = ratio.name === 'metrics/off' ? 'metrics on ≥ 0.97 × off' : 'with the recall estimate ≥ 0.97 × without (it costs ≤ 3 %)';
    out.push({
      name: `search QPS, ${what}`,
      met: ratio.ofMedians >= QPS_TARGET,
      detail: `${ratio.name} = ${fixed(ratio.ofMedians, 3)} (median QPS; per round ${ratio.perRound.map((x) => fixed(x, 3)).join(', ')})`,
    });
  }
  for (const e of r.recall) {
    const diff = e.estimate === null ? NaN : Math.abs(e.estimate - e.offlineSampled);
    const diffAll = e.estimate === null ? NaN : Math.abs(e.estimate - e.offlineAll);
    out.push({
      name: `recall estimate within ${RECALL_TARGET} of offline recall at ef=${e.ef}`,
      met: e.estimate === null ? null : diff <= RECALL_TARGET && diffAll <= RECALL_TARGET,
      detail:
        `estimate ${fixed(e.estimate ?? NaN, 4)} over ${e.samples} samples; offline ${fixed(e.offlineSampled, 4)} over the ${e.queriesSampled} sampled queries ` +
        `(|Δ| ${fixed(diff, 4)}), ${fixed(e.offlineAll, 4)} over all ${e.queriesSent} sent (|Δ| ${fixed(diffAll, 4)})`,
    });
  }
  const s = r.scrape;
  if (s.idle !== null) {
    out.push({
      name: `GET /metrics with ${s.collections} collections < ${SCRAPE_TARGET_MS} ms`,
      met: s.idle.maxMs < SCRAPE_TARGET_MS,
      detail: `idle: p50 ${fixed(s.idle.p50Ms, 1)} ms, p99 ${fixed(s.idle.p99Ms, 1)} ms, max ${fixed(s.idle.maxMs, 1)} ms over ${s.idle.scrapes} scrapes` +
        (s.underLoad === null ? '' : `; under search load p99 ${fixed(s.underLoad.p99Ms, 1)} ms, max ${fixed(s.underLoad.maxMs, 1)} ms`),
    });
  }
  for (const c of [...new Set(s.summary.map((x) => x.concurrency))]) {
    const without = s.summary.find((x) => x.concurrency === c && !x.withScraper);
    const withIt = s.summary.find((x) => x.concurrency === c && x.withScraper);
    if (without === undefined || withIt === undefined) continue;
    const ratio = withIt.p99Ms / without.p99Ms;
    out.push({
      name: `scraping every ${r.settings.scrapeIntervalMs} ms does not delay searches (c=${c}: p99 with ≤ ${SCRAPE_DELAY_TARGET} × without)`,
      met: ratio <= SCRAPE_DELAY_TARGET,
      detail: `p99 ${fixed(without.p99Ms, 2)} → ${fixed(withIt.p99Ms, 2)} ms (×${fixed(ratio, 2)}), p50 ${fixed(without.p50Ms, 2)} → ${fixed(withIt.p50Ms, 2)} ms, QPS ${int(without.qps)} → ${int(withIt.qps)}`,
    });
  }
  return out;
}

const ok = (met: boolean | null): string => (met === null ? 'n/a' : met ? 'met' : 'MISSED');

/** The human-readable report: context, then one Markdown table per part, the targets and the checks. */
export function formatOps(r: OpsReport): string {
  const m = r.machine;
  const st = r.settings;
  const out: string[] = [];
  out.push(`# Vicinity operators' benchmark${r.smoke ? ' (smoke)' : ''} — ${r.started}`);
  out.push('');
  out.push(`- command: \`${r.command}\``);
  out.push(`- revision: ${r.revision}`);
  out.push(`- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.kernel}; node ${m.node}; hnswlib-node ${m.hnswlibNode}; wrk ${m.wrk ?? 'n/a'}; load average at start ${m.loadAverage}`);
  out.push(`- data: ${r.dataset.name}: ${int(r.dataset.train)} × ${r.dataset.dim}-d, ${r.dataset.metric}; ${int(r.dataset.queries)} queries (${r.dataset.source})`);
  out.push(`- server: default collection config (M=16, ef_construction=200, ef_search=64, float32); hnswlib build ${st.serverBuild ?? 'unknown'}; extra env ${JSON.stringify(st.serverEnv)}`);
  const u = r.upload;
  if (u !== null) {
    out.push(
      `- loaded once: ${int(u.vectors)} points in ${u.requests} PUTs of ${u.batch} in ${fixed(u.seconds, 1)} s (${int(u.rate)} points/s); ` +
        `the k-NN overlay's background filler caught up ${fixed(r.overlaySettleS.load ?? NaN, 0)} s later (measurements wait for it); every configuration restarts on that data directory`,
    );
  }
  out.push(`- ground truth: exact, ${r.groundTruth.cached ? 'from cache' : 'computed'} in ${fixed(r.groundTruth.seconds, 1)} s; ${r.groundTruth.recallDefinition}`);
  out.push(`- wall time: ${fixed(r.durationS, 0)} s`);

  if (r.qps.runs.length > 0) formatQps(r, out);
  if (r.recall.length > 0) formatRecall(r, out);
  if (st.parts.includes('scrape')) formatScrape(r, out);
  if (r.raw !== null) formatRaw(r, out);

  out.push('');
  out.push('## Targets');
  out.push('');
  for (const t of r.targets) out.push(`- ${ok(t.met)}: ${t.name} — ${t.detail}`);
  out.push('');
  out.push('## Checks (the bench ran)');
  out.push('');
  if (r.failure !== null) out.push(`- FAILED: ${r.failure.split('\n')[0]}`);
  for (const c of r.checks) out.push(`- ${c.ok ? 'ok' : 'FAIL'}: ${c.name}: ${c.detail}`);
  const errors = Object.entries(r.serverErrors);
  if (errors.length > 0) {
    out.push('');
    out.push(`Server error lines: ${errors.map(([k, n]) => `${n} × ${k}`).join('; ')}`);
  }
  return out.join('\n');
}

function formatQps(r: OpsReport, out: string[]): void {
  const st = r.settings;
  out.push('');
  out.push(`## 1. Search throughput: metrics off / on / on + recall estimate`);
  out.push('');
  out.push(
    `off: VICINITY_METRICS=false, VICINITY_RECALL_SAMPLE_RATE=0; metrics: VICINITY_RECALL_SAMPLE_RATE=0; default: the server's defaults (metrics on, recall sampled at 0.01 within VICINITY_RECALL_CPU). ` +
      `wrk -t${st.threads} -c${st.connections}, ${int(r.dataset.queries)} distinct default search bodies ({vector, k: 10}: ef_search 64, payloads returned), ` +
      `${st.warmupS} s warm-up then ${st.seconds} s timed per run; ${st.rounds} rounds, the configurations' order rotated each round; medians.`,
  );
  out.push('');
  const qpsRows = r.qps.summary.map((s) => {
    const runs = r.qps.runs.filter((x) => x.config === s.config);
    const recall = runs.map((x) => x.recall).filter((x): x is RecallReading => x !== null && x.samples > 0);
    return [
      s.config,
      s.config === 'off' ? 'false' : 'true',
      s.config === 'default' ? (r.settings.serverEnv.VICINITY_RECALL_SAMPLE_RATE ?? 'default') : '0',
      int(s.qps),
      fixed(s.p50Ms, 2),
      fixed(s.p99Ms, 2),
      runs.map((x) => int(x.run.qps)).join(' / '),
      coresText(s.serverCores),
      coresText(s.otherCores),
      s.config === 'default' ? (recall.length === 0 ? '0' : recall.map((x) => `${x.samples} (${fixed(x.estimate ?? NaN, 3)})`).join(' / ')) : '—',
      String(s.errors),
    ];
  });
  out.push(
    markdownTable(
      ['config', 'METRICS', 'RECALL_SAMPLE_RATE', 'QPS', 'p50 ms', 'p99 ms', 'QPS per round', 'server cores', 'other cores', 'recall samples (estimate)', 'errors'],
      qpsRows,
      [false, false, false, true, true, true, true, true, true, true, true],
    ),
  );
  out.push('');
  out.push(
    markdownTable(
      ['ratio', 'of medians', 'per round', 'target'],
      r.qps.ratios.map((x) => [x.name, fixed(x.ofMedians, 3), x.perRound.map((v) => fixed(v, 3)).join(', '), x.name === 'default/off' ? '—' : `≥ ${QPS_TARGET}: ${ok(x.ofMedians >= QPS_TARGET)}`]),
      [false, true, true, false],
    ),
  );

}

function formatRecall(r: OpsReport, out: string[]): void {
  const st = r.settings;
  out.push('');
  out.push(`## 2. Online recall estimate vs offline recall@10`);
  out.push('');
  out.push(
    `A fresh server per ef (empty window) with VICINITY_RECALL_SAMPLE_RATE=${st.recallRate} and VICINITY_RECALL_CPU=${st.recallCpu}; the queries sent one at a time, each next one only after the ` +
      `previous one's check showed in stats.recall (so none is skipped). Offline recall over the same answers, against exact ground truth.`,
  );
  out.push('');
  out.push(
    markdownTable(
      ['ef', 'sent', 'sampled', 'samples', 'estimate', '/metrics', 'offline (sampled)', 'offline (all)', 'id-set (all)', '|Δ|', 'check p50 ms', 'nice-19 threads', 'target ≤ 0.02'],
      r.recall.map((e) => {
        const diff = e.estimate === null ? NaN : Math.max(Math.abs(e.estimate - e.offlineSampled), Math.abs(e.estimate - e.offlineAll));
        return [
          String(e.ef), int(e.queriesSent), int(e.queriesSampled), int(e.samples), fixed(e.estimate ?? NaN, 4),
          `${fixed(e.metricsEstimate ?? NaN, 4)} (${e.metricsSamples ?? '—'})`, fixed(e.offlineSampled, 4), fixed(e.offlineAll, 4), fixed(e.idSetAll, 4),
          fixed(diff, 4), fixed(e.checkP50Ms, 1), e.niceThreads === null ? 'n/a' : String(e.niceThreads.length), ok(e.estimate === null ? null : diff <= RECALL_TARGET),
        ];
      }),
      [true, true, true, true, true, true, true, true, true, true, true, true, false],
    ),
  );

}

function formatScrape(r: OpsReport, out: string[]): void {
  const st = r.settings;
  const s = r.scrape;
  out.push('');
  out.push(`## 3. GET /metrics with ${s.collections} collections`);
  out.push('');
  if (s.small !== null) {
    out.push(
      `The loaded collection plus ${s.small.count} small ones (${int(s.small.points)} points × ${s.small.dim}-d each, ${s.small.links} links of 2 types, ` +
        `${s.small.deleted} deleted, 5 searches each; created in ${fixed(s.small.seconds, 1)} s, their k-NN overlays caught up ${fixed(r.overlaySettleS.small ?? NaN, 0)} s later); default settings.`,
    );
    out.push('');
  }
  if (s.idle !== null) {
    const c = s.content;
    out.push(
      markdownTable(
        ['scrapes', 'every ms', 'p50 ms', 'p99 ms', 'max ms', 'server CPU ms/scrape', 'body bytes', 'series', 'errors', `target < ${SCRAPE_TARGET_MS} ms`],
        [[
          String(s.idle.scrapes), String(s.idle.intervalMs), fixed(s.idle.p50Ms, 2), fixed(s.idle.p99Ms, 2), fixed(s.idle.maxMs, 2), fixed(s.idleServerCpuMsPerScrape ?? NaN, 1),
          int(s.idle.bodyBytes), int(s.idle.series), String(s.idle.errors), ok(s.idle.maxMs < SCRAPE_TARGET_MS),
        ]],
        [true, true, true, true, true, true, true, true, true, false],
      ),
    );
    if (c !== null) {
      out.push('');
      out.push(
        `The scrape says: vicinity_collections ${c.collections ?? 'absent'}; a small collection live ${c.smallLive ?? 'absent'}, deleted ${c.smallDeleted ?? 'absent'}, ` +
          `links ${c.smallLinks ?? 'absent'}; vicinity_search_recall of the loaded collection ${c.recallSeries ? 'present' : 'absent (no sample yet)'}.`,
      );
    }
  }
  if (s.summary.length > 0) {
    out.push('');
    out.push(`Searches on the loaded collection (same bodies) with and without a scraper GETting /metrics every ${st.scrapeIntervalMs} ms; ${st.seconds} s per run, alternated, medians:`);
    out.push('');
    out.push(
      markdownTable(
        ['wrk', 'scraper', 'runs', 'QPS', 'p50 ms', 'p99 ms', 'p99 per run', 'other cores', 'errors'],
        s.summary.map((x) => [
          `-t${x.concurrency === 1 ? 1 : st.threads} -c${x.concurrency}`,
          x.withScraper ? `every ${st.scrapeIntervalMs} ms` : 'none',
          String(x.runs),
          int(x.qps),
          fixed(x.p50Ms, 2),
          fixed(x.p99Ms, 2),
          s.runs.filter((y) => y.concurrency === x.concurrency && y.withScraper === x.withScraper).map((y) => fixed(y.run.p99Ms, 2)).join(' / '),
          coresText(x.otherCores),
          String(x.errors),
        ]),
        [false, false, true, true, true, true, true, true, true],
      ),
    );
    if (s.underLoad !== null) {
      const l = s.underLoad;
      out.push('');
      out.push(`The concurrent scrapes themselves: ${l.scrapes} scrapes, p50 ${fixed(l.p50Ms, 1)} ms, p99 ${fixed(l.p99Ms, 1)} ms, max ${fixed(l.maxMs, 1)} ms, ${l.errors} errors.`);
    }
  }

}

function formatRaw(r: OpsReport, out: string[]): void {
  if (r.raw !== null) {
    out.push('');
    out.push(`## 4. Reference: raw hnswlib-node (${r.raw.build}), in-process, one thread`);
    out.push('');
    out.push(`Same data and parameters (M=16, ef_construction=200); built in ${fixed(r.raw.buildSeconds, 1)} s; searches one at a time over the same queries.`);
    out.push('');
    out.push(
      markdownTable(
        ['ef', 'recall@10', 'QPS', 'p50 ms', 'p99 ms'],
        r.raw.passes.map((p) => [String(p.ef), fixed(p.recall, 4), int(p.qps), fixed(p.p50Ms, 3), fixed(p.p99Ms, 3)]),
        [true, true, true, true, true],
      ),
    );
  }
}

/** Whether everything ran and answered: the exit code rests on these, never on the targets. */
export function checks(r: OpsReport): Check[] {
  const out: Check[] = [];
  const add = (name: string, ok: boolean, detail: string): void => void out.push({ name, ok, detail });
  add('the bench ran to the end', r.failure === null, r.failure?.split('\n')[0] ?? 'no failure');
  if (r.upload !== null) add('every point loaded', r.upload.count === r.dataset.train, `count ${r.upload.count} of ${r.dataset.train}`);
  const ran = (part: string): boolean => r.settings.parts.includes(part);
  for (const config of ran('qps') ? CONFIG_NAMES : []) {
    const runs = r.qps.runs.filter((x) => x.config === config);
    const good = runs.filter((x) => x.run.requests > 0 && x.run.statusErrors + x.run.socketErrors === 0 && x.warmup.statusErrors + x.warmup.socketErrors === 0);
    add(`wrk runs of '${config}' answered 2xx`, runs.length > 0 && good.length === runs.length, `${good.length} of ${runs.length} runs clean, ${runs.reduce((a, x) => a + x.run.requests, 0)} requests`);
    const expect = config === 'off' ? 404 : 200;
    const wrong = runs.filter((x) => x.metricsStatus !== expect);
    add(`GET /metrics answers ${expect} under '${config}'`, runs.length > 0 && wrong.length === 0, wrong.length === 0 ? 'as configured' : `got ${wrong.map((x) => x.metricsStatus).join(', ')}`);
  }
  const busy = r.qps.runs.filter((x) => x.overlayBehind !== 0);
  if (ran('qps')) add('the k-NN overlay filler was idle at every throughput run', r.qps.runs.length > 0 && busy.length === 0, busy.length === 0 ? 'behind 0 at each start' : `behind ${busy.map((x) => x.overlayBehind).join(', ')}`);
  if (ran('recall') && r.recall.length === 0) add('recall test ran', false, 'no ef measured');
  for (const e of r.recall) {
    add(`recall estimate present at ef=${e.ef}`, e.estimate !== null && e.samples > 0, `${e.samples} samples of ${e.queriesSent} searches`);
    add(
      `/metrics agrees with stats.recall at ef=${e.ef}`,
      e.metricsSamples === e.samples && e.metricsEstimate !== null && e.estimate !== null && Math.abs(e.metricsEstimate - e.estimate) < 1e-9,
      `gauge ${e.metricsEstimate ?? 'absent'} (${e.metricsSamples ?? '—'} samples), stats ${e.estimate ?? 'null'} (${e.samples})`,
    );
  }
  const s = r.scrape;
  if (!ran('scrape')) return out;
  if (s.idle !== null) add('every idle scrape answered 200', s.idle.errors === 0 && s.idle.scrapes > 0 && s.idle.bodyBytes > 0, `${s.idle.scrapes} scrapes, ${s.idle.errors} errors, ${s.idle.bodyBytes} bytes`);
  else add('idle scrapes ran', false, 'not run');
  if (s.content !== null && s.small !== null) {
    const c = s.content;
    add('/metrics counts the collections', c.collections === s.collections, `vicinity_collections ${c.collections}, created ${s.collections}`);
    add(
      '/metrics shows a small collection as written',
      c.smallLive === s.small.points - s.small.deleted && c.smallDeleted === s.small.deleted && c.smallLinks === s.small.links,
      `live ${c.smallLive} (wrote ${s.small.points - s.small.deleted}), deleted ${c.smallDeleted} (${s.small.deleted}), links ${c.smallLinks} (${s.small.links})`,
    );
  }
  const bad = s.runs.filter((x) => x.run.requests === 0 || x.run.statusErrors + x.run.socketErrors > 0 || (x.scraper !== null && (x.scraper.errors > 0 || x.scraper.scrapes === 0)));
  add('search runs beside the scraper answered 2xx', s.runs.length > 0 && bad.length === 0, `${s.runs.length - bad.length} of ${s.runs.length} runs clean`);
  return out;
}
