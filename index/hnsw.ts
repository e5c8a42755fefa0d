import { open, stat } from 'node:fs/promises';
import { checkIntOption, IndexErrors } from './errors.ts';
import type { EngineBuild } from './native/engine.ts';
import { loadHnswlib, type Hnswlib } from './native/load.ts';
import type { LabelFilter, Metric, SearchHit, VectorIndex } from './vector-index.ts';
import { assertLabel, MAX_LABEL } from './vectors.ts';

type NativeIndex = InstanceType<Hnswlib['HierarchicalNSW']>;

/**
 * The search our builds of the addon add (index/native/search-into.inc): the query as a Float32Array,
 * the results written nearest first into the arrays given; returns how many. The stock addon lacks it.
 */
type SearchInto = (query: Float32Array, k: number, labels: Uint32Array, distances: Float32Array, filter?: LabelFilter) => number;

/** Options of an HNSW index (Malkov & Yashunin, arXiv 1603.09320). */
export interface HnswOptions {
  dimension: number;
  metric: Metric;
  /** Links per element on upper layers (2M on layer 0). */
  m: number;
  efConstruction: number;
  /** Default search beam width; a search may ask for more, and never gets less than k. */
  efSearch: number;
  /** hnswlib's level generator seed: same seed and insertion order give the same graph. */
  seed?: number;
  /** Elements allocated up front (default 1,024); capacity doubles as needed. */
  initialCapacity?: number;
  /** Which hnswlib-node build to use (default 'auto': AVX2 when this CPU has it and it was built). */
  engine?: EngineBuild;
}

const MIN_GROWTH = 1024;
/** hnswlib 0.8.0 file header: 6 × size_t, 2 × u32, 4 × size_t, 1 × double, 1 × size_t. */
const HEADER_BYTES = 96;

const ABSENT = 0;
const LIVE = 1;
const DELETED = 2;

/**
 * State per label. Labels are expected dense from 0 (storage allocates them that way), so a
 * Uint8Array indexed by label does; a label far beyond the labels known so far goes to a Map
 * instead, so one stray large label cannot allocate gigabytes.
 */
class LabelStates {
  #dense = new Uint8Array(MIN_GROWTH);
  readonly #sparse = new Map<number, number>();
  #known = 0;

  get(label: number): number {
    return label < this.#dense.length ? this.#dense[label] : (this.#sparse.get(label) ?? ABSENT);
  }

