import { IndexErrors } from '../../index/errors.ts';
import { toVector, type VectorRules } from '../../index/vectors.ts';
import { formatError, rowId, type FormatParser, type RecordSink } from './records.ts';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Incremental `.fvecs` parser (the TEXMEX / ann-benchmarks format): each row is a little-endian
 * int32 dimension and that many little-endian float32 values. Every row's dimension must be the
 * collection's. Rows are 0-based; row r gets the id `idOffset + r`.
 */
export class FvecsParser implements FormatParser {
  readonly #rules: VectorRules;
  readonly #idOffset: number;
  readonly #sink: RecordSink;
  readonly #rowBytes: number;
  /** One row, dimension included, so the floats start 4-byte aligned. */
  readonly #row: Uint8Array;
  readonly #floats: Float32Array;
  readonly #view: DataView;
  #fill = 0;
  #rowIndex = 0;

  /** `contentLength`, when known, gives the row count up front (if it is a whole number of rows). */
  constructor(rules: VectorRules, idOffset: number, sink: RecordSink, contentLength: number | null = null) {
    this.#rules = rules;
    this.#idOffset = idOffset;
    this.#sink = sink;
    this.#rowBytes = 4 + 4 * rules.dimension;
    const buffer = new ArrayBuffer(this.#rowBytes);
    this.#row = new Uint8Array(buffer);
    this.#floats = new Float32Array(buffer, 4);
    this.#view = new DataView(buffer);
    if (contentLength !== null && contentLength % this.#rowBytes === 0) sink.setTotal(contentLength / this.#rowBytes, 'body');
  }

  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(this.#rowBytes - this.#fill, chunk.length - at);
      const before = this.#fill;
      this.#row.set(chunk.subarray(at, at + n), before);
      this.#fill += n;
      at += n;
      if (before < 4 && this.#fill >= 4) this.#checkDimension();
      if (this.#fill === this.#rowBytes) this.#emitRow();
    }
  }

  end(): void {
    if (this.#fill > 0) {
      throw formatError(
        `row ${this.#rowIndex}`,
        `truncated: the body ends after ${this.#fill} of the row's ${this.#rowBytes} bytes (4 for the dimension, 4 per value)`,
      );
    }
  }

  #checkDimension(): void {
    const dimension = this.#view.getInt32(0, true);
    if (dimension === this.#rules.dimension) return;
    const where = `row ${this.#rowIndex}`;
    if (dimension <= 0) throw formatError(where, `dimension ${dimension} is not positive: is this an .fvecs file?`);
    throw new IndexErrors.VectorDimension(`${where}: dimension ${dimension} differs from the collection's dimension ${this.#rules.dimension}`);
  }

  #emitRow(): void {
    const row = this.#rowIndex;
    if (!LITTLE_ENDIAN) {
      for (let i = 4; i < this.#rowBytes; i += 4) this.#row.subarray(i, i + 4).reverse();
    }
    const vector = toVector(this.#floats, this.#rules, `row ${row}: vector`);
    this.#sink.add(rowId(this.#idOffset, row), vector, null);
    this.#rowIndex++;
    this.#fill = 0;
  }
}
