/**
 * Small floating-point formats for stored vectors (arXiv 2505.00105): float16, float8 E4M3 and E5M2.
 * Encoding is a plain cast by bit manipulation with round-to-nearest-even; decoding is a lookup
 * table. A finite value beyond a format's largest one saturates to it and is counted; NaN encodes
 * as the format's NaN.
 */
export interface MiniFloatSpec {
  name: string;
  exponentBits: number;
  mantissaBits: number;
  /** The largest finite code without its sign bit. */
  maxCode: number;
  /** The code NaN encodes to. */
  nanCode: number;
  /** E5M2 and float16 keep IEEE infinities and NaNs in their top exponent; E4M3 has only NaN = S.1111.111. */
  ieeeSpecials: boolean;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export class MiniFloat {
  readonly name: string;
  readonly bits: number;
  readonly max: number;
  readonly #m: number;
  readonly #bias: number;
  readonly #maxCode: number;
  readonly #nanCode: number;
  readonly #sign: number;
  readonly #table: Float32Array;

  constructor(spec: MiniFloatSpec) {
    this.name = spec.name;
    this.bits = 1 + spec.exponentBits + spec.mantissaBits;
    this.#m = spec.mantissaBits;
    this.#bias = (1 << (spec.exponentBits - 1)) - 1;
    this.#maxCode = spec.maxCode;
    this.#nanCode = spec.nanCode;
    this.#sign = 1 << (this.bits - 1);
    this.#table = new Float32Array(1 << this.bits);
    for (let code = 0; code < this.#table.length; code++) this.#table[code] = this.#value(code, spec);
    this.max = this.#table[spec.maxCode];
  }

  /** The exact value of a code, from its fields. */
  #value(code: number, spec: MiniFloatSpec): number {
    const sign = code & this.#sign ? -1 : 1;
    const magnitude = code & (this.#sign - 1);
    const e = magnitude >> this.#m;
    const m = magnitude & ((1 << this.#m) - 1);
    const topExponent = (1 << spec.exponentBits) - 1;
    if (spec.ieeeSpecials && e === topExponent) return m === 0 ? sign * Infinity : NaN;
    if (!spec.ieeeSpecials && magnitude === spec.nanCode) return NaN;
    if (e === 0) return sign * m * 2 ** (1 - this.#bias - this.#m);
    return sign * (1 + m / (1 << this.#m)) * 2 ** (e - this.#bias);
  }

  decode(code: number): number {
    return this.#table[code];
  }

  /** The decode table, value by code, for loops over whole vectors (read it, never write it). */
  get table(): Float32Array {
    return this.#table;
  }

  /**
   * The code of `x` (read as float32), rounded to nearest even. `saturated` is true when a finite
   * value, or an infinity, lies beyond the format's range and was clamped to ±max.
   */
  encode(x: number): { code: number; saturated: boolean } {
    const code = this.code(x);
    return { code, saturated: this.saturated };
  }

  /** True when the last `code` call saturated. */
  saturated = false;

  /** `encode` without an object per value, for whole vectors: check `saturated` after each call. */
  code(x: number): number {
    this.saturated = false;
    f32[0] = x;
    const bits = u32[0];
    const sign = bits >>> 31 ? this.#sign : 0;
    const exp32 = (bits >>> 23) & 0xff;
    const mant32 = bits & 0x7fffff;
    if (exp32 === 0xff && mant32 !== 0) return this.#nanCode;
    if (exp32 === 0xff) return this.#saturate(sign);
    const drop = 23 - this.#m;
    let e = exp32 - 127 + this.#bias;
    let mantissa: number;
    let shift: number;
    if (exp32 === 0) return sign; // float32 subnormals are far below every format here
    if (e >= 1) {
      mantissa = mant32;
      shift = drop;
    } else {
      mantissa = mant32 | 0x800000; // the implicit 1 becomes explicit in a subnormal
      shift = drop + 1 - e;
      e = 0;
      if (shift > 24) return sign;
    }
    let code = (e << this.#m) + Math.floor(mantissa / 2 ** shift);
    const rest = mantissa % 2 ** shift;
    const half = 2 ** (shift - 1);
    if (rest > half || (rest === half && code & 1)) code++; // a carry moves into the exponent, as it should
    if (code > this.#maxCode) return this.#saturate(sign);
    return sign | code;
  }

  #saturate(sign: number): number {
    this.saturated = true;
    return sign | this.#maxCode;
  }

  /** Encodes a whole vector; returns how many values saturated. */
  encodeInto(values: Float32Array, out: Uint8Array | Uint16Array): number {
    if (out.length !== values.length) throw new RangeError(`out has ${out.length} slots for ${values.length} values`);
    let saturated = 0;
    for (let i = 0; i < values.length; i++) {
      out[i] = this.code(values[i]);
      if (this.saturated) saturated++;
    }
    return saturated;
  }

  decodeInto(codes: Uint8Array | Uint16Array, out: Float32Array): void {
    if (out.length !== codes.length) throw new RangeError(`out has ${out.length} slots for ${codes.length} codes`);
    const table = this.#table;
    for (let i = 0; i < codes.length; i++) out[i] = table[codes[i]];
  }
}

/** IEEE 754 binary16: max 65504, subnormals to 2^-24. */
export const FLOAT16 = new MiniFloat({ name: 'float16', exponentBits: 5, mantissaBits: 10, maxCode: 0x7bff, nanCode: 0x7e00, ieeeSpecials: true });
/** OCP float8 E4M3 (FN): max 448, min normal 2^-6, subnormals to 2^-9, no infinities, NaN = 0x7F / 0xFF. */
export const E4M3 = new MiniFloat({ name: 'e4m3', exponentBits: 4, mantissaBits: 3, maxCode: 0x7e, nanCode: 0x7f, ieeeSpecials: false });
/** OCP float8 E5M2: IEEE-like, max 57344, min normal 2^-14, subnormals to 2^-16. */
export const E5M2 = new MiniFloat({ name: 'e5m2', exponentBits: 5, mantissaBits: 2, maxCode: 0x7b, nanCode: 0x7f, ieeeSpecials: true });
