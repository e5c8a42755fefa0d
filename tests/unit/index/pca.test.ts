import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitPca, pcaFromBytes, pcaToBytes, project, projectScalar, reconstruct, sampleRows, type Pca } from '../../../index/pca.ts';
import { loadKernels } from '../../../index/native/kernels.ts';
import { prng } from '../../helpers/random.ts';

/**
 * `n` rows of dimension `d`: an offset plus `rank` latent factors of decreasing scale mixed by a
 * random d × rank matrix, plus uniform noise of amplitude `noise`. Row-major float32.
 */
function correlated(n: number, d: number, rank: number, noise: number, seed: number): Float32Array {
  const random = prng(seed);
  const offset = Array.from({ length: d }, () => 10 * random() - 5);
  const mix = Array.from({ length: rank * d }, () => random() - 0.5);
  const data = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    const z = Array.from({ length: rank }, (_, i) => (random() - 0.5) * 4 * 0.8 ** i);
    for (let j = 0; j < d; j++) {
      let s = offset[j] + noise * (random() - 0.5);
      for (let i = 0; i < rank; i++) s += z[i] * mix[i * d + j];
      data[r * d + j] = s;
    }
  }
  return data;
}

const row = (data: Float32Array, d: number, r: number) => data.subarray(r * d, (r + 1) * d);

function maxOrthonormalityError(pca: Pca): number {
  const { dimension: d, outputDimension: k, components: c } = pca;
  let worst = 0;
  for (let a = 0; a < k; a++) {
    for (let b = a; b < k; b++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += c[a * d + j] * c[b * d + j];
      worst = Math.max(worst, Math.abs(dot - (a === b ? 1 : 0)));
    }
  }
  return worst;
}

/** Mean squared reconstruction error per coordinate over the rows of `data`. */
function reconstructionMse(pca: Pca, data: Float32Array): number {
  const d = pca.dimension;
  const n = data.length / d;
  const y = new Float32Array(pca.outputDimension);
  const back = new Float32Array(d);
  let sum = 0;
  for (let r = 0; r < n; r++) {
    const v = row(data, d, r);
    reconstruct(pca, project(pca, v, y), back);
    for (let j = 0; j < d; j++) sum += (back[j] - v[j]) ** 2;
  }
  return sum / (n * d);
}

/** Total variance per coordinate (trace of the sample covariance over d). */
function totalVariance(data: Float32Array, n: number, d: number): number {
  let sum = 0;
  for (let j = 0; j < d; j++) {
    let m = 0;
    for (let r = 0; r < n; r++) m += data[r * d + j];
    m /= n;
    for (let r = 0; r < n; r++) sum += (data[r * d + j] - m) ** 2;
  }
  return sum / (n - 1) / d;
}

test('components are orthonormal, each with its largest entry positive, for correlated data', () => {
  const n = 600;
  const d = 24;
  const data = correlated(n, d, d, 0.01, 1);
  for (const k of [1, 5, d]) {
    const pca = fitPca(data, n, d, k);
    assert.equal(pca.dimension, d);
    assert.equal(pca.outputDimension, k);
    assert.equal(pca.mean.length, d);
    assert.equal(pca.components.length, k * d);
    assert.equal(pca.variances.length, k);
    assert.ok(maxOrthonormalityError(pca) < 1e-5, `k=${k}: ${maxOrthonormalityError(pca)}`);
    for (let c = 0; c < k; c++) {
      const comp = [...pca.components.subarray(c * d, (c + 1) * d)];
      const largest = Math.max(...comp.map(Math.abs));
      assert.equal(comp.find((x) => Math.abs(x) === largest), largest, `component ${c} has its largest entry negative`);
    }
  }
});

