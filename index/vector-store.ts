import { TopK } from './brute-force.ts';
import type { VectorCodec } from './codec.ts';
import { dotAt, normalized, squaredL2At } from './distance.ts';
import { codeFormat, loadKernels, type NativeKernels } from './native/kernels.ts';
import { CODE_BYTES, simdKernel, type CodeFormatName } from './simd.ts';
import type { Metric, SearchHit } from './vector-index.ts';

/** Labels per segment: one SharedArrayBuffer of SEGMENT × dimension float32 values. */
export const SEGMENT = 16_384;
/** Rows from which exact scoring uses the SIMD kernel, and rows it scores per call. */
const SIMD_FROM = 64;
const SIMD_BLOCK = 256;
/** The labels of the block being scored: one per thread, reused by every query (scoring is synchronous). */
const BLOCK = new Int32Array(SIMD_BLOCK);
/**
 * Stored rows from which a compressed store scores with the coded SIMD kernels: 40 float8 rows of
 * 784 codes took 24 µs with them against 112 µs decoded in JavaScript (hand-measured on
 * Fashion-MNIST), and copying q, shift and scale in costs about one row's JavaScript scoring.
 */
const CODED_SIMD_FROM = 4;
/** Rows scored per kernel call when bounds may stop the scoring early (topKBounded). */
const BOUNDED_BLOCK = 8;
/** Rows from which exact scoring calls the native kernel: a single row is scored in JavaScript, without a call. */
const NATIVE_FROM = 2;
/** The labels and distances of a native kernel call: one pair per thread, grown as needed. */
let nativeLabels = new Uint32Array(SIMD_BLOCK);
let nativeOut = new Float32Array(SIMD_BLOCK);
const CODE_FORMAT: Partial<Record<string, CodeFormatName>> = { float8_e4m3: 'e4m3', float8_e5m2: 'e5m2', float16: 'f16', int8: 'i8' };

/** What the coded kernels need of a codec: its format, the padded dimension, and shift and scale padded with zeros. */
interface CodedLayout {
  format: CodeFormatName;
  /** The format as the native kernel takes it. */
  native: Int32Array;
  dim: number;
  shift: Float32Array;
  scale: Float32Array;
}

/**
 * Copies the rows of `labels` from `cursor.at` on into `dest` for a SIMD kernel, until `rows` are in
 * or the labels end, and moves the cursor past them: row n goes to `base + n × stride`, `width`
 * values from its segment (labels without one are skipped) and zeros up to `stride`. Their labels
 * go to BLOCK; returns how many rows were copied.
 */
function gather<T extends Float32Array | Uint8Array>(
  labels: ArrayLike<number>, cursor: { at: number }, rows: number, segments: readonly T[], width: number, dest: T, base: number, stride: number,
): number {
  let n = 0;
  for (; cursor.at < labels.length && n < rows; cursor.at++) {
    const label = labels[cursor.at];
    const segment = segments[Math.floor(label / SEGMENT)];
    if (!segment) continue;
    const offset = (label % SEGMENT) * width;
    const row = base + n * stride;
    dest.set(segment.subarray(offset, offset + width), row);
    if (stride > width) dest.fill(0, row + width, row + stride);
    BLOCK[n++] = label;
  }
  return n;
}

function codedLayout(codec: VectorCodec): CodedLayout | null {
  const format = CODE_FORMAT[codec.name];
  if (!format) return null;
  const step = 16 / CODE_BYTES[format];
  const dim = Math.ceil(codec.dimension / step) * step;
  const shift = new Float32Array(dim);
  const scale = new Float32Array(dim);
  if (codec.params) {
    shift.set(codec.params.shift);
    scale.set(codec.params.scale);
  } else {
    scale.fill(1, 0, codec.dimension);
  }
  return { format, native: codeFormat(format), dim, shift, scale };
}

/**
 * Vectors by label in SharedArrayBuffer segments: written by one thread, read by every worker
 * without copies. Segments are appended as labels grow and never move, so a reader holding an
 * older list of segments sees every label that list covers. With a compressed codec the segments
 * hold the stored bytes, decoded as they are scored.
 */
