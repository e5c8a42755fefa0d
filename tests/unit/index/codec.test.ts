import assert from 'node:assert/strict';
import { test } from 'node:test';
import { codecParamsFromBytes, codecParamsToBytes, fitCodecParams, VectorCodec } from '../../../index/codec.ts';
import { E4M3 } from '../../../index/minifloat.ts';
import { vectorToBlob } from '../../../index/vectors.ts';
import { prng } from '../../helpers/random.ts';

function randomSet(n: number, d: number, seed: number, scale = 1, offset = 0): Float32Array {
  const random = prng(seed);
  return Float32Array.from({ length: n * d }, () => offset + scale * (random() * 2 - 1));
}

test('float32 stores the bytes of the vector; float16 halves them and keeps representable values exactly', () => {
  const v = Float32Array.from([0.5, -1.25, 3, 1024, 2 ** -14]);
  const f32 = new VectorCodec('float32', 5);
  assert.deepEqual(f32.encode(v).bytes, vectorToBlob(v));
  assert.deepEqual(f32.decode(f32.encode(v).bytes), v);
  const f16 = new VectorCodec('float16', 5);
  const { bytes, saturated } = f16.encode(v);
  assert.equal(bytes.byteLength, 10);
  assert.equal(saturated, 0);
  assert.deepEqual(f16.decode(bytes), v);
});

test('float16 saturates values beyond 65504 and counts them', () => {
  const f16 = new VectorCodec('float16', 3);
  const { bytes, saturated } = f16.encode(Float32Array.from([1e6, -1e6, 1]));
  assert.equal(saturated, 2);
  assert.deepEqual(Array.from(f16.decode(bytes)), [65504, -65504, 1]);
});

test('a fitted float8 codec stores (x − mean) / scale: one byte per value, error within the format step', () => {
  const n = 500;
  const d = 16;
  const data = randomSet(n, d, 3, 50, 200); // centred at 200, beyond E4M3's range uncentred
  const params = fitCodecParams('float8_e4m3', data, n, d);
  for (let j = 0; j < d; j++) assert.ok(Math.abs(params.shift[j] - 200) < 10, `mean[${j}] = ${params.shift[j]}`);
  const codec = new VectorCodec('float8_e4m3', d, params);
  assert.equal(codec.bytesPerVector, d);
  let saturated = 0;
  for (let i = 0; i < n; i++) {
    const v = data.subarray(i * d, (i + 1) * d);
    const encoded = codec.encode(v);
    saturated += encoded.saturated;
    const back = codec.decode(encoded.bytes);
    for (let j = 0; j < d; j++) {
      // E4M3 keeps 3 mantissa bits: relative error ≤ 2^-4 of the scaled value, plus the subnormal step.
      const scaled = Math.abs(v[j] - params.shift[j]) / params.scale[j];
      const bound = params.scale[j] * (scaled * 2 ** -4 + 2 ** -10) + 1e-4;
      assert.ok(Math.abs(back[j] - v[j]) <= bound, `v[${i}][${j}] = ${v[j]} came back as ${back[j]}`);
    }
  }
  assert.equal(saturated, 0, 'the sample maps to half the format maximum, so none of it saturates');
});

test('the plain cast (no fit) would saturate that data; the fitted codec does not', () => {
  const values = Float32Array.from([900, -700, 500]);
  assert.ok(values.every((x) => Math.abs(x) > E4M3.max));
  const params = fitCodecParams('float8_e4m3', Float32Array.from([...values, ...values.map((x) => -x)]), 2, 3);
  assert.equal(E4M3.encodeInto(values, new Uint8Array(3)), 3, 'the plain cast saturates every value');
  const codec = new VectorCodec('float8_e4m3', 3, params);
  const { saturated } = codec.encode(values);
  assert.equal(saturated, 0);
  const far = codec.encode(Float32Array.from([1e9, 0, 0]));
  assert.equal(far.saturated, 1, 'a value far beyond the fitted range saturates and is counted');
});

test('a constant dimension gets scale 1 and round-trips exactly', () => {
  const data = Float32Array.from([5, 1, 5, 2, 5, 3]);
  const params = fitCodecParams('float8_e5m2', data, 3, 2);
  assert.equal(params.scale[0], 1);
  const codec = new VectorCodec('float8_e5m2', 2, params);
  assert.equal(codec.decode(codec.encode(Float32Array.from([5, 2])).bytes)[0], 5);
});

test('decoding goes by length: float32 rows written before the fit still read back', () => {
  const params = fitCodecParams('float8_e4m3', randomSet(10, 4, 9), 10, 4);
  const codec = new VectorCodec('float8_e4m3', 4, params);
  const v = Float32Array.from([0.1, 0.2, 0.3, 0.4]);
  assert.deepEqual(codec.decode(vectorToBlob(v)), v);
  assert.throws(() => codec.decode(new Uint8Array(7)), { code: 'VDB_ERR_VECTOR_ENCODING' });
});

