/**
 * Principal component analysis for compressed vector storage: centred, not whitened; the
 * components are the top eigenvectors of the sample covariance (denominator n − 1).
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { prng } from './build-order.ts';
import { IndexErrors } from './errors.ts';
import { loadKernels, type NativeKernels } from './native/kernels.ts';
import { SimdKernel } from './simd.ts';

/** A fitted PCA: y = components · (v − mean), v ≈ mean + componentsᵀ · y. */
export interface Pca {
  /** Input dimension d. */
  dimension: number;
  /** Output dimension k (1..d). */
  outputDimension: number;
  /** Mean of the sample, length d. */
  mean: Float32Array;
  /** k × d row-major, rows orthonormal, ordered by decreasing variance. */
  components: Float32Array;
  /** Variance along each component (eigenvalues, negatives from rounding clamped to 0), length k, decreasing. */
  variances: Float64Array;
}

const positiveInteger = (x: number) => Number.isSafeInteger(x) && x >= 1;

/**
 * The upper triangle (and diagonal) of TᵀT-style products: c[i·d + j] = Σₜ t[i·n + t]·t[j·n + t]
 * for i ≤ j, where `t` holds the d centred columns of length n one after another. Two columns
 * against four at a time keeps eight sums in registers and reuses every load (hand-measured ~1.5× the
 * plain dot-product loop and ~4× the per-row outer product).
 */
function upperGram(t: Float64Array, n: number, d: number): Float64Array {
  const c = new Float64Array(d * d);
  let i = 0;
  for (; i + 1 < d; i += 2) {
    const a0 = i * n;
    const a1 = a0 + n;
    let j = i;
    for (; j + 3 < d; j += 4) {
      const b0 = j * n;
      const b1 = b0 + n;
      const b2 = b1 + n;
      const b3 = b2 + n;
      let p0 = 0, p1 = 0, p2 = 0, p3 = 0, q0 = 0, q1 = 0, q2 = 0, q3 = 0;
      for (let r = 0; r < n; r++) {
        const x = t[a0 + r];
        const y = t[a1 + r];
        const u0 = t[b0 + r];
        const u1 = t[b1 + r];
        const u2 = t[b2 + r];
        const u3 = t[b3 + r];
        p0 += x * u0;
        p1 += x * u1;
        p2 += x * u2;
        p3 += x * u3;
        q0 += y * u0;
        q1 += y * u1;
        q2 += y * u2;
        q3 += y * u3;
      }
      // Row i + 1 also gets (i + 1, i), below the diagonal: the mirroring overwrites it.
      const at = i * d + j;
      c[at] = p0;
      c[at + 1] = p1;
      c[at + 2] = p2;
      c[at + 3] = p3;
      c[at + d] = q0;
      c[at + d + 1] = q1;
      c[at + d + 2] = q2;
      c[at + d + 3] = q3;
    }
    for (; j < d; j++) {
      const b = j * n;
      let p = 0, q = 0;
      for (let r = 0; r < n; r++) {
        const u = t[b + r];
        p += t[a0 + r] * u;
        q += t[a1 + r] * u;
      }
      c[i * d + j] = p;
      c[(i + 1) * d + j] = q;
    }
  }
  if (i < d) {
    // d odd: the last column with itself.
    const a = i * n;
    let p = 0;
    for (let r = 0; r < n; r++) p += t[a + r] * t[a + r];
    c[i * d + i] = p;
  }
  return c;
}

/**
 * Fits PCA on `n` vectors of dimension `d` stored row-major in `data` (length n·d), keeping the
 * top `k` components. The same data gives the same result bit for bit: each component's sign makes
 * its largest-magnitude entry (the first such, on ties) positive.
 */
