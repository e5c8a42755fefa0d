import { StorageErrors } from './errors.ts';
import { LabelBitmap, MAX_BITMAP_CAPACITY } from './label-bitmap.ts';
import type { Scalar, WhereNode } from './where.ts';

export interface PayloadIndexOptions {
  /**
   * Strings longer than this many UTF-8 bytes are not stored (default 256): their labels only count as
   * present at the path, and filters comparing strings there cannot be answered (`evaluate` gives null).
   */
  maxIndexedStringBytes?: number;
  /** Allocate `evaluate`'s bitmaps in SharedArrayBuffers, so they cross to a worker without copying. */
  sharedResults?: boolean;
}

export interface PayloadIndexStats {
  /** Live labels. */
  labels: number;
  /** Distinct field paths some live payload has. */
  paths: number;
  /** Distinct (path, scalar value) posting lists. */
  postings: number;
  /** Labels across all posting lists. */
  postingEntries: number;
  /** Paths where some live payload holds a string too long to index. */
  longStringPaths: number;
  approximateBytes: number;
}

export interface Evaluation {
  bitmap: LabelBitmap;
  count: number;
}

const DEFAULT_MAX_INDEXED_STRING_BYTES = 256;
const MAX_LABEL = MAX_BITMAP_CAPACITY - 1;

// A posting list turns from a Set into a bitmap at one label per 128 bits of capacity and back at one per 512.
const DENSE_BITS_PER_LABEL = 128;
const SPARSE_BITS_PER_LABEL = 512;
// Rough V8 costs, for stats() only.
const SET_ENTRY_BYTES = 26;
const OBJECT_BYTES = 64;
const MAP_ENTRY_BYTES = 40;
const POSTED_ARRAY_BYTES = 48;

type Kind = 'present' | 'long' | 'number' | 'string' | 'true' | 'false' | 'null';

/** The labels holding one value at one path (or having the path at all, or a long string there). */
class Posting {
  size = 0;
  sparse: Set<number> | null = new Set();
  dense: LabelBitmap | null = null;

  constructor(
    readonly node: PathNode,
    readonly kind: Kind,
    readonly value: number | string,
  ) {}

  /** `capacity` is the index's, at least label + 1. False when the label was already there. */
  add(label: number, capacity: number): boolean {
    if (this.dense !== null) {
      if (label >= this.dense.capacity) {
        if (this.size * SPARSE_BITS_PER_LABEL < capacity) this.#toSparse();
        else this.dense = grown(this.dense, capacity);
      }
    }
    if (this.sparse !== null) {
      if (this.sparse.add(label).size === this.size) return false;
      this.size++;
      if (this.size * DENSE_BITS_PER_LABEL >= capacity) this.#toDense(capacity);
      return true;
    }
    const dense = this.dense as LabelBitmap;
    if (dense.has(label)) return false;
    dense.add(label);
    this.size++;
    return true;
  }

  delete(label: number): void {
    if (this.sparse !== null) {
      if (this.sparse.delete(label)) this.size--;
      return;
    }
    const dense = this.dense as LabelBitmap;
    if (dense.delete(label)) this.size--;
    if (this.size * SPARSE_BITS_PER_LABEL < dense.capacity) this.#toSparse();
  }

  /** ORs the labels into `words`, which cover every label of the index. */
  unionInto(words: Uint32Array): void {
    if (this.sparse !== null) {
      for (const label of this.sparse) words[label >>> 5] |= 1 << (label & 31);
      return;
    }
    const source = (this.dense as LabelBitmap).words;
    for (let i = 0; i < source.length; i++) words[i] |= source[i];
  }

  approximateBytes(): number {
    return OBJECT_BYTES + (this.sparse !== null ? this.size * SET_ENTRY_BYTES : (this.dense as LabelBitmap).words.byteLength);
  }

  #toDense(capacity: number): void {
    const dense = new LabelBitmap(capacity);
    for (const label of this.sparse as Set<number>) dense.add(label);
    this.dense = dense;
    this.sparse = null;
  }

  #toSparse(): void {
    this.sparse = new Set((this.dense as LabelBitmap).toArray());
    this.dense = null;
  }
}

