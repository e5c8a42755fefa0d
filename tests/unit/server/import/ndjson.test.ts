import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ImportOptionsInput } from '../../../../server/import/records.ts';
import { assertEveryChunking, assertFails, everyByte, parse, stream } from './helpers.ts';
import { parseImport } from '../../../../server/import/parse.ts';

const opts: ImportOptionsInput = { format: 'ndjson', dimension: 3, metric: 'l2', batchSize: 2 };
const records = [
  { id: 'doc-1', vector: [1, 2, 3], payload: { lang: 'en', tags: ['a', 'b'], n: 1.5 } },
  { id: 42, vector: [0.1, 0.2, 0.3] },
  { id: 'ünïcødé 😀 キー', vector: [-1, 1e-8, 3.4e38], payload: null },
  { id: 0, vector: [7, 8, 9], payload: { text: 'multi-byte: €, 😀, 日本語', nested: { deep: [null, true] } } },
];
const ndjson = (lines: readonly unknown[]): Buffer => Buffer.from(lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n'));

test('NDJSON records round-trip ids (integers as decimal strings), vectors and payloads', async () => {
  const p = await parse(ndjson(records), opts);
  assert.deepEqual(p.ids, ['doc-1', '42', 'ünïcødé 😀 キー', '0']);
  assert.deepEqual(p.vectors, records.map((r) => r.vector.map(Math.fround)));
  assert.deepEqual(p.payloads.map((s) => (s === null ? null : JSON.parse(s))), [records[0].payload, null, null, records[3].payload]);
  assert.deepEqual(p.batches.map((b) => [b.firstRecord, b.ids.length, b.totalRecords]), [[0, 2, null], [2, 2, null]]);
});

test('NDJSON skips blank lines, accepts CRLF, a final newline or none, and a byte-order mark', async () => {
  const text = '\uFEFF' + JSON.stringify(records[0]) + '\r\n\r\n   \n\t\r\n' + JSON.stringify(records[1]) + '\r\n';
  const p = await parse(Buffer.from(text), opts);
  assert.deepEqual(p.ids, ['doc-1', '42']);
  assert.deepEqual((await parse(Buffer.from(''), opts)).batches, []);
  assert.deepEqual((await parse(Buffer.from('\n\n'), opts)).batches, []);
});

test('NDJSON parses identically split at every byte offset, inside numbers and UTF-8 characters', async () => {
  await assertEveryChunking(ndjson(records), opts);
  await assertEveryChunking(Buffer.from(JSON.stringify(records[3]) + '\r\n\n' + JSON.stringify(records[2]) + '\r\n'), opts);
});

test('malformed NDJSON lines fail with VDB_ERR_IMPORT_FORMAT naming the 1-based line', async () => {
  const ok = JSON.stringify(records[0]);
  const cases: [string, RegExp][] = [
    ['{"id": 1, "vector": [1, NaN, 3]}', /^line 3: invalid JSON/],
    ['{"id": 1, "vector": [1, 2, 3]', /^line 3: invalid JSON/],
    ['[1, 2, 3]', /^line 3: expected an object \{id, vector, payload\}, got an array$/],
    ['"text"', /^line 3: expected an object \{id, vector, payload\}, got string$/],
    ['{"vector": [1, 2, 3]}', /^line 3: id is missing$/],
    ['{"id": 1}', /^line 3: vector is missing$/],
    ['{"id": 1, "vector": "1,2,3"}', /^line 3: vector must be an array of numbers, got string$/],
    ['{"id": 1, "vector": [1, 2, 3], "extra": true}', /^line 3: unknown field "extra": records have id, vector, payload and links$/],
    ['{"id": 1, "vector": [1, 2, 3], "payload": [1]}', /^line 3: payload must be an object or null, got an array$/],
    ['{"id": 1, "vector": [1, 2, 3], "payload": "x"}', /^line 3: payload must be an object or null, got string$/],
  ];
  for (const [line, message] of cases) {
    const body = ndjson([ok, '', line, ok]);
    await assertFails(body, opts, 'VDB_ERR_IMPORT_FORMAT', message);
    await assertFails(body, opts, 'VDB_ERR_IMPORT_FORMAT', message, everyByte(body));
  }
  await assertFails(Buffer.concat([Buffer.from(ok + '\n{"id": "'), Buffer.from([0xff, 0xfe]), Buffer.from('", "vector": [1,2,3]}')]),
    opts, 'VDB_ERR_IMPORT_FORMAT', /^line 2: not valid UTF-8$/);
});

test('NDJSON ids and vectors keep the id and vector rules\' codes, with the line named', async () => {
  const ok = JSON.stringify(records[0]);
  const cases: [string, string, RegExp][] = [
    ['{"id": -1, "vector": [1, 2, 3]}', 'VDB_ERR_POINT_ID', /^line 2: id -1 is not a valid id/],
    ['{"id": 1.5, "vector": [1, 2, 3]}', 'VDB_ERR_POINT_ID', /^line 2: id 1.5 is not a valid id/],
    ['{"id": "", "vector": [1, 2, 3]}', 'VDB_ERR_POINT_ID', /^line 2: id must be 1 to 256 UTF-8 bytes long, got 0$/],
    ['{"id": null, "vector": [1, 2, 3]}', 'VDB_ERR_POINT_ID', /^line 2: id must be a string or a non-negative integer, got null$/],
    ['{"id": 1, "vector": [1, 2]}', 'VDB_ERR_VECTOR_DIMENSION', /^line 2: vector has 2 values but the collection's dimension is 3$/],
    ['{"id": 1, "vector": [1, 2, 3, 4]}', 'VDB_ERR_VECTOR_DIMENSION', /^line 2: vector has 4 values/],
    ['{"id": 1, "vector": [1, "2", 3]}', 'VDB_ERR_VECTOR_NOT_FINITE', /^line 2: vector\[1\] is not a number \(string\)/],
    ['{"id": 1, "vector": [1, 1e999, 3]}', 'VDB_ERR_VECTOR_NOT_FINITE', /^line 2: vector\[1\] is Infinity/],
    ['{"id": 1, "vector": [1, 1e39, 3]}', 'VDB_ERR_VECTOR_RANGE', /^line 2: vector\[1\] = 1e\+39 is outside the float32 range/],
  ];
  for (const [line, code, message] of cases) await assertFails(ndjson([ok, line]), opts, code, message);
  await assertFails(ndjson([{ id: 1, vector: [0, 0, 0] }]), { ...opts, metric: 'cosine' }, 'VDB_ERR_VECTOR_ZERO', /^line 1: vector is all zeros/);
});

test('a line longer than the one-record cap is refused before it is held whole', async () => {
  const options = { ...opts, maxRecordBytes: 1024 };
  const long = JSON.stringify({ id: 'x'.repeat(2000), vector: [1, 2, 3] });
  await assertFails(ndjson([JSON.stringify(records[0]), long]), options, 'VDB_ERR_IMPORT_TOO_LARGE', /^line 2: longer than 1024 bytes, the limit for one record$/);
  // A body with no newline at all: fails after about maxRecordBytes, however long the stream would be.
  let sent = 0;
  function* endless(): Generator<Uint8Array> {
    for (;;) {
      sent += 100;
      yield Buffer.alloc(100, 0x20);
    }
  }
  await assert.rejects(async () => {
    for await (const batch of parseImport(stream(endless()), options)) assert.fail(`unexpected batch ${batch.firstRecord}`);
  }, (err: Error & { code: string }) => err.code === 'VDB_ERR_IMPORT_TOO_LARGE' && /^line 1: longer than 1024 bytes/.test(err.message));
  assert.equal(sent, 1100);
});
