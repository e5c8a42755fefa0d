import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import type { ImportOptionsInput } from '../../../../server/import/records.ts';
import { assertEveryChunking, assertFails, everyByte, parse } from './helpers.ts';

const packr = new Packr({ moreTypes: true, useRecords: false });
const opts: ImportOptionsInput = { format: 'msgpack', dimension: 3, metric: 'l2', batchSize: 2 };
const pack = (records: readonly unknown[]): Buffer => Buffer.concat(records.map((r) => packr.pack(r)));
const raw = (values: number[]): Uint8Array => new Uint8Array(new Float32Array(values).buffer);

const records = [
  { id: 'a', vector: [1, 2, 3], payload: { lang: 'en', n: 2 ** 40, list: [1, 'two', null] } },
  { id: 7, vector: new Float32Array([0.1, 0.2, 0.3]) },
  { id: 'raw-bytes', vector: raw([4.5, -5.5, 6.25]), payload: null },
  { id: 2 ** 53 - 1, vector: new Float64Array([0.1, 1e-8, 3]), payload: { text: '日本語 😀'.repeat(10) } },
];

test('MessagePack records round-trip with array, Float32Array, Float64Array and raw float32 vectors', async () => {
  const p = await parse(pack(records), opts);
  assert.deepEqual(p.ids, ['a', '7', 'raw-bytes', String(2 ** 53 - 1)]);
  assert.deepEqual(p.vectors, [[1, 2, 3], [0.1, 0.2, 0.3].map(Math.fround), [4.5, -5.5, 6.25], [0.1, 1e-8, 3].map(Math.fround)]);
  assert.deepEqual(p.payloads.map((s) => (s === null ? null : JSON.parse(s))), [records[0].payload, null, null, records[3].payload]);
  assert.deepEqual(p.batches.map((b) => [b.firstRecord, b.ids.length, b.totalRecords]), [[0, 2, null], [2, 2, null]]);
});

test('MessagePack from a default Packr (record extension) decodes too', async () => {
  const p = await parse(Buffer.concat([new Packr().pack(records[0]), new Packr().pack(records[0])]), opts);
  assert.deepEqual(p.ids, ['a', 'a']);
});

test('MessagePack parses identically split at every byte offset, inside a record, string or typed array', async () => {
  await assertEveryChunking(pack(records), opts);
});

test('a large record split into small chunks decodes in linear work and correctly', async () => {
  // Many small values: each failed attempt decodes them all, so retrying on every chunk would be quadratic.
  const big = { id: 'big', vector: [1, 2, 3], payload: { list: Array.from({ length: 100_000 }, (_, i) => i % 1000) } };
  const body = pack([records[0], big, records[1]]);
  const cuts = Array.from({ length: Math.floor(body.length / 100) }, (_, i) => (i + 1) * 100);
  const started = performance.now();
  const p = await parse(body, { ...opts, maxPayloadBytes: 1 << 20 }, cuts);
  assert.deepEqual(p.ids, ['a', 'big', '7']);
  assert.deepEqual(JSON.parse(p.payloads[1]!), big.payload);
  assert.ok(performance.now() - started < 2000, 'decoding is not quadratic in the chunk count');
});

