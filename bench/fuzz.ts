/**
 * Fuzzing of every route (tests/helpers/fuzz.ts): fast-check generates requests (JSON, MessagePack,
 * raw, truncated and duplicate-key bodies; odd names, ids, types, numbers, nesting, queries, content
 * types and Accept headers) and checks each answer: never a 5xx but 503, every 4xx a documented code
 * with its status. Every 50 requests a sequence of valid operations runs against a reference model
 * (tests/helpers/fuzz-model.ts) and the collection must agree with it.
 *
 *   node --import tsx bench/fuzz.ts [--requests N] [--seed S]     (npm run fuzz: 100,000)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { runFuzz } from '../tests/helpers/fuzz.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '100000' }, seed: { type: 'string' } } });
const total = Number(values.requests);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
const dir = mkdtempSync(join(tmpdir(), 'vicinity-fuzz-'));
const app = buildApp({ ...loadConfig({ VICINITY_LOG_LEVEL: 'silent' }), dataDir: dir });
try {
  await app.ready();
  while (!app.engine.ready) await new Promise((r) => setTimeout(r, 20));
  const started = performance.now();
  const run = await runFuzz(app, { requests: total, seed, every: 50 });
  const ready = (await app.inject({ method: 'GET', url: '/readyz' })).statusCode;
  const statuses = [...run.statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ');
  console.log(`${run.requests} requests (seed ${seed}) and ${run.sequences} sequences of ${run.operations} valid operations checked against the model, in ${((performance.now() - started) / 1000).toFixed(1)} s; statuses: ${statuses}; /readyz ${ready}`);
  console.log(run.violations.length === 0 ? 'no violations' : `violations:\n${run.violations.join('\n')}`);
  process.exitCode = run.violations.length === 0 && ready === 200 ? 0 : 1;
} finally {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
}
