/**
 * Soak: race scenarios against a real server, repeated for a number of rounds (or seconds), each
 * reporting a failure rate. A failure is any unexpected answer — a 5xx, or a wrong result. Only the
 * public HTTP API and process signals are used, so it runs against any checkout (`--server-dir`).
 *
 *   node --import tsx bench/soak.ts                                  every scenario, default rounds
 *   node --import tsx bench/soak.ts --scenarios drop-race --rounds 200
 *   node --import tsx bench/soak.ts --smoke                          one small round each (CI, < 60 s)
 *   node --import tsx bench/soak.ts --server-dir ../main --fail-on-errors
 *
 * It exits 0 when it found failures (it is a measurement) unless --fail-on-errors is given.
 */
import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { positiveInt, positiveSeconds, runCli, serverEnv } from './lib/args.ts';
import { describeCommand, describeMachine, describeRevision, writeBenchJson } from './lib/report.ts';
import type { ScenarioResult } from './lib/soak-common.ts';
import { crashScenario } from './lib/soak-crash.ts';
import { dropRaceScenario } from './lib/soak-drop.ts';
import { orphansScenario } from './lib/soak-orphans.ts';
import { formatSoak, type SoakReport } from './lib/soak-report.ts';
import { running, ServerLog, type SoakContext } from './lib/soak-server.ts';
import { snapshotWindowScenario } from './lib/soak-snapshot.ts';
import { writerScenario } from './lib/soak-writer.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');

const SCENARIOS = {
  writer: { run: writerScenario, rounds: 6, smokeRounds: 1 },
  orphans: { run: orphansScenario, rounds: 10, smokeRounds: 1 },
  // Two smoke rounds: one per firing order.
  'drop-race': { run: dropRaceScenario, rounds: 60, smokeRounds: 2 },
  'snapshot-window': { run: snapshotWindowScenario, rounds: 30, smokeRounds: 1 },
  // One round is one SIGKILL (`npm run soak:crash` runs 100).
  crash: { run: crashScenario, rounds: 100, smokeRounds: 3 },
} as const;
type Name = keyof typeof SCENARIOS;

const USAGE = `usage: node --import tsx bench/soak.ts [flags]
  --scenarios LIST    ${Object.keys(SCENARIOS).join(',')} (default all, in that order)
  --rounds N          rounds per scenario (default ${Object.entries(SCENARIOS).map(([n, s]) => `${n} ${s.rounds}`).join(', ')}; smoke 1, drop-race 2)
  --seconds S         stop starting rounds of a scenario after S seconds (default: no limit)
  --smoke             one small round of each scenario, two of drop-race (CI; under 60 s in all)
  --server-dir DIR    the checkout whose server/main.ts runs (default: this repository, ${ROOT})
  --server-env K=V    a setting for every server, e.g. VICINITY_REPLICAS=1 (repeatable)
  --seed N            data seed (default 1)
  --fail-on-errors    exit 1 when any scenario had failures (default: exit 0, it is a measurement)
  --help`;

interface Options {
  help: boolean;
  scenarios: Name[];
  rounds: number | null;
  seconds: number | null;
  smoke: boolean;
  serverDir: string;
  serverEnv: Record<string, string>;
  seed: number;
  failOnErrors: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string', default: Object.keys(SCENARIOS).join(',') },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      'server-dir': { type: 'string', default: ROOT },
      'server-env': { type: 'string', multiple: true, default: [] },
      seed: { type: 'string', default: '1' },
      'fail-on-errors': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const scenarios = values.scenarios.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of scenarios) if (!(s in SCENARIOS)) throw new Error(`--scenarios: unknown scenario '${s}' (known: ${Object.keys(SCENARIOS).join(', ')})`);
  return {
    help: values.help,
    scenarios: scenarios as Name[],
    rounds: values.rounds === undefined ? null : positiveInt('rounds', values.rounds),
    seconds: values.seconds === undefined ? null : positiveSeconds('seconds', values.seconds),
    smoke: values.smoke,
    serverDir: resolve(values['server-dir']),
    serverEnv: serverEnv(values['server-env']),
    seed: positiveInt('seed', values.seed),
    failOnErrors: values['fail-on-errors'],
  };
}

async function main(o: Options): Promise<number> {
  const interrupted = () => {
    for (const server of running) {
      server.child.kill('SIGKILL');
      rmSync(server.dataDir, { recursive: true, force: true });
    }
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const report: SoakReport = {
    started: new Date().toISOString(),
    command: describeCommand(ROOT),
    smoke: o.smoke,
    machine: describeMachine(o.serverDir, null),
    serverDir: o.serverDir,
    serverRevision: describeRevision(o.serverDir),
    serverEnv: o.serverEnv,
    scenarios: [],
  };
  const t0 = performance.now();
  for (const name of o.scenarios) {
    const rounds = o.rounds ?? (o.smoke ? SCENARIOS[name].smokeRounds : SCENARIOS[name].rounds);
    const deadline = o.seconds === null ? Infinity : Date.now() + o.seconds * 1000;
    const log = new ServerLog();
    const ctx: SoakContext = {
      spec: { dir: o.serverDir, env: o.serverEnv, readyTimeoutMs: 120_000 },
      log,
      smoke: o.smoke,
      seed: o.seed,
      more: (r) => r < rounds && (r === 0 || Date.now() < deadline),
      say: (line) => console.error(`[${((performance.now() - t0) / 1000).toFixed(0)} s] ${line}`),
    };
    const started = performance.now();
    ctx.say(`${name}: starting (${rounds} rounds${o.seconds === null ? '' : ` or ${o.seconds} s`})`);
    let results: ScenarioResult[] = [];
    let aborted: string | null = null;
    try {
      results = await SCENARIOS[name].run(ctx);
    } catch (err) {
      aborted = (err as Error).stack ?? String(err);
      ctx.say(`${name}: ABORTED — ${aborted}`);
    }
    report.scenarios.push({ name, seconds: Math.round((performance.now() - started) / 1000), results, aborted, serverErrors: Object.fromEntries(log.errors) });
  }
  report.seconds = Math.round((performance.now() - t0) / 1000);
  console.log(formatSoak(report));
  console.log(`\nJSON: ${writeBenchJson(OUT_DIR, 'soak', report)}`);
  const failed = report.scenarios.some((s) => s.aborted !== null || s.results.some((r) => r.failures + r.otherFailures > 0));
  return o.failOnErrors && failed ? 1 : 0;
}

runCli(options, USAGE, main);
