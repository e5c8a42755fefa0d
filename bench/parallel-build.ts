/**
 * Index builds compared: hnswlib-node's addPoint loop (stock and the AVX2 build, one thread) against
 * our parallel builder (index/native/parallel-build.cc) with 1, 2, … threads. Same data, same M,
 * efConstruction and seed; each index is then searched through hnswlib-node (the parallel ones after
 * readIndex of the file they wrote) for recall@10 against brute force.
 *
 *   node --import tsx bench/parallel-build.ts                 Fashion-MNIST 60k × 784, 1,000 queries
 *   node --import tsx bench/parallel-build.ts --smoke         synthetic 2k × 64, 100 queries (CI)
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { intList, positiveInt } from './lib/args.ts';
import { loadFashionMnist, row, syntheticDataset, type Dataset } from './lib/datasets.ts';
import { groundTruth, recall, type GroundTruth } from './lib/ground-truth.ts';
import { describeCommand, describeMachine, describeRevision, fixed, int, table, writeBenchJson } from './lib/report.ts';
import { loadHnswlib, type Hnswlib } from '../index/native/load.ts';
import { loadParallelBuilder } from '../index/native/parallel-build.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
const K = 10;
const HNSW = { m: 16, efConstruction: 200, seed: 100 };

const USAGE = `usage: node --import tsx bench/parallel-build.ts [flags]
  --smoke          2,000 × 64-d synthetic, 100 queries
  --data NAME      fashion (default; Debian dataset-fashion-mnist) or synthetic
  --train N        indexed vectors (default 60000; smoke 2000)
  --queries N      queries (default 1000; smoke 100)
  --threads LIST   thread counts of the parallel builder (default 1,<cores>)
  --ef LIST        ef values for recall (default 10,20,64)
  --loops LIST     hnswlib-node loops to time: stock, avx2 (default stock,avx2)

Each build runs once, one after another, with nothing else of ours running; take the bench lock.`;

function options() {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      data: { type: 'string' },
      train: { type: 'string' },
      queries: { type: 'string' },
      threads: { type: 'string' },
      ef: { type: 'string', default: '10,20,64' },
      loops: { type: 'string', default: 'stock,avx2' },
      help: { type: 'boolean', default: false },
    },
  });
  const smoke = values.smoke;
  const data = values.data ?? (smoke ? 'synthetic' : 'fashion');
  if (data !== 'synthetic' && data !== 'fashion') throw new Error(`--data must be synthetic or fashion, got '${data}'`);
  const loops = values.loops.split(',').filter(Boolean);
  for (const l of loops) if (l !== 'stock' && l !== 'avx2') throw new Error(`--loops takes stock and avx2, got '${l}'`);
  return {
    help: values.help,
    smoke,
    data,
    train: positiveInt('train', values.train ?? (smoke ? '2000' : '60000')),
    queries: positiveInt('queries', values.queries ?? (smoke ? '100' : '1000')),
    threads: intList('threads', values.threads ?? `1,${Math.max(2, cpus().length)}`),
    efs: intList('ef', values.ef),
    loops: loops as ('stock' | 'avx2')[],
  };
}

type NativeIndex = InstanceType<Hnswlib['HierarchicalNSW']>;

interface Row {
  variant: string;
  threads: number;
  buildSeconds: number;
  /** Writing the file (parallel builder, inside the native call) and reading it back with hnswlib-node. */
  loadSeconds: number | null;
  rate: number;
  /** CPU seconds this process used during the build. */
  cpuSeconds: number;
  recall: Record<number, number>;
}

function recalls(index: NativeIndex, dataset: Dataset, truth: GroundTruth, efs: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const ef of efs) {
    index.setEf(Math.max(ef, K));
    const answers = Array.from({ length: dataset.queries.n }, (_, q) => index.searchKnn(Array.from(row(dataset.queries, q)), K).neighbors);
    out[ef] = recall(dataset, truth, answers);
  }
  return out;
}

function timed<T>(fn: () => T): { value: T; seconds: number; cpu: number } {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const value = fn();
  const used = process.cpuUsage(cpu);
  return { value, seconds: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6 };
}

