import { IndexErrors } from './errors.ts';
import type { Metric } from './vector-index.ts';

/** The largest finite float32. */
export const FLOAT32_MAX = 3.4028234663852886e38;
/** The largest index label (labels are uint32). */
export const MAX_LABEL = 2 ** 32 - 1;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** What a collection requires of its vectors. */
export interface VectorRules {
  dimension: number;
  metric: Metric;
}

/**
 * Validates `values` against the collection's rules and converts them to float32.
 *
 * Checks, in this order (the first failure wins, wherever it is in the vector):
 * dimension (`VDB_ERR_VECTOR_DIMENSION`), a value that is not a finite number (`…_NOT_FINITE`),
 * a value whose float32 conversion overflows to ±Infinity (`…_RANGE`), and under `cosine` a vector
 * that is zero in float32 (`…_ZERO`; tiny values that underflow count as zero). `field` names the
 * vector in messages, e.g. `points[3].vector`.
 */
export function toVector(values: ArrayLike<number>, rules: VectorRules, field = 'vector'): Float32Array {
  if (values.length !== rules.dimension) {
    throw new IndexErrors.VectorDimension(
      `${field} has ${values.length} values but the collection's dimension is ${rules.dimension}`,
    );
  }
  const out = new Float32Array(values.length);
  let outOfRange = -1;
  for (let i = 0; i < values.length; i++) {
    const v: unknown = values[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      const what = typeof v === 'number' ? String(v) : `not a number (${typeof v})`;
      throw new IndexErrors.VectorNotFinite(`${field}[${i}] is ${what}: values must be finite numbers`);
    }
    out[i] = v;
    // Values just above FLOAT32_MAX round down to it; only a conversion to Infinity is out of range.
    if (outOfRange < 0 && !Number.isFinite(out[i])) outOfRange = i;
  }
  if (outOfRange >= 0) {
    throw new IndexErrors.VectorRange(
      `${field}[${outOfRange}] = ${String(values[outOfRange])} is outside the float32 range (±3.4028234663852886e38)`,
    );
  }
  if (rules.metric === 'cosine') checkNonZero(out, field);
  return out;
}

function checkNonZero(v: Float32Array, field: string): void {
  // hnswlib normalises with a float32 sum of float32 squares; when that sum is 0 the vector stays
  // unnormalised and is at distance 1 from everything, so it is as useless as a zero vector.
  let sum = 0;
  let allZero = true;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x !== 0) allZero = false;
    sum = Math.fround(sum + Math.fround(x * x));
  }
  if (allZero) {
    throw new IndexErrors.VectorZero(`${field} is all zeros: the cosine metric needs a non-zero vector`);
  }
  if (sum === 0) {
    throw new IndexErrors.VectorZero(
      `${field} is too close to zero (its norm underflows float32): the cosine metric needs a non-zero vector`,
    );
  }
}

/** The vector as little-endian float32 bytes, in a new Buffer (the storage format). */
export function vectorToBlob(v: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  const out = Buffer.allocUnsafe(v.byteLength);
  for (let i = 0; i < v.length; i++) out.writeFloatLE(v[i], i * 4);
  return out;
}

/**
 * Decodes little-endian float32 bytes from storage. When `b` is 4-byte aligned (on a little-endian
 * host) the result is a view sharing `b`'s memory, otherwise a copy. Throws
 * `VDB_ERR_VECTOR_ENCODING` when the length is not a multiple of 4.
 */
export function blobToVector(b: Uint8Array): Float32Array {
  return decodeFloats(b, 'stored vector');
}

/**
 * Decodes a vector sent as raw little-endian float32 bytes (e.g. a MessagePack binary); throws
 * `VDB_ERR_VECTOR_ENCODING` (400) naming `field` when the length is not a multiple of 4.
 */
export function bytesToFloats(b: Uint8Array, field = 'vector'): Float32Array {
  return decodeFloats(b, field);
}

function decodeFloats(b: Uint8Array, field: string): Float32Array {
  if (b.byteLength % 4 !== 0) {
    throw new IndexErrors.VectorEncoding(
      `${field} has ${b.byteLength} bytes: raw float32 vectors need a multiple of 4 bytes`,
    );
  }
  const n = b.byteLength / 4;
  if (!LITTLE_ENDIAN) {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  if (b.byteOffset % 4 === 0) return new Float32Array(b.buffer, b.byteOffset, n);
  const out = new Float32Array(n);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/**
 * Throws `VDB_ERR_INDEX_LABEL` unless `label` is an integer in [0, 2³² − 1]. hnswlib-node would
 * silently coerce anything else to uint32 (−1 → 4294967295, 3.7 → 3).
 */
export function assertLabel(label: number): void {
  if (!Number.isInteger(label) || label < 0 || label > MAX_LABEL) {
    throw new IndexErrors.Label(`label ${String(label)} is not an integer from 0 to ${MAX_LABEL}`);
  }
}
