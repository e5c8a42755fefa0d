import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pass } from './passes.ts';
import type { ProbeResult } from './probe.ts';
import type { RawSweep, SearchPass } from './raw-hnsw.ts';
import { cpu, fixed, int, table, type Check, type Machine } from './report.ts';
import type { ServerRun } from './server.ts';
import type { QuietRules } from './stats.ts';
import type { SmallUpserts } from './upserts.ts';
import type { HttpRecall, Upload } from './vicinity.ts';

export interface RawSide {
  /** The build that loaded, and why (a missing fast build falls back to stock, and says so). */
  build: string;
  reason: string;
  construction: RawSweep['build'];
  passes: SearchPass[];
}

/** The smallest ef of the raw stock sweep reaching `target` recall; the largest ef when none does. */
export interface ChosenEf {
  target: number;
  ef: number;
  reached: boolean;
  rawRecall: number;
}

/** One ef and body encoding over HTTP: sequential recall, then a timed pass per concurrency. */
export interface HttpSeries {
  ef: number;
  /** The recall targets whose chosen ef this is. */
  targets: number[];
  encoding: 'json' | 'msgpack';
  withPayload: boolean;
  recall: HttpRecall | null;
  passes: Pass[];
}

export interface FilterResult {
  name: string;
  label: string;
  where: string;
  matches: number;
  ef: number;
  recall: HttpRecall | null;
  c1: Pass | null;
  c8: Pass | null;
}

export interface Target {
  name: string;
  goal: string;
  value: string;
  /** null: not measured (an earlier failure). */
  met: boolean | null;
}

export interface ReplicasReport {
  started: string;
  command: string;
  /** `git rev-parse --short HEAD` plus server-side files changed since, read once the server was ready. */
  revision: string;
  smoke: boolean;
  machine: Machine;
  dataset: { name: string; source: string; train: number; queries: number; filterQueries: number; dim: number; metric: string; k: number };
  groundTruth: { seconds: number; cached: boolean; cachePath: string | null; filtered: { name: string; cached: boolean; seconds: number }[]; recallDefinition: string };
  hnsw: { m: number; efConstruction: number; seed: number };
  rules: { rawSeconds: number; minSeconds: number; minRequests: number; maxSeconds: number; quiet: QuietRules };
  raw: { stock: RawSide; fast: RawSide };
  chosen: ChosenEf[];
  server: ServerRun & {
    env: Record<string, string>;
    /** From the server's 'hnswlib build chosen' log line (info level). */
    build: string | null;
    buildReason: string | null;
    replicas: number | null;
    memoryBytes: unknown;
    rssBytes: number | null;
    loadTool: string;
    loadToolNote: string;
  };
  upload: Upload | null;
  /** CPU seconds during the upload: the server's, and every other process's (this bench's excluded). */
  uploadCpu: { serverCpuS: number | null; otherCpuS: number | null } | null;
  /** Seconds the k-NN overlay's filler took to catch up after the upload; the searches wait for it. */
  overlaySettleS: number | null;
  healthIdle: ProbeResult | null;
  http: HttpSeries[];
  filtered: FilterResult[];
  /** Replacing upserts: one point per request, then one burst in a single request. */
  upserts: SmallUpserts[];
  /** `count` after the upserts: they replace points, so it must not change. */
  countAfterUpserts: number | null;
  targets: Target[];
  checks: Check[];
}

const ms = (x: number): string => fixed(x, 3);
/** Marks a pass that was run again: † ended short of the request minimum, ‡ disturbed by other processes. */
const reruns = (p: { shortRuns?: number; disturbedRuns?: number }): string =>
  '†'.repeat(p.shortRuns ?? 0) + '‡'.repeat(p.disturbedRuns ?? 0);
const probeLine = (p: ProbeResult): string =>
  `${p.requests} GETs at ${p.ratePerS}/s: p50 ${ms(p.p50Ms)} ms, p99 ${ms(p.p99Ms)} ms, max ${ms(p.maxMs)} ms, ${p.errors} errors`;

export function rawPass(r: ReplicasReport, side: 'stock' | 'fast', ef: number): SearchPass | undefined {
  return r.raw[side].passes.find((p) => p.ef === ef);
}

