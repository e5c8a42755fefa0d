/**
 * How often hnswlib's in-place update leaves a point that a graph search cannot reach: N random
 * points, then U upserts of random points with a new random vector (hnswlib updates a live label in
 * place and adds no incoming links at its new position, https://github.com/nmslib/hnswlib/issues/522); then every point is
 * searched for by its own vector (k = 1, ef 400) and, when missed, with k = 100 at ef 4000. Those the
 * wide search misses too are unreachable: an exact or filtered search still finds them, an optimize
 * (a rebuild) links them again. In-process, through index/hnsw.ts as the server uses it.
 *
 *   node --import tsx bench/updates.ts [--smoke] [--points N] [--updates U] [--dims 16,32,64] [--seed S]
 */
import { parseArgs } from 'node:util';
import { HnswIndex } from '../index/hnsw.ts';
import { intList, positiveInt } from './lib/args.ts';
import { prng } from './lib/datasets.ts';
import { markdownTable } from './lib/report.ts';

const { values } = parseArgs({
  options: { smoke: { type: 'boolean', default: false }, points: { type: 'string' }, updates: { type: 'string' }, dims: { type: 'string' }, seed: { type: 'string', default: '7' } },
});
const points = positiveInt('points', values.points ?? (values.smoke ? '500' : '5000'));
const updates = positiveInt('updates', values.updates ?? (values.smoke ? '1000' : '20000'));
const dims = intList('dims', values.dims ?? (values.smoke ? '16' : '16,32,64'));
const seed = positiveInt('seed', values.seed);

function run(dim: number): { missed: number; unreachable: number; seconds: number } {
  const started = performance.now();
  const random = prng(seed);
  const vector = () => Float32Array.from({ length: dim }, () => random() * 2 - 1);
  const index = new HnswIndex({ dimension: dim, metric: 'l2', m: 16, efConstruction: 200, efSearch: 64, initialCapacity: points });
  const current: Float32Array[] = [];
  for (let i = 0; i < points; i++) index.upsert(i, (current[i] = vector()));
  for (let u = 0; u < updates; u++) {
    const i = Math.floor(random() * points);
    index.upsert(i, (current[i] = vector()));
  }
  let missed = 0;
  let unreachable = 0;
  for (let i = 0; i < points; i++) {
    if (index.search(current[i], 1, { ef: 400 })[0]?.label === i) continue;
    missed++;
    if (!index.search(current[i], 100, { ef: 4000 }).some((h) => h.label === i)) unreachable++;
  }
  return { missed, unreachable, seconds: (performance.now() - started) / 1000 };
}

const rows = dims.map((dim) => {
  const r = run(dim);
  return [String(dim), String(points), String(updates), String(r.missed), String(r.unreachable), r.seconds.toFixed(1)];
});
console.log(`hnswlib in-place updates: ${points} random points, ${updates} upserts with a new random vector (seed ${seed})\n`);
console.log(markdownTable(['dim', 'points', 'updates', 'missed at k 1, ef 400', 'unreachable (k 100, ef 4000)', 'seconds'], rows, [true, true, true, true, true, true]));
