import type { Pass } from './passes.ts';
import { rawPass, unfilteredP50, type ReplicasReport, type Target } from './replicas-report.ts';
import { fixed, int, type Check } from './report.ts';

/** The targets in docs/benchmarks.md (Targets the benchmarks print), printed met or missed; they never fail the run (a benchmark reports, CI tests). */
export const GOALS = {
  firstSearchAfterBurstMs: 250,
  qpsVsRawAtC8: 1.0,
  p50OverRawMs: 0.25,
  healthP99Ms: 10,
  filteredRecall: 0.99,
  filteredP50Ratio: 2,
} as const;

function pass(r: ReplicasReport, ef: number, encoding: string, concurrency: number, withPayload = false): Pass | undefined {
  const series = r.http.find((s) => s.ef === ef && s.encoding === encoding && s.withPayload === withPayload);
  return series?.passes.find((p) => p.concurrency === concurrency);
}

export function targets(r: ReplicasReport): Target[] {
  const out: Target[] = [];
  const chosen = r.chosen[0];
  const raw = chosen === undefined ? undefined : rawPass(r, 'stock', chosen.ef);
  const add = (name: string, goal: string, value: string, met: boolean | null): void => void out.push({ name, goal, value, met });
  for (const encoding of ['json', 'msgpack']) {
    const c8 = chosen === undefined ? undefined : pass(r, chosen.ef, encoding, 8);
    add(
      `QPS at concurrency 8, recall ≥ ${chosen?.target ?? '—'} (ef=${chosen?.ef ?? '—'}), ${encoding}`,
      `≥ ${GOALS.qpsVsRawAtC8.toFixed(1)}× raw stock 1-thread QPS`,
      c8 === undefined || raw === undefined ? 'not measured' : `${int(c8.qps)} vs ${int(raw.qps)} = ${fixed(c8.qps / raw.qps, 2)}×`,
      c8 === undefined || raw === undefined ? null : c8.qps >= GOALS.qpsVsRawAtC8 * raw.qps,
    );
    const c1 = chosen === undefined ? undefined : pass(r, chosen.ef, encoding, 1);
    add(
      `single-client p50, ef=${chosen?.ef ?? '—'}, ${encoding}`,
      `≤ raw stock p50 + ${GOALS.p50OverRawMs} ms`,
      c1 === undefined || raw === undefined ? 'not measured' : `${fixed(c1.p50Ms, 3)} ms vs ${fixed(raw.p50Ms, 3)} + ${GOALS.p50OverRawMs} = ${fixed(raw.p50Ms + GOALS.p50OverRawMs, 3)} ms`,
      c1 === undefined || raw === undefined ? null : c1.p50Ms <= raw.p50Ms + GOALS.p50OverRawMs,
    );
  }
  const probes = r.http.flatMap((s) => s.passes.filter((p) => p.probe !== null).map((p) => ({ ef: s.ef, probe: p.probe! })));
  const worst = probes.reduce<(typeof probes)[number] | undefined>((a, b) => (a === undefined || b.probe.p99Ms > a.probe.p99Ms ? b : a), undefined);
  add(
    '/healthz p99 while concurrency-32 searches saturate the replicas',
    `≤ ${GOALS.healthP99Ms} ms`,
    worst === undefined ? 'not measured' : `${fixed(worst.probe.p99Ms, 3)} ms (worst pass, ef=${worst.ef}; max ${fixed(worst.probe.maxMs, 3)} ms)`,
    worst === undefined ? null : worst.probe.p99Ms <= GOALS.healthP99Ms,
  );
  const one = r.filtered.find((f) => f.label === '1 %');
  const want = one === undefined ? r.dataset.k : Math.min(r.dataset.k, one.matches);
  const ref = unfilteredP50(r);
  add(
    'filtered 1 %: results per query',
    `${want} (k) for every query`,
    one?.recall == null ? 'not measured' : `min ${one.recall.minResults}, mean ${fixed(one.recall.meanResults, 2)}`,
    one?.recall == null ? null : one.recall.minResults >= want,
  );
  add(
    'filtered 1 %: recall@10 against the exact filtered top-10',
    `≥ ${GOALS.filteredRecall}`,
    one?.recall == null ? 'not measured' : fixed(one.recall.recall, 4),
    one?.recall == null ? null : one.recall.recall >= GOALS.filteredRecall,
  );
  add(
    'filtered 1 %: single-client p50',
    `≤ ${GOALS.filteredP50Ratio}× unfiltered p50`,
    one?.c1 == null ? 'not measured' : `${fixed(one.c1.p50Ms, 3)} ms vs ${fixed(ref, 3)} ms = ${fixed(one.c1.p50Ms / ref, 2)}×`,
    one?.c1 == null ? null : one.c1.p50Ms <= GOALS.filteredP50Ratio * ref,
  );
  for (const w of r.upserts) {
    add(
      `the first search after ${w.points} replacing upserts in requests of ${w.pointsPerRequest}`,
      `≤ ${GOALS.firstSearchAfterBurstMs} ms`,
      `${fixed(w.firstSearchMs, 1)} ms`,
      w.firstSearchMs <= GOALS.firstSearchAfterBurstMs,
    );
  }
  return out;
}

