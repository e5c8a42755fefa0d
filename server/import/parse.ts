import { ImportErrors } from './errors.ts';
import { FvecsParser } from './fvecs.ts';
import { MsgpackParser } from './msgpack.ts';
import { NdjsonParser } from './ndjson.ts';
import { NpyParser } from './npy.ts';
import {
  importOptions, tooLarge, type FormatParser, type ImportBatch, type ImportOptions, type ImportOptionsInput, type RecordSink,
} from './records.ts';

/** Chunks are parsed in slices of at most this many bytes, so one huge chunk cannot pile up batches. */
const SLICE_BYTES = 1 << 20;

/** What `parseImport` returns when the body is fully read and valid. */
export interface ImportSummary {
  records: number;
  bytes: number;
}

/**
 * Parses an import body as it streams in and yields batches of `batchSize` records (the last one
 * may be shorter). Chunks may be split anywhere. The source is read only as batches are taken, so
 * a slow consumer holds back the upload (backpressure); at most about one chunk's worth of batches
 * is held at a time. Throws `VDB_ERR_IMPORT_TOO_LARGE` as soon as the body passes `maxBytes`,
 * `maxRecords` or the one-record cap, `VDB_ERR_IMPORT_FORMAT` naming the place (`row 17: …`,
 * `line 3: …`, `record 5 (byte 1234): …`, `header: …`) for malformed input, and the vector and
 * id rules' own codes (`VDB_ERR_VECTOR_*`, `VDB_ERR_POINT_ID`) with the record named. Batches made
 * before an error have already been yielded: staging must treat the import as all-or-nothing.
 */
export async function* parseImport(
  source: AsyncIterable<Uint8Array>,
  input: ImportOptionsInput,
): AsyncGenerator<ImportBatch, ImportSummary, undefined> {
  const options = importOptions(input);
  if (options.contentLength !== null && options.contentLength > options.maxBytes) {
    throw tooLarge('body', `${options.contentLength} bytes is more than the import limit of ${options.maxBytes} bytes`);
  }
  const batches = new BatchBuilder(options);
  const parser = createParser(options, batches);
  let bytes = 0;
  for await (const chunk of source) {
    for (let at = 0; at < chunk.length; at += SLICE_BYTES) {
      const slice = chunk.subarray(at, at + SLICE_BYTES);
      bytes += slice.length;
      if (bytes > options.maxBytes) {
        throw tooLarge('body', `more than ${options.maxBytes} bytes, the import limit`);
      }
      parser.push(slice);
      yield* batches.take(bytes);
    }
  }
  parser.end();
  batches.finish();
  yield* batches.take(bytes);
  return { records: batches.count, bytes };
}

function createParser(o: ImportOptions, sink: RecordSink): FormatParser {
  const rules = { dimension: o.dimension, metric: o.metric };
  switch (o.format) {
    case 'npy':
      return new NpyParser(rules, o.idOffset, sink);
    case 'fvecs':
      return new FvecsParser(rules, o.idOffset, sink, o.contentLength);
    case 'ndjson':
      return new NdjsonParser(rules, sink, o.maxRecordBytes, { bytes: o.maxPayloadBytes, depth: o.maxPayloadDepth });
    case 'msgpack':
      return new MsgpackParser(rules, sink, o.maxRecordBytes, { bytes: o.maxPayloadBytes, depth: o.maxPayloadDepth });
  }
}

/** Collects records into batches of `batchSize`, enforcing `maxRecords`. */
class BatchBuilder implements RecordSink {
  count = 0;
  #total: number | null = null;
  readonly #o: ImportOptions;
  #ids: string[] = [];
  #payloads: (string | null)[] = [];
  #links: (string | null)[] = [];
  #vectors: Float32Array;
  #first = 0;
  #ready: Omit<ImportBatch, 'totalRecords' | 'bytesRead'>[] = [];

  constructor(o: ImportOptions) {
    this.#o = o;
    this.#vectors = new Float32Array(o.batchSize * o.dimension);
  }

  add(id: string, vector: Float32Array, payload: string | null, links: string | null = null): void {
    if (this.count >= this.#o.maxRecords) {
      throw tooLarge('body', `more than ${this.#o.maxRecords} records, the import limit`);
    }
    this.#vectors.set(vector, this.#ids.length * this.#o.dimension);
    this.#ids.push(id);
    this.#payloads.push(payload);
    this.#links.push(links);
    this.count++;
    if (this.#ids.length === this.#o.batchSize) this.#close();
  }

  setTotal(total: number, where: string): void {
    const o = this.#o;
    if (total > o.maxRecords) {
      throw tooLarge(where, `${total} rows is more than the import limit of ${o.maxRecords} records`);
    }
    if (o.idOffset + Math.max(total - 1, 0) > Number.MAX_SAFE_INTEGER) {
      throw new ImportErrors.Options(`id_offset ${o.idOffset} plus ${total} rows passes 2^53 − 1, the largest integer id`);
    }
    this.#total = total;
  }

  /** Closes the last, partial batch. */
  finish(): void {
    if (this.#ids.length > 0) this.#close();
  }

  *take(bytesRead: number): Generator<ImportBatch> {
    const ready = this.#ready;
    this.#ready = [];
    for (const batch of ready) yield { ...batch, totalRecords: this.#total, bytesRead };
  }

  #close(): void {
    const n = this.#ids.length;
    const vectors = n === this.#o.batchSize ? this.#vectors : this.#vectors.slice(0, n * this.#o.dimension);
    this.#ready.push({ firstRecord: this.#first, ids: this.#ids, vectors, payloads: this.#payloads, links: this.#links });
    this.#first += n;
    this.#ids = [];
    this.#payloads = [];
    this.#links = [];
    if (n === this.#o.batchSize) this.#vectors = new Float32Array(this.#o.batchSize * this.#o.dimension);
  }
}
