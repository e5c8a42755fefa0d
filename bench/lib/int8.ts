import type { VectorSet } from './datasets.ts';

/**
 * int8 scalar quantisation, the paper's baseline at float8's size: 256 even steps between each
 * dimension's min and max over the set. Returns the decoded set (bench only: not a product codec).
 */
export function int8RoundTrip(set: VectorSet): VectorSet {
  const { n, dim, data } = set;
  const min = new Float32Array(dim).fill(Infinity);
  const max = new Float32Array(dim).fill(-Infinity);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) {
      const v = data[i * dim + j];
      if (v < min[j]) min[j] = v;
      if (v > max[j]) max[j] = v;
    }
  }
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const j = i % dim;
    const step = (max[j] - min[j]) / 255 || 1;
    out[i] = Math.round((data[i] - min[j]) / step) * step + min[j];
  }
  return { ...set, data: out };
}
