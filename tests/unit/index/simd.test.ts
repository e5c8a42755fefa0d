import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimdKernel } from '../../../index/simd.ts';
import { prng } from '../../helpers/random.ts';

test('the SIMD kernels agree with scalar loops for every dimension remainder', () => {
  const kernel = new SimdKernel();
  const random = prng(4);
  for (const dim of [1, 2, 3, 4, 5, 7, 8, 31, 784, 787]) {
    const n = 9;
    const view = kernel.reserve((n + 1) * dim + n);
    for (let x = 0; x < (n + 1) * dim; x++) view[x] = Math.fround(random() - 0.5);
    const out = (n + 1) * dim;
    kernel.dots(0, dim, n, dim, out);
    const dots = Array.from(view.subarray(out, out + n));
    kernel.l2s(0, dim, n, dim, out);
    const l2s = Array.from(view.subarray(out, out + n));
    for (let r = 0; r < n; r++) {
      let dot = 0;
      let l2 = 0;
      for (let x = 0; x < dim; x++) {
        dot += view[x] * view[dim + r * dim + x];
        l2 += (view[x] - view[dim + r * dim + x]) ** 2;
      }
      assert.ok(Math.abs(dots[r] - dot) <= 1e-5 * Math.max(1, Math.sqrt(dim)), `dot, dim ${dim}, row ${r}: ${dots[r]} vs ${dot}`);
      assert.ok(Math.abs(l2s[r] - l2) <= 1e-5 * Math.max(1, l2), `l2, dim ${dim}, row ${r}: ${l2s[r]} vs ${l2}`);
    }
  }
});

test('the scratch memory grows on demand and keeps what it held', () => {
  const kernel = new SimdKernel();
  kernel.reserve(4)[3] = 7;
  const big = kernel.reserve(10 * 65536);
  assert.ok(big.length >= 10 * 65536);
  assert.equal(big[3], 7);
});