async function main(): Promise<void> {
  const o = options();
  if (o.help) return console.log(USAGE);
  const log = (line: string): void => console.log(line);
  const started = new Date().toISOString();
  const dataset =
    o.data === 'fashion'
      ? loadFashionMnist(o.train, o.queries, false, log)
      : syntheticDataset({ train: o.train, queries: o.queries, dim: 64, clusters: 20, seed: 42 });
  const { train } = dataset;
  const gt = groundTruth(dataset, K, o.smoke ? null : OUT_DIR);
  log(`${dataset.name}: ${train.n} × ${train.dim}, ${dataset.queries.n} queries, k=${K}, M=${HNSW.m}, efConstruction=${HNSW.efConstruction}, seed=${HNSW.seed}`);
  const rows: Row[] = [];

  for (const build of o.loops) {
    const loaded = loadHnswlib(build);
    if (loaded.build !== build) {
      log(`${build} loop: not available (${loaded.reason})`);
      continue;
    }
    const index = new loaded.lib.HierarchicalNSW(dataset.metric, train.dim);
    index.initIndex(train.n, HNSW.m, HNSW.efConstruction, HNSW.seed);
    // As HnswIndex.upsert does: a number[] per call (hnswlib-node copies it).
    const t = timed(() => {
      for (let i = 0; i < train.n; i++) index.addPoint(Array.from(row(train, i)), i);
    });
    rows.push({ variant: `hnswlib-node ${build} loop`, threads: 1, buildSeconds: t.seconds, loadSeconds: null, rate: train.n / t.seconds, cpuSeconds: t.cpu, recall: recalls(index, dataset, gt.truth, o.efs) });
    log(`${build} loop: ${fixed(t.seconds, 2)} s`);
  }

  const { builder, reason } = loadParallelBuilder('auto');
  const reader = loadHnswlib('auto');
  if (builder === null) {
    log(`parallel builder: not available (${reason})`);
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'vicinity-bench-parallel-'));
    const labels = Uint32Array.from({ length: train.n }, (_, i) => i);
    try {
      for (const threads of o.threads) {
        const path = join(dir, `t${threads}.bin`);
        const cpu = process.cpuUsage();
        const startedAt = performance.now();
        const run = builder.build({ metric: dataset.metric, dimension: train.dim, ...HNSW, threads, vectors: train.data, labels, path });
        await run.done;
        const seconds = (performance.now() - startedAt) / 1000;
        const used = process.cpuUsage(cpu);
        const loadStarted = performance.now();
        const index = new reader.lib.HierarchicalNSW(dataset.metric, train.dim);
        await index.readIndex(path);
        const loadSeconds = (performance.now() - loadStarted) / 1000;
        if (index.getCurrentCount() !== train.n) throw new Error(`${path} holds ${index.getCurrentCount()} points, expected ${train.n}`);
        rows.push({ variant: `parallel builder (${reader.build})`, threads, buildSeconds: seconds, loadSeconds, rate: train.n / seconds, cpuSeconds: (used.user + used.system) / 1e6, recall: recalls(index, dataset, gt.truth, o.efs) });
        log(`parallel ×${threads}: ${fixed(seconds, 2)} s build+write (${int(statSync(path).size / 1e6)} MB), ${fixed(loadSeconds, 2)} s readIndex`);
        rmSync(path, { force: true });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const base = rows.find((r) => r.variant === 'hnswlib-node avx2 loop') ?? rows[0];
  const stock = rows.find((r) => r.variant === 'hnswlib-node stock loop');
  const header = ['build', 'threads', 'seconds', 'vectors/s', '×stock', '×avx2 loop', 'CPU s', 'readIndex s', ...o.efs.map((ef) => `recall ef=${ef}`)];
  const cells = rows.map((r) => [
    r.variant, String(r.threads), fixed(r.buildSeconds, 2), int(r.rate),
    stock ? `${fixed(r.rate / stock.rate, 2)}×` : '—', base ? `${fixed(r.rate / base.rate, 2)}×` : '—',
    fixed(r.cpuSeconds, 1), r.loadSeconds === null ? '—' : fixed(r.loadSeconds, 2), ...o.efs.map((ef) => fixed(r.recall[ef], 4)),
  ]);
  const machine = describeMachine(ROOT, null);
  log('');
  log(`index builds${o.smoke ? ' (smoke)' : ''} — ${machine.cpu}, ${machine.cores} cores, node ${machine.node}; parallel: build + file write, then readIndex`);
  log(table(header, cells, header.map((_, i) => i > 0)));
  const report = {
    started, smoke: o.smoke, command: describeCommand(ROOT), revision: describeRevision(ROOT), machine,
    dataset: { name: dataset.name, source: dataset.source, train: train.n, queries: dataset.queries.n, dim: train.dim, k: K },
    hnsw: HNSW, parallelBuilder: reason, rows,
  };
  const file = writeBenchJson(OUT_DIR, 'parallel-build', report);
  log(`wrote ${relative(ROOT, file)}`);
}

await main();
