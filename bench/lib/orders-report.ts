import type { LidSummary } from '../../index/lid.ts';
import { prng, type Dataset, type VectorSet } from './datasets.ts';
import { fixed, int, markdownTable } from './report.ts';

/** A set whose rows may carry a label (class): natural order, and grouped by label. */
export interface OrderSet {
  name: string;
  source: string;
  train: VectorSet;
  queries: VectorSet;
  labels: Uint8Array | null;
}

export interface OrderRun {
  order: string;
  seed: number;
  buildSeconds: number;
  /** Recall@k at each of the section's efs. */
  recalls: number[];
}

export interface Section {
  name: string;
  source: string;
  n: number;
  dim: number;
  queries: number;
  k: number;
  efs: number[];
  hnsw: { m: number; efConstruction: number };
  /** The order an import uses when nothing names one. */
  defaultOrder: string;
  presentations: {
    name: string;
    /** The LID orders' k-NN pass and sort, as planOrder runs them. */
    passSeconds: number;
    lid: LidSummary | null;
    runs: OrderRun[];
  }[];
}

/**
 * Clusters on random subspaces of different dimension (2 to 32) in 64 dimensions, with a little
 * noise: the data where the LID orders should matter most.
 */
export function mixedLid(train: number, queries: number, seed: number): Dataset {
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

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const points = (d: number): string => `${d >= 0 ? '+' : ''}${fixed(d * 100, 2)} pt`;

/**
 * One table per set: a row per (presentation, order) with recall@k at each ef (mean over the level
 * seeds, min–max, and the difference from `random` in the same presentation), build seconds, and
 * the LID pass on top for the LID orders; then the default order against `random` and `given`.
 */
export function formatSection(s: Section): string {
  const header = ['input', 'order', ...s.efs.flatMap((ef) => [`ef ${ef} mean`, 'min–max', 'vs random']), 'build s', '+ LID pass s'];
  const rows: string[][] = [];
  const verdicts: string[] = [];
  for (const p of s.presentations) {
    const orders = [...new Set(p.runs.map((r) => r.order))];
    const of = (order: string) => p.runs.filter((r) => r.order === order);
    const meanAt = (order: string, e: number) => mean(of(order).map((r) => r.recalls[e]));
    for (const order of orders) {
      const runs = of(order);
      const cells = s.efs.flatMap((_, e) => {
        const xs = runs.map((r) => r.recalls[e]);
        return [fixed(mean(xs), 4), `${fixed(Math.min(...xs), 4)}–${fixed(Math.max(...xs), 4)}`, order === 'random' ? '—' : points(mean(xs) - meanAt('random', e))];
      });
      const label = order === s.defaultOrder ? `${order} (default)` : order;
      rows.push([p.name, label, ...cells, fixed(mean(runs.map((r) => r.buildSeconds)), 1), order.startsWith('lid') ? fixed(p.passSeconds, 1) : '—']);
    }
    const vs = (other: string) => s.efs.map((ef, e) => `ef ${ef} ${points(meanAt(s.defaultOrder, e) - meanAt(other, e))}`).join(', ');
    verdicts.push(`- ${p.name}: default (${s.defaultOrder}) vs random ${vs('random')}; vs given ${vs('given')}`);
  }
  const seeds = [...new Set(s.presentations.flatMap((p) => p.runs.map((r) => r.seed)))];
  const lid = s.presentations[0]?.lid;
  const lidLine = lid ? `LID (k = 20): min ${fixed(lid.min, 1)}, quartiles ${fixed(lid.q1, 1)} / ${fixed(lid.median, 1)} / ${fixed(lid.q3, 1)}, max ${fixed(lid.max, 1)}` : 'LID: none';
  return `## ${s.name}: ${int(s.n)} × ${s.dim}, ${s.queries} queries, recall@${s.k}, M=${s.hnsw.m}, efC=${s.hnsw.efConstruction}, level seeds ${seeds.join(', ')}\n\n` +
    `${s.source}. ${lidLine}\n\n` +
    markdownTable(header, rows, header.map((_, i) => i > 1)) + '\n\n' + verdicts.join('\n') + '\n';
}
