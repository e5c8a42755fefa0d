/**
 * The report of `bench/rag.ts`: what it measured, the targets (met or missed, never failing the run)
 * and the checks that the bench itself ran properly (those set the exit code).
 */
import type { WrkRun } from './ops-wrk.ts';
import type { SearchPass } from './raw-hnsw.ts';
import type { EfTry, ModeResult, NoopResult, RagLoad } from './rag-run.ts';
import { fixed, int, markdownTable, type BenchHead, type Check } from './report.ts';
import type { QuietRules } from './stats.ts';
import type { SmallUpserts } from './upserts.ts';

export interface Target {
  name: string;
  goal: string;
  measured: string;
  /** null: not measured (an earlier step failed). */
  met: boolean | null;
}

export interface RagReport extends BenchHead {
  groundTruth: { cached: boolean; seconds: number; filteredCached: boolean | null; recallDefinition: string };
  settings: { seconds: number; warmupS: number; threads: number; batch: number; efs: number[]; recallTarget: number; serverEnv: Record<string, string>; quiet: QuietRules };
  hnsw: { m: number; efConstruction: number; seed: number };
  raw: { build: string; buildSeconds: number; passes: SearchPass[] } | null;
  load: RagLoad | null;
  ef: { tries: EfTry[]; chosen: number; reached: boolean } | null;
  noop: NoopResult | null;
  modes: ModeResult[];
  /** Replacing upserts after the searches (documents re-embedded): one point per request, then all in one request. */
  upserts: SmallUpserts[];
  serverErrors: Record<string, number>;
  failure: string | null;
  checks: Check[];
  targets: Target[];
}

/** The three unfiltered modes the throughput and latency targets apply to. */
const UNFILTERED = ['default', 'no-payload', 'msgpack'] as const;
const RECALL_GOAL = 0.95;
const FILTERED_RECALL_GOAL = 0.99;
const P50_ALLOWANCE_MS = 0.25;
const P99_FACTOR = 1.5;
const FILTERED_P50_FACTOR = 2;
const FIRST_SEARCH_AFTER_UPSERTS_MS = 250;

export const rawAt = (r: RagReport): SearchPass | null => (r.ef === null ? null : (r.raw?.passes.find((p) => p.ef === r.ef!.chosen) ?? null));
const modeOf = (r: RagReport, name: string): ModeResult | null => r.modes.find((m) => m.mode === name) ?? null;
const ms = (x: number): string => `${fixed(x, 3)} ms`;

export function targets(r: RagReport): Target[] {
  const raw = rawAt(r);
  const noop = r.noop?.c1 ?? null;
  const out: Target[] = [];
  const add = (name: string, goal: string, measured: (() => [string, boolean]) | null): void => {
    const [text, met] = measured === null ? ['—', null] : measured();
    out.push({ name, goal, measured: text, met });
  };
  for (const name of UNFILTERED) {
    const m = modeOf(r, name);
    const both = raw !== null && m !== null;
    add(`${name}: c = 8 QPS ≥ 1.0 × raw, recall ≥ ${RECALL_GOAL}`, raw === null ? '—' : `≥ ${int(raw.qps)} QPS`, both ? () => [
      `${int(m.c8.qps)} QPS (× ${fixed(m.c8.qps / raw.qps, 2)}), recall ${fixed(m.recall.recall, 4)}`,
      m.c8.qps >= raw.qps && m.recall.recall >= RECALL_GOAL,
    ] : null);
    add(`${name}: c = 1 p50 ≤ raw p50 + ${P50_ALLOWANCE_MS} ms`, raw === null ? '—' : `≤ ${ms(raw.p50Ms + P50_ALLOWANCE_MS)}`, both ? () => [
      ms(m.c1.p50Ms),
      m.c1.p50Ms <= raw.p50Ms + P50_ALLOWANCE_MS,
    ] : null);
    add(`${name}: c = 1 p99 ≤ ${P99_FACTOR} × no-op route p99`, noop === null ? '—' : `≤ ${ms(P99_FACTOR * noop.p99Ms)}`, noop !== null && m !== null ? () => [
      `${ms(m.c1.p99Ms)} (× ${fixed(m.c1.p99Ms / noop.p99Ms, 2)})`,
      m.c1.p99Ms <= P99_FACTOR * noop.p99Ms,
    ] : null);
  }
  const filtered = modeOf(r, 'filtered');
  const plain = modeOf(r, 'default');
  add(
    `filtered 1 %: c = 1 p50 ≤ ${FILTERED_P50_FACTOR} × unfiltered p50, recall ≥ ${FILTERED_RECALL_GOAL}`,
    plain === null ? '—' : `≤ ${ms(FILTERED_P50_FACTOR * plain.c1.p50Ms)}`,
    filtered !== null && plain !== null ? () => [
      `${ms(filtered.c1.p50Ms)} (× ${fixed(filtered.c1.p50Ms / plain.c1.p50Ms, 2)}), recall ${fixed(filtered.recall.recall, 4)}`,
      filtered.c1.p50Ms <= FILTERED_P50_FACTOR * plain.c1.p50Ms && filtered.recall.recall >= FILTERED_RECALL_GOAL,
    ] : null,
  );
  for (const w of r.upserts) {
    add(`the first search after ${int(w.points)} replacing upserts in requests of ${int(w.pointsPerRequest)}`, `≤ ${FIRST_SEARCH_AFTER_UPSERTS_MS} ms`, () => [
      ms(w.firstSearchMs),
      w.firstSearchMs <= FIRST_SEARCH_AFTER_UPSERTS_MS,
    ]);
  }
  return out;
}

