import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { parseImport } from '../../../../server/import/parse.ts';
import type { ImportOptionsInput } from '../../../../server/import/records.ts';
import { prng } from '../../../helpers/random.ts';
import { assertFails, fingerprint, fvecsBuffer, npyBuffer, parse, stream } from './helpers.ts';

const packr = new Packr({ moreTypes: true, useRecords: false });

function fixtures(): [ImportOptionsInput, Buffer][] {
  const random = prng(7);
  const rows = Array.from({ length: 23 }, () => Array.from({ length: 5 }, () => Math.fround(random() * 2 - 1)));
  const records = rows.map((vector, i) => ({ id: i % 2 ? i : `p-${i}-é😀`, vector, payload: i % 3 ? { i, s: 'ü'.repeat(i) } : null }));
  const base = { dimension: 5, metric: 'l2', batchSize: 4 } as const;
  return [
    [{ ...base, format: 'npy', idOffset: 3 }, npyBuffer(rows, { version: 2 })],
    [{ ...base, format: 'npy' }, npyBuffer(rows, { descr: '<f8' })],
    [{ ...base, format: 'fvecs', idOffset: 1000 }, fvecsBuffer(rows)],
    [{ ...base, format: 'ndjson' }, Buffer.from(records.map((r) => JSON.stringify(r)).join('\r\n'))],
    [{ ...base, format: 'msgpack' }, Buffer.concat(records.map((r, i) => packr.pack(i % 2 ? { ...r, vector: new Float32Array(r.vector) } : r)))],
  ];
}

test('every format gives the same batches at random split points (fast-check)', async () => {
  for (const [options, body] of fixtures()) {
    const whole = await parse(body, options);
    assert.equal(whole.ids.length, 23, options.format);
    assert.deepEqual(whole.batches.map((b) => b.ids.length), [4, 4, 4, 4, 4, 3]);
    const expected = fingerprint(whole);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: body.length - 1 }), { maxLength: 40 }), async (cuts) => {
        const p = await parse(body, options, [...cuts].sort((a, b) => a - b));
        assert.equal(fingerprint(p), expected);
      }),
      { numRuns: 40, seed: 42 },
    );
  }
});

test('batches carry the running bytesRead and the known total', async () => {
  const [options, body] = fixtures()[0];
  const p = await parse(body, options, [100, 200, 300]);
  assert.ok(p.batches.every((b) => b.totalRecords === 23));
  const read = p.batches.map((b) => b.bytesRead);
  assert.deepEqual(read, [...read].sort((a, b) => a - b));
  assert.equal(read.at(-1), body.length);
});

test('a body past maxBytes fails with VDB_ERR_IMPORT_TOO_LARGE as the bytes arrive', async () => {
  for (const [options, body] of fixtures()) {
    assert.equal((await parse(body, { ...options, maxBytes: body.length })).ids.length, 23);
    await assertFails(body, { ...options, maxBytes: body.length - 1 }, 'VDB_ERR_IMPORT_TOO_LARGE',
      new RegExp(`^body: more than ${body.length - 1} bytes, the import limit$`), [10, 20]);
  }
  function* never(): Generator<Uint8Array> {
    yield assert.fail('a body announced as too large must not be read');
  }
  const run = async () => {
    const options = { format: 'fvecs', dimension: 2, metric: 'l2', maxBytes: 10, contentLength: 11 } as const;
    for await (const batch of parseImport(stream(never()), options)) assert.fail(`unexpected batch ${batch.firstRecord}`);
  };
  await assert.rejects(run, { code: 'VDB_ERR_IMPORT_TOO_LARGE', message: 'body: 11 bytes is more than the import limit of 10 bytes' });
});

test('a body past maxRecords fails with VDB_ERR_IMPORT_TOO_LARGE', async () => {
  for (const [options, body] of fixtures()) {
    assert.equal((await parse(body, { ...options, maxRecords: 23 })).ids.length, 23);
    const message = options.format === 'npy' ? /^header: 23 rows is more than the import limit of 22 records$/ : /^body: more than 22 records, the import limit$/;
    await assertFails(body, { ...options, maxRecords: 22 }, 'VDB_ERR_IMPORT_TOO_LARGE', message);
  }
});

test('the source is read only as batches are taken (backpressure)', async () => {
  let pulled = 0;
  function* source(): Generator<Uint8Array> {
    const row = fvecsBuffer([[1, 2]]);
    for (let i = 0; i < 10_000; i++) {
      pulled++;
      yield row;
    }
  }
  const it = parseImport(stream(source()), { format: 'fvecs', dimension: 2, metric: 'l2', batchSize: 10 });
  const first = await it.next();
  assert.equal(first.done, false);
  assert.equal(pulled, 10);
  await it.return(undefined as never);
  assert.equal(pulled, 10);
});

test('a large streamed import (200k × 128-d .fvecs, ~100 MiB) is parsed in bounded memory', async (t) => {
  const rows = 200_000;
  const dimension = 128;
  const rowBytes = 4 + 4 * dimension;
  const perChunk = 127;
  const template = fvecsBuffer(Array.from({ length: perChunk }, (_, r) => Array.from({ length: dimension }, (_, c) => r + c / 1000)));
  function* source(): Generator<Uint8Array> {
    // One reused chunk buffer: the parser must copy what it keeps.
    const chunk = Buffer.from(template);
    for (let sent = 0; sent < rows; sent += perChunk) {
      const n = Math.min(perChunk, rows - sent);
      yield chunk.subarray(0, n * rowBytes);
    }
  }
  const usage = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = usage();
  let peak = before;
  let count = 0;
  let checksum = 0;
  for await (const batch of parseImport(stream(source()), { format: 'fvecs', dimension, metric: 'l2', batchSize: 1024 })) {
    count += batch.ids.length;
    checksum += batch.vectors[dimension + 1];
    peak = Math.max(peak, usage());
  }
  assert.equal(count, rows);
  assert.ok(checksum > 0);
  const growth = peak - before;
  t.diagnostic(`peak heap + array buffer growth: ${(growth / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(growth < 64 * 2 ** 20, `memory grew by ${(growth / 2 ** 20).toFixed(1)} MiB while parsing ${((rows * rowBytes) / 2 ** 20).toFixed(0)} MiB`);
});
