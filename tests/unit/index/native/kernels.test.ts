import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadHnswlib } from '../../../../index/native/load.ts';
import { fitCodecParams, VectorCodec } from '../../../../index/codec.ts';
import { codeFormat, loadKernels } from '../../../../index/native/kernels.ts';
import type { CodeFormatName } from '../../../../index/simd.ts';
import { prng } from '../../../helpers/random.ts';

test('the fast builds carry the native kernels; the stock build has none', (t) => {
  assert.equal(loadKernels('stock'), null);
  if (loadHnswlib('auto').build === 'stock') {
    t.skip('no fast build here');
    return;
  }
  assert.ok(loadKernels('auto'), 'the fast build installed without kernels.cc');
});

test('scoreRows reads rows in their segments, from an offset into the labels, NaN beyond the segments', (t) => {
  const kernels = loadKernels();
  if (!kernels) return t.skip('no native kernels here');
  const random = prng(5);
  for (const dim of [1, 7, 8, 33, 784]) {
    const segmentRows = 4;
    const segments = [0, 1, 2].map(() => Float32Array.from({ length: segmentRows * dim }, () => random() * 2 - 1));
    const query = Float32Array.from({ length: dim }, () => random() * 2 - 1);
    const labels = Uint32Array.of(99, 11, 0, 5, 12, 4, 7);
    const out = new Float32Array(8).fill(-1);
    for (const l2 of [true, false]) {
      kernels.scoreRows(query, segments, segmentRows, labels, 1, 5, l2, out);
      for (let i = 0; i < 5; i++) {
        const label = labels[1 + i];
        const segment = segments[Math.floor(label / segmentRows)];
        if (!segment) {
          assert.ok(Number.isNaN(out[i]), `label ${label} has no segment`);
          continue;
        }
        const row = segment.subarray((label % segmentRows) * dim, (label % segmentRows + 1) * dim);
        let s = 0;
        for (let j = 0; j < dim; j++) s += l2 ? (query[j] - row[j]) ** 2 : query[j] * row[j];
        const want = l2 ? s : 1 - s;
        assert.ok(Math.abs(out[i] - want) <= 1e-5 * Math.max(1, Math.abs(want)), `dim ${dim} l2 ${l2} label ${label}: ${out[i]} vs ${want}`);
      }
      assert.equal(out[5], -1, 'nothing written past count');
    }
  }
});

test('scoreCoded widens every stored code format as its codec decodes it, across segments, in each mode', (t) => {
  const kernels = loadKernels();
  if (!kernels) return t.skip('no native kernels here');
  const random = prng(9);
  const formats = { float16: 'f16', float8_e4m3: 'e4m3', float8_e5m2: 'e5m2', int8: 'i8' } as const;
  for (const [name, format] of Object.entries(formats) as [keyof typeof formats, CodeFormatName][]) {
    for (const dim of [3, 8, 37]) {
      const segmentRows = 5;
      // Values wide enough to reach float8's subnormal and saturated codes, and both signs.
      const vectors = Array.from({ length: 2 * segmentRows }, () => Float32Array.from({ length: dim }, () => (random() - 0.5) * 10 ** (random() * 6 - 4)));
      const flat = new Float32Array(vectors.length * dim);
      vectors.forEach((v, i) => flat.set(v, i * dim));
      const codec = new VectorCodec(name, dim, name === 'float16' ? null : fitCodecParams(name, flat, vectors.length, dim));
      const width = codec.bytesPerVector;
      const segments = [0, 1].map(() => new Uint8Array(segmentRows * width));
      vectors.forEach((v, i) => segments[Math.floor(i / segmentRows)].set(codec.encode(v).bytes, (i % segmentRows) * width));
      const shift = codec.params?.shift ?? new Float32Array(dim);
      const scale = codec.params?.scale ?? new Float32Array(dim).fill(1);
      const query = Float32Array.from({ length: dim }, () => random() * 2 - 1);
      const labels = Uint32Array.of(7, 0, 9, 30, 4);
      const out = new Float32Array(5);
      for (const mode of [0, 1, 2] as const) {
        kernels.scoreCoded(query, segments, segmentRows, codeFormat(format), shift, scale, labels, 0, labels.length, mode, out);
        labels.forEach((label, i) => {
          const segment = segments[Math.floor(label / segmentRows)];
          if (!segment) return assert.ok(Number.isNaN(out[i]), `label ${label} has no segment`);
          const x = codec.decode(segment.subarray((label % segmentRows) * width, (label % segmentRows + 1) * width));
          let dot = 0, norm = 0, l2 = 0;
          for (let j = 0; j < dim; j++) {
            dot += query[j] * x[j];
            norm += x[j] * x[j];
            l2 += (query[j] - x[j]) ** 2;
          }
          const want = mode === 0 ? l2 : mode === 1 ? 1 - dot : norm > 0 ? 1 - dot / Math.sqrt(norm) : 1;
          assert.ok(Math.abs(out[i] - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${name}, dim ${dim}, mode ${mode}, label ${label}: ${out[i]} vs ${want}`);
        });
      }
    }
  }
});

test('the kernels refuse arguments of the wrong type or out of range instead of reading past them', (t) => {
  const kernels = loadKernels();
  if (!kernels) return t.skip('no native kernels here');
  const q = new Float32Array(4);
  const segments = [new Float32Array(8)];
  const labels = Uint32Array.of(0, 1);
  const out = new Float32Array(2);
  const call = (f: () => void) => assert.throws(f, TypeError);
  call(() => kernels.scoreRows(q, segments, 2, labels, 1, 2, true, out));
  call(() => kernels.scoreRows(q, segments, 0, labels, 0, 2, true, out));
  call(() => kernels.scoreRows(q, segments, 2, Int32Array.of(0, 1) as unknown as Uint32Array, 0, 2, true, out));
  call(() => kernels.scoreRows(q, segments, 2, labels, 0, 2, true, new Float32Array(1)));
  call(() => kernels.scoreRows(q, [new Float32Array(4)], 2, labels, 0, 2, true, out));
  const bytes = [new Uint8Array(8)];
  const i8 = codeFormat('i8');
  call(() => kernels.scoreCoded(q, bytes, 2, i8, q, q, labels, 0, 2, 3 as 0, out));
  call(() => kernels.scoreCoded(q, bytes, 2, codeFormat('f16'), q, q, labels, 0, 2, 0, out));
  call(() => kernels.scoreCoded(q, bytes, 2, Int32Array.of(3, 0, 0, 0, 0, 0), q, q, labels, 0, 2, 0, out));
  call(() => kernels.scoreCoded(q, bytes, 2, Int32Array.of(1, 1, 127, 40, 120, 3), q, q, labels, 0, 2, 0, out));
  call(() => kernels.scoreCoded(q, bytes, 2, i8.subarray(1), q, q, labels, 0, 2, 0, out));
  call(() => kernels.scoreCoded(q, bytes, 2, i8, new Float32Array(3), q, labels, 0, 2, 0, out));
  call(() => kernels.scoreCoded(q, [new Uint8Array(7)], 2, i8, q, q, labels, 0, 2, 0, out));
  call(() => kernels.scoreCoded(q, segments as unknown as Uint8Array[], 2, i8, q, q, labels, 0, 2, 0, out));
  call(() => kernels.project(new Float32Array(7), new Float32Array(4), q, new Float32Array(2)));
  call(() => kernels.project(new Float32Array(8), new Float32Array(4), new Float32Array(3), new Float32Array(2)));
});
