import { basename } from 'node:path';
import type { ImportFile } from './import-files.ts';
import type { ImportMeasure } from './import-measure.ts';
import type { LoadResult } from './load.ts';
import type { Target } from './replicas-report.ts';
import { cpu, fixed, int, markdownTable, type Check, type Machine } from './report.ts';
import type { ServerRun } from './server.ts';
import type { HttpRecall } from './vicinity.ts';

/** One server's life: start, the engine it chose (from its log), stop. */
export interface ServerSide extends ServerRun {
  build: string | null;
}

export interface RawImportBuild {
  build: string;
  reason: string;
  vectors: number;
  seconds: number;
  rate: number;
  otherCpuS: number | null;
  /** recall@k of the raw index at the report's ef, for comparison with the HTTP searches. */
  recall: number;
}

export interface FashionRun {
  label: string;
  server: ServerSide;
  import: ImportMeasure | null;
  recall: HttpRecall | null;
}

export interface ScaleRun {
  n: number;
  file: ImportFile;
  server: ServerSide;
  import: ImportMeasure | null;
}

export interface LatencyRun {
  server: ServerSide;
  tool: string;
  concurrency: number;
  /** The collection searched, imported first (not a measured variant: its numbers are in the JSON). */
  loaded: ImportMeasure | null;
  idle: LoadResult | null;
  /** Back-to-back passes from the import's start until it was done. */
  during: LoadWindow[];
  duringFile: ImportFile | null;
  duringImport: ImportMeasure | null;
}

/** One pass of the search load during an import; seconds since the import started. */
export interface LoadWindow extends LoadResult {
  startS: number;
  endS: number;
}

export interface ImportReport {
  started: string;
  command: string;
  revision: string;
  smoke: boolean;
  machine: Machine;
  dataset: { name: string; source: string; train: number; queries: number; dim: number; metric: string; k: number };
  groundTruth: { seconds: number; cached: boolean; cachePath: string | null };
  hnsw: { m: number; efConstruction: number; seed: number };
  settings: { buildOrder: string; ef: number; pollMs: number; rssPollMs: number; serverEnv: Record<string, string>; synthetic: string };
  files: ImportFile[];
  raw: RawImportBuild[];
  fashion: FashionRun[];
  scale: ScaleRun[];
  latency: LatencyRun | null;
  targets: Target[];
  checks: Check[];
  durationS: number;
}

/** The targets in docs/benchmarks.md (Targets the benchmarks print); printed met or missed, they never fail the run. */
export const GOALS = { rateVsRawStock: 1.2, rssSlackMiB: 300, p99Ratio: 3 } as const;

const MiB = (bytes: number | null | undefined): string => (bytes === null || bytes === undefined ? '—' : fixed(bytes / 2 ** 20, 1));
const orDash = (x: number | null | undefined, digits: number): string => (x === null || x === undefined ? '—' : fixed(x, digits));

/** (replicas + 1) × index bytes + 300 MiB: every replica's index, the build's own copy, and slack. */
export function rssBound(m: ImportMeasure): number | null {
  const { replicas, perReplicaBytes, sharedVectorsBytes } = m.after;
  if (replicas === null || perReplicaBytes === null || sharedVectorsBytes === null) return null;
  return (replicas + 1) * perReplicaBytes + sharedVectorsBytes + GOALS.rssSlackMiB * 2 ** 20;
}

/** Peak server RSS less (replicas + 1) × index bytes: what the RSS target's bound leaves to its 300 MiB. */
export function rssBeyondIndexes(m: ImportMeasure): number | null {
  const { replicas, perReplicaBytes } = m.after;
  if (replicas === null || perReplicaBytes === null || m.rss.hwmBytes === null) return null;
  return m.rss.hwmBytes - (replicas + 1) * perReplicaBytes;
}

/** Less the main thread's shared vector store as well: what grows with neither the indexes nor the collection. */
export function rssBeyondCollection(m: ImportMeasure): number | null {
  const beyond = rssBeyondIndexes(m);
  return beyond === null || m.after.sharedVectorsBytes === null ? null : beyond - m.after.sharedVectorsBytes;
}

function phases(m: ImportMeasure): string {
  return m.phases.map((p) => `${p.phase === null ? p.state : `${p.state}/${p.phase}`} ${fixed(p.atS, 1)} s`).join(' → ');
}