/** One field path: which labels have it, and per scalar value which labels hold it there. */
class PathNode {
  readonly children = new Map<string, PathNode>();
  readonly present: Posting;
  long: Posting | null = null;
  readonly numbers = new Map<number, Posting>();
  readonly strings = new Map<string, Posting>();
  trues: Posting | null = null;
  falses: Posting | null = null;
  nulls: Posting | null = null;
  // Distinct values for range filters, rebuilt on first use after a value appears or disappears.
  sortedNumbers: Float64Array | null = null;
  sortedStrings: string[] | null = null;

  constructor(
    readonly parent: PathNode | null,
    readonly segment: string,
  ) {
    this.present = new Posting(this, 'present', segment);
  }
}

/**
 * An in-memory index of one collection's payloads that evaluates a `where` filter to the bitmap of live
 * labels it matches, with exactly the semantics of `matchesWhere`, without reading payloads.
 *
 * Per field path (a trie of key segments, so keys may hold any character) it keeps the labels having the
 * path and, per scalar value there (or scalar array element), a posting list: a Set, or a bitmap once
 * dense. Range filters binary-search the sorted distinct numbers or strings (UTF-8 byte order) of the path
 * and union their postings. Each label remembers its postings, so `set` and `delete` touch only those.
 *
 * Limits: strings over `maxIndexedStringBytes` are only recorded as present; while a path holds one,
 * `evaluate` returns null for string ranges there and for `$eq`/`$in` of a string that long (a shorter
 * string can never equal it, so other value filters stay exact; `$exists` always is). Bitmaps span labels
 * 0 to the largest label set, so memory follows the largest label rather than the count.
 */
export class PayloadIndex {
  readonly #maxStringBytes: number;
  readonly #shared: boolean;
  #root = new PathNode(null, '');
  #live = new LabelBitmap(0);
  #size = 0;
  #capacity = 0;
  #posted: (Posting[] | undefined)[] = [];
  #paths = 0;
  #postings = 0;
  #entries = 0;
  #longPaths = 0;

