import { simdModule } from './simd-module.ts';

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

const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;
const MODULE = new wasm.Module(simdModule());
const PAGE = 65536;

export class SimdKernel {
  readonly #memory: WasmMemory;
  readonly #dots: Kernel;
  readonly #l2s: Kernel;
  #view: Float32Array;

  constructor() {
    const { exports } = new wasm.Instance(MODULE, {});
    this.#memory = exports.memory as WasmMemory;
    this.#dots = exports.dots as Kernel;
    this.#l2s = exports.l2s as Kernel;
    this.#view = new Float32Array(this.#memory.buffer);
  }

  /** The scratch memory as float32 values, at least `floats` long (growing it leaves earlier views stale). */
  reserve(floats: number): Float32Array {
    const bytes = floats * 4;
    if (bytes > this.#memory.buffer.byteLength) {
      this.#memory.grow(Math.ceil((bytes - this.#memory.buffer.byteLength) / PAGE));
      this.#view = new Float32Array(this.#memory.buffer);
    }
    return this.#view;
  }

  /** out[i] = a · row_i for the `n` rows of `dim` values from `base`; positions count float32 values. */
  dots(a: number, base: number, n: number, dim: number, out: number): void {
    this.#dots(a * 4, base * 4, n, dim, out * 4);
  }

  /** out[i] = ‖a − row_i‖², likewise. */
  l2s(a: number, base: number, n: number, dim: number, out: number): void {
    this.#l2s(a * 4, base * 4, n, dim, out * 4);
  }
}

let shared: SimdKernel | null = null;

/** This thread's kernel. */
export function simdKernel(): SimdKernel {
  shared ??= new SimdKernel();
  return shared;
}
