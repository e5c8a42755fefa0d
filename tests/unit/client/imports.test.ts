import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { counted, formatOfPath, importQuery, npyBody, openFile } from '../../../client/src/imports.ts';
import { parseHeader } from '../../../server/import/npy.ts';

test('npyBody writes a version 1.0 header the server parses, 64-byte aligned, then the rows as little-endian float32', () => {
  const dimension = 3;
  const rows = 100_000; // several chunks
  const vectors = Float32Array.from({ length: rows * dimension }, (_, i) => i / 7);
  const { chunks, size } = npyBody(vectors, dimension);
  const bytes = Buffer.concat([...chunks]);
  assert.equal(bytes.length, size);
  assert.equal(bytes.subarray(0, 6).toString('latin1'), '\x93NUMPY');
  assert.deepEqual([bytes[6], bytes[7]], [1, 0]);
  const headerLength = bytes.readUInt16LE(8);
  assert.equal((10 + headerLength) % 64, 0);
  const text = bytes.subarray(10, 10 + headerLength).toString('latin1');
  assert.ok(text.endsWith('\n'));
  assert.deepEqual(parseHeader(text.trimEnd()), { descr: '<f4', fortranOrder: false, shape: [rows, dimension] });
  const data = bytes.subarray(10 + headerLength);
  assert.equal(data.length, vectors.byteLength);
  for (const i of [0, 1, 2, 150_000, rows * dimension - 1]) assert.equal(data.readFloatLE(i * 4), vectors[i]);
  assert.ok([...chunks].length > 2, 'the rows go in chunks of about 1 MiB');
});

test('npyBody refuses arrays that are not rows of the dimension, saying why', () => {
  assert.throws(() => npyBody(new Float32Array(10), 4), /vectors has 10 values: that is not a positive multiple of the dimension 4/);
  assert.throws(() => npyBody(new Float32Array(0), 4), /vectors has 0 values/);
  assert.throws(() => npyBody(new Float32Array(4), 0), /dimension must be a positive integer, got 0/);
  assert.throws(() => npyBody([1, 2] as unknown as Float32Array, 2), /vectors must be a Float32Array/);
});

test('formats come from the extension unless given; the query carries the options the server reads', () => {
  assert.equal(formatOfPath('/x/a.NPY', undefined), 'npy');
  assert.equal(formatOfPath('b.jsonl', undefined), 'ndjson');
  assert.equal(formatOfPath('c.mpk', undefined), 'msgpack');
  assert.equal(formatOfPath('d.bin', 'fvecs'), 'fvecs');
  assert.throws(() => formatOfPath('e.csv', undefined), /cannot tell the format of 'e\.csv' from its extension: give options\.format \(npy, fvecs, ndjson, msgpack\)/);
  assert.equal(importQuery({ format: 'npy' }), 'format=npy');
  assert.equal(importQuery({ format: 'npy', idOffset: 5, buildOrder: 'by_payload:doc', seed: 0 }), 'format=npy&id_offset=5&build_order=by_payload%3Adoc&seed=0');
});

test('counted passes every byte on and reports the running total', async () => {
  const seen: [number, number | null][] = [];
  const source = Readable.from([Buffer.from('abc'), Buffer.from('defgh')]);
  const out: Buffer[] = [];
  for await (const chunk of counted(source, 8, (sent, total) => seen.push([sent, total]))) out.push(chunk as Buffer);
  assert.equal(Buffer.concat(out).toString(), 'abcdefgh');
  assert.deepEqual(seen, [[3, 8], [8, 8]]);
});

test('openFile holds the file open itself: a stream destroyed at once, its file then removed, raises nothing later', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-open-'));
  const file = join(dir, 'v.npy');
  writeFileSync(file, 'abc');
  const uncaught: unknown[] = [];
  const listener = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', listener);
  try {
    const { stream, size } = await openFile(file);
    assert.equal(size, 3);
    stream.destroy();
    rmSync(dir, { recursive: true, force: true });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(uncaught, []); // a stream that opened its path lazily failed here with ENOENT
  } finally {
    process.off('uncaughtException', listener);
  }
  await assert.rejects(openFile(dir), { code: 'ENOENT' });
  await assert.rejects(openFile(tmpdir()), /is not a file/);
});