export class VectorStore {
  readonly dimension: number;
  /** Under cosine, vectors are stored normalised (as hnswlib does), so scoring is one dot product. */
  readonly metric: Metric;
  /** A compressed codec whose bytes the segments hold; null: float32 values. */
  readonly codec: VectorCodec | null;
  readonly #slot: number;
  readonly #segments: SharedArrayBuffer[];
  readonly #views: Float32Array[];
  readonly #bytes: Uint8Array[];
  readonly #coded: CodedLayout | null;
  readonly #native: NativeKernels | null;

  /**
   * `kernels`: the native scoring kernels of the build the process runs (index/native/kernels.ts);
   * null scores with the WebAssembly kernels.
   */
  constructor(
    dimension: number, metric: Metric, segments: SharedArrayBuffer[] = [], codec: VectorCodec | null = null,
    kernels: NativeKernels | null = loadKernels(),
  ) {
    if (!Number.isInteger(dimension) || dimension < 1 || dimension > 4096) {
      throw new RangeError('dimension must be an integer from 1 to 4096');
    }
    if (codec && codec.dimension !== dimension) throw new RangeError(`codec dimension ${codec.dimension} ≠ ${dimension}`);
    this.dimension = dimension;
    this.metric = metric;
    this.codec = codec?.name === 'float32' ? null : codec;
    this.#slot = this.codec ? this.codec.bytesPerVector : dimension * 4;
    this.#segments = [...segments];
    this.#views = this.codec ? [] : segments.map((s) => new Float32Array(s));
    this.#bytes = this.codec ? segments.map((s) => new Uint8Array(s)) : [];
    this.#coded = this.codec ? codedLayout(this.codec) : null;
    this.#native = kernels;
  }

  /** The segments, to hand to another thread (`new VectorStore(dimension, segments)` there). */
  get segments(): readonly SharedArrayBuffer[] {
    return this.#segments;
  }

  /** Labels the allocated segments cover. */
  get capacity(): number {
    return this.#segments.length * SEGMENT;
  }

  get bytes(): number {
    return this.capacity * this.#slot;
  }

  #grow(label: number): void {
    while (label >= this.capacity) {
      const segment = new SharedArrayBuffer(SEGMENT * this.#slot);
      this.#segments.push(segment);
      if (this.codec) this.#bytes.push(new Uint8Array(segment));
      else this.#views.push(new Float32Array(segment));
    }
  }

  /** Stores a float32 vector (a store without a compressed codec only). */
  set(label: number, vector: Float32Array): void {
    if (this.codec) throw new RangeError('a compressed store takes stored bytes: use setStored');
    this.#grow(label);
    const stored = this.metric === 'cosine' ? normalized(vector) : vector;
    this.#views[Math.floor(label / SEGMENT)].set(stored, (label % SEGMENT) * this.dimension);
  }

