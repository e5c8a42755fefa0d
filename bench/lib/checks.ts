import type { BenchReport, Check } from './report.ts';

/**
 * What must hold for the numbers to mean anything. Robust on purpose: thresholds catch a broken path
 * (wrong ids, wrong metric, lost points, failing requests), not a small regression in recall.
 */
export function checkResults(r: BenchReport, smoke: boolean): Check[] {
  const checks: Check[] = [];
  const add = (name: string, ok: boolean, detail: string): void => void checks.push({ name, ok, detail });
  const last = r.efs.at(-1);
  if (last === undefined) return [{ name: 'ef list', ok: false, detail: 'no ef values were run' }];

  add('raw recall at the largest ef', last.raw.recall >= 0.9, `${last.raw.recall.toFixed(4)} at ef=${last.ef}, need ≥ 0.9`);
  add('Vicinity server ran the whole bench', r.vicinity.failure === null, r.vicinity.failure ?? 'no failure');
  const upload = r.vicinity.upload;
  if (upload !== null) {
    add('every uploaded point is counted', upload.count === r.dataset.train, `count=${upload.count}, uploaded ${r.dataset.train}`);
  }
  for (const e of r.efs) {
    if (e.http === null) continue;
    // Same parameters and insertion order as the raw index, so recall should be close to it; smoke mode
    // asks only for a working path (0.5), the full run for parity within 0.05.
    const floor = smoke ? 0.5 : e.raw.recall - 0.05;
    add(`HTTP recall at ef=${e.ef}`, e.http.recall >= floor, `${e.http.recall.toFixed(4)} (raw ${e.raw.recall.toFixed(4)}), need ≥ ${floor.toFixed(4)}`);
    add(`HTTP distances at ef=${e.ef}`, e.http.maxDistanceError <= 1e-3, `largest relative error ${e.http.maxDistanceError.toExponential(2)}, need ≤ 1e-3`);
    add(`HTTP answers have k results at ef=${e.ef}`, e.http.shortAnswers === 0, `${e.http.shortAnswers} short answers`);
    for (const l of e.loads) {
      add(
        `load ef=${e.ef} c=${l.concurrency}`,
        l.requests > 0 && l.errors === 0,
        `${l.requests} requests, ${l.errors} errors (${l.tool})`,
      );
    }
  }
  if (r.vicinity.exitCode !== undefined) {
    add('server exits 0 on SIGTERM', r.vicinity.exitCode === 0, `exit code ${r.vicinity.exitCode}`);
  }
  return checks;
}
