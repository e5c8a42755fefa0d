import { C1, Unpackr } from 'msgpackr';
import type { VectorRules } from '../../index/vectors.ts';
import { addRecord, formatError, tooLarge, type FormatParser, type PayloadLimits, type RecordSink } from './records.ts';

// The same decoding as MessagePack request bodies: Float32Array via moreTypes, maps as plain objects.
const unpackr = new Unpackr({ moreTypes: true, mapsAsObjects: true, useRecords: false, int64AsType: 'number' });

interface UnpackError {
  incomplete?: boolean;
  missingBytes?: number;
  message?: string;
}

/**
 * Incremental MessagePack parser for concatenated `{id, vector, payload?}` maps. Records are 0-based
 * and named with the body offset where they start: `record 5 (byte 1234)`.
 *
 * Each call decodes the held bytes with `unpackMultiple`; a record cut by the end of the bytes makes
 * msgpackr throw an error marked `incomplete`, and that record's bytes are held for the next chunk.
 * A retry waits until the held bytes have doubled (or msgpackr's `missingBytes` have arrived), so a
 * big record arriving in small chunks costs linear, not quadratic, decoding work.
 */
export class MsgpackParser implements FormatParser {
  readonly #rules: VectorRules;
  readonly #sink: RecordSink;
  readonly #maxRecordBytes: number;
  /** Held bytes: the start of an incomplete record, plus chunks that arrived before a retry. */
  #buf = new Uint8Array(0);
  #len = 0;
  /** The body offset of `#buf[0]`. */
  #offset = 0;
  #record = 0;
  #retryAt = 0;

  readonly #payloadLimits: PayloadLimits | undefined;

  constructor(rules: VectorRules, sink: RecordSink, maxRecordBytes: number, payloadLimits?: PayloadLimits) {
    this.#rules = rules;
    this.#sink = sink;
    this.#payloadLimits = payloadLimits;
    this.#maxRecordBytes = maxRecordBytes;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.#len === 0) {
      this.#decode(chunk, false, false);
      return;
    }
    this.#append(chunk);
    if (this.#len >= this.#retryAt) this.#decode(this.#buf.subarray(0, this.#len), true, false);
  }

  end(): void {
    if (this.#len > 0) this.#decode(this.#buf.subarray(0, this.#len), true, true);
  }

  /** Decodes every whole record in `source` (the held bytes, or a chunk) and holds the incomplete rest. */
  #decode(source: Uint8Array, held: boolean, final: boolean): void {
    let consumed = 0;
    const failed: { error?: Error } = {};
    try {
      unpackr.unpackMultiple(source, (value: unknown, start = 0, end = 0) => {
        try {
          const where = this.#where(start);
          if (value === C1) throw formatError(where, 'not valid MessagePack: byte 0xc1 is never used');
          addRecord(value, where, this.#rules, this.#sink, 'a map', this.#payloadLimits);
        } catch (err) {
          failed.error = err as Error;
          return false;
        }
        this.#record++;
        consumed = end;
        return true;
      });
    } catch (err) {
      const e = (err ?? {}) as UnpackError;
      if (!e.incomplete) {
        throw formatError(this.#where(consumed), `not valid MessagePack: ${String(e.message ?? err).slice(0, 200)}`);
      }
      const tail = source.length - consumed;
      if (final) throw formatError(this.#where(consumed), `truncated: the body ends ${tail} bytes into this record`);
      if (tail > this.#maxRecordBytes) {
        throw tooLarge(this.#where(consumed), `longer than ${this.#maxRecordBytes} bytes, the limit for one record`);
      }
      const wanted = tail + Math.max(tail, typeof e.missingBytes === 'number' ? e.missingBytes : 1);
      this.#retryAt = Math.min(wanted, this.#maxRecordBytes + 1);
    }
    if (failed.error) throw failed.error;
    this.#keep(source, held, consumed);
  }

  #where(start: number): string {
    return `record ${this.#record} (byte ${this.#offset + start})`;
  }

  #keep(source: Uint8Array, held: boolean, consumed: number): void {
    const tail = source.length - consumed;
    this.#offset += consumed;
    if (tail === 0) {
      this.#len = 0;
      this.#retryAt = 0;
      if (this.#buf.length > 1 << 20) this.#buf = new Uint8Array(0);
    } else if (held) {
      this.#buf.copyWithin(0, consumed, this.#len);
      this.#len = tail;
    } else {
      this.#len = 0;
      this.#append(source.subarray(consumed));
    }
  }

  #append(bytes: Uint8Array): void {
    const needed = this.#len + bytes.length;
    if (needed > this.#buf.length) {
      const grown = new Uint8Array(Math.max(needed, 2 * this.#buf.length, 4096));
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    this.#buf.set(bytes, this.#len);
    this.#len = needed;
  }
}
