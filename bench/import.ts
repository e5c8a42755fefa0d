/**
 * Bulk import benchmark: Fashion-MNIST written as .npy and NDJSON and imported through the CLI
 * and over HTTP into fresh servers, against raw hnswlib-node builds of the same data (stock and fast
 * binaries); synthetic 128-d files of growing size for time and peak RSS; search p99 during an import.
 *
 *   npm run bench:import                                   all sections, Fashion-MNIST 60k, synthetic 100k/300k/1M
 *   node --import tsx bench/import.ts --sections fashion   one section
 *   node --import tsx bench/import.ts --smoke              tiny synthetic data, node:http only (CI)
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { intList, positiveInt, positiveSeconds, runCli, SERVER_FLAGS, serverEnv } from './lib/args.ts';
import { loadFashionMnist, syntheticDataset, type Dataset } from './lib/datasets.ts';
import { groundTruth } from './lib/ground-truth.ts';
import { importChecks, importTargets } from './lib/import-checks.ts';
import { writeMixtureNpy, writeSetNdjson, writeSetNpy, type ImportFile } from './lib/import-files.ts';
import type { ImportOrder } from './lib/import-client.ts';
import { formatImportReport, type ImportReport } from './lib/import-report.ts';
import { fashionRuns, latencyRun, rawBuilds, scaleRuns, type SectionContext, type Variant } from './lib/import-sections.ts';
import { ensureWrk, type Wrk } from './lib/load.ts';
import type { EngineRequest, HnswParams } from './lib/raw-hnsw.ts';
import { describeCommand, describeMachine, describeRevision, writeBenchJson } from './lib/report.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
const K = 10;
const HNSW: HnswParams = { m: 16, efConstruction: 200, seed: 100 };
const SECTIONS = ['fashion', 'latency', 'scale'] as const;
const VARIANTS = ['npy-cli', 'npy-http', 'ndjson-cli', 'ndjson-http'] as const;
const CLUSTERS = 100;
const SCALE_SEED = 7;
const DURING_SEED = 8;

const USAGE = `usage: node --import tsx bench/import.ts [flags]
  --smoke             tiny synthetic data (2,000 × 16-d; scale 2000,4000), node:http only, short passes (CI)
  --sections LIST     fashion, latency, scale (default all, in that order)
  --variants LIST     imports of section 1 (default npy-cli,npy-http,ndjson-cli,ndjson-http)
  --train N           Fashion-MNIST training vectors (default 60000; smoke: synthetic 2000)
  --queries N         recall queries, the first N test vectors (default 200; smoke 50)
  --ef N              ef of the recall check and the search load (default 64)
  --build-order O     the imports' build_order: default (none sent: the server's default), auto, given or random
  --fast BUILD        the fast raw build beside stock: avx2 (default) or native
  --scale LIST        synthetic sizes of section 3 (default 100000,300000,1000000; smoke 2000,4000)
  --dim N             synthetic dimension (default 128; smoke 16)
  --during N          synthetic vectors imported during the search load (default 300000; smoke 4000)
  --concurrency N     search connections (default 4)
  --duration S        seconds of each search pass, idle and during the import (default 10; smoke 1)
  --poll-ms N         job polling interval (default 100; smoke 50)
  --rss-poll-ms N     server RSS sampling interval (default 100)
  --job-timeout S     longest wait for one job (default 3600)
  --keep-files        keep the written files in bench/out/import-files
  --no-wrk            the node:http load generator even when wrk is there
  --no-install        never apt-get install (the data set or wrk)
  --server-env K=V    a setting for every server, e.g. VICINITY_REPLICAS=1 (repeatable)
  --server-log LEVEL  the servers' VICINITY_LOG_LEVEL (default info: the engine choice is read from it)`;

function options() {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      sections: { type: 'string', default: SECTIONS.join(',') },
      variants: { type: 'string', default: VARIANTS.join(',') },
      train: { type: 'string' },
      queries: { type: 'string' },
      ef: { type: 'string', default: '64' },
      'build-order': { type: 'string', default: 'default' },
      fast: { type: 'string', default: 'avx2' },
      scale: { type: 'string' },
      dim: { type: 'string' },
      during: { type: 'string' },
      concurrency: { type: 'string', default: '4' },
      duration: { type: 'string' },
      'poll-ms': { type: 'string' },
      'rss-poll-ms': { type: 'string', default: '100' },
      'job-timeout': { type: 'string', default: '3600' },
      'keep-files': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
      ...SERVER_FLAGS,
    },
  });
  const smoke = values.smoke;
  const list = <T extends string>(flag: string, text: string, allowed: readonly T[]): T[] => {
    const items = text.split(',').map((s) => s.trim());
    for (const item of items) if (!allowed.includes(item as T)) throw new Error(`--${flag} takes ${allowed.join(', ')}; got '${item}'`);
    return items as T[];
  };
  if (values.fast !== 'avx2' && values.fast !== 'native') throw new Error(`--fast must be avx2 or native, got '${values.fast}'`);
  const orders: readonly ImportOrder[] = ['default', 'auto', 'given', 'random'];
  const buildOrder = orders.find((order) => order === values['build-order']);
  if (buildOrder === undefined) throw new Error(`--build-order takes ${orders.join(', ')}; got '${values['build-order']}'`);
  return {
    help: values.help,
    smoke,
    sections: list('sections', values.sections, SECTIONS),
    variants: list('variants', values.variants, VARIANTS),
    train: positiveInt('train', values.train ?? (smoke ? '2000' : '60000')),
    queries: positiveInt('queries', values.queries ?? (smoke ? '50' : '200')),
    ef: positiveInt('ef', values.ef),
    buildOrder,
    fast: values.fast as EngineRequest,
    scale: intList('scale', values.scale ?? (smoke ? '2000,4000' : '100000,300000,1000000')),
    dim: positiveInt('dim', values.dim ?? (smoke ? '16' : '128')),
    during: positiveInt('during', values.during ?? (smoke ? '4000' : '300000')),
    concurrency: positiveInt('concurrency', values.concurrency),
    durationS: positiveSeconds('duration', values.duration ?? (smoke ? '1' : '10')),
    pollMs: positiveInt('poll-ms', values['poll-ms'] ?? (smoke ? '50' : '100')),
    rssPollMs: positiveInt('rss-poll-ms', values['rss-poll-ms']),
    jobTimeoutS: positiveSeconds('job-timeout', values['job-timeout']),
    keepFiles: values['keep-files'],
    // CI runs the smoke mode on every commit: it installs nothing and needs no wrk.
    useWrk: !(smoke || values['no-wrk']),
    allowInstall: !(smoke || values['no-install']),
    server: { cwd: ROOT, logLevel: values['server-log'], env: serverEnv(values['server-env']), readyTimeoutMs: 60_000 },
  };
}

const log = (line: string): void => console.error(`[bench] ${line}`);

async function main(o: ReturnType<typeof options>): Promise<number> {
  const t0 = performance.now();
  const started = new Date().toISOString();
  const dataset: Dataset = o.smoke
    ? syntheticDataset({ train: o.train, queries: o.queries, dim: 16, clusters: 20, seed: 42 })
    : loadFashionMnist(o.train, o.queries, o.allowInstall, log);
  const gt = groundTruth(dataset, K, o.smoke ? null : OUT_DIR);
  log(`${dataset.name}: ${dataset.train.n} × ${dataset.train.dim}, ${dataset.queries.n} queries; ground truth ${gt.cached ? 'loaded' : 'computed'} in ${gt.seconds.toFixed(1)} s`);

  const fileDir = join(OUT_DIR, 'import-files');
  const workDir = mkdtempSync(join(tmpdir(), 'vicinity-bench-import-'));
  const cleanup = (): void => {
    rmSync(workDir, { recursive: true, force: true });
    if (!o.keepFiles) rmSync(fileDir, { recursive: true, force: true });
  };
  mkdirSync(fileDir, { recursive: true });
  const files: ImportFile[] = [];
  const stem = join(fileDir, `${dataset.name}-${dataset.train.n}`);
  const has = (s: (typeof SECTIONS)[number]): boolean => o.sections.includes(s);
  const npy = has('fashion') || has('latency') ? writeSetNpy(`${stem}.npy`, dataset.train) : null;
  const ndjson = has('fashion') && o.variants.some((v) => v.startsWith('ndjson')) ? writeSetNdjson(`${stem}.ndjson`, dataset.train) : null;
  for (const f of [npy, ndjson]) if (f !== null) files.push(f);

  let wrk: Wrk | null = null;
  if (o.useWrk && has('latency')) {
    const found = ensureWrk(o.allowInstall, log);
    wrk = found.wrk;
    if (wrk === null) log(`wrk unavailable (${found.why}): node:http load generator`);
  }

  const c: SectionContext = {
    root: ROOT,
    fileDir,
    server: o.server,
    settings: { hnsw: HNSW, buildOrder: o.buildOrder, pollMs: o.pollMs, rssPollMs: o.rssPollMs, jobTimeoutS: o.jobTimeoutS },
    k: K,
    ef: o.ef,
    keepFiles: o.keepFiles,
    cleanup,
    log,
  };
  const report: ImportReport = {
    started,
    command: describeCommand(ROOT),
    revision: describeRevision(ROOT),
    smoke: o.smoke,
    machine: describeMachine(ROOT, wrk?.version ?? null),
    dataset: { name: dataset.name, source: dataset.source, train: dataset.train.n, queries: dataset.queries.n, dim: dataset.train.dim, metric: dataset.metric, k: K },
    groundTruth: { seconds: gt.seconds, cached: gt.cached, cachePath: gt.cachePath },
    hnsw: HNSW,
    settings: {
      buildOrder: o.buildOrder, ef: o.ef, pollMs: o.pollMs, rssPollMs: o.rssPollMs, serverEnv: o.server.env,
      synthetic: `seeded Gaussian mixture (mulberry32), ${CLUSTERS} clusters in ${o.dim} dimensions; seed ${SCALE_SEED} for section 3, ${DURING_SEED} for the import during searches`,
    },
    files,
    raw: [],
    fashion: [],
    scale: [],
    latency: null,
    targets: [],
    checks: [],
    durationS: NaN,
  };

  if (has('fashion')) {
    report.raw = await rawBuilds(c, dataset, gt.truth, o.fast);
    const variants: Variant[] = o.variants.map((v) => {
      const [format, via] = v.split('-') as ['npy' | 'ndjson', 'cli' | 'http'];
      return { label: `${format === 'npy' ? '.npy' : 'NDJSON'} via ${via === 'cli' ? 'CLI' : 'HTTP'}`, file: format === 'npy' ? npy! : ndjson!, via };
    });
    report.fashion = await fashionRuns(c, dataset, gt.truth, variants);
  }
  if (has('latency')) {
    const duringFile = writeMixtureNpy(join(fileDir, `during-${o.dim}d-${o.during}.npy`), o.during, o.dim, CLUSTERS, DURING_SEED);
    files.push(duringFile);
    report.latency = await latencyRun(c, dataset, { loaded: npy!, duringFile, concurrency: o.concurrency, durationS: o.durationS, wrk, workDir });
  }
  if (has('scale')) {
    report.scale = await scaleRuns(c, o.scale, o.dim, CLUSTERS, SCALE_SEED);
    files.push(...report.scale.map((s) => s.file));
  }
  cleanup();

  // Read again now: others may have changed the server's code while this ran.
  report.revision = describeRevision(ROOT);
  report.durationS = (performance.now() - t0) / 1000;
  report.targets = importTargets(report);
  report.checks = importChecks(report, o.smoke);
  console.log(formatImportReport(report));
  console.log(`\nJSON: ${writeBenchJson(OUT_DIR, 'import', report)}`);
  return report.checks.every((x) => x.ok) ? 0 : 1;
}

runCli(options, USAGE, main);