  constructor(options: PayloadIndexOptions = {}) {
    const max = options.maxIndexedStringBytes ?? DEFAULT_MAX_INDEXED_STRING_BYTES;
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new StorageErrors.Options('options.maxIndexedStringBytes must be a non-negative integer');
    }
    this.#maxStringBytes = max;
    this.#shared = options.sharedResults === true;
  }

  /** Live labels. */
  get size(): number {
    return this.#size;
  }

  has(label: number): boolean {
    return this.#live.has(label);
  }

  /** Every live label, in a new bitmap that belongs to the caller. */
  live(): LabelBitmap {
    return this.#allLive();
  }

  /**
   * Makes `label` (an integer from 0 to 2^32 − 1, else a RangeError) live with `payload`, replacing what it
   * had; `null` is a point without payload. The payload is read now and not kept.
   */
  set(label: number, payload: Record<string, unknown> | null): void {
    if (!Number.isInteger(label) || label < 0 || label > MAX_LABEL) {
      throw new RangeError(`label must be an integer from 0 to 2^32 − 1, got ${label}`);
    }
    let emptied: Posting[] = [];
    if (this.#live.has(label)) {
      emptied = this.#unpost(label);
    } else {
      if (label >= this.#capacity) this.#grow(label);
      this.#live.add(label);
      this.#size++;
    }
    const posted: Posting[] = [];
    if (payload !== null && payload !== undefined) this.#index(this.#root, payload, label, posted);
    // slice() trims the spare capacity push left: these arrays are most of the index's memory.
    if (posted.length > 0) this.#posted[label] = posted.slice();
    // Dropped only now, so a payload replaced by a similar one keeps its paths and sorted values.
    for (const posting of emptied) if (posting.size === 0) this.#drop(posting);
  }

  /** False when the label was not live. */
  delete(label: number): boolean {
    if (!this.#live.has(label)) return false;
    for (const posting of this.#unpost(label)) this.#drop(posting);
    this.#live.delete(label);
    this.#size--;
    return true;
  }

  clear(): void {
    this.#root = new PathNode(null, '');
    this.#live = new LabelBitmap(0);
    this.#size = this.#capacity = this.#paths = this.#postings = this.#entries = this.#longPaths = 0;
    this.#posted = [];
  }

  /**
   * The live labels matching `node` and their count, or null when a value comparison touches a path
   * holding unindexed long strings. The bitmap is new and belongs to the caller.
   */
  evaluate(node: WhereNode): Evaluation | null {
    if (!this.#answerable(node)) return null;
    const bitmap = this.#evaluate(node);
    return { bitmap, count: bitmap.count() };
  }

  stats(): PayloadIndexStats {
    let bytes = this.#live.words.byteLength + OBJECT_BYTES * 4;
    let references = this.#entries;
    const visit = (node: PathNode): void => {
      references += node.present.size + (node.long?.size ?? 0);
      bytes += OBJECT_BYTES * 3 + node.present.approximateBytes() + (node.long?.approximateBytes() ?? 0);
      for (const posting of [node.trues, node.falses, node.nulls]) bytes += posting?.approximateBytes() ?? 0;
      for (const posting of node.numbers.values()) bytes += MAP_ENTRY_BYTES + posting.approximateBytes();
      for (const [value, posting] of node.strings) bytes += MAP_ENTRY_BYTES + 2 * value.length + posting.approximateBytes();
      bytes += node.sortedNumbers?.byteLength ?? 0;
      bytes += 8 * (node.sortedStrings?.length ?? 0);
      for (const [segment, child] of node.children) {
        bytes += MAP_ENTRY_BYTES + 2 * segment.length;
        visit(child);
      }
    };
    visit(this.#root);
    // Per live label: the array of its postings, one reference per label entry of any posting.
    bytes += this.#size * POSTED_ARRAY_BYTES + 8 * references;
    return {
      labels: this.#size,
      paths: this.#paths,
      postings: this.#postings,
      postingEntries: this.#entries,
      longStringPaths: this.#longPaths,
      approximateBytes: Math.round(bytes),
    };
  }

  // Mirrors where.ts `lookup`/`anyScalar`: only plain objects are descended into, undefined is missing,
  // arrays post their scalar elements, nested arrays and objects inside arrays post nothing.
  #index(node: PathNode, value: unknown, label: number, posted: Posting[]): void {
    this.#post(node.present, label, posted);
    if (Array.isArray(value)) {
      for (const element of value) this.#postScalar(node, element, label, posted);
    } else if (typeof value === 'object' && value !== null) {
      const record = value as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        const child = record[key];
        if (child === undefined) continue;
        let childNode = node.children.get(key);
        if (childNode === undefined) {
          childNode = new PathNode(node, key);
          node.children.set(key, childNode);
          this.#paths++;
        }
        this.#index(childNode, child, label, posted);
      }
    } else {
      this.#postScalar(node, value, label, posted);
    }
  }

  #postScalar(node: PathNode, value: unknown, label: number, posted: Posting[]): void {
    switch (typeof value) {
      case 'number': {
        if (Number.isNaN(value)) return; // NaN equals nothing and compares false with everything
        let posting = node.numbers.get(value);
        if (posting === undefined) {
          posting = new Posting(node, 'number', value);
          node.numbers.set(value, posting);
          node.sortedNumbers = null;
          this.#postings++;
        }
        this.#post(posting, label, posted);
        return;
      }
      case 'string': {
        if (isLongString(value, this.#maxStringBytes)) {
          if (node.long === null) {
            node.long = new Posting(node, 'long', '');
            this.#longPaths++;
          }
          this.#post(node.long, label, posted);
          return;
        }
        let posting = node.strings.get(value);
        if (posting === undefined) {
          posting = new Posting(node, 'string', value);
          node.strings.set(value, posting);
          node.sortedStrings = null;
          this.#postings++;
        }
        this.#post(posting, label, posted);
        return;
      }
      case 'boolean': {
        const field = value ? 'trues' : 'falses';
        let posting = node[field];
        if (posting === null) {
          posting = node[field] = new Posting(node, value ? 'true' : 'false', '');
          this.#postings++;
        }
        this.#post(posting, label, posted);
        return;
      }
      case 'object':
        if (value !== null) return;
        if (node.nulls === null) {
          node.nulls = new Posting(node, 'null', '');
          this.#postings++;
        }
        this.#post(node.nulls, label, posted);
        return;
      default:
    }
  }

  #post(posting: Posting, label: number, posted: Posting[]): void {
    if (!posting.add(label, this.#capacity)) return; // a repeated array element
    posted.push(posting);
    if (posting.kind !== 'present' && posting.kind !== 'long') this.#entries++;
  }

  /** Removes the label from its postings; returns those left empty, for the caller to drop. */
  #unpost(label: number): Posting[] {
    const posted = this.#posted[label];
    if (posted === undefined) return [];
    this.#posted[label] = undefined;
    const emptied: Posting[] = [];
    for (const posting of posted) {
      posting.delete(label);
      if (posting.kind !== 'present' && posting.kind !== 'long') this.#entries--;
      if (posting.size === 0) emptied.push(posting);
    }
    return emptied;
  }

  /** Forgets an empty posting; an empty `present` means no label has the path (nor any below it). */
  #drop(posting: Posting): void {
    const node = posting.node;
    switch (posting.kind) {
      case 'present':
        if (node.parent !== null && node.parent.children.get(node.segment) === node) {
          node.parent.children.delete(node.segment);
          this.#paths--;
        }
        return;
      case 'long':
        node.long = null;
        this.#longPaths--;
        return;
      case 'number':
        node.numbers.delete(posting.value as number);
        node.sortedNumbers = null;
        break;
      case 'string':
        node.strings.delete(posting.value as string);
        node.sortedStrings = null;
        break;
      case 'true':
        node.trues = null;
        break;
      case 'false':
        node.falses = null;
        break;
      case 'null':
        node.nulls = null;
        break;
    }
    this.#postings--;
  }

  #grow(label: number): void {
    this.#capacity = Math.min(MAX_BITMAP_CAPACITY, Math.max(Math.ceil((label + 1) / 32) * 32, this.#capacity * 2, 1024));
    this.#live = grown(this.#live, this.#capacity);
  }

  #find(path: readonly string[]): PathNode | undefined {
    let node: PathNode | undefined = this.#root;
    for (const segment of path) {
      node = node.children.get(segment);
      if (node === undefined) return undefined;
    }
    return node;
  }

  #answerable(node: WhereNode): boolean {
    switch (node.kind) {
      case 'and':
      case 'or':
        return node.children.every((child) => this.#answerable(child));
      case 'not':
        return this.#answerable(node.child);
      case 'exists':
        return true;
      case 'cmp':
        return typeof node.value !== 'string' || !this.#holdsLongStrings(node.path);
      case 'in': {
        const long = (v: Scalar): boolean => typeof v === 'string' && isLongString(v, this.#maxStringBytes);
        return !node.values.some(long) || !this.#holdsLongStrings(node.path);
      }
    }
  }

  #holdsLongStrings(path: readonly string[]): boolean {
    const at = this.#find(path);
    return at !== undefined && at.long !== null;
  }

  #empty(): LabelBitmap {
    return new LabelBitmap(this.#capacity, { shared: this.#shared });
  }

  #allLive(): LabelBitmap {
    return this.#empty().or(this.#live);
  }

  #evaluate(node: WhereNode): LabelBitmap {
    switch (node.kind) {
      case 'and': {
        if (node.children.length === 0) return this.#allLive();
        const positive = node.children.filter((child) => child.kind !== 'not');
        const result = positive.length > 0 ? this.#evaluate(positive[0]) : this.#allLive();
        for (const child of node.children) {
          if (child === positive[0]) continue;
          // and(x, not(y)) is x minus y: no need to complement y against the live labels.
          if (child.kind === 'not') result.andNot(this.#evaluate(child.child));
          else result.and(this.#evaluate(child));
        }
        return result;
      }
      case 'or': {
        const result = this.#empty();
        for (const child of node.children) {
          if (child.kind === 'in' || child.kind === 'cmp') this.#unionLeaf(child, result.words);
          else result.or(this.#evaluate(child));
        }
        return result;
      }
      case 'not':
        return this.#allLive().andNot(this.#evaluate(node.child));
      case 'exists': {
        const present = this.#find(node.path)?.present;
        const result = node.exists ? this.#empty() : this.#allLive();
        if (present === undefined) return result;
        if (node.exists) present.unionInto(result.words);
        else {
          const mask = this.#empty();
          present.unionInto(mask.words);
          result.andNot(mask);
        }
        return result;
      }
      case 'in':
      case 'cmp': {
        const result = this.#empty();
        this.#unionLeaf(node, result.words);
        return result;
      }
    }
  }

  #unionLeaf(node: Extract<WhereNode, { kind: 'in' | 'cmp' }>, words: Uint32Array): void {
    const at = this.#find(node.path);
    if (at === undefined) return;
    if (node.kind === 'cmp') {
      this.#unionRange(at, node.op, node.value, words);
      return;
    }
    for (const value of new Set(node.values)) {
      let posting: Posting | null | undefined;
      if (typeof value === 'number') posting = at.numbers.get(value);
      else if (typeof value === 'string') posting = at.strings.get(value);
      else if (value === true) posting = at.trues;
      else if (value === false) posting = at.falses;
      else posting = at.nulls;
      posting?.unionInto(words);
    }
  }

  #unionRange(at: PathNode, op: '>' | '>=' | '<' | '<=', value: string | number, words: Uint32Array): void {
    let n: number;
    let order: (i: number) => number;
    let posting: (i: number) => Posting;
    if (typeof value === 'number') {
      const numbers = (at.sortedNumbers ??= Float64Array.from(at.numbers.keys()).sort());
      n = numbers.length;
      order = (i) => numbers[i] - value;
      posting = (i) => at.numbers.get(numbers[i]) as Posting;
    } else {
      const strings = (at.sortedStrings ??= [...at.strings.keys()].sort(compareUtf8));
      n = strings.length;
      order = (i) => compareUtf8(strings[i], value);
      posting = (i) => at.strings.get(strings[i]) as Posting;
    }
    // Values from `from` (inclusive) to `to` (exclusive) satisfy `op`.
    let from = 0;
    let to = n;
    if (op === '>' || op === '>=') from = firstIndex(n, (i) => (op === '>' ? order(i) > 0 : order(i) >= 0));
    else to = firstIndex(n, (i) => (op === '<' ? order(i) >= 0 : order(i) > 0));
    for (let i = from; i < to; i++) posting(i).unionInto(words);
  }
}