test('garbage, non-map records and truncation fail with VDB_ERR_IMPORT_FORMAT naming record and byte', async () => {
  const ok = packr.pack(records[0]);
  const at = ok.length;
  const cases: [string, Uint8Array, RegExp][] = [
    ['never-used byte', Buffer.concat([ok, Buffer.from([0xc1, 0x01])]), new RegExp(`^record 1 \\(byte ${at}\\): not valid MessagePack: byte 0xc1`)],
    ['text', Buffer.from('hello'), /^record 0 \(byte 0\): expected a map \{id, vector, payload\}, got number$/],
    ['array', Buffer.concat([ok, packr.pack([1, [1, 2, 3]])]), new RegExp(`^record 1 \\(byte ${at}\\): expected a map .* got an array$`)],
    ['string', Buffer.concat([ok, packr.pack('id')]), /^record 1 .*got string$/],
    ['nil', Buffer.concat([ok, packr.pack(null)]), /^record 1 .*got null$/],
    ['truncated', Buffer.concat([ok, ok.subarray(0, 10)]), new RegExp(`^record 1 \\(byte ${at}\\): truncated: the body ends 10 bytes into this record$`)],
    ['unknown field', pack([records[0], { ...records[0], vectors: [1] }]), new RegExp(`^record 1 \\(byte ${at}\\): unknown field "vectors"`)],
    ['missing id', pack([{ vector: [1, 2, 3] }]), /^record 0 \(byte 0\): id is missing$/],
    ['binary payload', pack([{ id: 1, vector: [1, 2, 3], payload: { blob: new Uint8Array(2) } }]), /^record 0 \(byte 0\): payload\.blob is binary data, which JSON cannot hold$/],
    ['NaN payload', pack([{ id: 1, vector: [1, 2, 3], payload: { x: [NaN] } }]), /^record 0 \(byte 0\): payload\.x\[0\] is NaN, which JSON cannot hold$/],
    ['odd raw bytes', pack([{ id: 1, vector: new Uint8Array(13) }]), /^record 0 \(byte 0\): vector has 13 bytes/],
  ];
  for (const [name, body, message] of cases) {
    const code = name === 'odd raw bytes' ? 'VDB_ERR_VECTOR_ENCODING' : 'VDB_ERR_IMPORT_FORMAT';
    await assertFails(body, opts, code, message);
    await assertFails(body, opts, code, message, everyByte(body));
  }
});

test('MessagePack vectors keep the vector rules\' codes, with the record named', async () => {
  const ok = packr.pack(records[0]);
  const second = (r: unknown): Buffer => Buffer.concat([ok, packr.pack(r)]);
  const at = ok.length;
  await assertFails(second({ id: 1, vector: new Float32Array([1, NaN, 3]) }), opts, 'VDB_ERR_VECTOR_NOT_FINITE',
    new RegExp(`^record 1 \\(byte ${at}\\): vector\\[1\\] is NaN: values must be finite numbers$`));
  await assertFails(second({ id: 1, vector: [1, 2, -Infinity] }), opts, 'VDB_ERR_VECTOR_NOT_FINITE', /^record 1 .*: vector\[2\] is -Infinity/);
  await assertFails(second({ id: 1, vector: raw([1, 2]) }), opts, 'VDB_ERR_VECTOR_DIMENSION', /^record 1 .*: vector has 2 values/);
  await assertFails(second({ id: -3, vector: [1, 2, 3] }), opts, 'VDB_ERR_POINT_ID', /^record 1 .*: id -3 is not a valid id/);
  await assertFails(second({ id: 2 ** 60, vector: [1, 2, 3] }), opts, 'VDB_ERR_POINT_ID', /^record 1 .*: id \d+ is not a valid id/);
});

test('a MessagePack record over the one-record cap is refused, complete or not', async () => {
  const options = { ...opts, maxRecordBytes: 1024 };
  const big = pack([records[0], { id: 'big', vector: [1, 2, 3], payload: { text: 'x'.repeat(5000) } }]);
  const cuts = Array.from({ length: Math.floor(big.length / 64) }, (_, i) => (i + 1) * 64);
  await assertFails(big, options, 'VDB_ERR_IMPORT_TOO_LARGE', /^record 1 \(byte \d+\): longer than 1024 bytes, the limit for one record$/, cuts);
  // A header declaring a 4 GiB array: waits for at most about the cap, then fails.
  const huge = Buffer.concat([Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), Buffer.alloc(2000)]);
  await assertFails(huge, options, 'VDB_ERR_IMPORT_TOO_LARGE', /^record 0 \(byte 0\): longer than 1024 bytes/, [5, 500, 1000, 1500]);
});
