import { CODE_FORMATS } from '../simd-module.ts';
import type { CodeFormatName } from '../simd.ts';
import { loadOwnAddon } from './addon.ts';
import type { EngineBuild } from './engine.ts';

/** What `kernels.cc` exports: exact scoring that reads the store's segments in place. */
export interface NativeKernels {
  /**
   * out[i] = the distance of labels[from + i] for i < count (squared L2 when `l2`, else 1 − dot),
   * the row read from `segments[label / segmentRows]`; NaN for a label beyond the segments.
   */
  scoreRows(
    query: Float32Array, segments: readonly Float32Array[], segmentRows: number,
    labels: Uint32Array, from: number, count: number, l2: boolean, out: Float32Array,
  ): void;
  /**
   * scoreRows over rows of stored codes (float8, float16, int8), code c standing for shift[j] +
   * scale[j] · value(c), each code widened in registers as `format` says (`codeFormat`):
   * `mode` 0 squared L2, 1 one minus the dot product, 2 one minus the cosine (1 for a zero row).
   */
  scoreCoded(
    query: Float32Array, segments: readonly Uint8Array[], segmentRows: number, format: Int32Array,
    shift: Float32Array, scale: Float32Array, labels: Uint32Array, from: number, count: number, mode: 0 | 1 | 2, out: Float32Array,
  ): void;
  /** out[c] = Σ_j components[c·d + j] · (v[j] − mean[j]), d = mean.length, for c < out.length. */
  project(components: Float32Array, mean: Float32Array, v: Float32Array, out: Float32Array): void;
}

const found = new Map<EngineBuild, NativeKernels | null>();

/**
 * The native kernels installed with the build `requested` resolves to, or null (the stock build, or
 * no compiler at install): callers then use the WebAssembly kernels of simd.ts. Callers take the
 * default, `auto`: the kernels are used wherever the install built them and this CPU runs them,
 * whichever hnswlib-node build `VICINITY_HNSW_BUILD` picks.
 */
export function loadKernels(requested: EngineBuild = 'auto'): NativeKernels | null {
  // Looked up once per build: project() takes its default from here on every query.
  let kernels = found.get(requested);
  if (kernels === undefined) {
    const { exports } = loadOwnAddon(requested);
    const complete = exports !== null && ['scoreRows', 'scoreCoded', 'project'].every((name) => typeof exports[name] === 'function');
    kernels = complete ? (exports as unknown as NativeKernels) : null;
    found.set(requested, kernels);
  }
  return kernels;
}

/**
 * A code format as scoreCoded takes it, from the WebAssembly kernels' description (simd-module.ts):
 * [bytes per code, 1 for a float format, magnitude mask, shift, exponent bias difference, mantissa bits].
 */
export function codeFormat(name: CodeFormatName): Int32Array {
  const format = CODE_FORMATS.find((f) => f.name === name);
  if (!format) throw new RangeError(`no code format ${name}`);
  const { float } = format;
  return Int32Array.of(format.bytes, float ? 1 : 0, float?.mask ?? 0, float?.shift ?? 0, float?.bias ?? 0, float?.mantissa ?? 0);
}