test('the mean is the sample mean and a known line gives its direction', () => {
  // Points on y = 2x + 1 (x = 0..4): the first component is (1, 2)/√5, the second orthogonal.
  const data = Float32Array.from([0, 1, 1, 3, 2, 5, 3, 7, 4, 9]);
  const pca = fitPca(data, 5, 2, 2);
  assert.deepEqual([...pca.mean], [2, 5]);
  assert.ok(Math.abs(pca.components[0] - 1 / Math.sqrt(5)) < 1e-6 && Math.abs(pca.components[1] - 2 / Math.sqrt(5)) < 1e-6);
  assert.ok(Math.abs(pca.components[0] * pca.components[2] + pca.components[1] * pca.components[3]) < 1e-6);
  // var(x) = 2.5, so the variance along (1, 2)/√5 is 5 · 2.5 = 12.5; nothing across it.
  assert.ok(Math.abs(pca.variances[0] - 12.5) < 1e-9, `${pca.variances[0]}`);
  assert.ok(pca.variances[1] >= 0 && pca.variances[1] < 1e-9);
  const y = project(pca, Float32Array.from([4, 9]), new Float32Array(2));
  assert.ok(Math.abs(y[0] - Math.sqrt(20)) < 1e-5 && Math.abs(y[1]) < 1e-5, `${y.join(', ')}`);
  const back = reconstruct(pca, Float32Array.from([Math.sqrt(5), 0]), new Float32Array(2));
  assert.ok(Math.abs(back[0] - 3) < 1e-5 && Math.abs(back[1] - 7) < 1e-5, `${back.join(', ')}`);
  // Along y = −x (and (1, −1, 1) in 3-d) the entries tie in magnitude: the first one is made positive.
  const s = Math.fround(Math.SQRT1_2);
  assert.deepEqual([...fitPca(Float32Array.from([0, 0, 1, -1, 2, -2]), 3, 2, 1).components], [s, -s]);
  const t = Math.fround(1 / Math.sqrt(3));
  assert.deepEqual([...fitPca(Float32Array.from([0, 0, 0, 1, -1, 1, 2, -2, 2, 3, -3, 3]), 4, 3, 1).components], [t, -t, t]);
});

test('reconstruction error does not grow with k, on the sample and held-out vectors, and is ~0 at k = d', () => {
  const n = 400;
  const d = 16;
  const all = correlated(n + 100, d, d, 0.05, 2);
  const sample = all.subarray(0, n * d);
  const heldOut = all.subarray(n * d);
  const total = totalVariance(sample, n, d);
  let previous = { sample: Infinity, heldOut: Infinity };
  const errors: number[] = [];
  for (let k = 1; k <= d; k++) {
    const pca = fitPca(sample, n, d, k);
    const now = { sample: reconstructionMse(pca, sample), heldOut: reconstructionMse(pca, heldOut) };
    // Float32 rounding of the reconstruction allows a hair of slack.
    assert.ok(now.sample <= previous.sample + 1e-9 * total, `k=${k}: sample ${now.sample} > ${previous.sample}`);
    assert.ok(now.heldOut <= previous.heldOut + 1e-9 * total, `k=${k}: held-out ${now.heldOut} > ${previous.heldOut}`);
    previous = now;
    errors.push(now.sample);
  }
  assert.ok(errors[0] > 0.05 * total, `k=1 already explains almost everything: ${errors[0]} of ${total}`);
  assert.ok(errors[7] < errors[0] / 2);
  assert.ok(previous.sample < 1e-10 * total && previous.heldOut < 1e-10 * total, `k=d: ${previous.sample}, ${previous.heldOut}`);
  // The sample error at k is the sum of the dropped variances (over d, with the n − 1 denominator).
  const full = fitPca(sample, n, d, d);
  for (const k of [1, 4, 10]) {
    const dropped = full.variances.subarray(k).reduce((s, v) => s + v, 0);
    const expected = (dropped * (n - 1)) / n / d;
    assert.ok(Math.abs(errors[k - 1] - expected) < 1e-4 * total, `k=${k}: ${errors[k - 1]} vs ${expected}`);
  }
});

test('data on a 3-d subspace of 20-d is reconstructed by 3 components and no fewer', () => {
  const n = 300;
  const d = 20;
  const data = correlated(n, d, 3, 0, 3);
  const total = totalVariance(data, n, d);
  const three = fitPca(data, n, d, 3);
  assert.ok(reconstructionMse(three, data) < 1e-9 * total, `k=3: ${reconstructionMse(three, data)}`);
  const heldOut = correlated(n + 50, d, 3, 0, 3).subarray(n * d);
  assert.ok(reconstructionMse(three, heldOut) < 1e-9 * total);
  assert.ok(reconstructionMse(fitPca(data, n, d, 2), data) > 1e-3 * total);
  const full = fitPca(data, n, d, d);
  assert.ok(full.variances[2] > 1e-3 * total);
  for (let c = 3; c < d; c++) assert.ok(full.variances[c] < 1e-9 * total, `variance ${c}: ${full.variances[c]}`);
  assert.ok(maxOrthonormalityError(full) < 1e-5);
});

