import { IndexErrors } from '../../index/errors.ts';
import { toVector, type VectorRules } from '../../index/vectors.ts';
import { formatError, rowId, type FormatParser, type RecordSink } from './records.ts';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** numpy itself refuses headers over 10,000 bytes by default; this only bounds memory. */
const MAX_HEADER_BYTES = 65536;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

/**
 * Incremental `.npy` parser: a 2-D float32 or float64 array in C order, versions 1.0–3.0. Rows are
 * 0-based; row r gets the id `idOffset + r`.
 */
export class NpyParser implements FormatParser {
  readonly #rules: VectorRules;
  readonly #idOffset: number;
  readonly #sink: RecordSink;
  /** The preamble (magic, version, header length) and then the header; null once the header is read. */
  #head: Uint8Array | null = new Uint8Array(12);
  #headFill = 0;
  #headNeeded = 8;
  /** 0: reading magic and version (8 bytes); 1: the header length (2 or 4); 2: the header. */
  #headPhase = 0;
  #total = -1;
  #row = 0;
  #rowBytes = 0;
  #float64 = false;
  #scratch = new ArrayBuffer(0);
  #scratchBytes = new Uint8Array(0);
  #rowFill = 0;

  constructor(rules: VectorRules, idOffset: number, sink: RecordSink) {
    this.#rules = rules;
    this.#idOffset = idOffset;
    this.#sink = sink;
  }

