/**
 * Storage codecs by exact search (arXiv 2505.00105): every training vector is encoded and
 * decoded, then each query's exact top-10 over the decoded set is compared with the exact float32
 * top-10. Variants: float16; float8 E4M3 and E5M2 plain, centred (x − mean) and centred with a
 * per-dimension scale (the dimension's largest |x − mean| mapped to half the format's maximum);
 * the product's int8 codec (per-dimension scalar quantisation at float8's size), its range fitted
 * min–max and with 0.1 % of each dimension clipped at either end.
 *
 *   node --import tsx bench/codecs.ts                  Fashion-MNIST 60k, 200 queries, and a synthetic set beyond E4M3's range
 *   node --import tsx bench/codecs.ts --smoke          small synthetic sets (CI)
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fitCodecParams, VectorCodec } from '../index/codec.ts';
import { E4M3, E5M2, FLOAT16, type MiniFloat } from '../index/minifloat.ts';
import { DATA_OPTIONS, dataSizes, runCli } from './lib/args.ts';
import { loadFashionMnist, syntheticDataset, type Dataset, type VectorSet } from './lib/datasets.ts';
import { computeGroundTruth, groundTruth, recall } from './lib/ground-truth.ts';
import { describeCommand, markdownTable, writeBenchJson } from './lib/report.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
const K = 10;

const USAGE = `usage: node --import tsx bench/codecs.ts [--smoke] [--train N] [--queries N] [--no-install]`;

interface Variant {
  name: string;
  bytesPerValue: number;
  /** Encodes and decodes every vector of the set; returns the decoded set and the saturated value count. */
  roundTrip(set: VectorSet): { decoded: VectorSet; saturated: number };
}

function columnStats(set: VectorSet): { mean: Float64Array; min: Float32Array; max: Float32Array; maxAbsCentred: Float64Array } {
  const { n, dim, data } = set;
  const mean = new Float64Array(dim);
  const min = new Float32Array(dim).fill(Infinity);
  const max = new Float32Array(dim).fill(-Infinity);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) {
      const v = data[i * dim + j];
      mean[j] += v / n;
      if (v < min[j]) min[j] = v;
      if (v > max[j]) max[j] = v;
    }
  }
  const maxAbsCentred = new Float64Array(dim);
  for (let j = 0; j < dim; j++) maxAbsCentred[j] = Math.max(Math.abs(max[j] - mean[j]), Math.abs(min[j] - mean[j]));
  return { mean, min, max, maxAbsCentred };
}

/** A float format over (x − shift) / scale, per dimension. */
function floatVariant(name: string, f: MiniFloat, mode: 'plain' | 'centred' | 'scaled'): Variant {
  return {
    name,
    bytesPerValue: f.bits / 8,
    roundTrip(set) {
      const { dim, data } = set;
      const stats = columnStats(set);
      const shift = mode === 'plain' ? new Float64Array(dim) : stats.mean;
      const scale = new Float64Array(dim).fill(1);
      if (mode === 'scaled') for (let j = 0; j < dim; j++) if (stats.maxAbsCentred[j] > 0) scale[j] = stats.maxAbsCentred[j] / (f.max / 2);
      const out = new Float32Array(data.length);
      let saturated = 0;
      for (let i = 0; i < data.length; i++) {
        const j = i % dim;
        const { code, saturated: s } = f.encode((data[i] - shift[j]) / scale[j]);
        if (s) saturated++;
        out[i] = f.decode(code) * scale[j] + shift[j];
      }
      return { decoded: { ...set, data: out }, saturated };
    },
  };
}

/** The int8 codec fitted on the whole set, clipping `clip` of each dimension at either end. */
function int8Variant(name: string, clip: number): Variant {
  return {
    name,
    bytesPerValue: 1,
    roundTrip(set) {
      const { n, dim, data } = set;
      const codec = new VectorCodec('int8', dim, fitCodecParams('int8', data, n, dim, { clip }));
      const out = new Float32Array(data.length);
      let saturated = 0;
      for (let i = 0; i < n; i++) {
        const { bytes, saturated: s } = codec.encode(data.subarray(i * dim, (i + 1) * dim));
        saturated += s;
        codec.decodeInto(bytes, out.subarray(i * dim, (i + 1) * dim));
      }
      return { decoded: { ...set, data: out }, saturated };
    },
  };
}

const VARIANTS: Variant[] = [
  floatVariant('float16', FLOAT16, 'plain'),
  floatVariant('e4m3', E4M3, 'plain'),
  floatVariant('e4m3 centred', E4M3, 'centred'),
  floatVariant('e4m3 centred + scaled', E4M3, 'scaled'),
  floatVariant('e5m2', E5M2, 'plain'),
  floatVariant('e5m2 centred', E5M2, 'centred'),
  floatVariant('e5m2 centred + scaled', E5M2, 'scaled'),
  int8Variant('int8 min–max', 0),
  int8Variant('int8 clip 0.1 %', 0.001),
];

function measure(dataset: Dataset, log: (line: string) => void): string[][] {
  const { truth } = groundTruth(dataset, K, OUT_DIR);
  return VARIANTS.map((v) => {
    const started = performance.now();
    const { decoded, saturated } = v.roundTrip(dataset.train);
    const found = computeGroundTruth(decoded, dataset.queries, K);
    const results = Array.from({ length: dataset.queries.n }, (_, q) => found.ids.subarray(q * K, (q + 1) * K));
    const r = recall(dataset, truth, results);
    log(`${dataset.name} ${v.name}: recall ${r.toFixed(4)} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return [v.name, String(v.bytesPerValue), (v.bytesPerValue / 4).toFixed(2), r.toFixed(4), saturated.toLocaleString('en-US')];
  });
}

function options() {
  const { values } = parseArgs({ options: { ...DATA_OPTIONS } });
  return { ...dataSizes(values, { train: [2000, 60000], queries: [20, 200] }) };
}

runCli(options, USAGE, (o) => {
  const started = new Date().toISOString();
  const log = (line: string) => console.error(`[bench] ${line}`);
  const wide = syntheticDataset({ train: o.smoke ? o.train : 20_000, queries: o.queries, dim: o.smoke ? 32 : 128, clusters: 20, seed: 11 });
  // Beyond E4M3's 448: the same mixture stretched ×100 (centres in ±1,000).
  const stretched: Dataset = { ...wide, name: `${wide.name}-x100`, train: times(wide.train, 100), queries: times(wide.queries, 100), source: `${wide.source}, ×100` };
  const sets = o.smoke ? [wide, stretched] : [loadFashionMnist(o.train, o.queries, o.install, log), stretched];
  const header = ['codec', 'bytes/value', '× float32 size', `recall@${K} (exact search)`, 'saturated values'];
  const sections = sets.map((d) => ({ name: d.name, n: d.train.n, dim: d.train.dim, queries: d.queries.n, rows: measure(d, log) }));
  console.log(`Storage codecs by exact search — ${started}\ncommand: ${describeCommand(ROOT)}\n`);
  for (const s of sections) {
    console.log(`## ${s.name}: ${s.n} × ${s.dim}, ${s.queries} queries, recall against exact float32 top-${K}\n`);
    console.log(markdownTable(header, s.rows, [false, true, true, true, true]));
    console.log('');
  }
  console.log(`JSON: ${writeBenchJson(OUT_DIR, 'codecs', { started, smoke: o.smoke, sections } as { started: string; smoke: boolean })}`);
  return Promise.resolve(0);
});

function times(set: VectorSet, factor: number): VectorSet {
  return { ...set, data: set.data.map((v) => v * factor) };
}
