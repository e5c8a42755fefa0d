import { isUtf8 } from 'node:buffer';
import type { VectorRules } from '../../index/vectors.ts';
import { addRecord, formatError, tooLarge, type FormatParser, type PayloadLimits, type RecordSink } from './records.ts';

const NEWLINE = 0x0a;
const CR = 0x0d;

/**
 * Incremental NDJSON parser: one `{"id", "vector", "payload"}` object per line; lines are 1-based,
 * blank lines are skipped, CRLF is accepted, a UTF-8 byte-order mark on line 1 is ignored.
 * Lines are cut on the `\n` byte, which never occurs inside a multi-byte UTF-8 character, so
 * chunks split anywhere. A line longer than `maxLineBytes` is refused before it is held whole.
 */
export class NdjsonParser implements FormatParser {
  readonly #rules: VectorRules;
  readonly #sink: RecordSink;
  readonly #maxLineBytes: number;
  /** The start of the current line, held across chunks. */
  #pieces: Buffer[] = [];
  #pendingBytes = 0;
  #line = 1;

  readonly #payloadLimits: PayloadLimits | undefined;

  constructor(rules: VectorRules, sink: RecordSink, maxLineBytes: number, payloadLimits?: PayloadLimits) {
    this.#rules = rules;
    this.#sink = sink;
    this.#payloadLimits = payloadLimits;
    this.#maxLineBytes = maxLineBytes;
  }

  push(chunk: Uint8Array): void {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(NEWLINE, start);
      if (nl < 0) break;
      this.#checkLength(this.#pendingBytes + nl - start);
      let line = buf.subarray(start, nl);
      if (this.#pieces.length > 0) {
        this.#pieces.push(line);
        line = Buffer.concat(this.#pieces, this.#pendingBytes + line.length);
        this.#pieces = [];
        this.#pendingBytes = 0;
      }
      this.#handle(line);
      start = nl + 1;
    }
    if (start < buf.length) {
      this.#checkLength(this.#pendingBytes + buf.length - start);
      // Copied: the source may reuse its chunk once this call returns.
      this.#pieces.push(Buffer.from(buf.subarray(start)));
      this.#pendingBytes += buf.length - start;
    }
  }

  end(): void {
    if (this.#pendingBytes > 0) {
      const line = Buffer.concat(this.#pieces, this.#pendingBytes);
      this.#pieces = [];
      this.#pendingBytes = 0;
      this.#handle(line);
    }
  }

  #checkLength(bytes: number): void {
    if (bytes > this.#maxLineBytes) {
      throw tooLarge(`line ${this.#line}`, `longer than ${this.#maxLineBytes} bytes, the limit for one record`);
    }
  }

  #handle(bytes: Buffer): void {
    const where = `line ${this.#line++}`;
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === CR) end--;
    let start = 0;
    if (where === 'line 1' && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    if (end <= start) return;
    const line = bytes.subarray(start, end);
    if (!isUtf8(line)) throw formatError(where, 'not valid UTF-8');
    const text = line.toString('utf8');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      if (text.trim() === '') return;
      throw formatError(where, `invalid JSON: ${(err as Error).message.slice(0, 200)}`);
    }
    addRecord(value, where, this.#rules, this.#sink, undefined, this.#payloadLimits);
  }
}
