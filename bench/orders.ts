/**
 * Insertion orders (arXiv 2405.17813): the same data built in each order the server offers, with
 * the server's code (k-NN pass, LID estimator, orders, HnswIndex), single-threaded, for several level
 * seeds; recall@10 at low ef against exact ground truth, and build time with the LID pass.
 *
 *   node --import tsx bench/orders.ts           Fashion-MNIST 60k / 1,000 queries (and by class), and a
 *                                              synthetic mixture of clusters of different intrinsic dimension
 *   node --import tsx bench/orders.ts --smoke   small sets (CI)
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildOrder, groupedOrder, lidOrder } from '../index/build-order.ts';
import { HnswIndex } from '../index/hnsw.ts';
import { knnPass } from '../index/knn-pass.ts';
import { summarizeLid, type LidSummary } from '../index/lid.ts';
import { loadHnswlib } from '../index/native/load.ts';
import { DATA_OPTIONS, dataSizes, intList, runCli } from './lib/args.ts';
import { loadFashionMnist, prng, readFashionLabels, row, type Dataset, type VectorSet } from './lib/datasets.ts';
import { groundTruth, recall } from './lib/ground-truth.ts';
import { describeCommand, describeMachine, fixed, int, markdownTable, writeBenchJson } from './lib/report.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
const K = 10;
const M = 16;
const EF_CONSTRUCTION = 200;
const EFS = [10, 20, 40];
const USAGE = 'usage: node --import tsx bench/orders.ts [--smoke] [--train N] [--queries N] [--seeds 1,2,3] [--sets fashion,mixed] [--no-install]';
const engine = loadHnswlib('auto').build;

interface OrderRun {
  order: string;
  seed: number;
  buildSeconds: number;
  /** Recall@K at each of EFS. */
  recalls: number[];
}

interface Section {
  name: string;
  n: number;
  dim: number;
  queries: number;
  passSeconds: number;
  lid: LidSummary | null;
  runs: OrderRun[];
}

/**
 * Clusters on random subspaces of different dimension (2 to 32) in 64 dimensions, with a little
 * noise: the data where the LID orders should matter most.
 */
function mixedLid(train: number, queries: number, seed: number): Dataset {
  const dim = 64;
  const dims = [2, 4, 8, 16, 32];
  const random = prng(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const clusters = dims.flatMap((d) => [0, 1].map(() => ({
    centre: Array.from({ length: dim }, () => random() * 20 - 10),
    basis: Array.from({ length: d }, () => Array.from({ length: dim }, () => gaussian() / Math.sqrt(dim))),
  })));
  const draw = (n: number): VectorSet => {
    const data = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const c = clusters[Math.floor(random() * clusters.length)];
      const w = c.basis.map(() => gaussian() * 3);
      for (let j = 0; j < dim; j++) data[i * dim + j] = c.centre[j] + w.reduce((s, wr, r) => s + wr * c.basis[r][j], 0) + 0.01 * gaussian();
    }
    return { n, dim, data };
  };
  return { name: `mixed-lid-${dim}d-seed${seed}`, metric: 'l2', train: draw(train), queries: draw(queries), source: `seeded PRNG: 10 clusters on subspaces of dimension ${dims.join(', ')} in ${dim}-d, noise 0.01` };
}

async function measure(dataset: Dataset, classes: Uint8Array | null, seeds: number[], log: (line: string) => void): Promise<Section> {
  const { truth } = groundTruth(dataset, K, OUT_DIR);
  const { n, dim, data } = dataset.train;
  const started = performance.now();
  const pass = await knnPass(data, n, dim, { engine });
  const passSeconds = (performance.now() - started) / 1000;
  const lid = summarizeLid(pass.lids);
  log(`${dataset.name}: k-NN pass ${fixed(passSeconds, 1)} s, LID median ${fixed(lid?.median ?? NaN, 1)}`);
  const orders: [string, (seed: number) => Uint32Array][] = [
    ['given', () => buildOrder(n, 'given', 0)],
    ['random', (seed) => buildOrder(n, 'random', seed)],
    ['lid_desc', () => lidOrder(pass.lids, 'desc')],
    ['lid_asc', () => lidOrder(pass.lids, 'asc')],
  ];
  if (classes) orders.push(['by_payload:class', () => groupedOrder(Array.from(classes, String))]);
  const runs: OrderRun[] = [];
  for (const seed of seeds) {
    for (const [order, positions] of orders) {
      const index = new HnswIndex({ dimension: dim, metric: 'l2', m: M, efConstruction: EF_CONSTRUCTION, efSearch: 10, seed, initialCapacity: n, engine });
      const t0 = performance.now();
      for (const p of positions(seed)) index.upsert(p, data.subarray(p * dim, (p + 1) * dim));
      const buildSeconds = (performance.now() - t0) / 1000;
      const recalls = EFS.map((ef) => {
        const results = Array.from({ length: dataset.queries.n }, (_, q) => Uint32Array.from(index.search(row(dataset.queries, q), K, { ef }), (h) => h.label));
        return recall(dataset, truth, results);
      });
      runs.push({ order, seed, buildSeconds, recalls });
      log(`${dataset.name} seed ${seed} ${order}: build ${fixed(buildSeconds, 1)} s, recall ${recalls.map((r) => fixed(r, 4)).join(' / ')}`);
    }
  }
  return { name: dataset.name, n, dim, queries: dataset.queries.n, passSeconds, lid, runs };
}

