import type { CodecParams } from './codec.ts';
import { IndexErrors } from './errors.ts';

/**
 * int8 scalar quantisation (the baseline of arXiv 2505.00105): per dimension, 256 even steps over a
 * range fitted on a sample. The stored byte is the signed code c = round((x − shift) / scale), −128…127,
 * which stands for shift + scale · c: `scale` is the step and `shift` the value of code 0. Unlike
 * float8 there is no dynamic range, so a value beyond the fitted range clamps to its end (saturated).
 */

/**
 * The share of each dimension's sample clipped at either end before the range is fitted: 0, min–max.
 * Clipping measured worse on every set of `npm run bench:compression` (recall@10 at the two ef where
 * float32 reaches 0.95 and 0.99; min–max against 0.1 % clipped): Fashion-MNIST 0.9507 / 0.9913
 * against 0.9496 / 0.9895, unit-normalised 0.9582 / 0.9840 against 0.9571 / 0.9829, a Gaussian
 * mixture 0.9262 / 0.9506 against 0.9200 / 0.9460 (1 %: 0.8399 / 0.8575). The values clipping clamps
 * (10,171 of Fashion-MNIST's at 0.1 %, against 698 beyond a min–max fit on its 8,192-point sample)
 * cost more recall than its finer step gains; 0.01 % clips nothing at that sample size.
 */
export const INT8_CLIP = 0;

const LOW = -128;
const HIGH = 127;

/**
 * Fits int8 params on `n` vectors of dimension `d` (row-major): per dimension, the range from the
 * sample's `clip` quantile to its 1 − `clip` quantile (min and max at 0) in 255 steps, its ends
 * on codes −128 and 127. A dimension with no spread keeps its value on code 0 and borrows the widest
 * step of the others, so later values of the same magnitude as the rest of the data still fit.
 */
export function fitInt8(data: Float32Array, n: number, d: number, clip = INT8_CLIP): CodecParams {
  if (!(clip >= 0 && clip < 0.5)) throw new IndexErrors.Options('options.clip must be at least 0 and below 0.5');
  const lo = new Float64Array(d).fill(Infinity);
  const hi = new Float64Array(d).fill(-Infinity);
  if (clip === 0) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) {
        const x = data[i * d + j];
        if (x < lo[j]) lo[j] = x;
        if (x > hi[j]) hi[j] = x;
      }
    }
  } else {
    const column = new Float32Array(n);
    const low = Math.floor(clip * (n - 1));
    const high = Math.ceil((1 - clip) * (n - 1));
    for (let j = 0; j < d; j++) {
      for (let i = 0; i < n; i++) column[i] = data[i * d + j];
      column.sort();
      lo[j] = column[low];
      hi[j] = column[high];
    }
  }
  let widest = 0;
  for (let j = 0; j < d; j++) widest = Math.max(widest, (hi[j] - lo[j]) / (HIGH - LOW));
  const shift = new Float32Array(d);
  const scale = new Float32Array(d);
  for (let j = 0; j < d; j++) {
    const step = (hi[j] - lo[j]) / (HIGH - LOW);
    scale[j] = step > 0 ? step : widest > 0 ? widest : 1;
    shift[j] = step > 0 ? lo[j] - LOW * step : lo[j];
  }
  return { shift, scale };
}

/** Writes the codes of `v` into `out` (one byte per value); returns how many values clamped. */
export function encodeInt8(v: Float32Array, params: CodecParams, out: Uint8Array): number {
  const { shift, scale } = params;
  let saturated = 0;
  for (let i = 0; i < v.length; i++) {
    let c = Math.round((v[i] - shift[i]) / scale[i]);
    if (c < LOW) {
      c = LOW;
      saturated++;
    } else if (c > HIGH) {
      c = HIGH;
      saturated++;
    }
    out[i] = c; // a Uint8Array keeps c mod 256: the two's complement byte
  }
  return saturated;
}

/** Decodes `out.length` codes from `bytes[at…]` into `out`. */
export function decodeInt8Into(bytes: Uint8Array, at: number, params: CodecParams, out: Float32Array): Float32Array {
  const { shift, scale } = params;
  // (b << 24) >> 24 sign-extends the byte: the code without a table.
  for (let i = 0; i < out.length; i++) out[i] = shift[i] + scale[i] * ((bytes[at + i] << 24) >> 24);
  return out;
}