  push(chunk: Uint8Array): void {
    let at = 0;
    if (this.#head) at = this.#readHead(chunk);
    while (at < chunk.length) {
      if (this.#row === this.#total) {
        throw formatError(`row ${this.#row}`, `unexpected data after the last row: the header's shape has ${this.#total} rows`);
      }
      const n = Math.min(this.#rowBytes - this.#rowFill, chunk.length - at);
      this.#scratchBytes.set(chunk.subarray(at, at + n), this.#rowFill);
      this.#rowFill += n;
      at += n;
      if (this.#rowFill === this.#rowBytes) this.#emitRow();
    }
  }

  end(): void {
    if (this.#head) {
      throw formatError('header', `truncated: the body ends after ${this.#headFill} bytes, inside the .npy header`);
    }
    if (this.#rowFill > 0) {
      throw formatError(`row ${this.#row}`, `truncated: the body ends after ${this.#rowFill} of the row's ${this.#rowBytes} bytes`);
    }
    if (this.#row !== this.#total) {
      throw formatError(`row ${this.#row}`, `missing: the body ends after ${this.#row} rows but the header's shape has ${this.#total}`);
    }
  }

  /** Copies preamble and header bytes from `chunk`, checking them as they arrive; returns where the data starts. */
  #readHead(chunk: Uint8Array): number {
    let at = 0;
    while (this.#head && at < chunk.length) {
      const n = Math.min(this.#headNeeded - this.#headFill, chunk.length - at);
      this.#head.set(chunk.subarray(at, at + n), this.#headFill);
      this.#headFill += n;
      at += n;
      this.#checkPreamble();
      if (this.#headFill === this.#headNeeded) this.#advanceHead();
    }
    return at;
  }

  #checkPreamble(): void {
    const head = this.#head!;
    for (let i = 0; i < Math.min(this.#headFill, MAGIC.length); i++) {
      if (head[i] !== MAGIC[i]) throw formatError('header', 'not a .npy file: it does not start with \\x93NUMPY');
    }
    if (this.#headFill >= 8 && (head[6] < 1 || head[6] > 3 || head[7] !== 0)) {
      throw formatError('header', `.npy version ${head[6]}.${head[7]} is not supported: use 1.0, 2.0 or 3.0`);
    }
  }

  /** The preamble is read in steps: magic and version (8 bytes), header length (2 or 4), header. */
  #advanceHead(): void {
    const head = this.#head!;
    if (this.#headPhase === 0) {
      this.#headPhase = 1;
      this.#headNeeded = head[6] === 1 ? 10 : 12;
      return;
    }
    if (this.#headPhase === 1) {
      this.#headPhase = 2;
      const view = new DataView(head.buffer, head.byteOffset);
      const length = head[6] === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
      if (length > MAX_HEADER_BYTES) {
        throw formatError('header', `the header is ${length} bytes long; at most ${MAX_HEADER_BYTES} are accepted`);
      }
      const full = new Uint8Array(this.#headNeeded + length);
      full.set(head.subarray(0, this.#headFill));
      this.#head = full;
      this.#headNeeded = full.length;
      if (length > 0) return;
    }
    const start = head[6] === 1 ? 10 : 12;
    const bytes = this.#head!.subarray(start);
    const text = Buffer.from(bytes).toString(head[6] === 3 ? 'utf8' : 'latin1');
    this.#start(parseHeader(text));
    this.#head = null;
  }

  #start(h: NpyHeader): void {
    const item = /^[<|=]f([48])$/.exec(h.descr);
    if (!item) {
      const hint = /^>f[48]$/.test(h.descr) ? ' (big-endian)' : '';
      throw formatError('header', `dtype '${h.descr}'${hint} is not supported: save the array as little-endian float32 ('<f4') or float64 ('<f8')`);
    }
    if (h.fortranOrder) {
      throw formatError('header', 'fortran_order is True: save the array in C order (numpy.ascontiguousarray)');
    }
    const shape = `(${h.shape.join(', ')}${h.shape.length === 1 ? ',' : ''})`;
    if (h.shape.length !== 2) {
      throw formatError('header', `shape ${shape} has ${h.shape.length} dimension${h.shape.length === 1 ? '' : 's'}: import a 2-D array (rows × dimension)`);
    }
    const [rows, columns] = h.shape;
    if (columns !== this.#rules.dimension) {
      throw new IndexErrors.VectorDimension(
        `header: shape ${shape} has ${columns} columns but the collection's dimension is ${this.#rules.dimension}`,
      );
    }
    this.#float64 = item[1] === '8';
    this.#rowBytes = columns * (this.#float64 ? 8 : 4);
    this.#scratch = new ArrayBuffer(this.#rowBytes);
    this.#scratchBytes = new Uint8Array(this.#scratch);
    this.#total = rows;
    this.#sink.setTotal(rows, 'header');
  }

  #emitRow(): void {
    const row = this.#row;
    if (!LITTLE_ENDIAN) swapBytes(this.#scratchBytes, this.#float64 ? 8 : 4);
    const values = this.#float64 ? new Float64Array(this.#scratch) : new Float32Array(this.#scratch);
    const vector = toVector(values, this.#rules, `row ${row}: vector`);
    this.#sink.add(rowId(this.#idOffset, row), vector, null);
    this.#row++;
    this.#rowFill = 0;
  }
}

function swapBytes(b: Uint8Array, width: number): void {
  for (let i = 0; i < b.length; i += width) b.subarray(i, i + width).reverse();
}

/** Reads the header's Python dict literal: `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`. */
export function parseHeader(text: string): NpyHeader {
  let i = 0;
  const bad = (what: string): never => {
    throw formatError('header', `${what} at character ${i} of ${JSON.stringify(text.slice(0, 200))}`);
  };
  const ws = (): void => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const expect = (c: string): void => {
    ws();
    if (text[i] !== c) bad(`expected '${c}'`);
    i++;
  };
  const value = (): string | boolean | number[] => {
    ws();
    const c = text[i];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) bad('unterminated string');
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    for (const [word, v] of [['True', true], ['False', false]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    if (c !== '(') return bad('expected a string, True, False or a tuple of integers');
    i++;
    const items: number[] = [];
    for (;;) {
      ws();
      if (text[i] === ')') break;
      const m = /^\d+L?/.exec(text.slice(i, i + 24));
      if (!m) bad('expected a non-negative integer');
      const n = Number.parseInt(m![0], 10);
      if (!Number.isSafeInteger(n)) bad('integer too large');
      items.push(n);
      i += m![0].length;
      ws();
      if (text[i] === ',') i++;
      else if (text[i] !== ')') bad("expected ',' or ')'");
    }
    i++;
    return items;
  };
  const dict = new Map<string, string | boolean | number[]>();
  expect('{');
  for (;;) {
    ws();
    if (text[i] === '}') break;
    const key = value();
    if (typeof key !== 'string') bad('expected a key');
    expect(':');
    dict.set(key as string, value());
    ws();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') bad("expected ',' or '}'");
  }
  i++;
  ws();
  if (i < text.length) bad('unexpected text after the dict');
  for (const key of dict.keys()) {
    if (key !== 'descr' && key !== 'fortran_order' && key !== 'shape') throw formatError('header', `unexpected key '${key}'`);
  }
  const { descr, fortran_order: fortranOrder, shape } = Object.fromEntries(dict) as Record<string, unknown>;
  if (typeof descr !== 'string') throw formatError('header', "'descr' must be a dtype string like '<f4'");
  if (typeof fortranOrder !== 'boolean') throw formatError('header', "'fortran_order' must be True or False");
  if (!Array.isArray(shape)) throw formatError('header', "'shape' must be a tuple of integers");
  return { descr, fortranOrder, shape: shape as number[] };
}