function fashionTable(r: ImportReport): string {
  const header = [
    'build / import', 'file MiB', 'vectors', 'seconds', 'vectors/s', '× raw stock', '× raw fast', 'upload s', 'peak RSS MiB', 'SQLite MiB',
    'snapshots MiB', `recall@${r.dataset.k} ef=${r.settings.ef}`, 'server CPU', 'other CPU',
  ];
  const stock = r.raw.find((b) => b.build === 'stock');
  const fast = r.raw.find((b) => b.build !== 'stock');
  const rows = r.raw.map((b) => [
    `raw hnswlib ${b.build} (in-process, 1 thread)`, '—', int(b.vectors), fixed(b.seconds, 1), int(b.rate),
    stock === undefined ? '—' : fixed(b.rate / stock.rate, 2), fast === undefined ? '—' : fixed(b.rate / fast.rate, 2),
    '—', '—', '—', '—', fixed(b.recall, 4), '—', cpu(b.otherCpuS, b.seconds),
  ]);
  for (const f of r.fashion) {
    const m = f.import;
    if (m === null) {
      rows.push([`${f.label} (${f.server.build ?? '?'}): FAILED`, ...header.slice(1).map(() => '—')]);
      continue;
    }
    rows.push([
      `${f.label} (server ${f.server.build ?? '?'})`, MiB(m.fileBytes), int(m.records), fixed(m.seconds, 1), int(m.rate),
      stock === undefined ? '—' : fixed(m.rate / stock.rate, 2), fast === undefined ? '—' : fixed(m.rate / fast.rate, 2),
      orDash(m.uploadS, 1), MiB(m.rss.hwmBytes), MiB(m.disk.sqlite), MiB(m.disk.snapshots),
      f.recall === null ? '—' : fixed(f.recall.recall, 4), cpu(m.serverCpuS, m.seconds), cpu(m.otherCpuS, m.seconds),
    ]);
  }
  return markdownTable(header, rows, header.map((_, i) => i > 0));
}

function scaleTable(r: ImportReport): string {
  const rows = r.scale.map((s) => {
    const m = s.import;
    if (m === null) return [int(s.n), MiB(s.file.bytes), fixed(s.file.writeS, 1), 'FAILED', ...Array<string>(12).fill('—')];
    const bound = rssBound(m);
    const hwm = m.rss.hwmBytes;
    return [
      int(s.n), MiB(s.file.bytes), fixed(s.file.writeS, 1), fixed(m.seconds, 1), int(m.rate), orDash(m.uploadS, 1),
      String(m.after.replicas ?? '?'), MiB(m.after.perReplicaBytes), MiB(m.rss.beforeBytes), MiB(hwm), MiB(bound),
      bound === null || hwm === null ? '—' : hwm <= bound ? 'yes' : 'NO', MiB(rssBeyondIndexes(m)), MiB(m.after.sharedVectorsBytes),
      MiB(rssBeyondCollection(m)), `${MiB(m.disk.sqlite)} / ${MiB(m.disk.snapshots)}`,
    ];
  });
  const header = [
    'vectors', 'file MiB', 'write s', 'seconds', 'vectors/s', 'upload s', 'replicas', 'index MiB/replica', 'RSS before MiB', 'peak RSS MiB', 'bound MiB',
    'peak ≤ bound', 'peak − (r+1)×index MiB', 'shared vectors MiB', '… − shared vectors MiB', 'SQLite / snapshots MiB',
  ];
  return markdownTable(header, rows, header.map(() => true));
}

/** The import's phases (or states) that overlapped [startS, endS]. */
function phasesBetween(m: ImportMeasure | null, startS: number, endS: number): string {
  if (m === null) return '?';
  const names = m.phases
    .filter((p, i) => p.atS < endS && (m.phases[i + 1]?.atS ?? Infinity) > startS)
    .map((p) => p.phase ?? p.state);
  return names.filter((n, i) => n !== names[i - 1]).join(', ');
}

function latencyTable(l: LatencyRun): string {
  const rows: string[][] = [];
  const passes: [string, string, LoadResult][] = l.idle === null ? [] : [['idle', '—', l.idle]];
  l.during.forEach((w, i) => passes.push([`during import, window ${i + 1}`, `${fixed(w.startS, 1)}–${fixed(w.endS, 1)} s: ${phasesBetween(l.duringImport, w.startS, w.endS)}`, w]));
  for (const [name, when, p] of passes) {
    rows.push([
      name, when, int(p.requests), int(p.qps), fixed(p.p50Ms, 2), fixed(p.p99Ms, 2), l.idle === null ? '—' : fixed(p.p99Ms / l.idle.p99Ms, 2),
      String(p.errors), cpu(p.serverCpuS, p.seconds), cpu(p.loadgenCpuS, p.seconds), cpu(p.otherCpuS, p.seconds),
    ]);
  }
  const header = ['search load', 'since the import started: its phases', 'requests', 'QPS', 'p50 ms', 'p99 ms', 'p99 ÷ idle', 'errors', 'server CPU', 'loadgen CPU', 'other CPU'];
  return markdownTable(header, rows, header.map((_, i) => i > 1));
}