/** What must hold for the numbers to mean anything: a failure here is the bench's, not a missed target. */
export function checks(r: RagReport): Check[] {
  const out: Check[] = [];
  const add = (name: string, ok: boolean, detail: string): void => void out.push({ name, ok, detail });
  add('every step ran', r.failure === null, r.failure?.split('\n')[0] ?? 'no failure');
  if (r.load !== null) {
    add('every point is there after the restart', r.load.countAfterRestart === r.dataset.train, `count ${r.load.countAfterRestart} of ${r.dataset.train}`);
    add('the k-NN overlay filler was idle after the restart', r.load.overlayBehindAfterRestart === 0, `${r.load.overlayBehindAfterRestart} changes behind`);
  }
  const runs: [string, WrkRun][] = [...(r.noop === null ? [] : [['no-op c=1', r.noop.c1] as [string, WrkRun]])];
  for (const m of r.modes) runs.push([`${m.mode} c=1`, m.c1], [`${m.mode} c=8`, m.c8]);
  for (const w of r.upserts) add(`upserts in requests of ${w.pointsPerRequest} answered 200`, w.errors === 0, `${w.errors} errors${w.firstError === null ? '' : `, first: ${w.firstError}`}`);
  for (const [name, run] of runs) {
    add(`wrk ${name} answered 2xx`, run.requests > 0 && run.statusErrors + run.socketErrors === 0, `${run.requests} requests, ${run.statusErrors} non-2xx, ${run.socketErrors} socket errors`);
  }
  for (const m of r.modes) {
    const wantsPayload = m.mode !== 'no-payload';
    add(`${m.mode}: payloads ${wantsPayload ? 'returned' : 'left out'}`, (m.payloadTextChars !== null) === wantsPayload, `first result's text: ${m.payloadTextChars === null ? 'none' : `${m.payloadTextChars} characters`}`);
    add(`${m.mode}: distances are exact squared L2`, m.recall.maxDistanceError <= 1e-3, `largest relative error ${m.recall.maxDistanceError.toExponential(2)}`);
    add(`${m.mode}: every answer has k results, all passing the filter`, m.recall.shortAnswers === 0 && m.recall.violations === 0, `${m.recall.shortAnswers} short, ${m.recall.violations} violating`);
  }
  return out;
}

const cores = (s: number | null, seconds: number): string => (s === null ? 'n/a' : fixed(s / seconds, 2));
const usPerRequest = (s: number | null, requests: number): string => (s === null || requests === 0 ? 'n/a' : int((s * 1e6) / requests));

function measurements(r: RagReport): string {
  const header = ['path', 'c', `recall@${r.dataset.k}`, 'QPS', 'p50 ms', 'p99 ms', 'server cores', 'server µs/req', 'wrk cores', 'other cores', 'errors'];
  const right = [false, true, true, true, true, true, true, true, true, true, true];
  const rows: string[][] = [];
  const raw = rawAt(r);
  if (raw !== null) {
    // In-process, one thread busy the whole time: its CPU per search is its wall time per search.
    rows.push([`raw hnswlib (${r.raw!.build}, in-process)`, '1', fixed(raw.recall, 4), int(raw.qps), fixed(raw.p50Ms, 3), fixed(raw.p99Ms, 3), '1.00', int(1e6 / raw.qps), '—', cores(raw.otherCpuS, raw.seconds), '0']);
  }
  const wrkRow = (path: string, recall: string, w: WrkRun): string[] => [
    path, String(w.connections), recall, int(w.qps), fixed(w.p50Ms, 3), fixed(w.p99Ms, 3),
    cores(w.serverCpuS, w.seconds), usPerRequest(w.serverCpuS, w.requests), cores(w.wrkCpuS, w.seconds), cores(w.otherCpuS, w.seconds),
    String(w.statusErrors + w.socketErrors),
  ];
  if (r.noop !== null) rows.push(wrkRow('no-op Fastify route', '—', r.noop.c1));
  for (const m of r.modes) {
    rows.push(wrkRow(`Vicinity ${m.mode}`, fixed(m.recall.recall, 4), m.c1), wrkRow(`Vicinity ${m.mode}`, fixed(m.recall.recall, 4), m.c8));
  }
  return markdownTable(header, rows, right);
}

