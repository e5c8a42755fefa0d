import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ImportOptionsInput } from '../../../../server/import/records.ts';
import { assertEveryChunking, assertFails, everyByte, fvecsBuffer, parse } from './helpers.ts';

const opts: ImportOptionsInput = { format: 'fvecs', dimension: 4, metric: 'l2', batchSize: 3 };
const rows = [
  [1, 2, 3, 4],
  [0.1, -0.2, 0.3, -0.4],
  [3.4e38, 1e-45, -0, 5],
  [9, 8, 7, 6],
];

test('.fvecs rows round-trip with ids id_offset + row; the total is unknown without a content length', async () => {
  const p = await parse(fvecsBuffer(rows), { ...opts, idOffset: 2 ** 40 });
  assert.deepEqual(p.ids, rows.map((_, r) => String(2 ** 40 + r)));
  assert.deepEqual(p.vectors, rows.map((r) => r.map(Math.fround)));
  assert.deepEqual(p.payloads, [null, null, null, null]);
  assert.deepEqual(p.batches.map((b) => [b.firstRecord, b.ids.length, b.totalRecords]), [[0, 3, null], [3, 1, null]]);
  assert.deepEqual(p.summary, { records: 4, bytes: 4 * 20 });
});

test('a known content length gives .fvecs its total when it is a whole number of rows', async () => {
  const body = fvecsBuffer(rows);
  assert.equal((await parse(body, { ...opts, contentLength: body.length })).batches[0].totalRecords, 4);
  assert.equal((await parse(body, { ...opts, contentLength: body.length + 1, batchSize: 8 })).batches[0].totalRecords, null);
  await assertFails(body, { ...opts, contentLength: body.length, maxRecords: 3 }, 'VDB_ERR_IMPORT_TOO_LARGE',
    /^body: 4 rows is more than the import limit of 3 records$/);
});

test('.fvecs parses identically split at every byte offset', async () => {
  await assertEveryChunking(fvecsBuffer(rows), { ...opts, idOffset: 10 });
});

test('an .fvecs row whose dimension differs from the collection is a 422 naming the row', async () => {
  const body = fvecsBuffer([rows[0], rows[1], [1, 2, 3]]);
  for (const cuts of [[], everyByte(body)]) {
    await assertFails(body, opts, 'VDB_ERR_VECTOR_DIMENSION', /^row 2: dimension 3 differs from the collection's dimension 4$/, cuts);
  }
  await assertFails(fvecsBuffer([rows[0]], [-1]), opts, 'VDB_ERR_IMPORT_FORMAT', /^row 0: dimension -1 is not positive/);
});

test('a truncated .fvecs row names the row and how much of it arrived', async () => {
  const body = fvecsBuffer(rows);
  for (const cut of [1, 3, 4, 19]) {
    const short = body.subarray(0, 40 + cut);
    await assertFails(short, opts, 'VDB_ERR_IMPORT_FORMAT', new RegExp(`^row 2: truncated: the body ends after ${cut} of the row's 20 bytes`));
    await assertFails(short, opts, 'VDB_ERR_IMPORT_FORMAT', /^row 2: truncated/, everyByte(short));
  }
});

test('.fvecs values break the vector rules with their own codes and the row named', async () => {
  await assertFails(fvecsBuffer([rows[0], [1, Infinity, 0, 0]]), opts, 'VDB_ERR_VECTOR_NOT_FINITE', /^row 1: vector\[1\] is Infinity/);
  await assertFails(fvecsBuffer([[0, 0, 0, 0]]), { ...opts, metric: 'cosine' }, 'VDB_ERR_VECTOR_ZERO', /^row 0: vector is all zeros/);
});

test('.fvecs ids past 2^53 − 1 are refused with the id rule', async () => {
  await assertFails(fvecsBuffer(rows), { ...opts, idOffset: Number.MAX_SAFE_INTEGER - 1 }, 'VDB_ERR_POINT_ID', /^row 2: id 9007199254740992 is not a valid id/);
});
