import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertLabel,
  blobToVector,
  bytesToFloats,
  FLOAT32_MAX,
  toVector,
  vectorToBlob,
} from '../../../index/vectors.ts';

const l2 = { dimension: 4, metric: 'l2' } as const;
const cosine = { dimension: 4, metric: 'cosine' } as const;

function expectError(fn: () => unknown, code: string, statusCode: number, message: string): void {
  assert.throws(fn, (err: Error & { code?: string; statusCode?: number }) => {
    assert.equal(err.code, code);
    assert.equal(err.statusCode, statusCode);
    assert.equal(err.message, message);
    return true;
  });
}

test('toVector converts valid values to float32', () => {
  const v = toVector([1, 0.1, -2.5, 3.4028235e38], l2);
  assert.ok(v instanceof Float32Array);
  assert.deepEqual(Array.from(v), [1, Math.fround(0.1), -2.5, FLOAT32_MAX]);
  assert.deepEqual(Array.from(toVector(new Float64Array([0, 0, 0, 0]), l2)), [0, 0, 0, 0]);
});

test('toVector refuses a wrong dimension', () => {
  const message = "vector has 3 values but the collection's dimension is 4";
  expectError(() => toVector([1, 2, 3], l2), 'VDB_ERR_VECTOR_DIMENSION', 422, message);
  expectError(
    () => toVector([1, 2, 3, 4, 5], l2, 'points[3].vector'),
    'VDB_ERR_VECTOR_DIMENSION',
    422,
    "points[3].vector has 5 values but the collection's dimension is 4",
  );
});

test('toVector refuses values that are not finite numbers', () => {
  const rules = { dimension: 6, metric: 'l2' } as const;
  const code = 'VDB_ERR_VECTOR_NOT_FINITE';
  expectError(() => toVector([0, 0, 0, 0, 0, NaN], rules), code, 422, 'vector[5] is NaN: values must be finite numbers');
  expectError(() => toVector([Infinity, 0, 0, 0, 0, 0], rules), code, 422, 'vector[0] is Infinity: values must be finite numbers');
  expectError(
    () => toVector([0, -Infinity, 0, 0, 0, 0], rules, 'points[3].vector'),
    code,
    422,
    'points[3].vector[1] is -Infinity: values must be finite numbers',
  );
  const strings = [0, 0, '1', 0, 0, 0] as unknown as number[];
  expectError(() => toVector(strings, rules), code, 422, 'vector[2] is not a number (string): values must be finite numbers');
  // Non-finite wins over out-of-range wherever it is.
  expectError(() => toVector([1e39, 0, 0, 0, 0, NaN], rules), code, 422, 'vector[5] is NaN: values must be finite numbers');
});

test('toVector refuses values outside the float32 range', () => {
  const rules = { dimension: 6, metric: 'l2' } as const;
  expectError(
    () => toVector([0, 0, 0, 0, 0, 1e39], rules),
    'VDB_ERR_VECTOR_RANGE',
    422,
    'vector[5] = 1e+39 is outside the float32 range (±3.4028234663852886e38)',
  );
  expectError(
    () => toVector([-3.5e38, 0, 0, 0, 0, 1e39], rules, 'query'),
    'VDB_ERR_VECTOR_RANGE',
    422,
    'query[0] = -3.5e+38 is outside the float32 range (±3.4028234663852886e38)',
  );
});

test('toVector refuses a zero vector under cosine only', () => {
  const message = 'vector is all zeros: the cosine metric needs a non-zero vector';
  expectError(() => toVector([0, 0, 0, 0], cosine), 'VDB_ERR_VECTOR_ZERO', 422, message);
  expectError(() => toVector([0, -0, 0, 0], cosine), 'VDB_ERR_VECTOR_ZERO', 422, message);
  // 1e-46 underflows to 0 in float32.
  expectError(() => toVector([1e-46, 0, -1e-46, 0], cosine), 'VDB_ERR_VECTOR_ZERO', 422, message);
  expectError(
    () => toVector([0, 0, 0, 0], cosine, 'points[3].vector'),
    'VDB_ERR_VECTOR_ZERO',
    422,
    'points[3].vector is all zeros: the cosine metric needs a non-zero vector',
  );
  // Non-zero in float32, but its float32 norm underflows: hnswlib could not normalise it.
  expectError(
    () => toVector([1e-30, 0, 0, 0], cosine),
    'VDB_ERR_VECTOR_ZERO',
    422,
    'vector is too close to zero (its norm underflows float32): the cosine metric needs a non-zero vector',
  );
  assert.equal(toVector([1e-20, 0, 0, 0], cosine).length, 4);
  assert.deepEqual(Array.from(toVector([0, 0, 0, 0], { dimension: 4, metric: 'ip' })), [0, 0, 0, 0]);
});

test('vectorToBlob writes little-endian float32 bytes into a copy', () => {
  const v = Float32Array.from([1, -2, 0.5]);
  const blob = vectorToBlob(v);
  assert.ok(Buffer.isBuffer(blob));
  assert.deepEqual([...blob.subarray(0, 4)], [0x00, 0x00, 0x80, 0x3f]);
  assert.equal(blob.readFloatLE(4), -2);
  v[0] = 7;
  assert.equal(blob.readFloatLE(0), 1);
});

test('blobToVector round-trips at every byte offset', () => {
  const v = Float32Array.from([1.5, -3, FLOAT32_MAX, Math.fround(1e-40), 0]);
  const blob = vectorToBlob(v);
  for (let offset = 0; offset < 8; offset++) {
    const host = new Uint8Array(offset + blob.length + 3);
    host.set(blob, offset);
    const back = blobToVector(host.subarray(offset, offset + blob.length));
    assert.deepEqual(Array.from(back), Array.from(v), `offset ${offset}`);
  }
  // Aligned input is decoded without a copy.
  const aligned = new Uint8Array(blob);
  const view = blobToVector(aligned);
  assert.equal(view.buffer, aligned.buffer);
  assert.equal(blobToVector(new Uint8Array(0)).length, 0);
});

test('a byte count that is not a multiple of 4 is an encoding error', () => {
  expectError(
    () => blobToVector(new Uint8Array(10)),
    'VDB_ERR_VECTOR_ENCODING',
    400,
    'stored vector has 10 bytes: raw float32 vectors need a multiple of 4 bytes',
  );
  expectError(
    () => bytesToFloats(new Uint8Array(7), 'points[3].vector'),
    'VDB_ERR_VECTOR_ENCODING',
    400,
    'points[3].vector has 7 bytes: raw float32 vectors need a multiple of 4 bytes',
  );
  const raw = Buffer.alloc(9);
  raw.writeFloatLE(2.5, 1);
  raw.writeFloatLE(-1, 5);
  assert.deepEqual(Array.from(bytesToFloats(raw.subarray(1), 'vector')), [2.5, -1]);
});

test('assertLabel accepts uint32 integers only', () => {
  for (const ok of [0, 1, 2 ** 32 - 1]) assertLabel(ok);
  for (const bad of [-1, 1.5, 2 ** 32, NaN, Infinity]) {
    assert.throws(() => assertLabel(bad), { code: 'VDB_ERR_INDEX_LABEL', statusCode: 500 });
  }
  assert.throws(() => assertLabel(-1), { message: 'label -1 is not an integer from 0 to 4294967295' });
});