export function fitPca(data: Float32Array, n: number, d: number, k: number): Pca {
  if (!positiveInteger(n)) throw new IndexErrors.Options('n must be a positive integer');
  if (!positiveInteger(d)) throw new IndexErrors.Options('d must be a positive integer');
  if (!Number.isSafeInteger(k) || k < 1 || k > d) throw new IndexErrors.Options(`k must be an integer from 1 to ${d}`);
  if (data.length !== n * d) throw new IndexErrors.Options(`data must hold n*d = ${n * d} values, got ${data.length}`);

  const mean64 = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    const row = r * d;
    for (let j = 0; j < d; j++) mean64[j] += data[row + j];
  }
  for (let j = 0; j < d; j++) {
    mean64[j] /= n;
    // A float32 NaN or ±Infinity anywhere makes its column's mean non-finite (float32 sums cannot overflow a double).
    if (!Number.isFinite(mean64[j])) throw new IndexErrors.VectorNotFinite('data must hold only finite values');
  }

  // Centred columns, transposed (column j at j·n) so the Gram products run over contiguous memory.
  const centred = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    const row = r * d;
    for (let j = 0; j < d; j++) centred[j * n + r] = data[row + j] - mean64[j];
  }
  const cov = upperGram(centred, n, d);
  const scale = 1 / Math.max(1, n - 1);
  for (let i = 0; i < d; i++) {
    cov[i * d + i] *= scale;
    for (let j = i + 1; j < d; j++) {
      const v = cov[i * d + j] * scale;
      cov[i * d + j] = v;
      cov[j * d + i] = v;
    }
  }

  const evd = new EigenvalueDecomposition(Matrix.from1DArray(d, d, cov), { assumeSymmetric: true });
  const values = evd.realEigenvalues;
  const vectors = evd.eigenvectorMatrix;
  // Decreasing eigenvalue, then increasing index: a total order, whatever order ml-matrix returns.
  const order = Array.from({ length: d }, (_, i) => i).sort((a, b) => values[b] - values[a] || a - b);

  const components = new Float32Array(k * d);
  const variances = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    const col = order[c];
    variances[c] = Math.max(0, values[col]);
    let pivot = 0;
    let largest = -1;
    for (let j = 0; j < d; j++) {
      const m = Math.abs(vectors.get(j, col));
      if (m > largest) {
        largest = m;
        pivot = j;
      }
    }
    const sign = vectors.get(pivot, col) < 0 ? -1 : 1;
    for (let j = 0; j < d; j++) components[c * d + j] = sign * vectors.get(j, col);
  }
  return { dimension: d, outputDimension: k, mean: Float32Array.from(mean64), components, variances };
}

/**
 * Picks min(n, max) distinct row indices out of 0…n−1 for a fit sample, uniformly (Floyd's
 * algorithm, O(max) time and memory), the same for the same n, max and seed; sorted ascending.
 */
export function sampleRows(n: number, max: number, seed: number): Uint32Array {
  if (!Number.isSafeInteger(n) || n < 0 || n > 2 ** 32) throw new IndexErrors.Options('n must be an integer from 0 to 4294967296');
  if (!Number.isSafeInteger(max) || max < 0) throw new IndexErrors.Options('max must be a non-negative integer');
  if (max >= n) {
    const all = new Uint32Array(n);
    for (let i = 0; i < n; i++) all[i] = i;
    return all;
  }
  const random = prng(seed);
  const chosen = new Set<number>();
  for (let j = n - max; j < n; j++) {
    const t = Math.floor(random() * (j + 1));
    chosen.add(chosen.has(t) ? j : t);
  }
  return Uint32Array.from(chosen).sort();
}

let scratch = new Float64Array(0);
function scratchOf(length: number): Float64Array {
  if (scratch.length < length) scratch = new Float64Array(length);
  return scratch;
}

/** Each model's components in its own SIMD kernel's memory (this thread's), with room after them for x and the output. */
const kernels = new WeakMap<Pca, { kernel: SimdKernel; memory: Float32Array }>();

/**
 * out[0..k) = components · (v − mean), `v` of length d, `out` of length k, in float32 sums: with the
 * native kernel (index/native/kernels.ts: AVX2, four components at a time) when this process has
 * one, else one WebAssembly SIMD dot product per component over the components held in its memory
 * (bench/engine-build.ts times the two). `projectScalar` is the double-precision reference.
 */
export function project(pca: Pca, v: Float32Array, out: Float32Array, native: NativeKernels | null = loadKernels()): Float32Array {
  const d = pca.dimension;
  const k = pca.outputDimension;
  if (v.length !== d) throw new IndexErrors.Options(`v must have length ${d}, got ${v.length}`);
  if (out.length !== k) throw new IndexErrors.Options(`out must have length ${k}, got ${out.length}`);
  if (native) {
    native.project(pca.components, pca.mean, v, out);
    return out;
  }
  let held = kernels.get(pca);
  if (!held) {
    const kernel = new SimdKernel();
    const memory = kernel.reserve(k * d + d + k);
    memory.set(pca.components.subarray(0, k * d), 0);
    kernels.set(pca, (held = { kernel, memory }));
  }
  const { kernel, memory } = held;
  const { mean } = pca;
  const x = k * d;
  for (let j = 0; j < d; j++) memory[x + j] = v[j] - mean[j];
  kernel.dots(x, 0, k, d, x + d);
  out.set(memory.subarray(x + d, x + d + k));
  return out;
}