const verdict = (met: boolean | null): string => (met === null ? 'n/a' : met ? 'pass' : 'MISS');

export function formatRag(r: RagReport): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`# Vicinity RAG search benchmark${r.smoke ? ' (smoke)' : ''} — ${r.started}`, '');
  out.push(`- command: \`${r.command}\``);
  out.push(`- revision: ${r.revision}`);
  out.push(`- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.kernel}; node ${m.node}; hnswlib-node ${m.hnswlibNode}; wrk ${m.wrk ?? 'n/a'}; load average at start ${m.loadAverage}`);
  out.push(`- data: ${r.dataset.name}: ${int(r.dataset.train)} × ${r.dataset.dim}-d, ${r.dataset.metric}; ${int(r.dataset.queries)} queries, each a distinct body (${r.dataset.source})`);
  out.push(`- ground truth: exact, ${r.groundTruth.cached ? 'from cache' : 'computed'} in ${fixed(r.groundTruth.seconds, 1)} s; ${r.groundTruth.recallDefinition}`);
  const l = r.load;
  if (l !== null) {
    const u = l.upload;
    out.push(
      `- load: ${int(u.vectors)} points with ~1 KiB payloads in ${u.requests} PUTs of ${u.batch}, ${fixed(u.seconds, 1)} s (${int(u.rate)} points/s); ` +
        `k-NN overlay caught up ${fixed(l.overlaySettleS, 0)} s later; restart: SIGTERM → exit ${int(l.stopMs)} ms, start → ready ${int(l.restartMs)} ms`,
    );
    out.push(`- server: default collection config, hnswlib build ${l.serverBuild ?? 'unknown'}, extra env ${JSON.stringify(r.settings.serverEnv)}; raw: M=${r.hnsw.m}, ef_construction=${r.hnsw.efConstruction}, built in ${fixed(r.raw?.buildSeconds ?? NaN, 1)} s`);
  }
  if (r.ef !== null) {
    const tries = r.ef.tries.map((t) => `ef ${t.ef}: ${fixed(t.recall.recall, 4)}`).join(', ');
    out.push(`- ef: ${r.ef.chosen}, ${r.ef.reached ? 'the smallest' : 'the largest tried; none'} reaching recall ${r.settings.recallTarget} (${tries}); raw runs at the same ef`);
  }
  for (const mode of r.modes) {
    const filter = mode.matches === null ? '' : `; ${int(mode.matches)} points match, recall against exact over them`;
    out.push(`- ${mode.mode}: ${mode.request}; one answer ${int(mode.answerBytes)} bytes${filter}`);
  }
  out.push(
    `- wrk: ${r.settings.warmupS} s untimed at c = 8 before each path, then ${r.settings.seconds} s per row (wrk threads: 1 at c = 1, ${r.settings.threads} at c = 8); ` +
      (r.settings.quiet.waitS === 0 ? 'no wait for a quiet machine; ' : `each run (and each raw ef) waits up to ${r.settings.quiet.waitS} s for the rest of the machine to use < ${r.settings.quiet.disturbedCores} cores; `) +
      `cores = CPU seconds / wall seconds; other = every other process on the machine meanwhile`,
  );
  for (const w of r.upserts) {
    out.push(
      `- replacing upserts: ${int(w.points)} points in ${int(w.requests)} requests, concurrency ${w.concurrency}: acknowledged at ${int(w.pointsPerS)} points/s; ` +
        `the first search (default request) sent after the last acknowledgement took ${ms(w.firstSearchMs)}; request p99 ${ms(w.p99Ms)}`,
    );
  }
  out.push(`- wall time: ${fixed(r.durationS, 0)} s`, '');
  out.push(measurements(r), '', '## Targets', '');
  out.push(markdownTable(['target', 'goal', 'measured', 'result'], r.targets.map((t) => [t.name, t.goal, t.measured, verdict(t.met)]), [false, false, false, false]));
  out.push('', '## Checks (the bench ran)', '');
  for (const c of r.checks) out.push(`- ${c.ok ? 'ok' : 'FAIL'}: ${c.name}: ${c.detail}`);
  const errors = Object.entries(r.serverErrors);
  if (errors.length > 0) out.push('', `Server error lines: ${errors.map(([k, n]) => `${n} × ${k}`).join('; ')}`);
  return out.join('\n');
}
