/**
 * The report of `bench/load.ts`: the achieved mix and wrk's numbers for all operations together, the
 * per-operation probes under the mixed load, the server's RSS over the run (first vs last window after
 * the warm-up), the /healthz probe, the collection's count before and after, and the pass/fail lines.
 */
import type { Upload } from './vicinity.ts';
import { MIX, type OpName } from './load-mix-data.ts';
import type { OpProbeResult } from './load-mix-probe.ts';
import type { MixResult } from './load-mix-wrk.ts';
import type { ProbeResult } from './probe.ts';
import { cpu, fixed, int, table, type Check, type Machine } from './report.ts';

export interface RssSample {
  /** Seconds since the load started. */
  t: number;
  bytes: number;
}

export interface RssFlatness {
  warmupS: number;
  /** Length of each compared window: 30 s, or half the time after the warm-up when that is shorter. */
  windowS: number;
  firstMeanBytes: number;
  lastMeanBytes: number;
  firstSamples: number;
  lastSamples: number;
  /** last / first; NaN when a window has no sample. */
  ratio: number;
}

export interface LoadReport {
  started: string;
  command: string;
  revision: string;
  smoke: boolean;
  machine: Machine;
  serverEnv: Record<string, string>;
  config: {
    collection: string;
    points: number;
    dim: number;
    metric: string;
    /** Pre-encoded bodies per operation, cycled (the probes have as many of their own for the writes). */
    bodies: Record<OpName, number>;
    connections: number;
    /** The 100-slot schedule wrk repeats, one letter per slot: s search, f filtered, u upsert, d delete. */
    schedule: string;
    warmupS: number;
    durationS: number;
    timeoutS: number;
    opProbeIntervalMs: number;
    seed: number;
    dataSource: string;
  };
  /** The initial load (PUT …/points in batches, one at a time), and `count` afterwards. */
  load: Upload | null;
  /** `count` just before the mixed load started. */
  countBefore: number | null;
  wrk: MixResult | null;
  opProbes: OpProbeResult[];
  /** CPU seconds over the load: the server, wrk, this bench (probes and sampling), everything else. */
  cpu: { seconds: number; serverS: number | null; wrkS: number | null; benchS: number; otherS: number | null } | null;
  rss: { samples: RssSample[]; peakBytes: number | null; flat: RssFlatness | null };
  probeIdle: ProbeResult | null;
  probe: ProbeResult | null;
  /** The server's event-loop lag p99 over the mixed load (GET /metrics, prom-client), ms. */
  eventLoopLagP99Ms?: number | null;
  after: { readyz: number; count: number; live: number | null; settledMs: number | null } | null;
  /** Error-level lines the server logged, by message. */
  serverErrors: Record<string, number>;
  failure: string | null;
  checks: Check[];
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** The mean RSS of the first and the last window after the warm-up; the load ran `warmupS + durationS`. */
export function rssFlatness(samples: RssSample[], warmupS: number, durationS: number): RssFlatness {
  const windowS = Math.min(30, durationS / 2);
  const end = warmupS + durationS;
  const first = samples.filter((s) => s.t >= warmupS && s.t < warmupS + windowS).map((s) => s.bytes);
  const last = samples.filter((s) => s.t >= end - windowS && s.t <= end + 0.5).map((s) => s.bytes);
  const firstMeanBytes = first.length > 0 ? mean(first) : NaN;
  const lastMeanBytes = last.length > 0 ? mean(last) : NaN;
  return { warmupS, windowS, firstMeanBytes, lastMeanBytes, firstSamples: first.length, lastSamples: last.length, ratio: lastMeanBytes / firstMeanBytes };
}

const is2xx = (status: string | number): boolean => /^2\d\d$/.test(String(status));
const twoXx = (statuses: Record<string, number>): number => sum(Object.entries(statuses).map(([s, n]) => (is2xx(s) ? n : 0)));

interface Kinds {
  errorKinds: { status: number; code: string; count: number; withRetryAfter: number }[];
}
/** Non-2xx answers that are not a 503 with `Retry-After`. */
const unexpectedAnswers = (r: Kinds): number => sum(r.errorKinds.map((k) => (k.status === 503 ? k.count - k.withRetryAfter : k.count)));
const overloaded = (r: Kinds): number => sum(r.errorKinds.map((k) => (k.status === 503 ? k.withRetryAfter : 0)));

/** wrk's unexpected answers plus its socket errors. */
export function wrkUnexpected(w: MixResult): number {
  const e = w.socketErrors;
  return unexpectedAnswers(w) + e.connect + e.read + e.write + e.timeout;
}

/** A probe's unexpected answers plus its socket errors. */
export function probeUnexpected(p: OpProbeResult): number {
  return unexpectedAnswers(p) + p.socketErrors;
}

export function checks(r: LoadReport, maxRssDrift: number): Check[] {
  const out: Check[] = [];
  const w = r.wrk;
  const bad = [
    ...(w === null ? [] : [{ who: 'wrk (all operations)', n: wrkUnexpected(w) }]),
    ...r.opProbes.map((p) => ({ who: `${p.name} probe`, n: probeUnexpected(p) })),
  ].filter((x) => x.n > 0);
  const answers = (w?.answers ?? 0) + sum(r.opProbes.map((p) => p.requests));
  const retry = (w === null ? 0 : overloaded(w)) + sum(r.opProbes.map(overloaded));
  out.push({
    name: '(a) only 2xx and 503 with Retry-After (wrk and the probes)',
    ok: r.failure === null && w !== null && bad.length === 0,
    detail:
      w === null
        ? 'no load ran'
        : bad.length === 0
          ? `${int(answers)} answers, ${int(retry)} of them 503 with Retry-After`
          : `unexpected answers or socket errors: ${bad.map((x) => `${x.who} ${int(x.n)}`).join(', ')}`,
  });
  const flat = r.rss.flat;
  const drift = flat === null ? NaN : Math.abs(flat.ratio - 1);
  out.push({
    name: `(b) RSS flat within ${fixed(maxRssDrift * 100, 0)} %`,
    ok: Number.isFinite(drift) && drift <= maxRssDrift,
    detail:
      flat === null || !Number.isFinite(flat.ratio)
        ? 'not enough RSS samples'
        : `last ${fixed(flat.windowS, 1)} s / first ${fixed(flat.windowS, 1)} s after the warm-up = ${fixed(flat.ratio, 3)}${r.smoke ? ' (smoke: reported, too short to mean much)' : ''}`,
  });
  const a = r.after;
  out.push({
    name: '(c) after the load: /readyz 200 and count = stats.index.live (reported, not enforced)',
    ok: a !== null && a.readyz === 200 && a.live === a.count,
    detail:
      a === null
        ? 'not reached'
        : `/readyz ${a.readyz}; count ${int(a.count)}, stats.index.live ${a.live === null ? 'n/a' : int(a.live)}` +
          (a.settledMs === null ? ' (still different after 30 s)' : `, equal ${fixed(a.settledMs, 0)} ms after the load ended`),
  });
  return out;
}

const mib = (b: number | null): string => (b === null || !Number.isFinite(b) ? 'n/a' : `${fixed(b / 2 ** 20, 1)} MiB`);
const pct = (n: number, total: number): string => `${fixed((n / total) * 100, 1)} %`;
const oneLine = (body: string): string => body.replace(/\s+/g, ' ').slice(0, 300);

function kindsText(r: Kinds, socket: number): string {
  const parts = r.errorKinds.map((k) => `${k.status}${k.code === '' ? '' : ` ${k.code}`}×${int(k.count)}${k.withRetryAfter > 0 ? ` (${int(k.withRetryAfter)} with Retry-After)` : ''}`);
  if (socket > 0) parts.push(`${int(socket)} socket errors`);
  return parts.length === 0 ? '—' : parts.join(', ');
}

/** The achieved mix: wrk's requests by operation (the schedule's), and with the probes' added. */
function mixTable(r: LoadReport, w: MixResult, out: string[]): void {
  const sent = sum(Object.values(w.sent));
  const probes = new Map(r.opProbes.map((p) => [p.name, p.requests]));
  const both = sent + sum([...probes.values()]);
  const rows = MIX.map(({ name, weight }) => {
    const p = probes.get(name) ?? 0;
    return [name, `${weight} %`, int(w.sent[name]), pct(w.sent[name], sent), int(p), pct(w.sent[name] + p, both)];
  });
  rows.push(['total', '100 %', int(sent), '100 %', int(both - sent), '100 %']);
  out.push(table(['op', 'target', 'wrk requests', 'wrk mix', 'probe requests', 'wrk + probes'], rows, [false, true, true, true, true, true]));
  out.push('(wrk requests: built by wrk from the schedule, answered or still in flight when it stopped; the probes add their own requests on top)');
  out.push('');
}

function wrkLine(w: MixResult, out: string[]): void {
  const e = w.socketErrors;
  const socket = e.connect + e.read + e.write + e.timeout;
  out.push(
    `all operations (wrk, ${w.connections} connections): ${int(w.answers)} answers in ${fixed(w.seconds, 1)} s = ${int(w.qps)} QPS, ` +
      `${int(twoXx(w.statuses) / w.seconds)} 2xx/s; latency p50 ${fixed(w.p50Ms, 2)} ms, p90 ${fixed(w.p90Ms, 2)} ms, p99 ${fixed(w.p99Ms, 2)} ms, ` +
      `max ${fixed(w.maxMs, 1)} ms, mean ${fixed(w.meanMs, 2)} ms; non-2xx: ${kindsText(w, socket)}` +
      (socket > 0 ? ` (connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout})` : ''),
  );
  out.push('');
}

function probeTable(r: LoadReport, out: string[]): void {
  const rows = r.opProbes.map((p) => [
    p.name,
    `${p.method} …${p.path.slice(p.path.lastIndexOf('/'))}`,
    int(p.requests),
    fixed(p.requests / p.seconds, 1),
    fixed(p.p50Ms, 2),
    fixed(p.p99Ms, 2),
    fixed(p.maxMs, 1),
    kindsText(p, p.socketErrors),
  ]);
  out.push(
    `probe under the mixed load: per operation, one keep-alive connection each, one request at a time, at most one per ${r.config.opProbeIntervalMs} ms ` +
      `(the upsert and delete probes in lockstep), latency until the whole answer; over the whole run, warm-up included`,
  );
  out.push(table(['op', 'request', 'samples', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'non-2xx'], rows, [false, false, true, true, true, true, true, false]));
  out.push('');
}

export function formatLoad(r: LoadReport): string {
  const m = r.machine;
  const c = r.config;
  const out: string[] = [];
  out.push(`Vicinity mixed-load soak${r.smoke ? ' (smoke)' : ''} — ${r.started}`);
  out.push(`command:  ${r.command}`);
  out.push(`server:   ${r.revision}${Object.keys(r.serverEnv).length > 0 ? `; env ${Object.entries(r.serverEnv).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`);
  out.push(`machine:  ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.kernel}; node ${m.node}; wrk ${m.wrk ?? 'n/a'}; load average ${m.loadAverage}`);
  out.push(`data:     ${int(c.points)} points × ${c.dim}-d, ${c.metric}; ${c.dataSource}`);
  const u = r.load;
  if (u !== null) {
    out.push(
      `load:     ${int(u.vectors)} points in ${u.requests} PUTs of ${u.batch} (one at a time): ${fixed(u.seconds, 1)} s = ${int(u.rate)} points/s ` +
        `until searchable; per PUT p50 ${fixed(u.p50RequestMs, 0)} ms, max ${fixed(u.maxRequestMs, 0)} ms; count afterwards ${int(u.count)}`,
    );
  }
  const b = c.bodies;
  out.push(
    `mix:      one wrk -t1, ${c.connections} connections, ${c.warmupS} s warm-up + ${c.durationS} s; each request's operation from a fixed 100-slot ` +
      `schedule (70 search, 10 filtered, 15 upsert, 5 delete, shuffled with seed ${c.seed}), cycling that operation's pre-encoded bodies ` +
      `(search ${int(b.search)}, filtered ${int(b.filtered)}, upsert ${int(b.upsert)}, delete ${int(b.delete)}; every deleted id re-inserted by an upsert ` +
      `two rounds of the schedule later); wrk timeout ${c.timeoutS} s; latencies cover the whole run, warm-up included`,
  );
  out.push(`schedule: ${c.schedule}`);
  out.push('');
  const w = r.wrk;
  if (w !== null) {
    mixTable(r, w, out);
    wrkLine(w, out);
  }
  if (r.opProbes.length > 0) probeTable(r, out);
  if (r.cpu !== null) {
    const k = r.cpu;
    out.push(`cpu:      server ${cpu(k.serverS, k.seconds)}; wrk ${cpu(k.wrkS, k.seconds)}; this bench (probes included) ${cpu(k.benchS, k.seconds)}; everything else ${cpu(k.otherS, k.seconds)}`);
  }
  const f = r.rss.flat;
  if (f !== null) {
    out.push(
      `rss:      first ${fixed(f.windowS, 1)} s after the warm-up ${mib(f.firstMeanBytes)} (mean of ${f.firstSamples} samples), ` +
        `last ${fixed(f.windowS, 1)} s ${mib(f.lastMeanBytes)} (${f.lastSamples}); ratio ${fixed(f.ratio, 3)}; ` +
        `range ${mib(Math.min(...r.rss.samples.map((s) => s.bytes)))}–${mib(Math.max(...r.rss.samples.map((s) => s.bytes)))}; peak (VmHWM) ${mib(r.rss.peakBytes)}`,
    );
  }
  const probe = (p: ProbeResult | null, label: string): void => {
    if (p !== null) {
      out.push(`${label}${int(p.requests)} GET ${p.path} at ${p.ratePerS}/s on one connection: p50 ${fixed(p.p50Ms, 2)} ms, p99 ${fixed(p.p99Ms, 2)} ms, max ${fixed(p.maxMs, 1)} ms, ${p.errors} errors`);
    }
  };
  probe(r.probeIdle, 'idle:     ');
  probe(r.probe, 'probe:    ');
  if (r.probe !== null) out.push(`          healthz probe p99 (event-loop lag + one request): ${fixed(r.probe.p99Ms, 2)} ms`);
  if (r.eventLoopLagP99Ms != null) out.push(`event loop: the server's lag p99 over the load (GET /metrics): ${fixed(r.eventLoopLagP99Ms, 2)} ms`);
  if (r.countBefore !== null || r.after !== null) {
    const before = r.countBefore;
    const after = r.after?.count ?? null;
    const change = before === null || after === null ? '' : `; change ${after - before >= 0 ? '+' : ''}${int(after - before)} (${fixed(((after - before) / before) * 100, 2)} %)`;
    out.push(`count:    before the mixed load ${before === null ? 'n/a' : int(before)}, after ${after === null ? 'n/a' : int(after)}${change}`);
  }
  if (w !== null) {
    for (const k of w.errorKinds) {
      out.push(`example:  wrk ${k.status}${k.code === '' ? '' : ` ${k.code}`} (operation guessed from the body: ${k.likelyOp}): ${oneLine(k.example)}`);
    }
  }
  for (const p of r.opProbes) {
    for (const k of p.errorKinds) out.push(`example:  ${p.name} probe ${k.status}${k.code === '' ? '' : ` ${k.code}`}: ${oneLine(k.example)}`);
    if (p.socketExample !== null) out.push(`example:  ${p.name} probe socket error: ${p.socketExample}`);
  }
  const logged = Object.entries(r.serverErrors);
  if (logged.length > 0) {
    out.push('server log, error lines:');
    for (const [msg, n] of logged.sort((a, b2) => b2[1] - a[1]).slice(0, 10)) out.push(`  ${int(n).padStart(6)} × ${msg}`);
  }
  if (r.failure !== null) out.push(`FAILED:   ${r.failure}`);
  for (const k of r.checks) out.push(`${k.ok ? 'PASS' : 'FAIL'}      ${k.name}: ${k.detail}`);
  return out.join('\n');
}