test('variances decrease, match the variance of the projected sample and sum to the total', () => {
  const n = 500;
  const d = 12;
  const data = correlated(n, d, d, 0.1, 4);
  const pca = fitPca(data, n, d, d);
  for (let c = 1; c < d; c++) assert.ok(pca.variances[c] <= pca.variances[c - 1], `variance ${c}`);
  assert.ok(pca.variances[0] > 2 * pca.variances[d - 1]);
  const projected = new Float64Array(n * d);
  const y = new Float32Array(d);
  for (let r = 0; r < n; r++) projected.set(project(pca, row(data, d, r), y), r * d);
  const means = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let c = 0; c < d; c++) means[c] += projected[r * d + c] / n;
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      let cov = 0;
      for (let r = 0; r < n; r++) cov += (projected[r * d + a] - means[a]) * (projected[r * d + b] - means[b]);
      cov /= n - 1;
      // The diagonal is the variance; off the diagonal the projected coordinates are uncorrelated.
      const expected = a === b ? pca.variances[a] : 0;
      assert.ok(Math.abs(cov - expected) < 1e-5 * pca.variances[0], `cov(${a}, ${b}) = ${cov}, expected ${expected}`);
    }
  }
  const sum = pca.variances.reduce((s, v) => s + v, 0);
  assert.ok(Math.abs(sum / d - totalVariance(data, n, d)) < 1e-9 * sum);
  // A fit with fewer components keeps the leading variances.
  assert.deepEqual(fitPca(data, n, d, 4).variances, pca.variances.subarray(0, 4));
});

test('degenerate data (constant dimensions, n < d, a single row, d = 1) still gives orthonormal components', () => {
  // Dimensions 0, 5 and 9 constant; 6 rows in 10-d.
  const d = 10;
  const n = 6;
  const data = correlated(n, d, 4, 0.2, 5);
  for (let r = 0; r < n; r++) for (const j of [0, 5, 9]) data[r * d + j] = 7;
  const pca = fitPca(data, n, d, d);
  assert.ok(maxOrthonormalityError(pca) < 1e-5, `${maxOrthonormalityError(pca)}`);
  assert.ok(pca.components.every(Number.isFinite));
  assert.ok(pca.variances.every((v) => v >= 0));
  // At most n − 1 = 5 directions carry variance; the leading ones do not touch the constant dimensions.
  for (let c = n - 1; c < d; c++) assert.ok(pca.variances[c] < 1e-9 * pca.variances[0], `variance ${c}`);
  for (let c = 0; c < n - 1; c++) for (const j of [0, 5, 9]) assert.ok(Math.abs(pca.components[c * d + j]) < 1e-6);
  const rank = fitPca(data, n, d, n - 1);
  assert.ok(reconstructionMse(rank, data) < 1e-9 * totalVariance(data, n, d));

  const single = fitPca(Float32Array.from([1, 2, 3]), 1, 3, 3);
  assert.deepEqual([...single.mean], [1, 2, 3]);
  assert.deepEqual([...single.variances], [0, 0, 0]);
  assert.ok(maxOrthonormalityError(single) < 1e-6);
  assert.deepEqual([...reconstruct(single, new Float32Array(3), new Float32Array(3))], [1, 2, 3]);

  const line = fitPca(Float32Array.from([1, 3, 8]), 3, 1, 1);
  assert.deepEqual([...line.components], [1]);
  assert.equal(line.mean[0], 4);
  assert.ok(Math.abs(line.variances[0] - 13) < 1e-12);
});

