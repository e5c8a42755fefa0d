import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { inferFormat, sniffDimension } from '../../../cli/formats.ts';
import { UsageError } from '../../../cli/options.ts';

/** An .npy file as numpy writes it: magic, version, header length, dict padded to 64 bytes, data. */
function npyBytes(shape: number[], version = 1, dict?: string): Buffer {
  const text = dict ?? `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pre = version === 1 ? 10 : 12;
  const padded = text.padEnd(Math.ceil((pre + text.length + 1) / 64) * 64 - pre - 1, ' ') + '\n';
  const head = Buffer.alloc(pre);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(head);
  if (version === 1) head.writeUInt16LE(padded.length, 8);
  else head.writeUInt32LE(padded.length, 8);
  const rows = shape.reduce((a, b) => a * b, 1);
  return Buffer.concat([head, Buffer.from(padded, 'latin1'), Buffer.alloc(rows * 4)]);
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-client-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the format comes from --format, else from the extension', () => {
  assert.equal(inferFormat('a/b.npy'), 'npy');
  assert.equal(inferFormat('B.FVECS'), 'fvecs');
  assert.equal(inferFormat('x.ndjson'), 'ndjson');
  assert.equal(inferFormat('x.jsonl'), 'ndjson');
  assert.equal(inferFormat('x.msgpack'), 'msgpack');
  assert.equal(inferFormat('x.mpk'), 'msgpack');
  assert.equal(inferFormat('x.bin', 'fvecs'), 'fvecs');
  assert.equal(inferFormat('x.npy', 'ndjson'), 'ndjson');
});

test('an unknown extension is a usage error that names --format', () => {
  assert.throws(() => inferFormat('vectors.bin'), (err: unknown) => {
    assert.ok(err instanceof UsageError);
    assert.match(err.message, /cannot tell the format of 'vectors\.bin' from its extension '\.bin'/);
    assert.match(err.message, /pass --format npy\|fvecs\|ndjson\|msgpack/);
    return true;
  });
  assert.throws(() => inferFormat('vectors'), /from its extension \(known:/);
});

test('.npy dimension: the second axis of the header shape, versions 1 to 3', async (t) => {
  const dir = tempDir(t);
  const cases: [string, Buffer, number][] = [
    ['v1.npy', npyBytes([300, 8]), 8],
    ['v2.npy', npyBytes([2, 1536], 2), 1536],
    ['v3.npy', npyBytes([1, 3], 3), 3],
    ['spaced.npy', npyBytes([2, 5], 1, "{'shape': ( 2 ,5 ), 'fortran_order': False, 'descr': '<f8'}"), 5],
    ['long.npy', npyBytes([2, 7], 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 7L), }"), 7],
  ];
  for (const [name, bytes, dimension] of cases) {
    writeFileSync(join(dir, name), bytes);
    assert.equal(await sniffDimension(join(dir, name), 'npy'), dimension, name);
  }
});

test('.npy files whose dimension cannot be read say why and suggest --dimension', async (t) => {
  const dir = tempDir(t);
  const cases: [string, Buffer, RegExp][] = [
    ['one-d.npy', npyBytes([5]), /shape \(5,\) is not 2-D/],
    ['three-d.npy', npyBytes([2, 3, 4]), /shape \(2, 3, 4\) is not 2-D/],
    ['not.npy', Buffer.from('hello world, not numpy'), /does not start with \\x93NUMPY/],
    ['cut.npy', npyBytes([3, 4]).subarray(0, 40), /the header is truncated/],
    ['v9.npy', Buffer.concat([npyBytes([1, 1]).subarray(0, 6), Buffer.from([9, 0, 0, 0])]), /version 9 is not supported/],
  ];
  for (const [name, bytes, message] of cases) {
    writeFileSync(join(dir, name), bytes);
    await assert.rejects(sniffDimension(join(dir, name), 'npy'), (err: unknown) => {
      assert.ok(err instanceof UsageError, name);
      assert.match(err.message, message, name);
      assert.match(err.message, /pass --dimension$/, name);
      return true;
    });
  }
});

test('.fvecs dimension: the first int32, little-endian', async (t) => {
  const dir = tempDir(t);
  const rows = Buffer.alloc(2 * (4 + 4 * 96));
  rows.writeInt32LE(96, 0);
  rows.writeInt32LE(96, 4 + 4 * 96);
  writeFileSync(join(dir, 'a.fvecs'), rows);
  assert.equal(await sniffDimension(join(dir, 'a.fvecs'), 'fvecs'), 96);

  writeFileSync(join(dir, 'short.fvecs'), Buffer.alloc(3));
  await assert.rejects(sniffDimension(join(dir, 'short.fvecs'), 'fvecs'), /too short to be an \.fvecs file/);
  const negative = Buffer.alloc(8);
  negative.writeInt32LE(-4, 0);
  writeFileSync(join(dir, 'neg.fvecs'), negative);
  await assert.rejects(sniffDimension(join(dir, 'neg.fvecs'), 'fvecs'), /starts with dimension -4: is it an \.fvecs file\?/);
});

test('formats without a header give no dimension', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.ndjson'), '{"id": 1, "vector": [1, 2]}\n');
  assert.equal(await sniffDimension(join(dir, 'a.ndjson'), 'ndjson'), null);
  assert.equal(await sniffDimension(join(dir, 'a.ndjson'), 'msgpack'), null);
});