function grown(bitmap: LabelBitmap, capacity: number): LabelBitmap {
  const bigger = new LabelBitmap(capacity);
  bigger.words.set(bitmap.words);
  return bigger;
}

/** The first index in [0, n) where the monotone `test` holds, or n. */
function firstIndex(n: number, test: (i: number) => boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (test(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function isLongString(value: string, maxBytes: number): boolean {
  // A UTF-16 code unit takes 1 to 3 UTF-8 bytes, so only mid-sized strings need measuring.
  if (value.length > maxBytes) return true;
  if (value.length * 3 <= maxBytes) return false;
  return Buffer.byteLength(value, 'utf8') > maxBytes;
}

/**
 * Orders strings by their UTF-8 bytes, as `Buffer.compare(Buffer.from(a), Buffer.from(b))` does, without
 * encoding: UTF-8 preserves code point order, and Buffer.from encodes a lone surrogate as U+FFFD.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  // Restart at a code point boundary: a shared high surrogate may pair differently in each string.
  if (i > 0 && isHighSurrogate(a.charCodeAt(i - 1))) i--;
  let j = i;
  while (i < a.length && j < b.length) {
    const ca = codePointAt(a, i);
    const cb = codePointAt(b, j);
    if (ca !== cb) return ca < cb ? -1 : 1;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  return i < a.length ? 1 : j < b.length ? -1 : 0;
}

function codePointAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c < 0xd800 || c > 0xdfff) return c;
  if (isHighSurrogate(c) && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
  }
  return 0xfffd;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}