test('fitting is deterministic bit for bit, and sampleRows is deterministic, sorted, distinct and in range', () => {
  const n = 300;
  const d = 16;
  const data = correlated(n, d, 8, 0.1, 6);
  const a = fitPca(data, n, d, 6);
  const b = fitPca(data.slice(), n, d, 6);
  assert.deepEqual(pcaToBytes(a), pcaToBytes(b));
  assert.notDeepEqual(pcaToBytes(a), pcaToBytes(fitPca(correlated(n, d, 8, 0.1, 7), n, d, 6)));

  const s = sampleRows(10_000, 500, 42);
  assert.equal(s.length, 500);
  assert.deepEqual(s, sampleRows(10_000, 500, 42));
  assert.notDeepEqual(s, sampleRows(10_000, 500, 43));
  for (let i = 1; i < s.length; i++) assert.ok(s[i] > s[i - 1], `not strictly increasing at ${i}`);
  assert.ok(s[s.length - 1] < 10_000);
  assert.deepEqual([...sampleRows(5, 5, 1)], [0, 1, 2, 3, 4]);
  assert.deepEqual([...sampleRows(5, 99, 1)], [0, 1, 2, 3, 4]);
  assert.deepEqual([...sampleRows(5, 0, 1)], []);
  assert.deepEqual([...sampleRows(0, 3, 1)], []);
  assert.equal(new Set(sampleRows(20, 19, 3)).size, 19);
});

test('sampleRows picks every row about equally often', () => {
  const counts = new Array<number>(10).fill(0);
  const seeds = 3000;
  for (let seed = 0; seed < seeds; seed++) for (const i of sampleRows(10, 3, seed)) counts[i]++;
  // Each row is in a sample with probability 3/10: 900 of 3000, give or take ~25.
  for (const c of counts) assert.ok(Math.abs(c - 900) < 110, `${counts.join(', ')}`);
});

test('pcaToBytes and pcaFromBytes round trip exactly, from any byte offset', () => {
  const n = 200;
  const d = 9;
  const pca = fitPca(correlated(n, d, d, 0.1, 8), n, d, 4);
  const bytes = pcaToBytes(pca);
  assert.equal(bytes.length, 12 + 4 * d + 4 * 4 * d + 8 * 4);
  assert.deepEqual(pcaFromBytes(bytes), pca);
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  assert.deepEqual(pcaFromBytes(shifted.subarray(3)), pca);
  assert.deepEqual(pcaFromBytes(Buffer.from(bytes)), pca);
  // The layout: "PCA1", d, k little-endian, then the mean.
  assert.deepEqual([...bytes.subarray(0, 12)], [0x50, 0x43, 0x41, 0x31, d, 0, 0, 0, 4, 0, 0, 0]);
  assert.equal(new DataView(bytes.buffer).getFloat32(12, true), pca.mean[0]);
  // Values no fit produces survive too: negative zero, subnormals, extremes.
  const odd: Pca = {
    dimension: 2,
    outputDimension: 1,
    mean: Float32Array.from([-0, 1e-45]),
    components: Float32Array.from([3.4028234663852886e38, -1]),
    variances: Float64Array.from([Number.MIN_VALUE]),
  };
  assert.deepEqual(pcaFromBytes(pcaToBytes(odd)), odd);
  assert.ok(Object.is(pcaFromBytes(pcaToBytes(odd)).mean[0], -0));
});

test('corrupt bytes are rejected', () => {
  const bytes = pcaToBytes(fitPca(correlated(50, 4, 4, 0.1, 9), 50, 4, 2));
  const bad = (b: Uint8Array, why: string) =>
    assert.throws(() => pcaFromBytes(b), { code: 'VDB_ERR_INDEX_SNAPSHOT_INVALID', message: `PCA bytes are invalid: ${why}` });
  bad(bytes.subarray(0, 11), '11 bytes is shorter than the 12-byte header');
  bad(bytes.subarray(0, bytes.length - 1), `d = 4 and k = 2 need ${bytes.length} bytes, got ${bytes.length - 1}`);
  const grown = new Uint8Array(bytes.length + 1);
  grown.set(bytes);
  bad(grown, `d = 4 and k = 2 need ${bytes.length} bytes, got ${bytes.length + 1}`);
  const magic = bytes.slice();
  magic[3] = 0x32;
  bad(magic, 'they do not start with "PCA1"');
  const kTooBig = bytes.slice();
  kTooBig[8] = 5;
  bad(kTooBig, 'd = 4 and k = 5 do not satisfy 1 <= k <= d');
  const zero = bytes.slice();
  zero[4] = 0;
  bad(zero, 'd = 0 and k = 2 do not satisfy 1 <= k <= d');
});

