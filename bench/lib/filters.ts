import type { Dataset } from './datasets.ts';
import { groundTruth, type GroundTruthResult } from './ground-truth.ts';

/** Every point's payload is `{bucket: row % BUCKETS}`, so `bucket < x` selects x / BUCKETS of the rows. */
export const BUCKETS = 1000;

export function bucketPayload(row: number): { bucket: number } {
  return { bucket: row % BUCKETS };
}

/** One filtered search: its `where`, and the same test on a row number for the ground truth. */
export interface FilterCase {
  name: string;
  /** The share of rows it selects, as printed: '1 %'. */
  label: string;
  share: number;
  /** JSON text of the `where` filter. */
  where: string;
  passes: (row: number) => boolean;
}

const below = (limit: number): FilterCase => ({
  name: `bucket-lt-${limit}`,
  label: `${(limit / BUCKETS) * 100} %`,
  share: limit / BUCKETS,
  where: `{"bucket":{"$lt":${limit}}}`,
  passes: (row) => row % BUCKETS < limit,
});

/** 50 %, 10 %, 1 % and 0.1 % of the rows. */
export const FILTER_CASES: FilterCase[] = [
  below(500),
  below(100),
  below(10),
  { name: 'bucket-eq-0', label: '0.1 %', share: 1 / BUCKETS, where: '{"bucket":0}', passes: (row) => row % BUCKETS === 0 },
];

/** The row numbers among the first `n` that pass the filter. */
export function matchingRows(n: number, filter: FilterCase): Int32Array {
  const rows: number[] = [];
  for (let i = 0; i < n; i++) if (filter.passes(i)) rows.push(i);
  return Int32Array.from(rows);
}

/** The data set with only its first `queries` queries (the filtered searches use a prefix). */
export function withQueries(dataset: Dataset, queries: number): Dataset {
  const q = Math.min(queries, dataset.queries.n);
  const { dim } = dataset.queries;
  return { ...dataset, queries: { n: q, dim, data: dataset.queries.data.subarray(0, q * dim) } };
}

export interface FilteredTruth extends GroundTruthResult {
  filter: FilterCase;
  /** Rows passing the filter; the truth's k is min(k, matches), what the server must return. */
  matches: number;
}

/**
 * Exact top-k among the rows passing each filter, for the data set's queries; cached beside the
 * unfiltered ground truth (the file name carries the filter's name).
 */
export function filteredTruths(dataset: Dataset, k: number, cacheDir: string | null, log: (line: string) => void): FilteredTruth[] {
  return FILTER_CASES.map((filter) => {
    const rows = matchingRows(dataset.train.n, filter);
    if (rows.length === 0) throw new Error(`filter ${filter.name} selects none of the ${dataset.train.n} rows: use more training vectors`);
    const result = groundTruth(dataset, Math.min(k, rows.length), cacheDir, { name: filter.name, rows });
    log(`filtered ground truth ${filter.label} (${rows.length} rows): ${result.cached ? 'loaded' : 'computed'} in ${result.seconds.toFixed(1)} s`);
    return { ...result, filter, matches: rows.length };
  });
}
