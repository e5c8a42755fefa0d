import { CODE_FORMATS, simdModule } from './simd-module.ts';

/**
 * Dot products and squared L2 distances of one float32 vector against a block of rows, four lanes
 * at a time (WebAssembly SIMD, which Node 20 runs natively; the module is assembled by
 * simd-module.ts): selection with it takes 5–7× less time than its similarities summed by a
 * JavaScript loop at 784 dimensions (bench/select.ts). One instance per thread: its
 * memory is a scratch area the caller fills and reads through `reserve`.
 */

/** The little of the WebAssembly API used here (the Node 20 typings do not declare it). */
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}
type Kernel = (a: number, base: number, n: number, dim: number, out: number) => void;
type CodedKernel = (q: number, shift: number, scale: number, base: number, n: number, dim: number, out: number) => void;

/** Stored-code formats the coded kernels read: float8 E4M3 and E5M2, float16, int8. */
export type CodeFormatName = 'e4m3' | 'e5m2' | 'f16' | 'i8';
/** Bytes per code of each format (simd-module.ts's CODE_FORMATS). */
export const CODE_BYTES = Object.fromEntries(CODE_FORMATS.map((f) => [f.name, f.bytes])) as Record<CodeFormatName, 1 | 2>;

const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;
const MODULE = new wasm.Module(simdModule());
const PAGE = 65536;

export class SimdKernel {
  readonly #memory: WasmMemory;
  readonly #dots: Kernel;
  readonly #l2s: Kernel;
  /** The coded kernels by format: l2s, and dots with norms. */
  readonly #coded: Map<string, { l2s: CodedKernel; dotnorms: CodedKernel }>;
  #view: Float32Array;
  #bytes: Uint8Array;

  constructor() {
    const { exports } = new wasm.Instance(MODULE, {});
    this.#memory = exports.memory as WasmMemory;
    this.#dots = exports.dots as Kernel;
    this.#l2s = exports.l2s as Kernel;
    this.#coded = new Map(CODE_FORMATS.map((f) => [f.name, { l2s: exports[`l2s_${f.name}`] as CodedKernel, dotnorms: exports[`dotnorms_${f.name}`] as CodedKernel }]));
    this.#view = new Float32Array(this.#memory.buffer);
    this.#bytes = new Uint8Array(this.#memory.buffer);
  }

  /** The scratch memory as float32 values, at least `floats` long (growing it leaves earlier views stale). */
  reserve(floats: number): Float32Array {
    const bytes = floats * 4;
    if (bytes > this.#memory.buffer.byteLength) {
      this.#memory.grow(Math.ceil((bytes - this.#memory.buffer.byteLength) / PAGE));
      this.#view = new Float32Array(this.#memory.buffer);
      this.#bytes = new Uint8Array(this.#memory.buffer);
    }
    return this.#view;
  }

  /** The same scratch memory as bytes (after `reserve`, which may replace it). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** out[i] = a · row_i for the `n` rows of `dim` values from `base`; positions count float32 values. */
  dots(a: number, base: number, n: number, dim: number, out: number): void {
    this.#dots(a * 4, base * 4, n, dim, out * 4);
  }

  /** out[i] = ‖a − row_i‖², likewise. */
  l2s(a: number, base: number, n: number, dim: number, out: number): void {
    this.#l2s(a * 4, base * 4, n, dim, out * 4);
  }

  /**
   * Scores float32 `q` against `n` rows of `dim` stored codes of `format` from byte `base`, each code
   * c standing for shift[j] + scale[j] · value(c): l2 puts Σ (q − x)² at out[i], otherwise Σ q·x and
   * Σ x² at out[2i] and out[2i + 1]. `q`, `shift`, `scale` and `out` are positions in float32
   * values; `dim` must be a multiple of 16 / CODE_BYTES[format], the vectors padded with zeros
   * (simd-module.ts).
   */
  coded(format: CodeFormatName, l2: boolean, q: number, shift: number, scale: number, base: number, n: number, dim: number, out: number): void {
    if (dim % (16 / CODE_BYTES[format]) !== 0) throw new RangeError(`dim ${dim} is not a whole number of 16-byte steps of ${format} codes`);
    const kernels = this.#coded.get(format)!;
    (l2 ? kernels.l2s : kernels.dotnorms)(q * 4, shift * 4, scale * 4, base, n, dim, out * 4);
  }
}

let shared: SimdKernel | null = null;

/** This thread's kernel. */
export function simdKernel(): SimdKernel {
  shared ??= new SimdKernel();
  return shared;
}
