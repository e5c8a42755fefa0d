import { IndexErrors } from './errors.ts';
import { decodeInt8Into, encodeInt8, fitInt8 } from './int8.ts';
import { E4M3, E5M2, FLOAT16, type MiniFloat } from './minifloat.ts';
import type { Metric } from './vector-index.ts';
import { blobToVector, vectorToBlob } from './vectors.ts';

/** How a collection stores its vectors (docs/storage.md, Compressed storage: `storage.codec`). */
export const CODECS = ['float32', 'float16', 'float8_e4m3', 'float8_e5m2', 'int8'] as const;
export type CodecName = (typeof CODECS)[number];

/**
 * What a float8 or int8 codec learns from the data, per dimension: each value is stored as the code
 * of (x − shift) / scale. float8 shifts by the mean and scales the largest |x − mean| to half the
 * format's maximum: centring recovers most of float8's loss on non-centred data, and the scale keeps
 * data beyond the format's range from saturating (bench:codecs). int8 (index/int8.ts) scales by its
 * step and shifts to the value of code 0.
 */
export interface CodecParams {
  shift: Float32Array;
  scale: Float32Array;
}

/** The dimension's largest |x − mean| in the fit sample maps to this share of the format's maximum. */
const HEADROOM = 0.5;

const FORMATS: Record<Exclude<CodecName, 'float32' | 'int8'>, MiniFloat> = {
  float16: FLOAT16,
  float8_e4m3: E4M3,
  float8_e5m2: E5M2,
};

/** True when the codec needs `CodecParams` fitted on data before it can encode. */
export function needsParams(name: CodecName): boolean {
  return name === 'float8_e4m3' || name === 'float8_e5m2' || name === 'int8';
}

/**
 * Encodes vectors to the bytes a collection stores and decodes them back. Decoding goes by the
 * blob's length, so rows written as float32 before a fitted codec had its params still read correctly.
 */
export class VectorCodec {
  readonly name: CodecName;
  readonly dimension: number;
  readonly bytesPerVector: number;
  readonly params: CodecParams | null;
  readonly #format: MiniFloat | null;
  readonly #scratch: Float32Array;

