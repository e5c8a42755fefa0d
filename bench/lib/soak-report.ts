/** The soak's report: a table of failure rates per scenario variant, then what each failure looked like. */
import { int, table, type Machine } from './report.ts';
import type { ScenarioResult } from './soak-common.ts';

export interface SoakReport {
  started: string;
  command: string;
  smoke: boolean;
  machine: Machine;
  serverDir: string;
  serverRevision: string;
  serverEnv: Record<string, string>;
  seconds?: number;
  scenarios: {
    name: string;
    seconds: number;
    results: ScenarioResult[];
    /** The exception that stopped the scenario, or null. */
    aborted: string | null;
    /** Error-level lines the servers logged during the scenario, by message. */
    serverErrors: Record<string, number>;
  }[];
}

const percent = (rate: number) => (rate === 0 ? '0 %' : rate < 0.0001 ? `${(rate * 100).toExponential(1)} %` : `${(rate * 100).toFixed(rate < 0.01 ? 3 : 2)} %`);

export function formatSoak(r: SoakReport): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`Vicinity soak${r.smoke ? ' (smoke)' : ''} — ${r.started}, ${r.seconds ?? '?'} s`);
  out.push(`command:  ${r.command}`);
  out.push(`server:   ${r.serverDir} at ${r.serverRevision}${Object.keys(r.serverEnv).length > 0 ? `; env ${Object.entries(r.serverEnv).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`);
  out.push(`machine:  ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.kernel}; node ${m.node}; load average ${m.loadAverage}`);
  out.push('');
  const rows: string[][] = [];
  for (const s of r.scenarios) {
    for (const x of s.results) {
      rows.push([x.scenario, x.variant, String(x.rounds), int(x.operations), int(x.failures), percent(x.rate), int(x.otherFailures), String(x.seconds)]);
    }
    if (s.aborted !== null) rows.push([s.name, 'ABORTED', '—', '—', '—', '—', '—', String(s.seconds)]);
  }
  const header = ['scenario', 'variant', 'rounds', 'operations', 'failures', 'rate', 'other failures', 's'];
  out.push(table(header, rows, [false, false, true, true, true, true, true, true]));
  out.push('(other failures: unexpected answers to the requests that set the rounds up, listed below with the rest)');
  for (const s of r.scenarios) {
    out.push('');
    out.push(`== ${s.name} (${s.seconds} s)`);
    if (s.aborted !== null) out.push(`  ABORTED: ${s.aborted.split('\n').slice(0, 6).join('\n           ')}`);
    for (const x of s.results) {
      out.push(`  -- ${x.variant}: ${int(x.failures)} failures in ${int(x.operations)} operations (${percent(x.rate)}), ${x.rounds} rounds`);
      for (const k of x.byKind) out.push(`     ${k.kind.padEnd(30)} ${int(k.operations).padStart(8)} ops  ${int(k.failures).padStart(6)} failed  ${percent(k.operations > 0 ? k.failures / k.operations : 0)}`);
      for (const [key, n] of Object.entries(x.errors)) out.push(`     error    ${int(n).padStart(6)} × ${key}`);
      for (const e of x.examples) out.push(`     example  ${e}`);
      const counters = Object.entries(x.counters).map(([k, v]) => `${k} ${Number.isInteger(v) ? int(v) : v.toFixed(1)}`);
      if (counters.length > 0) out.push(`     measured (summed over the rounds) ${counters.join('; ')}`);
      for (const n of x.notes) out.push(`     note     ${n}`);
    }
    const logged = Object.entries(s.serverErrors);
    if (logged.length > 0) {
      out.push('  server log, error lines:');
      for (const [msg, n] of logged.sort((a, b) => b[1] - a[1]).slice(0, 10)) out.push(`     ${int(n).padStart(6)} × ${msg}`);
    }
  }
  return out.join('\n');
}
