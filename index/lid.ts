import { IndexErrors } from './errors.ts';

/**
 * Pointwise local intrinsic dimensionality by maximum likelihood (Levina–Bickel; arXiv 2405.17813):
 * LID = −1 / ((1/k) Σᵢ ln(rᵢ / r_k)) over a point's k nearest neighbours at Euclidean (not squared)
 * distances rᵢ, sorted ascending, the point itself excluded. Neighbours at distance 0 (duplicates)
 * carry no scale and are skipped; with fewer than two left, or all at one distance, LID is NaN.
 */
export function lid(distances: ArrayLike<number>): number {
  let first = 0;
  while (first < distances.length && distances[first] === 0) first++;
  const k = distances.length - first;
  if (k < 2) return NaN;
  const rk = distances[distances.length - 1];
  let sum = 0;
  for (let i = first; i < distances.length; i++) {
    const r = distances[i];
    if (!(r >= 0) || r > rk) throw new IndexErrors.Options('distances must be non-negative and sorted ascending');
    sum += Math.log(r / rk);
  }
  return sum === 0 ? NaN : -k / sum;
}

/** Minimum, quartiles and maximum of the finite estimates (NaNs left out), and how many there were. */
export interface LidSummary {
  count: number;
  min: number;
  q1: number;
  median: number;
  q3: number;
  max: number;
}

export function summarizeLid(lids: ArrayLike<number>): LidSummary | null {
  const finite = Float64Array.from(Array.from(lids).filter((x) => Number.isFinite(x))).sort();
  if (finite.length === 0) return null;
  const at = (q: number) => {
    const pos = q * (finite.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.ceil(pos);
    return finite[lo] + (finite[hi] - finite[lo]) * (pos - lo);
  };
  return { count: finite.length, min: finite[0], q1: at(0.25), median: at(0.5), q3: at(0.75), max: finite[finite.length - 1] };
}
