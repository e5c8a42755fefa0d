import { GOALS, rssBeyondCollection, rssBeyondIndexes, rssBound, type ImportReport, type LoadWindow, type ServerSide } from './import-report.ts';
import type { ImportMeasure } from './import-measure.ts';
import type { Target } from './replicas-report.ts';
import { fixed, int, type Check } from './report.ts';

const MiB = (bytes: number): string => `${fixed(bytes / 2 ** 20, 0)} MiB`;

/** The three import targets of docs/benchmarks.md (Targets the benchmarks print), per measured import; null `met` where nothing was measured. */
export function importTargets(r: ImportReport): Target[] {
  const out: Target[] = [];
  const add = (name: string, goal: string, value: string, met: boolean | null): void => void out.push({ name, goal, value, met });
  const stock = r.raw.find((b) => b.build === 'stock');
  const fast = r.raw.find((b) => b.build !== 'stock');
  for (const f of r.fashion) {
    const m = f.import;
    const vsFast = m === null || fast === undefined ? '' : `; ${fixed(m.rate / fast.rate, 2)}× raw ${fast.build} (${int(fast.rate)}/s)`;
    add(
      `import rate, ${f.label}`,
      `≥ ${GOALS.rateVsRawStock}× raw stock 1-thread build`,
      m === null || stock === undefined ? 'not measured' : `${int(m.rate)} vs ${int(stock.rate)} vectors/s = ${fixed(m.rate / stock.rate, 3)}×${vsFast}`,
      m === null || stock === undefined ? null : m.rate >= GOALS.rateVsRawStock * stock.rate,
    );
  }
  for (const s of r.scale) {
    const m = s.import;
    const bound = m === null ? null : rssBound(m);
    const hwm = m?.rss.hwmBytes ?? null;
    add(
      `peak server RSS, ${int(s.n)} × ${s.file.dim}-d`,
      `≤ (replicas + 1) × index + shared vector store + ${GOALS.rssSlackMiB} MiB`,
      m === null || bound === null || hwm === null
        ? 'not measured'
        : `${MiB(hwm)} vs (${m.after.replicas} + 1) × ${MiB(m.after.perReplicaBytes!)} + ${MiB(m.after.sharedVectorsBytes!)} + ${GOALS.rssSlackMiB} MiB = ${MiB(bound)}`,
      bound === null || hwm === null ? null : hwm <= bound,
    );
  }
  const measured = r.scale.filter((s) => s.import !== null && rssBeyondCollection(s.import) !== null);
  if (measured.length >= 2) {
    const [first, last] = [measured[0].import!, measured.at(-1)!.import!];
    const grew = (f: (m: ImportMeasure) => number | null): string => MiB(f(last)! - f(first)!);
    // Informational: the target asks that peak RSS not grow with the file, and gives no threshold.
    add(
      'peak RSS beyond the collection as the file grows',
      'independent of the file size',
      `from ${int(first.records)} to ${int(last.records)} vectors (file +${MiB(last.fileBytes - first.fileBytes)}): ` +
        `peak − (replicas + 1) × index ${grew(rssBeyondIndexes)}, less the shared vector store too ${grew(rssBeyondCollection)}`,
      null,
    );
  }
  const l = r.latency;
  const worst = l?.during.reduce<LoadWindow | null>((a, w) => (a === null || w.p99Ms > a.p99Ms ? w : a), null) ?? null;
  add(
    'search p99 during an import (the worst window)',
    `≤ ${GOALS.p99Ratio}× idle`,
    l?.idle == null || worst === null ? 'not measured' : `${fixed(worst.p99Ms, 2)} vs ${fixed(l.idle.p99Ms, 2)} ms = ${fixed(worst.p99Ms / l.idle.p99Ms, 2)}× (${fixed(worst.startS, 0)}–${fixed(worst.endS, 0)} s into the import)`,
    l?.idle == null || worst === null ? null : worst.p99Ms <= GOALS.p99Ratio * l.idle.p99Ms,
  );
  return out;
}

/** What must hold for the numbers to mean anything: every import done and complete, searches right, servers clean. */
export function importChecks(r: ImportReport, smoke: boolean): Check[] {
  const checks: Check[] = [];
  const add = (name: string, ok: boolean, detail: string): void => void checks.push({ name, ok, detail });
  const server = (name: string, s: ServerSide): void => {
    add(`${name}: server ran to the end`, s.failure === null, s.failure?.split('\n')[0] ?? 'no failure');
    if (s.exitCode !== undefined) add(`${name}: server exits 0 on SIGTERM`, s.exitCode === 0, `exit code ${s.exitCode}`);
  };
  const complete = (name: string, m: ImportMeasure | null): void => {
    if (m === null) return;
    add(`${name}: job done`, m.job === null || m.job.state === 'done', m.job === null ? 'no job id in the CLI summary (CLI exit 0)' : `state ${m.job.state}`);
    add(`${name}: every record counted`, m.after.count === m.records, `count=${m.after.count}, imported ${m.records}`);
  };
  const stock = r.raw.find((b) => b.build === 'stock');
  for (const f of r.fashion) {
    server(f.label, f.server);
    complete(f.label, f.import);
    if (f.recall !== null && stock !== undefined) {
      // Same data, parameters and order as the raw build; smoke only asks for a working path.
      const floor = smoke ? 0.5 : stock.recall - 0.05;
      add(`${f.label}: recall@${r.dataset.k} at ef=${r.settings.ef}`, f.recall.recall >= floor, `${fixed(f.recall.recall, 4)} (raw stock ${fixed(stock.recall, 4)}), need ≥ ${fixed(floor, 4)}`);
      add(`${f.label}: distances`, f.recall.maxDistanceError <= 1e-3, `largest relative error ${f.recall.maxDistanceError.toExponential(2)}, need ≤ 1e-3`);
    }
  }
  for (const s of r.scale) {
    server(`${int(s.n)} synthetic`, s.server);
    complete(`${int(s.n)} synthetic`, s.import);
  }
  const l = r.latency;
  if (l !== null) {
    server('search during import', l.server);
    complete('search during import: loaded collection', l.loaded);
    complete('search during import: the import', l.duringImport);
    const passes = l.idle === null ? l.during : [l.idle, ...l.during];
    add('search passes idle and during the import', l.during.length > 0 && passes.every((p) => p.requests > 0 && p.errors === 0), passes.map((p) => `${p.requests} requests, ${p.errors} errors`).join('; '));
  }
  return checks;
}
