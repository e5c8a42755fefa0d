import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { prng } from '../../index/build-order.ts';

/** `n` row-major vectors of `dim` float32 values. */
export interface VectorSet {
  n: number;
  dim: number;
  data: Float32Array;
}

export interface Dataset {
  /** Used in the report and as part of the ground-truth cache key. */
  name: string;
  metric: 'l2';
  train: VectorSet;
  queries: VectorSet;
  /** Where the vectors came from (files or generator parameters). */
  source: string;
}

export function row(set: VectorSet, i: number): Float32Array {
  return set.data.subarray(i * set.dim, (i + 1) * set.dim);
}

const FASHION_PACKAGE = 'dataset-fashion-mnist';
const TRAIN_FILE = 'train-images-idx3-ubyte.gz';
const TEST_FILE = 't10k-images-idx3-ubyte.gz';
const IDX3_UBYTE_MAGIC = 0x00000803;

function run(cmd: string, args: string[]): { ok: boolean; output: string } {
  try {
    const output = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { ok: true, output };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? e.message}` };
  }
}

/**
 * Installs a Debian package with apt-get, running `apt-get update` once if the first attempt fails.
 * Returns an explanation when it cannot.
 */
export function aptInstall(pkg: string, log: (line: string) => void): { ok: boolean; why: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: `not root, cannot apt-get install ${pkg}` };
  if (!run('sh', ['-c', 'command -v apt-get']).ok) return { ok: false, why: 'apt-get not found' };
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): boolean => {
    try {
      execFileSync('apt-get', ['install', '-y', '-q', pkg], { stdio: ['ignore', 'ignore', 'pipe'], env });
      return true;
    } catch {
      return false;
    }
  };
  log(`installing ${pkg} with apt-get`);
  if (install()) return { ok: true, why: '' };
  log(`apt-get install ${pkg} failed; running apt-get update and retrying`);
  run('apt-get', ['update', '-q']);
  return install() ? { ok: true, why: '' } : { ok: false, why: `apt-get install -y ${pkg} failed` };
}

/** The directory holding the Fashion-MNIST IDX files of the Debian package, or null. */
function fashionDirFromDpkg(): string | null {
  const listed = run('dpkg', ['-L', FASHION_PACKAGE]);
  if (!listed.ok) return null;
  const train = listed.output.split('\n').find((line) => line.endsWith(`/${TRAIN_FILE}`));
  if (train === undefined) return null;
  const dir = train.slice(0, -TRAIN_FILE.length - 1);
  return existsSync(join(dir, TEST_FILE)) ? dir : null;
}

/** Finds the Fashion-MNIST files, installing `dataset-fashion-mnist` when allowed and missing. */
export function findFashionMnist(allowInstall: boolean, log: (line: string) => void): string {
  const found = fashionDirFromDpkg();
  if (found !== null) return found;
  if (!allowInstall) throw new Error(`${FASHION_PACKAGE} is not installed (apt-get install -y ${FASHION_PACKAGE})`);
  const installed = aptInstall(FASHION_PACKAGE, log);
  if (!installed.ok) throw new Error(`cannot get Fashion-MNIST: ${installed.why}`);
  const dir = fashionDirFromDpkg();
  if (dir === null) throw new Error(`${FASHION_PACKAGE} is installed but ${TRAIN_FILE} was not found in it`);
  return dir;
}

/**
 * Parses a gzipped IDX file of uint8 images (magic 0x00000803, big-endian dimensions) into float32
 * vectors with the raw pixel values 0–255, as ann-benchmarks does. Reads at most `limit` images.
 */
export function readIdxImages(path: string, limit: number): VectorSet {
  const bytes = gunzipSync(readFileSync(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 16) throw new Error(`${path}: too short for an IDX header`);
  const magic = view.getUint32(0, false);
  if (magic !== IDX3_UBYTE_MAGIC) {
    throw new Error(`${path}: IDX magic 0x${magic.toString(16).padStart(8, '0')}, expected 0x00000803 (uint8, 3 dims)`);
  }
  const count = view.getUint32(4, false);
  const dim = view.getUint32(8, false) * view.getUint32(12, false);
  if (bytes.byteLength !== 16 + count * dim) {
    throw new Error(`${path}: ${bytes.byteLength - 16} pixel bytes, header says ${count} × ${dim}`);
  }
  if (limit > count) throw new Error(`${path} has ${count} vectors, ${limit} were asked for`);
  const data = new Float32Array(limit * dim);
  const pixels = bytes.subarray(16, 16 + limit * dim);
  for (let i = 0; i < pixels.length; i++) data[i] = pixels[i]!;
  return { n: limit, dim, data };
}

/** The class (0–9) of each of the first `limit` Fashion-MNIST training images (IDX1, magic 0x00000801). */
export function readFashionLabels(limit: number, allowInstall: boolean, log: (line: string) => void): Uint8Array {
  const path = join(findFashionMnist(allowInstall, log), 'train-labels-idx1-ubyte.gz');
  const bytes = gunzipSync(readFileSync(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 8 || view.getUint32(0, false) !== 0x801) throw new Error(`${path}: not an IDX1 label file`);
  const count = view.getUint32(4, false);
  if (limit > count || bytes.byteLength !== 8 + count) throw new Error(`${path}: ${count} labels, ${limit} asked for`);
  return bytes.slice(8, 8 + limit);
}

/** fashion-mnist-784-euclidean: the first `train` training images and the first `queries` test images. */
export function loadFashionMnist(
  train: number,
  queries: number,
  allowInstall: boolean,
  log: (line: string) => void,
): Dataset {
  const dir = findFashionMnist(allowInstall, log);
  return {
    name: 'fashion-mnist-784-euclidean',
    metric: 'l2',
    train: readIdxImages(join(dir, TRAIN_FILE), train),
    queries: readIdxImages(join(dir, TEST_FILE), queries),
    source: `${join(dir, TRAIN_FILE)}, ${join(dir, TEST_FILE)} (Debian ${FASHION_PACKAGE})`,
  };
}

export { prng };

export interface SyntheticOptions {
  train: number;
  queries: number;
  dim: number;
  clusters: number;
  seed: number;
}

/**
 * A seeded Gaussian mixture (centres uniform in [-10, 10]^dim, unit spread): each call of the result
 * draws the next `n` vectors, so a large set can be written a chunk at a time.
 */
export function gaussianMixture(dim: number, clusters: number, seed: number): (n: number) => VectorSet {
  const random = prng(seed);
  const gaussian = (): number => {
    const u = 1 - random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
  const centres = new Float32Array(clusters * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = random() * 20 - 10;
  return (n: number): VectorSet => {
    const data = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const c = Math.floor(random() * clusters) * dim;
      for (let j = 0; j < dim; j++) data[i * dim + j] = centres[c + j] + gaussian();
    }
    return { n, dim, data };
  };
}

/**
 * Gaussian clusters from a seeded PRNG (see gaussianMixture), so a run is reproducible; queries are
 * fresh draws from the same mixture, not copies of training points.
 */
export function syntheticDataset(opts: SyntheticOptions): Dataset {
  const draw = gaussianMixture(opts.dim, opts.clusters, opts.seed);
  const train = draw(opts.train);
  const queries = draw(opts.queries);
  return {
    name: `synthetic-${opts.dim}d-${opts.clusters}clusters-seed${opts.seed}`,
    metric: 'l2',
    train,
    queries,
    source: `seeded PRNG (mulberry32, seed ${opts.seed}): ${opts.clusters} Gaussian clusters in ${opts.dim} dimensions`,
  };
}