test('invalid arguments throw with their messages', () => {
  const options = (fn: () => unknown, message: string) => assert.throws(fn, { code: 'VDB_ERR_INDEX_OPTIONS', message });
  const data = new Float32Array(12);
  options(() => fitPca(data, 0, 12, 1), 'n must be a positive integer');
  options(() => fitPca(data, 1.5, 8, 1), 'n must be a positive integer');
  options(() => fitPca(data, 3, 0, 1), 'd must be a positive integer');
  options(() => fitPca(data, 3, NaN, 1), 'd must be a positive integer');
  options(() => fitPca(data, 3, 4, 0), 'k must be an integer from 1 to 4');
  options(() => fitPca(data, 3, 4, 5), 'k must be an integer from 1 to 4');
  options(() => fitPca(data, 3, 4, 2.5), 'k must be an integer from 1 to 4');
  options(() => fitPca(data, 4, 4, 2), 'data must hold n*d = 16 values, got 12');
  options(() => fitPca(data, 2, 4, 2), 'data must hold n*d = 8 values, got 12');
  for (const bad of [NaN, Infinity, -Infinity]) {
    const withBad = Float32Array.from([1, 2, 3, 4, bad, 6]);
    assert.throws(() => fitPca(withBad, 3, 2, 1), { code: 'VDB_ERR_VECTOR_NOT_FINITE', message: 'data must hold only finite values' });
  }

  options(() => sampleRows(-1, 3, 1), 'n must be an integer from 0 to 4294967296');
  options(() => sampleRows(2 ** 32 + 1, 3, 1), 'n must be an integer from 0 to 4294967296');
  options(() => sampleRows(10, -1, 1), 'max must be a non-negative integer');
  options(() => sampleRows(10, 0.5, 1), 'max must be a non-negative integer');

  const pca = fitPca(Float32Array.from([0, 1, 1, 3, 2, 5]), 2, 3, 2);
  options(() => project(pca, new Float32Array(2), new Float32Array(2)), 'v must have length 3, got 2');
  options(() => project(pca, new Float32Array(3), new Float32Array(3)), 'out must have length 2, got 3');
  options(() => reconstruct(pca, new Float32Array(3), new Float32Array(3)), 'y must have length 2, got 3');
  options(() => reconstruct(pca, new Float32Array(2), new Float32Array(2)), 'out must have length 3, got 2');
  options(() => pcaToBytes({ ...pca, dimension: 0 }), 'pca.dimension must be a positive integer');
  options(() => pcaToBytes({ ...pca, outputDimension: 4 }), 'pca.outputDimension must be an integer from 1 to 3');
  options(
    () => pcaToBytes({ ...pca, variances: new Float64Array(3) }),
    'pca.mean, pca.components and pca.variances must have lengths d, k*d and k',
  );
});

test('the native and WebAssembly projections agree with the double-precision reference, for several models in turn', (t) => {
  const native = loadKernels();
  if (!native) t.diagnostic('no native kernels here: the WebAssembly projection only');
  for (const [d, k] of [[50, 13], [64, 64], [7, 1], [203, 37]]) {
    const data = correlated(400, d, Math.min(d, 10), 0.1, d);
    const pca = fitPca(data, 400, d, k);
    const random = prng(k);
    for (let i = 0; i < 20; i++) {
      const v = Float32Array.from({ length: d }, () => random() * 4 - 2);
      const exact = projectScalar(pca, v, new Float32Array(k));
      const scale = Math.max(...exact.map(Math.abs), 1);
      for (const [path, kernels] of [['native', native], ['WebAssembly', null]] as const) {
        if (path === 'native' && !kernels) continue;
        const fast = Float32Array.from(project(pca, v, new Float32Array(k), kernels));
        fast.forEach((y, c) => assert.ok(Math.abs(y - exact[c]) <= 1e-5 * scale, `${path} d ${d} k ${k} component ${c}: ${y} vs ${exact[c]}`));
      }
    }
  }
});
