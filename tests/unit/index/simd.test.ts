import assert from 'node:assert/strict';
import { test } from 'node:test';
import { E4M3, E5M2, FLOAT16 } from '../../../index/minifloat.ts';
import { CODE_BYTES, SimdKernel, type CodeFormatName } from '../../../index/simd.ts';
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

/** Every code of each format, with its value by the codec's own decoding (the NaN and infinity codes left out: encoding never writes them). */
function allCodes(format: CodeFormatName): { codes: Uint8Array; values: Float32Array } {
  const bytes = CODE_BYTES[format];
  const table = format === 'e4m3' ? E4M3.table : format === 'e5m2' ? E5M2.table : format === 'f16' ? FLOAT16.table : null;
  const count = bytes === 1 ? 256 : 65536;
  const codes: number[] = [];
  const values: number[] = [];
  for (let c = 0; c < count; c++) {
    const value = table ? table[c] : (c << 24) >> 24;
    if (!Number.isFinite(value)) continue;
    codes.push(c);
    values.push(value);
  }
  const out = new Uint8Array(codes.length * bytes);
  codes.forEach((c, i) => {
    out[i * bytes] = c & 0xff;
    if (bytes === 2) out[i * bytes + 1] = c >> 8;
  });
  return { codes: out, values: Float32Array.from(values) };
}

test('the coded kernels score every code of each format as shift + scale · its decoded value, in l2 and dot/norm', () => {
  const kernel = new SimdKernel();
  const random = prng(9);
  for (const format of ['e4m3', 'e5m2', 'f16', 'i8'] as const) {
    const bytes = CODE_BYTES[format];
    const { codes, values } = allCodes(format);
    const step = 16 / bytes;
    // Rows of `dim` codes cut from the list of all codes (the last one padded with code 0), scored against one q.
    // identity: shift 0 and scale 1, so the smallest (subnormal) values count as much as the others in their rows.
    for (const [dim, identity] of [[step, true], [step, false], [3 * step, false], [49 * step, true], [49 * step, false]] as const) {
      const total = values.length;
      const n = Math.ceil(total / dim);
      const rows = (n * dim * bytes + 3) >> 2;
      const mem = kernel.reserve(3 * dim + rows + 2 * n);
      mem.fill(0);
      for (let j = 0; j < dim; j++) {
        mem[j] = Math.fround(random() * 2 - 1);
        mem[dim + j] = identity ? 0 : Math.fround(random() - 0.5);
        mem[2 * dim + j] = identity ? 1 : Math.fround(format === 'f16' ? 2 ** -8 * (0.5 + random()) : 0.5 + random());
      }
      kernel.bytes.set(codes, 3 * dim * 4);
      const out = 3 * dim + rows;
      for (const l2 of [true, false]) {
        kernel.coded(format, l2, 0, dim, 2 * dim, 3 * dim * 4, n, dim, out);
        for (let r = 0; r < n; r++) {
          let want = 0;
          let dot = 0;
          let norm = 0;
          let absDot = 0;
          for (let j = 0; j < dim; j++) {
            const i = r * dim + j;
            const x = i < total ? mem[dim + j] + mem[2 * dim + j] * values[i] : mem[dim + j] + mem[2 * dim + j] * 0;
            want += (mem[j] - x) ** 2;
            dot += mem[j] * x;
            absDot += Math.abs(mem[j] * x);
            norm += x * x;
          }
          // Float32 sums against double ones: within a few float32 roundings of the sum of the terms' sizes.
          const close = (got: number, exact: number, size: number, what: string) =>
            assert.ok(Math.abs(got - exact) <= 1e-5 * size, `${format} ${what}, dim ${dim}, row ${r}: ${got} vs ${exact}`);
          if (l2) close(mem[out + r], want, want, 'l2');
          else {
            close(mem[out + 2 * r], dot, absDot, 'dot');
            close(mem[out + 2 * r + 1], norm, norm, 'norm');
          }
        }
      }
    }
  }
});

test('the coded kernels refuse a dimension that is not whole 16-byte steps', () => {
  const kernel = new SimdKernel();
  assert.throws(() => kernel.coded('e4m3', true, 0, 0, 0, 0, 1, 24, 0), /16-byte steps/);
  assert.throws(() => kernel.coded('f16', true, 0, 0, 0, 0, 1, 12, 0), /16-byte steps/);
});
