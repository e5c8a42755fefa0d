import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHeader } from '../../../../server/import/npy.ts';
import type { ImportOptionsInput } from '../../../../server/import/records.ts';
import { assertEveryChunking, assertFails, everyByte, npyBuffer, parse } from './helpers.ts';

const opts: ImportOptionsInput = { format: 'npy', dimension: 3, metric: 'l2', batchSize: 2 };
const rows = [
  [1, 2, 3],
  [-0.5, 0.25, 1e-3],
  [3.4e38, -3.4e38, 7],
  [0, 0, 0],
  [Math.PI, Math.E, Math.SQRT2],
];

test('float32 .npy rows round-trip with ids id_offset + row and the header total', async () => {
  const p = await parse(npyBuffer(rows), { ...opts, idOffset: 100 });
  assert.deepEqual(p.ids, ['100', '101', '102', '103', '104']);
  assert.deepEqual(p.vectors, rows.map((r) => r.map(Math.fround)));
  assert.deepEqual(p.payloads, [null, null, null, null, null]);
  assert.deepEqual(p.batches.map((b) => [b.firstRecord, b.ids.length, b.totalRecords]), [[0, 2, 5], [2, 2, 5], [4, 1, 5]]);
  assert.equal(p.batches[2].vectors.length, 3);
  assert.deepEqual(p.summary, { records: 5, bytes: npyBuffer(rows).length });
});

test('float64 .npy values become float32 exactly as Math.fround rounds them', async () => {
  const doubles = [[0.1, 1 / 3, 1e-40], [123456789.123, -2.5e-8, 16777217]];
  for (const descr of ['<f8', '=f8', '|f8']) {
    const p = await parse(npyBuffer(doubles, { descr }), opts);
    assert.deepEqual(p.vectors, doubles.map((r) => r.map(Math.fround)), descr);
  }
  for (const descr of ['=f4', '|f4']) {
    assert.deepEqual((await parse(npyBuffer(rows, { descr }), opts)).ids.length, 5, descr);
  }
});

test('.npy versions 2.0 and 3.0 (4-byte header length, UTF-8 header) are read', async () => {
  for (const version of [2, 3] as const) {
    const p = await parse(npyBuffer(rows, { version }), opts);
    assert.deepEqual(p.vectors, rows.map((r) => r.map(Math.fround)), `version ${version}`);
  }
});

test('.npy with zero rows yields nothing and succeeds', async () => {
  const p = await parse(npyBuffer([], { dimension: 3 }), opts);
  assert.deepEqual(p.batches, []);
  assert.equal(p.summary.records, 0);
});

test('.npy parses identically split at every byte offset, header and numbers included', async () => {
  await assertEveryChunking(npyBuffer(rows, { version: 1 }), { ...opts, idOffset: 7 });
  await assertEveryChunking(npyBuffer(rows.slice(0, 2), { version: 2, descr: '<f8' }), opts);
});

test('the header dict parser reads what numpy writes and refuses other literals', () => {
  assert.deepEqual(parseHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (10L, 3L), }  \n"), {
    descr: '<f4', fortranOrder: false, shape: [10, 3],
  });
  assert.deepEqual(parseHeader('{"shape":(7,),"descr":"<f8","fortran_order":True}').shape, [7]);
  assert.throws(() => parseHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 3)}"), /header: expected a string/);
  assert.throws(() => parseHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), 'x': 1}"), /header: expected a string/);
  assert.throws(() => parseHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), 'x': True}"), /header: unexpected key 'x'/);
  assert.throws(() => parseHeader("{'descr': '<f4', 'shape': (1, 3)}"), /header: 'fortran_order' must be True or False/);
  assert.throws(() => parseHeader("{'descr': '<f4'"), /header: expected ',' or '}'/);
});