test('roundTrip is decode(encode(v))', () => {
  const params = fitCodecParams('float8_e4m3', randomSet(50, 8, 4), 50, 8);
  const codec = new VectorCodec('float8_e4m3', 8, params);
  const v = randomSet(1, 8, 5);
  assert.deepEqual(codec.roundTrip(v, new Float32Array(8)), codec.decode(codec.encode(v).bytes));
  assert.notDeepEqual(codec.roundTrip(v, new Float32Array(8)), v);
});

test('params survive their byte form exactly', () => {
  const params = fitCodecParams('float8_e5m2', randomSet(30, 6, 7, 3), 30, 6);
  const back = codecParamsFromBytes(codecParamsToBytes(params), 6);
  assert.deepEqual(back, params);
  assert.throws(() => codecParamsFromBytes(new Uint8Array(10), 6), { code: 'VDB_ERR_VECTOR_ENCODING' });
});

test('a float8 codec needs params and the others refuse them', () => {
  assert.throws(() => new VectorCodec('float8_e4m3', 4), /needs fitted params/);
  const params = { shift: new Float32Array(4), scale: new Float32Array(4).fill(1) };
  assert.throws(() => new VectorCodec('float16', 4, params), /takes no params/);
  assert.throws(() => new VectorCodec('float8_e4m3', 5, params), /5 values/);
  assert.throws(() => fitCodecParams('float16', new Float32Array(4), 1, 4), /takes no params/);
});

test('int8 stores one signed byte per value: the fitted range’s ends on codes −128 and 127', () => {
  const data = Float32Array.from([-3, 100, 5, 300, 1, 200]); // three vectors of dimension 2
  const params = fitCodecParams('int8', data, 3, 2);
  const codec = new VectorCodec('int8', 2, params);
  assert.equal(codec.bytesPerVector, 2);
  assert.deepEqual([...codec.encode(Float32Array.from([-3, 300])).bytes], [0x80, 0x7f]);
  assert.deepEqual([...codec.encode(Float32Array.from([5, 100])).bytes], [0x7f, 0x80]);
  const { bytes, saturated } = codec.encode(Float32Array.from([1e6, 200]));
  assert.equal(saturated, 1);
  assert.deepEqual(Array.from(codec.decode(bytes)), [5, Math.fround(params.shift[1] + params.scale[1] * ((bytes[1] << 24) >> 24))]);
});

test('int8 distance to stored bytes is the distance to the decoded vector, in every metric', () => {
  const n = 40;
  const d = 37; // not a multiple of 4 or 8
  const data = randomSet(n, d, 21, 5, 2);
  const codec = new VectorCodec('int8', d, fitCodecParams('int8', data, n, d));
  // Stored back to back after a 3-byte head, as a store segment holds them at any offset.
  const slab = new Uint8Array(3 + n * d);
  for (let i = 0; i < n; i++) slab.set(codec.encode(data.subarray(i * d, (i + 1) * d)).bytes, 3 + i * d);
  const random = prng(22);
  const q = Float32Array.from({ length: d }, () => random() * 10 - 3);
  const unit = q.map((x) => x / Math.hypot(...q));
  for (let i = 0; i < n; i++) {
    const x = codec.decode(slab.subarray(3 + i * d, 3 + (i + 1) * d));
    let l2 = 0;
    let dot = 0;
    let dotUnit = 0;
    let norm = 0;
    for (let j = 0; j < d; j++) {
      l2 += (q[j] - x[j]) ** 2;
      dot += q[j] * x[j];
      dotUnit += unit[j] * x[j];
      norm += x[j] * x[j];
    }
    const cases: [number, number, string][] = [
      [codec.distance(q, slab, 3 + i * d, 'l2'), l2, 'l2'],
      [codec.distance(q, slab, 3 + i * d, 'ip'), 1 - dot, 'ip'],
      [codec.distance(unit, slab, 3 + i * d, 'cosine'), 1 - dotUnit / Math.sqrt(norm), 'cosine'],
    ];
    // The decoded vector is rounded to float32, the scored one not: equal to float32 precision.
    for (const [got, want, metric] of cases) assert.ok(Math.abs(got - want) <= 1e-6 * Math.max(1, Math.abs(want)), `${metric} ${i}: ${got} ≠ ${want}`);
  }
});

test('int8 params survive their byte form, and a codec rebuilt from them decodes the same values', () => {
  const n = 60;
  const d = 9;
  const data = randomSet(n, d, 23, 40, -7);
  const params = fitCodecParams('int8', data, n, d);
  const back = codecParamsFromBytes(codecParamsToBytes(params), d);
  assert.deepEqual(back, params);
  const stored = new VectorCodec('int8', d, params).encode(data.subarray(0, d)).bytes;
  assert.deepEqual(new VectorCodec('int8', d, back).decode(stored), new VectorCodec('int8', d, params).decode(stored));
  assert.throws(() => new VectorCodec('int8', d), /needs fitted params/);
  assert.throws(() => fitCodecParams('int8', data, n, d, { clip: 0.7 }), /options.clip/);
  // Rows stored as float32 before the fit still read back.
  const v = data.subarray(d, 2 * d);
  assert.deepEqual(new VectorCodec('int8', d, params).decode(vectorToBlob(v)), v);
});