/**
 * What must hold for the numbers to mean anything; a failed check makes the run exit 1 (CI runs the
 * smoke size on every commit). Floors catch a broken path, not a small regression.
 */
export function checks(r: ReplicasReport): Check[] {
  const out: Check[] = [];
  const add = (name: string, ok: boolean, detail: string): void => void out.push({ name, ok, detail });
  add('Vicinity server ran the whole bench', r.server.failure === null, r.server.failure ?? 'no failure');
  for (const side of [r.raw.stock, r.raw.fast]) {
    const last = side.passes.at(-1);
    if (last !== undefined) add(`raw ${side.build} recall at the largest ef`, last.recall >= 0.9, `${fixed(last.recall, 4)} at ef=${last.ef}, need ≥ 0.9`);
  }
  if (r.upload !== null) add('every uploaded point is counted', r.upload.count === r.dataset.train, `count=${r.upload.count}, uploaded ${r.dataset.train}`);
  const json = new Map<number, number>();
  for (const s of r.http) {
    const name = `ef=${s.ef} ${s.encoding}${s.withPayload ? ' with payload' : ''}`;
    if (s.recall !== null) {
      const raw = rawPass(r, 'stock', s.ef)?.recall ?? 1;
      const floor = r.smoke ? 0.5 : raw - 0.05;
      add(`HTTP recall ${name}`, s.recall.recall >= floor, `${fixed(s.recall.recall, 4)} (raw stock ${fixed(raw, 4)}), need ≥ ${fixed(floor, 4)}`);
      add(`HTTP distances ${name}`, s.recall.maxDistanceError <= 1e-3, `largest relative error ${s.recall.maxDistanceError.toExponential(2)}, need ≤ 1e-3`);
      add(`HTTP answers have k results ${name}`, s.recall.shortAnswers === 0, `${s.recall.shortAnswers} short answers`);
      if (s.encoding === 'json') json.set(s.ef, s.recall.recall);
      const same = json.get(s.ef);
      if (s.encoding === 'msgpack' && same !== undefined) {
        add(`MessagePack answers match JSON ${name}`, Math.abs(s.recall.recall - same) <= 0.01, `recall ${fixed(s.recall.recall, 4)} vs JSON ${fixed(same, 4)}`);
      }
    }
    for (const p of s.passes) checkPass(add, `load ${name} c=${p.concurrency}`, p, r.rules.minRequests);
  }
  for (const f of r.filtered) {
    const want = Math.min(r.dataset.k, f.matches);
    if (f.recall !== null) {
      add(`filtered ${f.label}: results pass the filter`, f.recall.violations === 0, `${f.recall.violations} results fail ${f.where}`);
      add(`filtered ${f.label}: min(k, matching) results`, f.recall.minResults >= want, `min ${f.recall.minResults}, need ${want}`);
      add(`filtered ${f.label}: recall`, f.recall.recall >= (r.smoke ? 0.5 : 0.8), `${fixed(f.recall.recall, 4)}, need ≥ ${r.smoke ? 0.5 : 0.8}`);
    }
    for (const p of [f.c1, f.c8]) if (p !== null) checkPass(add, `load filtered ${f.label} c=${p.concurrency}`, p, r.rules.minRequests);
  }
  for (const probe of [r.healthIdle, ...r.http.flatMap((s) => s.passes.map((p) => p.probe))]) {
    if (probe !== null && probe !== undefined) add('/healthz answers', probe.requests > 0 && probe.errors === 0, `${probe.requests} GETs, ${probe.errors} errors`);
  }
  for (const w of r.upserts) {
    add(`upserts in requests of ${w.pointsPerRequest} succeed`, w.errors === 0, `${w.errors} errors${w.firstError === null ? '' : `, first: ${w.firstError}`}`);
  }
  if (r.upserts.length > 0) add('upserts replace, not add', r.countAfterUpserts === r.dataset.train, `count ${r.countAfterUpserts}, expected ${r.dataset.train}`);
  if (r.server.exitCode !== undefined) add('server exits 0 on SIGTERM', r.server.exitCode === 0, `exit code ${r.server.exitCode}`);
  return out;
}

function checkPass(add: (name: string, ok: boolean, detail: string) => void, name: string, p: Pass, minRequests: number): void {
  add(name, p.errors === 0 && p.requests >= minRequests, `${p.requests} requests (need ≥ ${minRequests}), ${p.errors} errors (${p.tool})`);
}
