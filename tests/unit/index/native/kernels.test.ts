import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadHnswlib } from '../../../../index/native/load.ts';
import { loadKernels } from '../../../../index/native/kernels.ts';
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

test('scoreCoded scores rows of 1- and 2-byte codes through the value table, shift and scale, in each mode', (t) => {
  const kernels = loadKernels();
  if (!kernels) return t.skip('no native kernels here');
  const random = prng(9);
  for (const codeBytes of [1, 2] as const) {
    const values = Float32Array.from({ length: codeBytes === 1 ? 256 : 65536 }, () => random() * 4 - 2);
    for (const dim of [3, 8, 37]) {
      const segmentRows = 5;
      const segments = [0, 1].map(() => Uint8Array.from({ length: segmentRows * dim * codeBytes }, () => Math.floor(random() * 256)));
      // A zero row: every code standing for 0 once shifted and scaled.
      const shift = Float32Array.from({ length: dim }, () => random() - 0.5);
      const scale = Float32Array.from({ length: dim }, () => random() + 0.5);
      const query = Float32Array.from({ length: dim }, () => random() * 2 - 1);
      const labels = Uint32Array.of(7, 0, 9, 30, 4);
      const out = new Float32Array(5);
      const view = (label: number) => segments[Math.floor(label / segmentRows)]?.subarray((label % segmentRows) * dim * codeBytes);
      for (const mode of [0, 1, 2] as const) {
        kernels.scoreCoded(query, segments, segmentRows, codeBytes, values, shift, scale, labels, 0, labels.length, mode, out);
        labels.forEach((label, i) => {
          const row = view(label);
          if (!row) return assert.ok(Number.isNaN(out[i]), `label ${label} has no segment`);
          let dot = 0, norm = 0, l2 = 0;
          for (let j = 0; j < dim; j++) {
            const code = codeBytes === 1 ? row[j] : row[2 * j] | (row[2 * j + 1] << 8);
            const x = shift[j] + scale[j] * values[code];
            dot += query[j] * x;
            norm += x * x;
            l2 += (query[j] - x) ** 2;
          }
          const want = mode === 0 ? l2 : mode === 1 ? 1 - dot : 1 - dot / Math.sqrt(norm);
          assert.ok(Math.abs(out[i] - want) <= 1e-4 * Math.max(1, Math.abs(want)), `${codeBytes}-byte codes, dim ${dim}, mode ${mode}, label ${label}: ${out[i]} vs ${want}`);
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
  const values = new Float32Array(256);
  call(() => kernels.scoreCoded(q, bytes, 2, 1, values, q, q, labels, 0, 2, 3 as 0, out));
  call(() => kernels.scoreCoded(q, bytes, 2, 2, values, q, q, labels, 0, 2, 0, out));
  call(() => kernels.scoreCoded(q, bytes, 2, 3 as 1, values, q, q, labels, 0, 2, 0, out));
  call(() => kernels.scoreCoded(q, bytes, 2, 1, new Float32Array(255), q, q, labels, 0, 2, 0, out));
  call(() => kernels.scoreCoded(q, bytes, 2, 1, values, new Float32Array(3), q, labels, 0, 2, 0, out));
  call(() => kernels.scoreCoded(q, [new Uint8Array(7)], 2, 1, values, q, q, labels, 0, 2, 0, out));
  call(() => kernels.scoreCoded(q, segments as unknown as Uint8Array[], 2, 1, values, q, q, labels, 0, 2, 0, out));
  call(() => kernels.project(new Float32Array(7), new Float32Array(4), q, new Float32Array(2)));
  call(() => kernels.project(new Float32Array(8), new Float32Array(4), new Float32Array(3), new Float32Array(2)));
});
