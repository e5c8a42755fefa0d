/**
 * Fuzzing of every route (tests/helpers/fuzz.ts): fast-check generates requests (JSON, MessagePack,
 * raw and truncated bodies; odd names, ids, types, numbers, nesting, queries and content types) and
 * checks each answer: never a 5xx but 503, every 4xx a documented code with its status.
 *
 *   node --import tsx bench/fuzz.ts [--requests N] [--seed S]     (npm run fuzz: 100,000)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { buildApp } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { checkOne, fuzzRequest } from '../tests/helpers/fuzz.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '100000' }, seed: { type: 'string' } } });
const total = Number(values.requests);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
const dir = mkdtempSync(join(tmpdir(), 'vicinity-fuzz-'));
const app = buildApp({ ...loadConfig({ VICINITY_LOG_LEVEL: 'silent' }), dataDir: dir });
try {
  await app.ready();
  while (!app.engine.ready) await new Promise((r) => setTimeout(r, 20));
  await app.inject({ method: 'PUT', url: '/v1/collections/c', payload: { dimension: 2, metric: 'l2' } });
  await app.inject({ method: 'PUT', url: '/v1/collections/c/points', payload: { points: [{ id: 'p1', vector: [0, 1], payload: { a: 1 } }, { id: 'p2', vector: [1, 0] }] } });
  const statuses = new Map<number, number>();
  const violations: string[] = [];
  const started = performance.now();
  const samples = fc.sample(fuzzRequest, { numRuns: total, seed });
  for (const request of samples) {
    const res = await app.inject({ method: request.method as 'GET', url: request.url, headers: request.headers, payload: request.payload });
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    const problem = await checkOne(app, request);
    if (problem && violations.length < 50) violations.push(problem);
  }
  const ready = (await app.inject({ method: 'GET', url: '/readyz' })).statusCode;
  console.log(`${total} requests (seed ${seed}) in ${((performance.now() - started) / 1000).toFixed(1)} s; statuses: ${[...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ')}; /readyz ${ready}`);
  console.log(violations.length === 0 ? 'no violations' : `violations:\n${violations.join('\n')}`);
  process.exitCode = violations.length === 0 && ready === 200 ? 0 : 1;
} finally {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
}
