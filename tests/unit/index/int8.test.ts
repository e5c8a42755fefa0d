import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CodecParams } from '../../../index/codec.ts';
import { decodeInt8Into, encodeInt8, fitInt8 } from '../../../index/int8.ts';
import { prng } from '../../helpers/random.ts';

/** The 256 values dimension `j` can hold, as decoded (float32), code −128 first. */
function levels(params: CodecParams, j: number): number[] {
  return Array.from({ length: 256 }, (_, i) => Math.fround(params.shift[j] + params.scale[j] * (i - 128)));
}

/** The oracle: the level nearest to x, by trying all 256. */
function nearest(params: CodecParams, j: number, x: number): number {
  return levels(params, j).reduce((best, v) => (Math.abs(v - x) < Math.abs(best - x) ? v : best));
}

function roundTrip(v: Float32Array, params: CodecParams): { back: Float32Array; saturated: number } {
  const bytes = new Uint8Array(v.length);
  const saturated = encodeInt8(v, params, bytes);
  return { back: decodeInt8Into(bytes, 0, params, new Float32Array(v.length)), saturated };
}

/** Per dimension a different offset and spread, some negative, one dimension 1,000× wider. */
function skewed(n: number, d: number, seed: number): Float32Array {
  const random = prng(seed);
  const offset = Array.from({ length: d }, (_, j) => (j % 3) * 40 - 30);
  const spread = Array.from({ length: d }, (_, j) => (j === 1 ? 1000 : 0.5 + j));
  return Float32Array.from({ length: n * d }, (_, i) => offset[i % d] + spread[i % d] * (random() * 2 - 1));
}

test('min–max: every value in range comes back as the nearest of the 256 levels, within half a step', () => {
  const n = 400;
  const d = 7;
  const data = skewed(n, d, 1);
  const params = fitInt8(data, n, d, 0);
  let saturated = 0;
  for (let i = 0; i < n; i++) {
    const v = data.subarray(i * d, (i + 1) * d);
    const r = roundTrip(v, params);
    saturated += r.saturated;
    for (let j = 0; j < d; j++) {
      const error = Math.abs(r.back[j] - v[j]);
      // Float32 rounding of the level itself can move it by an ulp: allow that much beyond step / 2.
      const ulp = 2 ** -23 * Math.max(Math.abs(v[j]), Math.abs(r.back[j]));
      assert.ok(error <= params.scale[j] / 2 + ulp, `v[${i}][${j}] = ${v[j]} came back as ${r.back[j]}, step ${params.scale[j]}`);
      assert.ok(Math.abs(error - Math.abs(nearest(params, j, v[j]) - v[j])) <= ulp, `v[${i}][${j}]: not the nearest level`);
    }
  }
  assert.equal(saturated, 0, 'min–max covers the whole sample');
  // The sample's ends sit on the end codes.
  for (let j = 0; j < d; j++) {
    const column = Array.from({ length: n }, (_, i) => data[i * d + j]);
    const [low, high] = [Math.min(...column), Math.max(...column)];
    const l = levels(params, j);
    assert.ok(Math.abs(l[0] - low) <= 1e-5 * Math.max(1, Math.abs(low)), `dimension ${j}: code −128 is ${l[0]}, min ${low}`);
    assert.ok(Math.abs(l[255] - high) <= 1e-5 * Math.max(1, Math.abs(high)), `dimension ${j}: code 127 is ${l[255]}, max ${high}`);
    assert.ok(Math.abs(params.scale[j] - (high - low) / 255) <= 1e-6 * params.scale[j]);
  }
});