function rawTable(r: ReplicasReport): string {
  const { stock, fast } = r.raw;
  const rows = stock.passes.map((s) => {
    const f = rawPass(r, 'fast', s.ef);
    const marks = r.chosen.filter((c) => c.ef === s.ef).map((c) => `← ef for recall ≥ ${c.target}${c.reached ? '' : ' (not reached)'}`);
    return [
      String(s.ef), fixed(s.recall, 4), int(s.qps), ms(s.p50Ms), ms(s.p99Ms),
      f === undefined ? '—' : fixed(f.recall, 4), f === undefined ? '—' : int(f.qps), f === undefined ? '—' : ms(f.p50Ms),
      f === undefined ? '—' : ms(f.p99Ms), f === undefined ? '—' : fixed(f.qps / s.qps, 2),
      `${cpu(s.otherCpuS, s.seconds)}${reruns(s)} / ${f === undefined ? '—' : cpu(f.otherCpuS, f.seconds) + reruns(f)}`, marks.join(' '),
    ];
  });
  const header = ['ef', 'recall@10', 'QPS', 'p50 ms', 'p99 ms', `${fast.build} recall`, 'QPS', 'p50 ms', 'p99 ms', `${fast.build}/stock`, 'other CPU stock / fast', ''];
  return table(header, rows, [true, true, true, true, true, true, true, true, true, true, false, false]);
}

function httpTable(r: ReplicasReport): string {
  const rows: string[][] = [];
  for (const s of r.http) {
    const raw = rawPass(r, 'stock', s.ef);
    for (const p of s.passes) {
      rows.push([
        String(s.ef), s.targets.length === 0 ? '' : s.targets.map((t) => `≥ ${t}`).join(', '), s.encoding, s.withPayload ? 'yes' : 'no',
        String(p.concurrency), s.recall === null ? '—' : fixed(s.recall.recall, 4), int(p.requests) + reruns(p),
        int(p.qps), ms(p.p50Ms), ms(p.p99Ms), raw === undefined ? '—' : fixed(p.qps / raw.qps, 2),
        raw === undefined ? '—' : `${int(raw.qps)} / ${ms(raw.p50Ms)}`, cpu(p.loadgenCpuS, p.seconds), cpu(p.serverCpuS, p.seconds),
        cpu(p.otherCpuS, p.seconds), String(p.errors),
      ]);
    }
  }
  const header = ['ef', 'for recall', 'body', 'payload', 'conc', 'recall@10', 'requests', 'QPS', 'p50 ms', 'p99 ms', 'vs raw stock', 'raw stock QPS / p50', 'loadgen CPU', 'server CPU', 'other CPU', 'errors'];
  return table(header, rows, [true, false, false, false, true, true, true, true, true, true, true, true, true, true, true, true]);
}

function filterTable(r: ReplicasReport, unfilteredP50: number): string {
  const rows = r.filtered.map((f) => {
    const rc = f.recall;
    const p = (x: Pass | null, get: (p: Pass) => string): string => (x === null ? '—' : get(x));
    return [
      f.label, f.where, int(f.matches), rc === null ? '—' : fixed(rc.recall, 4), rc === null ? '—' : `${rc.minResults} / ${fixed(rc.meanResults, 2)}`,
      rc === null ? '—' : String(rc.violations), p(f.c1, (x) => ms(x.p50Ms)), p(f.c1, (x) => ms(x.p99Ms)),
      p(f.c1, (x) => fixed(x.p50Ms / unfilteredP50, 2)), p(f.c8, (x) => int(x.qps)), p(f.c8, (x) => `${ms(x.p50Ms)} / ${ms(x.p99Ms)}`),
      `${p(f.c1, (x) => int(x.requests) + reruns(x))} / ${p(f.c8, (x) => int(x.requests) + reruns(x))}`, p(f.c8, (x) => cpu(x.loadgenCpuS, x.seconds)),
      `${p(f.c1, (x) => cpu(x.otherCpuS, x.seconds))} / ${p(f.c8, (x) => cpu(x.otherCpuS, x.seconds))}`,
      `${p(f.c1, (x) => String(x.errors))} / ${p(f.c8, (x) => String(x.errors))}`,
    ];
  });
  const header = ['share', 'where', 'matching', 'recall@10', 'results min/mean', 'wrong rows', 'c=1 p50', 'c=1 p99', 'p50 ÷ unfiltered', 'c=8 QPS', 'c=8 p50 / p99', 'requests c1 / c8', 'loadgen CPU c=8', 'other CPU c1 / c8', 'errors'];
  return table(header, rows, [true, false, true, true, true, true, true, true, true, true, true, true, true, true, true]);
}

