import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import type { Dataset } from './datasets.ts';
import type { LoadResult } from './load.ts';
import type { RawBuild, SearchPass } from './raw-hnsw.ts';
import type { HttpRecall, Upload } from './vicinity.ts';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  hnswlibNode: string;
  wrk: string | null;
  /** 1-minute load average when the bench started: other work on the machine skews every number. */
  loadAverage: number;
}

export function describeMachine(root: string, wrkVersion: string | null): Machine {
  const list = cpus();
  let hnswlibNode = 'unknown';
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'node_modules/hnswlib-node/package.json'), 'utf8')) as { version: string };
    hnswlibNode = pkg.version;
  } catch {
    // reported as unknown
  }
  return {
    cpu: list[0]?.model ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${process.platform} ${release()}`,
    node: process.version,
    hnswlibNode,
    wrk: wrkVersion,
    loadAverage: Math.round(loadavg()[0] * 100) / 100,
  };
}

/** The commit the server ran, and the server-side files changed since it (others may be editing them). */
export function describeRevision(root: string): string {
  try {
    // trimEnd: porcelain lines start with a status column that may be a space.
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd();
    const changed = git('status', '--porcelain', '--', 'server', 'index', 'storage').split('\n').filter(Boolean).map((l) => l.slice(3));
    return `${git('rev-parse', '--short', 'HEAD')}${changed.length === 0 ? '' : ` + uncommitted ${changed.join(', ')}`}`;
  } catch {
    return 'unknown (no git)';
  }
}

/** The command as typed (`npm run …` when run through npm) and as executed. */
export function describeCommand(root: string): string {
  const direct = ['node', ...process.execArgv, relative(root, process.argv[1] ?? ''), ...process.argv.slice(2)].join(' ');
  const script = process.env.npm_lifecycle_event;
  return script === undefined ? direct : `npm run ${script}  (${direct})`;
}

export interface EfResult {
  ef: number;
  raw: SearchPass;
  http: HttpRecall | null;
  loads: LoadResult[];
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface BenchReport {
  started: string;
  command: string;
  smoke: boolean;
  machine: Machine;
  dataset: { name: string; source: string; train: number; queries: number; dim: number; metric: string; k: number };
  groundTruth: { cached: boolean; seconds: number; cachePath: string | null; recallDefinition: string };
  hnsw: { m: number; efConstruction: number; seed: number };
  /** The hnswlib build each side ran: raw loads it, the server is told it (it may still fall back). */
  engine: { requested: string; raw: string; rawReason: string; serverEnv: Record<string, string> };
  durationS: number;
  rawBuild: Omit<RawBuild, 'index'>;
  vicinity: {
    startMs: number;
    upload: Upload | null;
    loadTool: string;
    loadToolNote: string;
    rssBytes: number | null;
    stopMs: number | null;
    /** The server's exit code after SIGTERM; null when killed by a signal, undefined when never started. */
    exitCode?: number | null;
    failure: string | null;
  };
  efs: EfResult[];
  checks: Check[];
}

export const fixed = (x: number, digits: number): string => (Number.isFinite(x) ? x.toFixed(digits) : '—');
export const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');

/** CPU seconds of a pass and the cores they amount to. */
export const cpu = (s: number | null, seconds: number): string => (s === null ? 'n/a' : `${fixed(s, 1)} s (${fixed(s / seconds, 2)} cores)`);

/** A plain-text table; `rightAligned[i]` for numeric columns. */
export function table(header: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (rightAligned[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A Markdown table with padded columns; `rightAligned[i]` for numeric columns (`---:`). */
export function markdownTable(header: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (rightAligned[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (rightAligned[i] ? ` ${'-'.repeat(w - 1)}: ` : ` ${'-'.repeat(w)} `)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** The human-readable report: context lines, the build lines, one search row per (ef, system, concurrency). */
export function formatReport(r: BenchReport): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`Vicinity search benchmark${r.smoke ? ' (smoke)' : ''} — ${r.started}`);
  out.push(`command:  ${r.command}`);
  out.push(`machine:  ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.kernel}; node ${m.node}; hnswlib-node ${m.hnswlibNode}; wrk ${m.wrk ?? 'not used'}; load average ${m.loadAverage}`);
  out.push(`data:     ${r.dataset.name}: ${r.dataset.train} train × ${r.dataset.dim}-d, ${r.dataset.queries} queries, ${r.dataset.metric}, k=${r.dataset.k}`);
  out.push(`          ${r.dataset.source}`);
  const gt = r.groundTruth;
  out.push(`truth:    exact, ${gt.cached ? 'from cache' : 'computed'} in ${fixed(gt.seconds, 1)} s${gt.cachePath === null ? '' : ` (${gt.cachePath})`}; ${gt.recallDefinition}`);
  const env = Object.entries(r.engine.serverEnv).map(([k, v]) => `${k}=${v}`).join(' ');
  out.push(`engine:   raw hnswlib-node build '${r.engine.raw}' (${r.engine.rawReason}); server started with ${env}`);
  out.push(`hnsw:     M=${r.hnsw.m}, ef_construction=${r.hnsw.efConstruction}, seed=${r.hnsw.seed}; timed passes ${r.durationS} s each`);
  out.push('');
  const b = r.rawBuild;
  out.push(`build  raw hnswlib (in-process, 1 thread):  ${int(b.vectors)} vectors in ${fixed(b.seconds, 1)} s = ${int(b.rate)} vectors/s`);
  const u = r.vicinity.upload;
  if (u !== null) {
    out.push(
      `build  Vicinity over HTTP:                  ${int(u.vectors)} vectors in ${fixed(u.seconds, 1)} s = ${int(u.rate)} vectors/s ` +
        `(${u.requests} PUTs of ${u.batch}, one at a time; per PUT p50 ${fixed(u.p50RequestMs, 0)} ms, max ${fixed(u.maxRequestMs, 0)} ms; ` +
        `searchable ${fixed(u.visibleAfterMs, 1)} ms after the last ack; count=${u.count})`,
    );
    out.push(`       ratio Vicinity / raw build rate: ${fixed(u.rate / b.rate, 2)}`);
  }
  out.push(`load:     ${r.vicinity.loadTool}${r.vicinity.loadToolNote === '' ? '' : ` — ${r.vicinity.loadToolNote}`}`);
  out.push('');
  const header = ['ef', 'system', 'conc', 'recall@10', 'QPS', 'p50 ms', 'p99 ms', 'vs raw', 'loadgen CPU', 'server CPU', 'other CPU', 'errors'];
  const right = [true, false, true, true, true, true, true, true, true, true, true, true];
  const rows: string[][] = [];
  for (const e of r.efs) {
    const raw = e.raw;
    rows.push([String(e.ef), 'raw hnswlib', '1', fixed(raw.recall, 4), int(raw.qps), fixed(raw.p50Ms, 3), fixed(raw.p99Ms, 3), '1.00', '—', '—', cpu(raw.otherCpuS, raw.seconds), '0']);
    for (const l of e.loads) {
      rows.push([
        String(e.ef),
        `Vicinity ${l.tool}`,
        String(l.concurrency),
        e.http === null ? '—' : fixed(e.http.recall, 4),
        int(l.qps),
        fixed(l.p50Ms, 3),
        fixed(l.p99Ms, 3),
        fixed(l.qps / e.raw.qps, 2),
        cpu(l.loadgenCpuS, l.seconds),
        cpu(l.serverCpuS, l.seconds),
        cpu(l.otherCpuS, l.seconds),
        String(l.errors),
      ]);
    }
  }
  out.push(table(header, rows, right));
  const v = r.vicinity;
  out.push('');
  out.push(
    `server:   ready in ${fixed(v.startMs, 0)} ms; RSS at the end ${v.rssBytes === null ? 'n/a' : `${fixed(v.rssBytes / 2 ** 20, 0)} MiB`}; ` +
      `SIGTERM → exit ${v.stopMs === null ? 'n/a' : `${fixed(v.stopMs, 0)} ms`}`,
  );
  const took = r.efs.filter((e) => e.http !== null).map((e) => `ef=${e.ef} ${fixed(e.http!.tookP50Ms, 3)}/${fixed(e.http!.tookP99Ms, 3)}`);
  if (took.length > 0) out.push(`          server took_ms p50/p99, one request at a time: ${took.join(', ')}`);
  const distanceErrors = r.efs.map((e) => e.http?.maxDistanceError ?? 0);
  if (r.efs.some((e) => e.http !== null)) {
    out.push(`          largest relative error of a returned distance vs exact squared L2: ${Math.max(...distanceErrors).toExponential(2)}`);
  }
  if (v.failure !== null) out.push(`FAILED:   ${v.failure}`);
  for (const c of r.checks) out.push(`check:    ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  return out.join('\n');
}