test('values beyond the range clamp to the end level and are counted; half a step beyond still rounds in', () => {
  const data = Float32Array.from([-1, 10, 1, 20, 0, 15]); // three vectors of dimension 2
  const params = fitInt8(data, 3, 2, 0);
  const [first, last] = [levels(params, 0)[0], levels(params, 0)[255]];
  const step = params.scale[0];
  const cases: [number, number, number][] = [
    // value, expected decode, saturated
    [-1e9, first, 1],
    [1e9, last, 1],
    [1 + 0.4 * step, last, 0],
    [-1 - 0.4 * step, first, 0],
    [1 + 0.6 * step, last, 1],
  ];
  for (const [x, want, saturated] of cases) {
    const r = roundTrip(Float32Array.from([x, 15]), params);
    assert.equal(r.back[0], want, `${x}`);
    assert.equal(r.saturated, saturated, `${x}`);
  }
  const both = roundTrip(Float32Array.from([1e9, -1e9]), params);
  assert.equal(both.saturated, 2);
  assert.deepEqual(Array.from(both.back), [last, levels(params, 1)[0]]);
});

test('integer data spanning 0–255 (pixels) round-trips exactly under min–max', () => {
  const n = 300;
  const d = 5;
  const random = prng(2);
  const data = Float32Array.from({ length: n * d }, () => Math.floor(random() * 256));
  for (let j = 0; j < d; j++) [data[j], data[d + j]] = [0, 255];
  const params = fitInt8(data, n, d, 0);
  const bytes = new Uint8Array(n * d);
  for (let i = 0; i < n; i++) encodeInt8(data.subarray(i * d, (i + 1) * d), params, bytes.subarray(i * d));
  const back = new Float32Array(n * d);
  for (let i = 0; i < n; i++) decodeInt8Into(bytes, i * d, params, back.subarray(i * d, (i + 1) * d));
  assert.deepEqual(back, data);
});

test('clipping takes the quantiles as the range; the clipped tails saturate', () => {
  // One dimension: 0 … 999 shuffled, plus two outliers.
  const random = prng(3);
  const values = [...Array.from({ length: 1000 }, (_, i) => i), -50_000, 80_000].sort(() => random() - 0.5);
  const data = Float32Array.from(values);
  const clipped = fitInt8(data, values.length, 1, 0.01);
  const l = levels(clipped, 0);
  // Sorted, index floor(0.01 × 1001) = 10 is the value 9; ceil(0.99 × 1001) = 991 is 990.
  assert.ok(Math.abs(l[0] - 9) < 1e-3 && Math.abs(l[255] - 990) < 1e-3, `range ${l[0]} … ${l[255]}`);
  const saturated = values.reduce((sum, x) => sum + roundTrip(Float32Array.of(x), clipped).saturated, 0);
  const half = clipped.scale[0] / 2;
  const beyond = values.filter((x) => x < l[0] - half || x > l[255] + half);
  assert.equal(beyond.length, 18, 'the outliers, 0–7 and 992–999 (8 and 991 round in)');
  assert.equal(saturated, beyond.length);
  const plain = fitInt8(data, values.length, 1, 0);
  assert.ok(plain.scale[0] > 100 * clipped.scale[0], 'min–max spends its steps on the outliers');
  assert.throws(() => fitInt8(data, values.length, 1, 0.5), /options.clip/);
  assert.throws(() => fitInt8(data, values.length, 1, -0.1), /options.clip/);
});

test('a dimension with no spread keeps its value exactly and borrows the widest step', () => {
  const data = Float32Array.from([7, 0, 0, 7, 10, 1, 7, 5, 2]); // dimension 0 constant; widest step 10 / 255
  const params = fitInt8(data, 3, 3, 0);
  assert.equal(params.scale[0], params.scale[1]);
  assert.equal(roundTrip(Float32Array.from([7, 5, 1]), params).back[0], 7);
  const later = roundTrip(Float32Array.from([9, 5, 1]), params);
  assert.equal(later.saturated, 0, 'a later value within the widest range fits');
  assert.ok(Math.abs(later.back[0] - 9) <= params.scale[0] / 2 + 1e-6);
  const all = fitInt8(Float32Array.from([3, 3, 3, 3]), 2, 2, 0);
  assert.deepEqual([Array.from(all.scale), Array.from(all.shift)], [[1, 1], [3, 3]], 'nothing to borrow: step 1');
});