/** out[0..k) = components · (v − mean), summed in double precision: the reference `project` is tested against. */
export function projectScalar(pca: Pca, v: Float32Array, out: Float32Array): Float32Array {
  const d = pca.dimension;
  const k = pca.outputDimension;
  if (v.length !== d) throw new IndexErrors.Options(`v must have length ${d}, got ${v.length}`);
  if (out.length !== k) throw new IndexErrors.Options(`out must have length ${k}, got ${out.length}`);
  const x = scratchOf(d);
  const { mean, components } = pca;
  for (let j = 0; j < d; j++) x[j] = v[j] - mean[j];
  // Eight components at a time: eight independent sums share each load of x (hand-measured 2× one
  // at a time; projecting is most of a PCA collection's import and of each of its searches).
  let c = 0;
  for (; c + 7 < k; c += 8) {
    const r = c * d;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (let j = 0; j < d; j++) {
      const xj = x[j];
      const b = r + j;
      s0 += components[b] * xj;
      s1 += components[b + d] * xj;
      s2 += components[b + 2 * d] * xj;
      s3 += components[b + 3 * d] * xj;
      s4 += components[b + 4 * d] * xj;
      s5 += components[b + 5 * d] * xj;
      s6 += components[b + 6 * d] * xj;
      s7 += components[b + 7 * d] * xj;
    }
    out[c] = s0;
    out[c + 1] = s1;
    out[c + 2] = s2;
    out[c + 3] = s3;
    out[c + 4] = s4;
    out[c + 5] = s5;
    out[c + 6] = s6;
    out[c + 7] = s7;
  }
  for (; c < k; c++) {
    const row = c * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += components[row + j] * x[j];
    out[c] = s;
  }
  return out;
}

/** out[0..d) = mean + componentsᵀ · y (the reconstruction), summed in double precision. `y` has length k, `out` length d. */
export function reconstruct(pca: Pca, y: Float32Array, out: Float32Array): Float32Array {
  const d = pca.dimension;
  const k = pca.outputDimension;
  if (y.length !== k) throw new IndexErrors.Options(`y must have length ${k}, got ${y.length}`);
  if (out.length !== d) throw new IndexErrors.Options(`out must have length ${d}, got ${out.length}`);
  const x = scratchOf(d);
  const { mean, components } = pca;
  for (let j = 0; j < d; j++) x[j] = mean[j];
  for (let c = 0; c < k; c++) {
    const row = c * d;
    const w = y[c];
    for (let j = 0; j < d; j++) x[j] += w * components[row + j];
  }
  for (let j = 0; j < d; j++) out[j] = x[j];
  return out;
}

/** "PCA1" read as a little-endian uint32. */
const MAGIC = 0x31414350;
const HEADER_BYTES = 12;
const byteLength = (d: number, k: number) => HEADER_BYTES + 4 * d + 4 * k * d + 8 * k;

/**
 * The bytes of `pca`, all little-endian: "PCA1", uint32 d, uint32 k, then float32 mean[d],
 * float32 components[k·d], float64 variances[k] (12 + 4d + 4kd + 8k bytes).
 */
export function pcaToBytes(pca: Pca): Uint8Array {
  const { dimension: d, outputDimension: k, mean, components, variances } = pca;
  if (!positiveInteger(d) || d > 0xffffffff) throw new IndexErrors.Options('pca.dimension must be a positive integer');
  if (!Number.isSafeInteger(k) || k < 1 || k > d) throw new IndexErrors.Options(`pca.outputDimension must be an integer from 1 to ${d}`);
  if (mean.length !== d || components.length !== k * d || variances.length !== k) {
    throw new IndexErrors.Options('pca.mean, pca.components and pca.variances must have lengths d, k*d and k');
  }
  const bytes = new Uint8Array(byteLength(d, k));
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, d, true);
  view.setUint32(8, k, true);
  let at = HEADER_BYTES;
  for (let i = 0; i < d; i++, at += 4) view.setFloat32(at, mean[i], true);
  for (let i = 0; i < k * d; i++, at += 4) view.setFloat32(at, components[i], true);
  for (let i = 0; i < k; i++, at += 8) view.setFloat64(at, variances[i], true);
  return bytes;
}

/** Reads what `pcaToBytes` wrote; throws IndexErrors.SnapshotInvalid if the bytes do not hold one. */
export function pcaFromBytes(bytes: Uint8Array): Pca {
  const bad = (why: string) => new IndexErrors.SnapshotInvalid(`PCA bytes are invalid: ${why}`);
  if (bytes.length < HEADER_BYTES) throw bad(`${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw bad('they do not start with "PCA1"');
  const d = view.getUint32(4, true);
  const k = view.getUint32(8, true);
  if (d < 1 || k < 1 || k > d) throw bad(`d = ${d} and k = ${k} do not satisfy 1 <= k <= d`);
  const expected = byteLength(d, k);
  if (bytes.length !== expected) throw bad(`d = ${d} and k = ${k} need ${expected} bytes, got ${bytes.length}`);
  const mean = new Float32Array(d);
  const components = new Float32Array(k * d);
  const variances = new Float64Array(k);
  let at = HEADER_BYTES;
  for (let i = 0; i < d; i++, at += 4) mean[i] = view.getFloat32(at, true);
  for (let i = 0; i < k * d; i++, at += 4) components[i] = view.getFloat32(at, true);
  for (let i = 0; i < k; i++, at += 8) variances[i] = view.getFloat64(at, true);
  return { dimension: d, outputDimension: k, mean, components, variances };
}
