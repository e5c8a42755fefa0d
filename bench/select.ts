/**
 * What diverse selection costs in the replica, in-process: MMR and cover over pools of 40, 100 and
 * 1,000 unit vectors of 784 dimensions (k = 10), with the SIMD kernel (index/simd.ts) as the server
 * runs it, and the same similarities summed by a JavaScript loop (index/distance.ts) for comparison.
 *
 *   node --import tsx bench/select.ts [--smoke] [--dim D] [--rounds N]
 */
import { parseArgs } from 'node:util';
import { dotAt } from '../index/distance.ts';
import { coveredMembers, select, type Pool } from '../index/select.ts';
import { prng } from './lib/datasets.ts';
import { fixed, markdownTable } from './lib/report.ts';

const { values } = parseArgs({ options: { smoke: { type: 'boolean', default: false }, dim: { type: 'string', default: '784' }, rounds: { type: 'string' } } });
const dim = Number(values.dim);
const rounds = Number(values.rounds ?? (values.smoke ? 5 : 200));
const pools = values.smoke ? [40, 100] : [40, 100, 1000];
const K = 10;

function randomPool(n: number, seed: number): Pool {
  const random = prng(seed);
  const vectors = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) norm += (vectors[i * dim + j] = random() - 0.5) ** 2;
    for (let j = 0; j < dim; j++) vectors[i * dim + j] /= Math.sqrt(norm);
  }
  const relevance = Float64Array.from({ length: n }, (_, i) => 0.9 - i * 1e-4);
  return { metric: 'cosine', dim, vectors, relevance };
}

/** The similarity work of each mode, done by a JavaScript loop: k rows for MMR, n × covered for cover. */
function scalar(pool: Pool, mode: 'mmr' | 'cover'): number {
  const n = pool.relevance.length;
  const targets = mode === 'mmr' ? Array.from({ length: K }, (_, i) => i) : coveredMembers(n);
  const rows = mode === 'mmr' ? targets : Array.from({ length: n }, (_, i) => i);
  const cols = mode === 'mmr' ? Array.from({ length: n }, (_, i) => i) : targets;
  let sum = 0;
  for (const r of rows) {
    const a = pool.vectors.subarray(r * dim, (r + 1) * dim);
    for (const c of cols) sum += dotAt(a, pool.vectors, c * dim);
  }
  return sum;
}

function time(fn: () => unknown): number {
  for (let i = 0; i < Math.min(5, rounds); i++) fn(); // warm-up
  const started = performance.now();
  for (let i = 0; i < rounds; i++) fn();
  return ((performance.now() - started) / rounds) * 1000;
}

const rows: string[][] = [];
for (const n of pools) {
  const pool = randomPool(n, n);
  for (const mode of ['mmr', 'cover'] as const) {
    const selection = mode === 'mmr' ? { mode, lambda: 0.5 } : { mode, coverageWeight: 4 };
    const simd = time(() => select(pool, K, selection));
    const js = time(() => scalar(pool, mode));
    rows.push([mode, String(n), fixed(simd, 0), fixed(js, 0), fixed(js / simd, 1)]);
  }
}
console.log(`\nSelection of k = ${K} from a pool of unit vectors, ${dim} dimensions, mean of ${rounds} rounds:\n`);
console.log(markdownTable(['mode', 'pool', 'select() µs (SIMD)', 'its similarities by a JS loop µs', 'JS ÷ select()'], rows, [false, true, true, true, true]));