  constructor(name: CodecName, dimension: number, params: CodecParams | null = null) {
    if (!CODECS.includes(name)) throw new IndexErrors.Options(`codec must be one of ${CODECS.join(', ')}`);
    if (needsParams(name) !== (params !== null)) {
      throw new IndexErrors.Options(needsParams(name) ? `codec ${name} needs fitted params` : `codec ${name} takes no params`);
    }
    if (params && (params.shift.length !== dimension || params.scale.length !== dimension)) {
      throw new IndexErrors.Options(`codec params must have ${dimension} values per field`);
    }
    this.name = name;
    this.dimension = dimension;
    this.params = params;
    this.#format = name === 'float32' || name === 'int8' ? null : FORMATS[name];
    this.bytesPerVector = dimension * (this.#format ? this.#format.bits / 8 : name === 'int8' ? 1 : 4);
    this.#scratch = new Float32Array(dimension);
  }

  /** The stored bytes of `v` (a new Buffer) and how many of its values saturated. */
  encode(v: Float32Array): { bytes: Buffer; saturated: number } {
    const { params } = this;
    if (this.name === 'int8') {
      const out = Buffer.allocUnsafe(this.bytesPerVector);
      return { bytes: out, saturated: encodeInt8(v, params!, out) };
    }
    const format = this.#format;
    if (!format) return { bytes: vectorToBlob(v), saturated: 0 };
    const out = Buffer.allocUnsafe(this.bytesPerVector);
    let saturated = 0;
    if (format.bits === 16) {
      for (let i = 0; i < v.length; i++) {
        const code = format.code(v[i]);
        out[2 * i] = code & 0xff;
        out[2 * i + 1] = code >> 8;
        if (format.saturated) saturated++;
      }
      return { bytes: out, saturated };
    }
    for (let i = 0; i < v.length; i++) {
      out[i] = format.code(params ? (v[i] - params.shift[i]) / params.scale[i] : v[i]);
      if (format.saturated) saturated++;
    }
    return { bytes: out, saturated };
  }

  /** Decodes stored bytes into `out` (the collection's dimension). */
  decodeInto(bytes: Uint8Array, out: Float32Array): Float32Array {
    const d = this.dimension;
    if (out.length !== d) throw new RangeError(`out has ${out.length} slots for dimension ${d}`);
    const format = this.#format;
    if (bytes.byteLength === 4 * d) {
      out.set(blobToVector(bytes));
      return out;
    }
    if (this.name === 'float32' || bytes.byteLength !== this.bytesPerVector) {
      throw new IndexErrors.VectorEncoding(`a stored vector has ${bytes.byteLength} bytes; codec ${this.name} at dimension ${d} expects ${this.bytesPerVector}`);
    }
    if (!format) return decodeInt8Into(bytes, 0, this.params!, out); // int8
    // Table lookups inline: this runs for every candidate a PCA search rescores.
    const table = format.table;
    if (format.bits === 16) {
      for (let i = 0; i < d; i++) out[i] = table[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
      return out;
    }
    // float8: the constructor made sure the params are there.
    const { shift, scale } = this.params!;
    for (let i = 0; i < d; i++) out[i] = shift[i] + scale[i] * table[bytes[i]];
    return out;
  }

  /**
   * The distance from `q` to the vector stored at `bytes[at…]` (this codec's format), as hnswlib
   * defines it: squared L2, 1 − dot, or 1 − cos (q unit already, the stored vector normalised
   * here). Decodes and scores in one pass, without materialising the vector: it runs for every
   * candidate a PCA search rescores and every point an exact filter scores.
   */
  distance(q: Float32Array, bytes: Uint8Array, at: number, metric: Metric): number {
    if (this.name === 'int8') return this.#int8Distance(q, bytes, at, metric);
    const format = this.#format;
    if (!format) throw new RangeError('float32 vectors are scored from float views');
    // One loop per format and metric, with nothing else in it (hand-measured: about twice as
    // fast as one general loop).
    const d = this.dimension;
    const table = format.table;
    if (format.bits === 8) {
      const { shift, scale } = this.params!;
      if (metric === 'l2') {
        let l2 = 0;
        for (let i = 0; i < d; i++) {
          const diff = q[i] - (shift[i] + scale[i] * table[bytes[at + i]]);
          l2 += diff * diff;
        }
        return l2;
      }
      let dot = 0;
      let norm = 0;
      for (let i = 0; i < d; i++) {
        const x = shift[i] + scale[i] * table[bytes[at + i]];
        dot += q[i] * x;
        norm += x * x;
      }
      return angular(metric, dot, norm);
    }
    if (metric === 'l2') {
      let l2 = 0;
      for (let i = 0; i < d; i++) {
        const diff = q[i] - table[bytes[at + 2 * i] | (bytes[at + 2 * i + 1] << 8)];
        l2 += diff * diff;
      }
      return l2;
    }
    let dot = 0;
    let norm = 0;
    for (let i = 0; i < d; i++) {
      const x = table[bytes[at + 2 * i] | (bytes[at + 2 * i + 1] << 8)];
      dot += q[i] * x;
      norm += x * x;
    }
    return angular(metric, dot, norm);
  }

  /** `distance` for int8: the code is the byte sign-extended, no table (decodeInt8Into's arithmetic). */
  #int8Distance(q: Float32Array, bytes: Uint8Array, at: number, metric: Metric): number {
    const d = this.dimension;
    const { shift, scale } = this.params!;
    if (metric === 'l2') {
      let l2 = 0;
      for (let i = 0; i < d; i++) {
        const diff = q[i] - (shift[i] + scale[i] * ((bytes[at + i] << 24) >> 24));
        l2 += diff * diff;
      }
      return l2;
    }
    let dot = 0;
    let norm = 0;
    for (let i = 0; i < d; i++) {
      const x = shift[i] + scale[i] * ((bytes[at + i] << 24) >> 24);
      dot += q[i] * x;
      norm += x * x;
    }
    return angular(metric, dot, norm);
  }

  /** Decodes stored bytes into a new Float32Array. */
  decode(bytes: Uint8Array): Float32Array {
    return this.decodeInto(bytes, new Float32Array(this.dimension));
  }

  /** What the collection holds for `v`: decode(encode(v)), written into `out`. */
  roundTrip(v: Float32Array, out: Float32Array = this.#scratch): Float32Array {
    if (this.name === 'float32') {
      out.set(v);
      return out;
    }
    return this.decodeInto(this.encode(v).bytes, out);
  }
}

/** 1 − dot for `ip`; 1 − cos for `cosine` (the query is a unit vector, the stored one is normalised here). */
function angular(metric: Metric, dot: number, norm: number): number {
  if (metric === 'ip') return 1 - dot;
  return norm > 0 ? 1 - dot / Math.sqrt(norm) : 1;
}

/**
 * Fits a codec's params on `n` vectors of dimension `d` (row-major). float8: the mean, and per
 * dimension the scale that maps the sample's largest |x − mean| to half the format's maximum.
 * int8: `fitInt8`, clipping `options.clip` of each dimension's sample at either end (INT8_CLIP).
 */
export function fitCodecParams(name: CodecName, data: Float32Array, n: number, d: number, options: { clip?: number } = {}): CodecParams {
  if (!needsParams(name)) throw new IndexErrors.Options(`codec ${name} takes no params`);
  if (n < 1 || data.length !== n * d) throw new IndexErrors.Options(`data must hold n × d = ${n} × ${d} values`);
  if (name === 'int8') return fitInt8(data, n, d, options.clip);
  const mean64 = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean64[j] += data[i * d + j];
  const mean = new Float32Array(d);
  for (let j = 0; j < d; j++) mean[j] = mean64[j] / n;
  const spread = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) spread[j] = Math.max(spread[j], Math.abs(data[i * d + j] - mean[j]));
  }
  const target = FORMATS[name as 'float8_e4m3'].max * HEADROOM;
  const scale = new Float32Array(d);
  for (let j = 0; j < d; j++) scale[j] = spread[j] > 0 ? spread[j] / target : 1;
  return { shift: mean, scale };
}

/** Params as bytes for storage: shift (float8's mean) then scale, float32 little-endian. */
export function codecParamsToBytes(params: CodecParams): Buffer {
  return Buffer.concat([vectorToBlob(params.shift), vectorToBlob(params.scale)]);
}

export function codecParamsFromBytes(bytes: Uint8Array, dimension: number): CodecParams {
  if (bytes.byteLength !== 8 * dimension) {
    throw new IndexErrors.VectorEncoding(`codec params have ${bytes.byteLength} bytes; dimension ${dimension} needs ${8 * dimension}`);
  }
  const all = blobToVector(bytes);
  return { shift: all.slice(0, dimension), scale: all.slice(dimension) };
}
