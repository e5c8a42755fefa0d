/** The most labels a bitmap can hold: every uint32 label. */
export const MAX_BITMAP_CAPACITY = 2 ** 32;

/**
 * A set of uint32 labels as a bitmap: bit `i & 31` of word `i >>> 5` is label `i`. The capacity is fixed
 * (a multiple of 32), so a bitmap built over a SharedArrayBuffer can be handed to a worker without copying.
 */
export class LabelBitmap {
  readonly #words: Uint32Array;

  /**
   * `source` is a capacity in labels (rounded up to a multiple of 32; `shared` allocates a
   * SharedArrayBuffer), a buffer whose bytes become the words, or words to wrap. Buffers are not copied.
   */
  constructor(source: number | ArrayBuffer | SharedArrayBuffer | Uint32Array, options: { shared?: boolean } = {}) {
    if (typeof source === 'number') {
      if (!Number.isInteger(source) || source < 0 || source > MAX_BITMAP_CAPACITY) {
        throw new RangeError(`capacity must be an integer from 0 to 2^32 labels, got ${source}`);
      }
      const bytes = Math.ceil(source / 32) * 4;
      this.#words = new Uint32Array(options.shared === true ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    } else if (source instanceof Uint32Array) {
      this.#words = source;
    } else {
      if (source.byteLength % 4 !== 0) throw new RangeError(`buffer.byteLength must be a multiple of 4, got ${source.byteLength}`);
      this.#words = new Uint32Array(source);
    }
  }

  /** A bitmap of `capacity` labels holding `labels`; throws a RangeError for a label outside it. */
  static fromLabels(labels: Iterable<number>, capacity: number, options: { shared?: boolean } = {}): LabelBitmap {
    const bitmap = new LabelBitmap(capacity, options);
    for (const label of labels) bitmap.add(label);
    return bitmap;
  }

  /** The words themselves (not a copy). */
  get words(): Uint32Array {
    return this.#words;
  }

  get buffer(): ArrayBuffer | SharedArrayBuffer {
    return this.#words.buffer;
  }

  /** Labels 0 to capacity − 1 fit. */
  get capacity(): number {
    return this.#words.length * 32;
  }

  /** Throws a RangeError for anything but an integer from 0 to capacity − 1. */
  add(label: number): this {
    if (!this.#fits(label)) throw new RangeError(`label must be an integer from 0 to ${this.capacity - 1}, got ${label}`);
    this.#words[label >>> 5] |= 1 << (label & 31);
    return this;
  }

  /** True when the label was present. */
  delete(label: number): boolean {
    if (!this.has(label)) return false;
    this.#words[label >>> 5] &= ~(1 << (label & 31));
    return true;
  }

  /** False for anything outside the bitmap (never throws). */
  has(label: number): boolean {
    return this.#fits(label) && (this.#words[label >>> 5] & (1 << (label & 31))) !== 0;
  }

  count(): number {
    const words = this.#words;
    let total = 0;
    for (let i = 0; i < words.length; i++) {
      if (words[i] !== 0) total += popcount(words[i]);
    }
    return total;
  }

  isEmpty(): boolean {
    return this.#words.every((word) => word === 0);
  }

  /** Keeps the labels also in `other`; labels beyond `other`'s capacity are dropped. */
  and(other: LabelBitmap): this {
    const a = this.#words;
    const b = other.#words;
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) a[i] &= b[i];
    a.fill(0, n);
    return this;
  }

  /** Adds the labels of `other`; throws a RangeError (changing nothing) if one lies beyond this capacity. */
  or(other: LabelBitmap): this {
    const a = this.#words;
    const b = other.#words;
    for (let i = a.length; i < b.length; i++) {
      if (b[i] !== 0) throw new RangeError(`label ${i * 32 + 31 - Math.clz32(b[i] & -b[i])} is beyond this bitmap's capacity ${this.capacity}`);
    }
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) a[i] |= b[i];
    return this;
  }

  /** Removes the labels of `other`. */
  andNot(other: LabelBitmap): this {
    const a = this.#words;
    const b = other.#words;
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) a[i] &= ~b[i];
    return this;
  }

  /** A copy of the same capacity, in a SharedArrayBuffer when this one is. */
  clone(): LabelBitmap {
    const copy = new LabelBitmap(this.capacity, { shared: this.#words.buffer instanceof SharedArrayBuffer });
    copy.#words.set(this.#words);
    return copy;
  }

  /** Calls `fn` with each label in ascending order. */
  forEach(fn: (label: number) => void): void {
    const words = this.#words;
    for (let i = 0; i < words.length; i++) {
      let word = words[i];
      while (word !== 0) {
        const lowest = word & -word;
        fn(i * 32 + 31 - Math.clz32(lowest));
        word ^= lowest;
      }
    }
  }

  *[Symbol.iterator](): IterableIterator<number> {
    const words = this.#words;
    for (let i = 0; i < words.length; i++) {
      let word = words[i];
      while (word !== 0) {
        const lowest = word & -word;
        yield i * 32 + 31 - Math.clz32(lowest);
        word ^= lowest;
      }
    }
  }

  /** Up to `limit` labels above `after`, ascending (a page of a scroll). */
  labelsAfter(after: number, limit: number): number[] {
    const words = this.#words;
    const labels: number[] = [];
    const start = after + 1;
    for (let i = Math.max(0, Math.floor(start / 32)); i < words.length && labels.length < limit; i++) {
      let word = words[i];
      if (i * 32 < start) word &= ~0 << (start - i * 32);
      while (word !== 0 && labels.length < limit) {
        const lowest = word & -word;
        labels.push(i * 32 + 31 - Math.clz32(lowest));
        word ^= lowest;
      }
    }
    return labels;
  }

  /** The labels in ascending order. */
  toArray(): Uint32Array {
    const labels = new Uint32Array(this.count());
    let n = 0;
    this.forEach((label) => {
      labels[n++] = label;
    });
    return labels;
  }

  #fits(label: number): boolean {
    return label >= 0 && label < this.#words.length * 32 && Number.isInteger(label);
  }
}

/** Set bits of a 32-bit word (SWAR popcount). */
export function popcount(word: number): number {
  let x = word - ((word >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}