  set(label: number, state: number): void {
    if (this.get(label) === ABSENT) this.#known++;
    if (label >= this.#dense.length && label < 4 * (this.#known + MIN_GROWTH)) this.#grow(label);
    if (label < this.#dense.length) this.#dense[label] = state;
    else this.#sparse.set(label, state);
  }

  get bytes(): number {
    return this.#dense.byteLength + this.#sparse.size * 48;
  }

  #grow(label: number): void {
    const dense = new Uint8Array(Math.max(label + 1, 2 * this.#dense.length));
    dense.set(this.#dense);
    for (const [l, s] of this.#sparse) {
      if (l < dense.length) {
        dense[l] = s;
        this.#sparse.delete(l);
      }
    }
    this.#dense = dense;
  }
}

function checkOptions(o: HnswOptions): Required<Omit<HnswOptions, 'engine'>> & Pick<HnswOptions, 'engine'> {
  if (typeof o !== 'object' || o === null) throw new IndexErrors.Options('options must be an object');
  if (o.metric !== 'l2' && o.metric !== 'ip' && o.metric !== 'cosine') {
    throw new IndexErrors.Options("options.metric must be 'l2', 'cosine' or 'ip'");
  }
  return {
    dimension: checkIntOption(o.dimension, 'dimension', 1, 4096),
    metric: o.metric,
    m: checkIntOption(o.m, 'm', 2, 128),
    efConstruction: checkIntOption(o.efConstruction, 'efConstruction', 1, 4096),
    efSearch: checkIntOption(o.efSearch, 'efSearch', 1, 10000),
    seed: checkIntOption(o.seed ?? 100, 'seed', 0, MAX_LABEL),
    initialCapacity: checkIntOption(o.initialCapacity ?? MIN_GROWTH, 'initialCapacity', 1, MAX_LABEL),
    engine: o.engine,
  };
}

/**
 * Bytes hnswlib holds per point: `slot` is preallocated for every unit of capacity (layer 0: 2M
 * links + a header, the float32 vector, the label), `upper` is the expected upper-layer share.
 */
export function hnswBytesPerPoint(dimension: number, m: number): { slot: number; upper: number } {
  return { slot: (2 * m + 1) * 4 + dimension * 4 + 8, upper: (m / Math.log(m)) * 4 };
}

/** Rethrows a native failure with an index code: running out of room is `VDB_ERR_INDEX_FULL`. */
function nativeError(err: unknown, what: string): Error {
  const message = err instanceof Error ? err.message : String(err);
  if (/exceeds the specified limit|not enough memory|bad_alloc/i.test(message)) {
    return new IndexErrors.Full(`index is full: ${what} failed (${message})`, { cause: err });
  }
  return new IndexErrors.Options(`hnswlib ${what} failed: ${message}`, { cause: err });
}

/**
 * The HNSW engine: the only owner of a native hnswlib-node index. Every label is validated before
 * it reaches native code, capacity grows by itself, a filter can never throw into native code, and
 * writes are refused while `save()` runs (the native writer reads the index from another thread).
 */
export class HnswIndex implements VectorIndex {
  readonly dimension: number;
  readonly metric: Metric;
  /** M of the graph (from the file after `load`). */
  readonly m: number;
  readonly efSearch: number;
  readonly #native: NativeIndex;
  /** The number[] hnswlib's calls take, refilled for each one (they copy it): no array allocated per search. */
  readonly #point: number[];
  /** searchKnnInto when the addon has it, with its output arrays (grown to the largest k asked). */
  readonly #searchInto: SearchInto | null;
  #outLabels = new Uint32Array(16);
  #outDistances = new Float32Array(16);
  readonly #states = new LabelStates();
  #ef = 0;
  #live = 0;
  #deleted = 0;
  /** Elements in the native index, tombstones included (hnswlib's cur_element_count). */
  #stored = 0;
  #capacity: number;
  #saves = 0;

  constructor(options: HnswOptions) {
    const o = checkOptions(options);
    this.dimension = o.dimension;
    this.metric = o.metric;
    this.m = o.m;
    this.efSearch = o.efSearch;
    this.#native = new (loadHnswlib(o.engine ?? 'auto').lib.HierarchicalNSW)(o.metric, o.dimension);
    this.#point = new Array<number>(o.dimension).fill(0);
    const into = (this.#native as Partial<{ searchKnnInto: SearchInto }>).searchKnnInto;
    this.#searchInto = typeof into === 'function' ? into.bind(this.#native) : null;
    try {
      this.#native.initIndex({
        maxElements: o.initialCapacity,
        m: o.m,
        efConstruction: o.efConstruction,
        randomSeed: o.seed,
        allowReplaceDeleted: false,
      });
    } catch (err) {
      throw nativeError(err, 'initIndex');
    }
    this.#capacity = o.initialCapacity;
    this.#setEf(o.efSearch);
  }

  /** Live labels. */
  get size(): number {
    return this.#live;
  }

  /** Tombstones: deleted labels still in the graph (they cost search time until a rebuild). */
  get deletedCount(): number {
    return this.#deleted;
  }

  /** Elements the native index has room for before it must grow. */
  get capacity(): number {
    return this.#capacity;
  }

  /** True while `save()` runs; `upsert`/`remove` throw meanwhile, searches are fine. */
  get saving(): boolean {
    return this.#saves > 0;
  }

  has(label: number): boolean {
    return Number.isInteger(label) && label >= 0 && label <= MAX_LABEL && this.#states.get(label) === LIVE;
  }

  upsert(label: number, vector: Float32Array): void {
    assertLabel(label);
    this.#assertWritable();
    const point = this.#toArray(vector, true);
    const state = this.#states.get(label);
    if (state === ABSENT && this.#stored >= this.#capacity) this.#grow();
    try {
      // With allowReplaceDeleted=false, re-adding a deleted label updates it and un-deletes it.
      this.#native.addPoint(point, label);
    } catch (err) {
      throw nativeError(err, 'addPoint');
    }
    if (state === ABSENT) this.#stored++;
    if (state === DELETED) this.#deleted--;
    if (state !== LIVE) {
      this.#live++;
      this.#states.set(label, LIVE);
    }
  }

  /** Makes room for `extra` more elements at once (one resize instead of repeated doubling). */
  reserve(extra: number): void {
    const want = Math.min(MAX_LABEL, this.#stored + extra);
    if (want <= this.#capacity) return;
    this.#assertWritable();
    try {
      this.#native.resizeIndex(want);
    } catch (err) {
      throw nativeError(err, `resizeIndex to ${want}`);
    }
    this.#capacity = want;
  }

  remove(label: number): boolean {
    assertLabel(label);
    this.#assertWritable();
    if (this.#states.get(label) !== LIVE) return false;
    try {
      this.#native.markDelete(label);
    } catch (err) {
      // After load() every label counts as live while the file may hold it deleted: that is success.
      if (!(err instanceof Error && err.message.includes('already deleted'))) throw nativeError(err, 'markDelete');
    }
    this.#states.set(label, DELETED);
    this.#live--;
    this.#deleted++;
    return true;
  }

  /**
   * The k nearest live labels, closest first (ties by label). `k` is capped at the live count and
   * `ef` (default `efSearch`) is raised to at least k. A filter that throws counts as "reject".
   * May return fewer than k: HNSW is approximate, more so under a selective filter.
   */
  search(query: Float32Array, k: number, options: { ef?: number; filter?: LabelFilter } = {}): SearchHit[] {
    if (!Number.isInteger(k) || k < 1) throw new IndexErrors.Options('k must be a positive integer');
    const { ef, filter } = options;
    if (ef !== undefined && (!Number.isInteger(ef) || ef < 1 || ef > MAX_LABEL)) {
      throw new IndexErrors.Options('ef must be a positive integer');
    }
    this.#checkDimension(query);
    if (this.#live === 0) return [];
    const n = Math.min(k, this.#live);
    this.#setEf(Math.max(ef ?? this.efSearch, n));
    const guard = filter ? this.#guard(filter) : undefined;
    let hits: SearchHit[];
    try {
      hits = this.#searchInto ? this.#searchTyped(this.#searchInto, query, n, guard) : this.#searchArray(query, n, guard);
    } catch (err) {
      throw nativeError(err, 'searchKnn');
    }
    return hits.sort((a, b) => a.distance - b.distance || a.label - b.label);
  }

  /** Through searchKnnInto: the query read in place (no 784-element number[] built and read back per search). */
  #searchTyped(searchInto: SearchInto, query: Float32Array, n: number, filter: LabelFilter | undefined): SearchHit[] {
    if (this.#outLabels.length < n) {
      this.#outLabels = new Uint32Array(n);
      this.#outDistances = new Float32Array(n);
    }
    const labels = this.#outLabels;
    const distances = this.#outDistances;
    const found = searchInto(query, n, labels, distances, filter);
    const hits = new Array<SearchHit>(found);
    for (let i = 0; i < found; i++) hits[i] = { label: labels[i], distance: distances[i] };
    return hits;
  }

  /** Through the stock addon's searchKnn, which takes a number[]. */
  #searchArray(query: Float32Array, n: number, filter: LabelFilter | undefined): SearchHit[] {
    const result = this.#native.searchKnn(this.#toArray(query, false), n, filter);
    return result.neighbors.map((label, i) => ({ label, distance: result.distances[i] }));
  }

  /**
   * The stored vector, or null when the label is not live. Under `cosine` hnswlib stores the
   * normalised vector, so that is what comes back, not the vector given to `upsert`.
   */
  getVector(label: number): Float32Array | null {
    if (!this.has(label)) return null;
    try {
      return Float32Array.from(this.#native.getPoint(label));
    } catch {
      return null; // deleted in a loaded file but not yet re-removed by the caller
    }
  }

  /**
   * Estimated bytes: capacity × (layer 0: (2M links + 1 header) × 4, data: dim × 4, label: 8), all
   * preallocated by hnswlib, plus the upper layers' expected share for each stored element,
   * (M / ln M) × 4 (arXiv 1603.09320: ≈150 B of links per element at M = 16), plus the label states.
   */
  memoryBytes(): number {
    const { slot, upper } = hnswBytesPerPoint(this.dimension, this.m);
    return Math.round(this.#capacity * slot + this.#stored * upper + this.#states.bytes);
  }

  /**
   * Writes the index to `path` with hnswlib's async writer (on the libuv pool, off the event loop).
   * Until it resolves `saving` is true and writes throw. hnswlib does not report a failed write
   * (e.g. a missing directory), so the file's size is checked afterwards.
   */
  async save(path: string): Promise<void> {
    this.#saves++;
    try {
      await this.#native.writeIndex(path);
    } catch (err) {
      throw new IndexErrors.SnapshotInvalid(`writing the index to ${path} failed`, { cause: err });
    } finally {
      this.#saves--;
    }
    const minimum = HEADER_BYTES + this.#stored * ((2 * this.m + 1) * 4 + this.dimension * 4 + 8 + 4);
    const written = await stat(path).then((s) => s.size, () => -1);
    if (written < minimum) {
      throw new IndexErrors.SnapshotInvalid(
        `writing the index to ${path} failed: ${written < 0 ? 'no file' : `${written} bytes`}, expected at least ${minimum}`,
      );
    }
  }

  /**
   * Reads an index written by `save()` (hnswlib's async reader). The header is checked first, so a
   * file of another dimension or a malformed header is refused (`VDB_ERR_INDEX_SNAPSHOT_INVALID`)
   * rather than handed to hnswlib; the contents are not checked: use `loadSnapshot` for that.
   * `efSearch` is re-applied (ef is not saved). Every label in the file counts as live: hnswlib
   * keeps delete marks in the file but does not expose them, so the caller re-applies tombstones by
   * calling `remove(label)` for each label it knows is deleted; until then `size` counts them too
   * (searches already exclude them).
   */
  static async load(path: string, options: HnswOptions): Promise<HnswIndex> {
    const o = checkOptions(options);
    const header = await readHeader(path);
    if (header.dimension !== o.dimension) {
      throw new IndexErrors.SnapshotInvalid(
        `index file ${path} has dimension ${header.dimension}, expected ${o.dimension}`,
      );
    }
    const index = new HnswIndex({ ...o, m: header.m, initialCapacity: 1 });
    await index.#read(path);
    return index;
  }

  async #read(path: string): Promise<void> {
    const native = this.#native;
    try {
      await native.readIndex(path, false);
    } catch (err) {
      throw new IndexErrors.SnapshotInvalid(`reading the index file ${path} failed`, { cause: err });
    }
    this.#capacity = native.getMaxElements();
    this.#stored = native.getCurrentCount();
    for (const label of native.getIdsList()) this.#states.set(label, LIVE);
    this.#live = this.#stored;
    this.#ef = 0;
    this.#setEf(this.efSearch);
  }

  #assertWritable(): void {
    if (this.#saves > 0) {
      throw new IndexErrors.Options('index is being saved; defer writes until save() resolves');
    }
  }

  #checkDimension(vector: Float32Array): void {
    if (vector.length !== this.dimension) {
      throw new IndexErrors.VectorDimension(
        `vector has ${vector.length} values but the collection's dimension is ${this.dimension}`,
      );
    }
  }

  #toArray(vector: Float32Array, write: boolean): number[] {
    this.#checkDimension(vector);
    // A plain loop: Array.from goes through the iterator protocol (≈35 µs at 768-d, measured by hand).
    const point = this.#point;
    for (let i = 0; i < vector.length; i++) point[i] = vector[i]!;
    // A NaN or infinity inserted into the graph would silently corrupt every later search.
    const bad = write ? point.findIndex((x) => !Number.isFinite(x)) : -1;
    if (bad >= 0) {
      throw new IndexErrors.VectorNotFinite(`vector[${bad}] is ${point[bad]}: values must be finite numbers`);
    }
    return point;
  }

  #guard(filter: LabelFilter): LabelFilter {
    const states = this.#states;
    return (label) => {
      if (states.get(label) !== LIVE) return false;
      try {
        return filter(label) === true;
      } catch {
        return false; // a throw here would abort the process inside native code
      }
    };
  }

  #setEf(ef: number): void {
    if (ef === this.#ef) return;
    this.#native.setEf(ef);
    this.#ef = ef;
  }

  #grow(): void {
    const next = Math.min(MAX_LABEL, Math.max(MIN_GROWTH, this.#capacity * 2));
    if (next <= this.#capacity) throw new IndexErrors.Full(`index is full at ${this.#capacity} elements`);
    try {
      this.#native.resizeIndex(next);
    } catch (err) {
      throw nativeError(err, `resizeIndex to ${next}`);
    }
    this.#capacity = next;
  }
}

async function readStart(path: string): Promise<{ bytes: Buffer; size: number }> {
  try {
    const file = await open(path, 'r');
    try {
      const bytes = Buffer.alloc(HEADER_BYTES);
      const { bytesRead } = await file.read(bytes, 0, HEADER_BYTES, 0);
      return { bytes: bytes.subarray(0, bytesRead), size: (await file.stat()).size };
    } finally {
      await file.close();
    }
  } catch (err) {
    throw new IndexErrors.SnapshotInvalid(`cannot read index file ${path}`, { cause: err });
  }
}

/** Checks the header of an hnswlib 0.8.0 file before hnswlib, which trusts it, ever sees it. */
async function readHeader(path: string): Promise<{ dimension: number; m: number }> {
  const bad = (why: string) => new IndexErrors.SnapshotInvalid(`index file ${path} is invalid: ${why}`);
  const { bytes, size } = await readStart(path);
  if (bytes.length < HEADER_BYTES) throw bad(`${bytes.length} bytes is shorter than the header`);
  const u64 = (at: number) => Number(bytes.readBigUInt64LE(at));
  const [offsetLevel0, maxElements, count, perElement, labelOffset, offsetData] = [0, 8, 16, 24, 32, 40].map(u64);
  const [maxM, maxM0, m] = [56, 64, 72].map(u64);
  const entryPoint = bytes.readUInt32LE(52);
  const mult = bytes.readDoubleLE(80);
  const dimension = (labelOffset - offsetData) / 4;
  const sane =
    offsetLevel0 === 0 &&
    count <= maxElements &&
    m >= 2 &&
    m <= 128 &&
    maxM === m &&
    maxM0 === 2 * m &&
    offsetData === maxM0 * 4 + 4 &&
    Number.isInteger(dimension) &&
    dimension >= 1 &&
    perElement === labelOffset + 8 &&
    (count === 0 || entryPoint < count) &&
    mult > 0 &&
    Number.isFinite(mult);
  if (!sane) throw bad('unexpected header');
  // Each element: its layer-0 block, then a u32 size of its upper-layer links.
  const minimum = HEADER_BYTES + count * (perElement + 4);
  if (size < minimum) throw bad(`${size} bytes, expected at least ${minimum}`);
  return { dimension, m };
}