test('malformed .npy fails with VDB_ERR_IMPORT_FORMAT naming the header, at any chunking', async () => {
  const good = npyBuffer(rows);
  const cases: [string, Uint8Array, RegExp][] = [
    ['truncated header', good.subarray(0, 40), /^header: truncated: the body ends after 40 bytes, inside the \.npy header$/],
    ['truncated preamble', good.subarray(0, 9), /^header: truncated/],
    ['bad magic', Buffer.concat([Buffer.from('\x93NUMPX', 'latin1'), good.subarray(6)]), /^header: not a \.npy file/],
    ['text file', Buffer.from('id,vector\n1,2\n'), /^header: not a \.npy file/],
    ['version 4.0', Buffer.concat([good.subarray(0, 6), Buffer.from([4, 0]), good.subarray(8)]), /^header: \.npy version 4\.0 is not supported/],
    ['int32', npyBuffer(rows, { descr: '<i4' }), /^header: dtype '<i4' is not supported/],
    ['big-endian', npyBuffer(rows, { descr: '>f4' }), /^header: dtype '>f4' \(big-endian\) is not supported/],
    ['float16', npyBuffer(rows, { descr: '<f2' }), /^header: dtype '<f2' is not supported/],
    ['fortran order', npyBuffer(rows, { fortran: true }), /^header: fortran_order is True/],
    ['3-D shape', npyBuffer(rows, { shape: '(5, 3, 1)' }), /^header: shape \(5, 3, 1\) has 3 dimensions/],
    ['1-D shape', npyBuffer(rows, { shape: '(15,)' }), /^header: shape \(15,\) has 1 dimension: import a 2-D array/],
    ['structured dtype', npyBuffer(rows, { header: "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (5, 3)}" }), /^header: expected a string/],
  ];
  for (const [name, body, message] of cases) {
    await assertFails(body, opts, 'VDB_ERR_IMPORT_FORMAT', message);
    await assertFails(body, opts, 'VDB_ERR_IMPORT_FORMAT', message, everyByte(body));
    assert.ok(name);
  }
});

test('a .npy whose columns differ from the collection dimension is a 422 naming the header', async () => {
  await assertFails(npyBuffer(rows), { ...opts, dimension: 4 }, 'VDB_ERR_VECTOR_DIMENSION',
    /^header: shape \(5, 3\) has 3 columns but the collection's dimension is 4$/);
});

test('truncated, missing and surplus .npy data name the row', async () => {
  const body = npyBuffer(rows);
  await assertFails(body.subarray(0, body.length - 5), opts, 'VDB_ERR_IMPORT_FORMAT',
    /^row 4: truncated: the body ends after 7 of the row's 12 bytes$/);
  await assertFails(body.subarray(0, body.length - 24), opts, 'VDB_ERR_IMPORT_FORMAT',
    /^row 3: missing: the body ends after 3 rows but the header's shape has 5$/);
  await assertFails(Buffer.concat([body, Buffer.from([0])]), opts, 'VDB_ERR_IMPORT_FORMAT',
    /^row 5: unexpected data after the last row/);
});

test('.npy values break the vector rules with their own codes and the row named', async () => {
  await assertFails(npyBuffer([[1, 2, 3], [1, NaN, 3]]), opts, 'VDB_ERR_VECTOR_NOT_FINITE', /^row 1: vector\[1\] is NaN/);
  await assertFails(npyBuffer([[1, 2, 3], [1, 2, 1e300]], { descr: '<f8' }), opts, 'VDB_ERR_VECTOR_RANGE', /^row 1: vector\[2\] = 1e\+300 is outside/);
  await assertFails(npyBuffer(rows), { ...opts, metric: 'cosine' }, 'VDB_ERR_VECTOR_ZERO', /^row 3: vector is all zeros/);
});

test('an .npy row count over maxRecords is refused from the header, before any data', async () => {
  const header = npyBuffer(rows).subarray(0, 128);
  await assertFails(header, { ...opts, maxRecords: 4 }, 'VDB_ERR_IMPORT_TOO_LARGE', /^header: 5 rows is more than the import limit of 4 records$/);
});