  /** Stores a vector as the collection stores it: the codec's bytes, or float32 bytes. */
  setStored(label: number, bytes: Uint8Array, decode: (bytes: Uint8Array) => Float32Array): void {
    if (!this.codec) return this.set(label, decode(bytes));
    if (bytes.byteLength !== this.#slot) throw new RangeError(`stored vector has ${bytes.byteLength} bytes, the store ${this.#slot}`);
    this.#grow(label);
    this.#bytes[Math.floor(label / SEGMENT)].set(bytes, (label % SEGMENT) * this.#slot);
  }

  /**
   * The stored vector (normalised under cosine for float32 stores): a view without a codec, a
   * decoded copy with one. Zeros for a label never set.
   */
  get(label: number): Float32Array {
    const segment = Math.floor(label / SEGMENT);
    if (segment >= this.#segments.length) throw new RangeError(`label ${label} is beyond the store's ${this.capacity} labels`);
    if (this.codec) {
      const at = (label % SEGMENT) * this.#slot;
      return this.codec.decode(this.#bytes[segment].subarray(at, at + this.#slot));
    }
    const at = (label % SEGMENT) * this.dimension;
    return this.#views[segment].subarray(at, at + this.dimension);
  }

  /**
   * Exact k nearest among `labels`, closest first (ties by label), with hnswlib's distances:
   * squared L2, 1 − dot, or 1 − cos. Scores each vector in place in its segment: no views, no copies.
   */
  topK(query: Float32Array, labels: ArrayLike<number>, k: number): SearchHit[] {
    return this.#topK(query, labels, k, true, null);
  }

  /**
   * topK of `labels` given lower bounds of their distances in ascending order (`bounds[i]` ≤ the
   * distance of labels[i]): scores a few at a time and stops once the next bound exceeds the k-th
   * best distance found, as no later label can enter the top k then. The same hits as topK. Bounds
   * out of order are ignored (everything is scored).
   */
  topKBounded(query: Float32Array, labels: ArrayLike<number>, bounds: ArrayLike<number>, k: number): SearchHit[] {
    if (bounds.length !== labels.length) throw new RangeError(`${bounds.length} bounds for ${labels.length} labels`);
    for (let i = 1; i < bounds.length; i++) if (!(bounds[i - 1] <= bounds[i])) return this.topK(query, labels, k);
    return this.#topK(query, labels, k, true, bounds);
  }

  /** topK with the JavaScript loops only: the reference the SIMD kernels are tested against. */
  topKScalar(query: Float32Array, labels: ArrayLike<number>, k: number): SearchHit[] {
    return this.#topK(query, labels, k, false, null);
  }

  #topK(query: Float32Array, labels: ArrayLike<number>, k: number, simd: boolean, bounds: ArrayLike<number> | null): SearchHit[] {
    const top = new TopK(k);
    if (k < 1) return [];
    const dim = this.dimension;
    const q = this.metric === 'cosine' ? normalized(query) : query;
    const l2 = this.metric === 'l2';
    // Scoring stops before position `at` once its bound shows no label from there on can be kept.
    const done = bounds ? (at: number) => bounds[at] > top.worst : null;
    if (this.codec) {
      if (simd && this.#native && this.#coded && labels.length >= NATIVE_FROM) this.#topKNative(top, q, labels, this.#native, done);
      else if (simd && this.#coded && labels.length >= CODED_SIMD_FROM) this.#topKCoded(top, q, labels, this.#coded, done);
      else this.#topKDecoded(top, q, labels, done);
      return top.result();
    }
    if (simd && this.#native && labels.length >= NATIVE_FROM) {
      this.#topKNative(top, q, labels, this.#native, done);
      return top.result();
    }
    if (simd && labels.length >= SIMD_FROM) {
      this.#topKSimd(top, q, labels, done);
      return top.result();
    }
    for (let i = 0; i < labels.length; i++) {
      if (done?.(i)) break;
      const label = labels[i];
      const view = this.#views[Math.floor(label / SEGMENT)];
      if (!view) continue;
      const offset = (label % SEGMENT) * dim;
      top.push(label, l2 ? squaredL2At(q, view, offset) : 1 - dotAt(q, view, offset));
    }
    return top.result();
  }

  /**
   * topK with the native kernels, which read each row in its segment: no copies (the WebAssembly
   * kernels below copy each row into their memory first, 1.9 MB for 600 float32 rows at 784
   * dimensions: bench/engine-build.ts times both).
   */
  #topKNative(top: TopK, q: Float32Array, labels: ArrayLike<number>, kernels: NativeKernels, done: ((at: number) => boolean) | null): void {
    const count = labels.length;
    if (nativeLabels.length < count) nativeLabels = new Uint32Array(count);
    if (nativeOut.length < count) nativeOut = new Float32Array(count);
    const ls = labels instanceof Uint32Array ? labels : nativeLabels;
    if (ls !== labels) for (let i = 0; i < count; i++) ls[i] = labels[i];
    const out = nativeOut;
    const coded = this.#coded;
    const mode = this.metric === 'l2' ? 0 : this.metric === 'ip' ? 1 : 2;
    const rows = done ? BOUNDED_BLOCK : count;
    for (let at = 0; at < count && !done?.(at); at += rows) {
      const n = Math.min(rows, count - at);
      if (!coded) kernels.scoreRows(q, this.#views, SEGMENT, ls, at, n, mode === 0, out);
      else kernels.scoreCoded(q, this.#bytes, SEGMENT, coded.native, coded.shift, coded.scale, ls, at, n, mode, out);
      for (let i = 0; i < n; i++) {
        const d = out[i];
        if (d === d) top.push(ls[at + i], d);
      }
    }
  }

  /**
   * topK of float32 rows with the WebAssembly SIMD kernel: a block of rows at a time is copied into
   * its memory and scored at once (≈3× a JavaScript loop at 784 dimensions for 600 rows with the
   * copies, hand-measured: the exact path of a filtered search).
   */
  #topKSimd(top: TopK, q: Float32Array, labels: ArrayLike<number>, done: ((at: number) => boolean) | null): void {
    const dim = this.dimension;
    const l2 = this.metric === 'l2';
    const kernel = simdKernel();
    const rowsAt = dim;
    const outAt = dim + SIMD_BLOCK * dim;
    const mem = kernel.reserve(outAt + SIMD_BLOCK);
    mem.set(q, 0);
    const rows = done ? BOUNDED_BLOCK : SIMD_BLOCK;
    const cursor = { at: 0 };
    while (cursor.at < labels.length && !done?.(cursor.at)) {
      const n = gather(labels, cursor, rows, this.#views, dim, mem, rowsAt, dim);
      if (l2) kernel.l2s(0, rowsAt, n, dim, outAt);
      else kernel.dots(0, rowsAt, n, dim, outAt);
      for (let i = 0; i < n; i++) top.push(BLOCK[i], l2 ? mem[outAt + i] : 1 - mem[outAt + i]);
    }
  }

  /**
   * topK over stored codes with the coded SIMD kernels: a block of rows at a time is copied into
   * its memory and scored without decoding (the rescoring of a PCA search: bench/compression.ts).
   */
  #topKCoded(top: TopK, q: Float32Array, labels: ArrayLike<number>, layout: CodedLayout, done: ((at: number) => boolean) | null): void {
    const { format, dim, shift, scale } = layout;
    const slot = this.#slot;
    const stride = dim * CODE_BYTES[format];
    const kernel = simdKernel();
    // Float32 positions: q, shift, scale, then the rows (bytes), then out (two per row).
    const rowsAt = 3 * dim;
    const outAt = rowsAt + (SIMD_BLOCK * stride) / 4;
    const mem = kernel.reserve(outAt + 2 * SIMD_BLOCK);
    const bytes = kernel.bytes;
    mem.fill(0, 0, dim);
    mem.set(q, 0);
    mem.set(shift, dim);
    mem.set(scale, 2 * dim);
    const l2 = this.metric === 'l2';
    const cosine = this.metric === 'cosine';
    const rows = done ? BOUNDED_BLOCK : SIMD_BLOCK;
    const cursor = { at: 0 };
    while (cursor.at < labels.length && !done?.(cursor.at)) {
      // Rows padded with code 0, which stands for 0.
      const n = gather(labels, cursor, rows, this.#bytes, slot, bytes, rowsAt * 4, stride);
      kernel.coded(format, l2, 0, dim, 2 * dim, rowsAt * 4, n, dim, outAt);
      for (let i = 0; i < n; i++) {
        if (l2) top.push(BLOCK[i], mem[outAt + i]);
        else {
          const dot = mem[outAt + 2 * i];
          const norm = mem[outAt + 2 * i + 1];
          top.push(BLOCK[i], cosine ? (norm > 0 ? 1 - dot / Math.sqrt(norm) : 1) : 1 - dot);
        }
      }
    }
  }

  /** topK over stored bytes, each scored as it is decoded; under cosine, normalised as hnswlib does. */
  #topKDecoded(top: TopK, q: Float32Array, labels: ArrayLike<number>, done: ((at: number) => boolean) | null): void {
    const codec = this.codec!;
    const slot = this.#slot;
    for (let i = 0; i < labels.length; i++) {
      if (done?.(i)) break;
      const label = labels[i];
      const bytes = this.#bytes[Math.floor(label / SEGMENT)];
      if (bytes) top.push(label, codec.distance(q, bytes, (label % SEGMENT) * slot, this.metric));
    }
  }
}