export function formatImportReport(r: ImportReport): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(
    `Vicinity import benchmark${r.smoke ? ' (smoke)' : ''} — ${r.started}`,
    `command:  ${r.command}`,
    `code:     ${r.revision}`,
    `machine:  ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.kernel}; node ${m.node}; hnswlib-node ${m.hnswlibNode}; wrk ${m.wrk ?? 'not used'}; load average ${m.loadAverage} at the start`,
  );
  out.push(`data:     ${r.dataset.name}: ${r.dataset.train} × ${r.dataset.dim}-d, ${r.dataset.queries} queries, exact top-${r.dataset.k} ${r.groundTruth.cached ? 'from cache' : `computed in ${fixed(r.groundTruth.seconds, 1)} s`}`);
  out.push(`          ${r.dataset.source}`);
  out.push(`          synthetic: ${r.settings.synthetic}`);
  const env = Object.entries(r.settings.serverEnv).map(([k, v]) => `${k}=${v}`).join(' ') || 'none (defaults)';
  out.push(
    `settings: M=${r.hnsw.m}, ef_construction=${r.hnsw.efConstruction}, build_order=${r.settings.buildOrder}; a fresh server and data dir per import; ` +
      `job polled every ${r.settings.pollMs} ms, RSS of the server and its build process every ${r.settings.rssPollMs} ms (peak = the larger of that sum and the server's VmHWM); VICINITY_* set: ${env}`,
  );
  out.push(`files:    ${r.files.map((f) => `${basename(f.path)} ${MiB(f.bytes)} MiB (written in ${fixed(f.writeS, 1)} s)`).join(', ') || 'none'}`);
  if (r.fashion.length > 0 || r.raw.length > 0) {
    out.push('');
    out.push(`## 1–2. ${r.dataset.name} ${int(r.dataset.train)} × ${r.dataset.dim}: import (start of the command → job done) vs raw hnswlib-node builds`);
    out.push('');
    out.push(fashionTable(r));
    out.push('');
    for (const f of r.fashion) {
      if (f.import !== null) out.push(`- ${f.label}: ${phases(f.import)}; count ${int(f.import.after.count)}, replicas ${f.import.after.replicas ?? '?'}, index ${MiB(f.import.after.perReplicaBytes)} MiB/replica, WAL ${MiB(f.import.disk.wal)} MiB`);
      if (f.server.failure !== null) out.push(`- ${f.label} FAILED: ${f.server.failure.split('\n')[0]}`);
    }
    out.push(`- NDJSON lines carry a payload {"row": n}; .npy rows none. Upload s: to the 202 (HTTP), or the CLI summary's own figure (— when it gives none).`);
  }
  if (r.scale.length > 0) {
    out.push('');
    out.push(`## 3. Synthetic ${r.scale[0].file.dim}-d .npy over HTTP: time and memory as the file grows (target: peak RSS ≤ (replicas + 1) × index + shared vector store + ${GOALS.rssSlackMiB} MiB)`);
    out.push('');
    out.push(scaleTable(r));
    out.push('');
    for (const s of r.scale) {
      if (s.import !== null) out.push(`- ${int(s.n)}: ${phases(s.import)}; server CPU ${cpu(s.import.serverCpuS, s.import.seconds)}, other CPU ${cpu(s.import.otherCpuS, s.import.seconds)}; RSS after ${MiB(s.import.rss.afterBytes)} MiB`);
      if (s.server.failure !== null) out.push(`- ${int(s.n)} FAILED: ${s.server.failure.split('\n')[0]}`);
    }
  }
  const l = r.latency;
  if (l !== null) {
    out.push('');
    out.push(`## 4. Search latency during an import vs idle: ${l.tool}, ${l.concurrency} connections, JSON, ef=${r.settings.ef}, k=${r.dataset.k}, against '${l.loaded?.collection ?? '?'}' (${int(l.loaded?.records ?? NaN)} × ${r.dataset.dim}); passes back to back until the import was done`);
    out.push('');
    out.push(latencyTable(l));
    out.push('');
    const d = l.duringImport;
    if (d !== null) out.push(`- the import: ${int(d.records)} × ${l.duringFile?.dim ?? '?'}-d .npy over HTTP into '${d.collection}' in ${fixed(d.seconds, 1)} s: ${phases(d)}`);
    if (l.server.failure !== null) out.push(`- FAILED: ${l.server.failure.split('\n')[0]}`);
  }
  out.push('');
  out.push(r.smoke ? '## Targets (smoke data: the numbers mean nothing; printed so the path runs)' : '## Targets');
  for (const t of r.targets) out.push(`- ${t.met === null ? 'n/a' : t.met ? 'MET' : 'MISSED'} ${t.name}: ${t.value} (target ${t.goal})`);
  out.push('');
  for (const c of r.checks) out.push(`check: ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  out.push(`took ${fixed(r.durationS, 0)} s`);
  return out.join('\n');
}
