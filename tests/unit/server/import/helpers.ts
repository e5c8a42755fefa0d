import assert from 'node:assert/strict';
import { parseImport, type ImportSummary } from '../../../../server/import/parse.ts';
import type { ImportBatch, ImportOptionsInput } from '../../../../server/import/records.ts';

export { fvecsBuffer, npyBuffer } from '../../../helpers/import-files.ts';

export async function* stream(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) {
    await Promise.resolve(); // a stream hands chunks over asynchronously
    yield chunk;
  }
}

/** An async source yielding `body` cut at the given offsets. */
export function chunked(body: Uint8Array, cuts: readonly number[] = []): AsyncGenerator<Uint8Array> {
  function* pieces(): Generator<Uint8Array> {
    let at = 0;
    for (const cut of [...cuts, body.length]) {
      if (cut < at) continue;
      // A copy, so a parser keeping a view into a chunk it does not own would be caught.
      yield Uint8Array.prototype.slice.call(body, at, cut);
      at = cut;
    }
  }
  return stream(pieces());
}

export interface Parsed {
  batches: ImportBatch[];
  summary: ImportSummary;
  ids: string[];
  vectors: number[][];
  payloads: (string | null)[];
}

/** Parses `body` (cut at `cuts`) and flattens the batches. */
export async function parse(body: Uint8Array, options: ImportOptionsInput, cuts: readonly number[] = []): Promise<Parsed> {
  const batches: ImportBatch[] = [];
  const it = parseImport(chunked(body, cuts), options);
  let step = await it.next();
  while (!step.done) {
    batches.push(step.value);
    step = await it.next();
  }
  const d = options.dimension;
  const vectors: number[][] = [];
  for (const b of batches) for (let i = 0; i < b.ids.length; i++) vectors.push(Array.from(b.vectors.subarray(i * d, (i + 1) * d)));
  return {
    batches, summary: step.value, vectors,
    ids: batches.flatMap((b) => b.ids),
    payloads: batches.flatMap((b) => b.payloads),
  };
}

/** What must not depend on chunking: everything in the batches but `bytesRead`. */
export function fingerprint(p: Parsed): string {
  return JSON.stringify(p.batches.map((b) => [b.firstRecord, b.totalRecords, b.ids, Array.from(b.vectors), b.payloads]));
}

/** Asserts that the body is the same whether whole, cut at every single offset, or fed byte by byte. */
export async function assertEveryChunking(body: Uint8Array, options: ImportOptionsInput): Promise<void> {
  const whole = fingerprint(await parse(body, options));
  for (let cut = 1; cut < body.length; cut++) {
    assert.equal(fingerprint(await parse(body, options, [cut])), whole, `cut at byte ${cut}`);
  }
  const bytes = Array.from({ length: body.length }, (_, i) => i + 1);
  assert.equal(fingerprint(await parse(body, options, bytes)), whole, 'one byte per chunk');
}

/** Asserts that parsing fails with `code`, a message matching `message`, whatever the chunking. */
export async function assertFails(
  body: Uint8Array,
  options: ImportOptionsInput,
  code: string,
  message: RegExp,
  cuts: readonly number[] = [],
): Promise<void> {
  await assert.rejects(parse(body, options, cuts), (err: Error & { code?: string; statusCode?: number }) => {
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

/** Cuts into one-byte chunks, to check errors do not depend on chunking. */
export function everyByte(body: Uint8Array): number[] {
  return Array.from({ length: body.length }, (_, i) => i + 1);
}