/** Writes the report as JSON to `<dir>/search[-smoke]-<timestamp>.json`; returns the path. */
export function writeReport(dir: string, r: BenchReport): string {
  mkdirSync(dir, { recursive: true });
  const stamp = r.started.replace(/[:.]/g, '-');
  const path = join(dir, `search${r.smoke ? '-smoke' : ''}-${stamp}.json`);
  writeFileSync(path, `${JSON.stringify(r, null, 2)}\n`);
  return path;
}

/** Writes a bench's report as JSON to `<dir>/<name>[-smoke]-<started, file-safe>.json`; returns the path. */
export function writeBenchJson(dir: string, name: string, r: { started: string; smoke: boolean }): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}${r.smoke ? '-smoke' : ''}-${r.started.replace(/[:.]/g, '-')}.json`);
  writeFileSync(path, `${JSON.stringify(r, null, 2)}\n`);
  return path;
}

/** What the reports of the benches over a data set begin with. */
export interface BenchHead {
  started: string;
  command: string;
  revision: string;
  smoke: boolean;
  machine: Machine;
  durationS: number;
  dataset: { name: string; source: string; train: number; queries: number; dim: number; metric: string; k: number };
}

/** The head of a report over `dataset` searched for `k` neighbours; `durationS` is set by finishBench. */
export function benchHead(root: string, started: string, smoke: boolean, wrkVersion: string | null, dataset: Dataset, k: number): BenchHead {
  return {
    started,
    command: describeCommand(root),
    revision: describeRevision(root),
    smoke,
    machine: describeMachine(root, wrkVersion),
    durationS: NaN,
    dataset: { name: dataset.name, source: dataset.source, train: dataset.train.n, queries: dataset.queries.n, dim: dataset.train.dim, metric: dataset.metric, k },
  };
}

/**
 * The end of a bench with checks: its wall time since `t0` (performance.now()), the report printed by
 * `format`, its JSON written as `<outDir>/<name>…`; returns the exit code, 1 when a check failed.
 */
export function finishBench<R extends BenchHead & { checks: Check[] }>(outDir: string, name: string, r: R, t0: number, format: (r: R) => string): number {
  r.durationS = (performance.now() - t0) / 1000;
  console.log(format(r));
  console.log(`\nJSON: ${writeBenchJson(outDir, name, r)}`);
  return r.checks.every((x) => x.ok) ? 0 : 1;
}