function formatSection(s: Section): string {
  const orders = [...new Set(s.runs.map((r) => r.order))];
  const stat = (xs: number[]) => ({ mean: xs.reduce((a, b) => a + b, 0) / xs.length, min: Math.min(...xs), max: Math.max(...xs) });
  const random = s.runs.filter((r) => r.order === 'random');
  const header = ['order', ...EFS.flatMap((ef) => [`recall@${K} ef ${ef} (mean)`, 'min–max', 'vs random']), 'build s (mean)', 'with LID pass s'];
  const rows = orders.map((order) => {
    const runs = s.runs.filter((r) => r.order === order);
    const cells = EFS.flatMap((_, e) => {
      const r = stat(runs.map((x) => x.recalls[e]));
      const base = stat(random.map((x) => x.recalls[e])).mean;
      return [fixed(r.mean, 4), `${fixed(r.min, 4)}–${fixed(r.max, 4)}`, `${r.mean >= base ? '+' : ''}${fixed((r.mean - base) * 100, 2)} pt`];
    });
    const build = stat(runs.map((x) => x.buildSeconds)).mean;
    return [order, ...cells, fixed(build, 1), order.startsWith('lid') ? fixed(build + s.passSeconds, 1) : '—'];
  });
  const given = stat(s.runs.filter((r) => r.order === 'given').map((r) => r.buildSeconds)).mean;
  const lid = s.lid ? `LID (k = 20): min ${fixed(s.lid.min, 1)}, quartiles ${fixed(s.lid.q1, 1)} / ${fixed(s.lid.median, 1)} / ${fixed(s.lid.q3, 1)}, max ${fixed(s.lid.max, 1)}` : 'LID: none';
  return `## ${s.name}: ${int(s.n)} × ${s.dim}, ${s.queries} queries, M=${M}, efC=${EF_CONSTRUCTION}, seeds ${[...new Set(s.runs.map((r) => r.seed))].join(', ')}\n\n` +
    `k-NN pass: ${fixed(s.passSeconds, 1)} s = ${fixed(s.passSeconds / given, 2)}× one build in given order (target ≤ 1.0×). ${lid}\n\n` +
    markdownTable(header, rows, header.map((_, i) => i > 0)) + '\n';
}

function options() {
  const { values } = parseArgs({ options: { ...DATA_OPTIONS, seeds: { type: 'string', default: '1,2,3' }, sets: { type: 'string', default: 'fashion,mixed' } } });
  return { ...dataSizes(values, { train: [2000, 60000], queries: [50, 1000] }), seeds: intList('seeds', values.seeds), sets: values.sets.split(',') };
}

runCli(options, USAGE, async (o) => {
  const started = new Date().toISOString();
  const log = (line: string) => console.error(`[bench] ${line}`);
  const sections: Section[] = [];
  if (!o.smoke && o.sets.includes('fashion')) sections.push(await measure(loadFashionMnist(o.train, o.queries, o.install, log), readFashionLabels(o.train, o.install, log), o.seeds, log));
  if (o.sets.includes('mixed')) sections.push(await measure(mixedLid(o.smoke ? o.train : 20_000, o.queries, 7), null, o.seeds, log));
  console.log(`Insertion orders — ${started}\ncommand: ${describeCommand(ROOT)}\n`);
  for (const s of sections) console.log(formatSection(s));
  console.log(`JSON: ${writeBenchJson(OUT_DIR, 'orders', { started, smoke: o.smoke, machine: describeMachine(ROOT, null), sections } as { started: string; smoke: boolean })}`);
  return 0;
});