/** The unfiltered single-client JSON p50 at the first chosen ef (the filtered rows' reference). */
export function unfilteredP50(r: ReplicasReport): number {
  const ef = r.chosen[0]?.ef;
  const series = r.http.find((s) => s.ef === ef && s.encoding === 'json' && !s.withPayload);
  return series?.passes.find((p) => p.concurrency === 1)?.p50Ms ?? NaN;
}

export function formatReplicasReport(r: ReplicasReport): string {
  const m = r.machine;
  const v = r.server;
  const out: string[] = [];
  out.push(`Vicinity replicas benchmark${r.smoke ? ' (smoke)' : ''} — ${r.started}`);
  out.push(`command:  ${r.command}`);
  out.push(`code:     ${r.revision}`);
  out.push(`machine:  ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.kernel}; node ${m.node}; hnswlib-node ${m.hnswlibNode}; wrk ${m.wrk ?? 'not used'}; load average ${m.loadAverage}`);
  out.push(`data:     ${r.dataset.name}: ${r.dataset.train} train × ${r.dataset.dim}-d, ${r.dataset.queries} queries (filtered: the first ${r.dataset.filterQueries}), ${r.dataset.metric}, k=${r.dataset.k}`);
  out.push(`          ${r.dataset.source}`);
  const gt = r.groundTruth;
  out.push(`truth:    exact, ${gt.cached ? 'from cache' : 'computed'} in ${fixed(gt.seconds, 1)} s${gt.cachePath === null ? '' : ` (${gt.cachePath})`}; ${gt.recallDefinition}`);
  out.push(`          filtered: exact top-k among the matching rows, ${gt.filtered.map((f) => `${f.name} ${f.cached ? 'cached' : `computed in ${fixed(f.seconds, 1)} s`}`).join(', ')}`);
  out.push(`hnsw:     M=${r.hnsw.m}, ef_construction=${r.hnsw.efConstruction}, seed=${r.hnsw.seed}; raw passes ≥ ${r.rules.rawSeconds} s, HTTP passes ≥ ${r.rules.minSeconds} s and ≥ ${int(r.rules.minRequests)} requests (at most ${r.rules.maxSeconds} s)`);
  const q = r.rules.quiet;
  out.push(
    Number.isFinite(q.disturbedCores)
      ? `shared:   before each pass wait ≤ ${q.waitS} s for other processes to use < ${q.disturbedCores} cores; a pass they disturbed anyway is rerun ≤ ${q.maxReruns}× (‡ each), keeping the least disturbed; † = rerun longer to reach the request minimum`
      : 'shared:   no waiting for quiet, no reruns of disturbed passes (smoke)',
  );
  out.push('');
  out.push(`== raw hnswlib-node, in-process, 1 thread: stock vs ${r.raw.fast.build} (${r.raw.fast.reason})`);
  for (const side of [r.raw.stock, r.raw.fast]) {
    const b = side.construction;
    out.push(`build ${side.build.padEnd(6)} ${int(b.vectors)} vectors in ${fixed(b.seconds, 1)} s = ${int(b.rate)} vectors/s (other CPU ${cpu(b.otherCpuS, b.seconds)})`);
  }
  out.push(rawTable(r));
  out.push(`chosen:   ${r.chosen.map((c) => `recall ≥ ${c.target} → ef=${c.ef} (raw stock ${fixed(c.rawRecall, 4)}${c.reached ? '' : ', NOT reached: largest ef'})`).join('; ')}`);
  out.push('');
  const env = Object.entries(v.env).map(([k, x]) => `${k}=${x}`).join(' ') || 'none (defaults)';
  out.push(`== Vicinity over HTTP: engine ${v.build ?? 'unknown'} (${v.buildReason ?? 'no log line'}), ${v.replicas ?? '?'} replicas; VICINITY_* set: ${env}`);
  out.push(`load:     ${v.loadTool}${v.loadToolNote === '' ? '' : ` — ${v.loadToolNote}`}; searches send with_payload: false except the row marked payload = yes`);
  const u = r.upload;
  if (u !== null) {
    out.push(
      `upload:   ${int(u.vectors)} points with payloads in ${fixed(u.seconds, 1)} s = ${int(u.rate)} points/s until searchable ` +
        `(${u.requests} PUTs of ${u.batch}, one at a time; per PUT p50 ${fixed(u.p50RequestMs, 0)} ms, max ${fixed(u.maxRequestMs, 0)} ms; ` +
        `searchable ${fixed(u.visibleAfterMs, 1)} ms after the last ack; count=${u.count}); raw stock build ${int(r.raw.stock.construction.rate)} vectors/s; ` +
        `server CPU ${cpu(r.uploadCpu?.serverCpuS ?? null, u.seconds)}, other CPU ${cpu(r.uploadCpu?.otherCpuS ?? null, u.seconds)}; ` +
        `the k-NN overlay caught up ${fixed(r.overlaySettleS ?? NaN, 0)} s later (the searches wait for it)`,
    );
  }
  if (r.http.length > 0) out.push(httpTable(r));
  out.push('');
  out.push('== /healthz while searches saturate the replicas (a node:http keep-alive client in the bench process)');
  if (r.healthIdle !== null) out.push(`idle:        ${probeLine(r.healthIdle)}`);
  for (const s of r.http) {
    for (const p of s.passes) if (p.probe !== null) out.push(`ef=${s.ef} c=${p.concurrency} ${s.encoding}: ${probeLine(p.probe)}`);
  }
  out.push('');
  out.push(`== filtered search at ef=${r.filtered[0]?.ef ?? '—'}, JSON, with_payload: false; recall against the exact filtered top-k (${r.dataset.filterQueries} queries)`);
  out.push(`          unfiltered c=1 p50 at the same ef: ${ms(unfilteredP50(r))} ms`);
  if (r.filtered.length > 0) out.push(filterTable(r, unfilteredP50(r)));
  out.push('');
  for (const w of r.upserts) {
    out.push(
      `== replacing upserts: ${w.requests} PUTs of ${w.pointsPerRequest} point(s) replacing existing ids, concurrency ${w.concurrency} (node:http): ` +
        `${int(w.pointsPerS)} points/s acknowledged, ${int(w.searchablePointsPerS)} points/s until the last was searchable ` +
        `(+${fixed(w.visibleAfterMs, 1)} ms; the first search sent after the last ack took ${fixed(w.firstSearchMs, 1)} ms); ` +
        `latency p50 ${ms(w.p50Ms)} ms, p99 ${ms(w.p99Ms)} ms, max ${ms(w.maxMs)} ms; ${w.errors} errors` +
        `${w.firstError === null ? '' : ` (first: ${w.firstError})`}; server CPU ${w.serverCpuS === null ? 'n/a' : `${fixed((w.serverCpuS / w.points) * 1000, 2)} ms per point`}; ` +
        `loadgen CPU ${fixed(w.loadgenCpuS, 1)} s; other CPU ${w.otherCpuS === null ? 'n/a' : `${fixed(w.otherCpuS, 1)} s`}; count afterwards ${r.countAfterUpserts ?? '—'}`,
    );
  }
  out.push(
    `server:   ready in ${fixed(v.startMs, 0)} ms; RSS at the end ${v.rssBytes === null ? 'n/a' : `${fixed(v.rssBytes / 2 ** 20, 0)} MiB`}; ` +
      `stats.memory_bytes ${JSON.stringify(v.memoryBytes)}; SIGTERM → exit ${v.stopMs === null ? 'n/a' : `${fixed(v.stopMs, 0)} ms`}, code ${v.exitCode ?? 'n/a'}`,
  );
  const took = r.http.filter((s) => s.recall !== null).map((s) => `ef=${s.ef} ${s.encoding} ${ms(s.recall!.tookP50Ms)}/${ms(s.recall!.tookP99Ms)}`);
  if (took.length > 0) out.push(`          server took_ms p50/p99, one request at a time: ${took.join(', ')}`);
  if (v.failure !== null) out.push(`FAILED:   ${v.failure}`);
  out.push('');
  out.push(r.smoke ? '== targets (smoke data: the numbers mean nothing; printed so the path runs)' : '== targets');
  for (const t of r.targets) out.push(`${t.met === null ? 'n/a   ' : t.met ? 'MET   ' : 'MISSED'} ${t.name}: ${t.value} (target ${t.goal})`);
  out.push('');
  for (const c of r.checks) out.push(`check:    ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  return out.join('\n');
}

/** Writes the report as JSON to `<dir>/replicas[-smoke]-<timestamp>.json`; returns the path. */
export function writeReplicasReport(dir: string, r: ReplicasReport): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `replicas${r.smoke ? '-smoke' : ''}-${r.started.replace(/[:.]/g, '-')}.json`);
  writeFileSync(path, `${JSON.stringify(r, null, 2)}\n`);
  return path;
}
