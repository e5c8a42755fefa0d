import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normaliseId } from '../../../storage/ids.ts';

test('integers and strings normalise to the same stored id', () => {
  assert.equal(normaliseId(5), '5');
  assert.equal(normaliseId('5'), '5');
  assert.equal(normaliseId(0), '0');
  assert.equal(normaliseId(Number.MAX_SAFE_INTEGER), '9007199254740991');
  assert.equal(normaliseId('x'.repeat(256)), 'x'.repeat(256));
  assert.equal(normaliseId('日本'), '日本');
});

test('bad ids are refused with VDB_ERR_POINT_ID and a message', () => {
  const bad: [unknown, RegExp][] = [
    [-1, /non-negative/],
    [1.5, /safe integer/],
    [2 ** 53, /safe integer/],
    [NaN, /NaN/],
    ['', /1 to 256 UTF-8 bytes long, got 0/],
    ['é'.repeat(129), /got 258/],
    ['\ud800', /surrogate/],
    [null, /got null/],
    [{}, /got object/],
    [true, /got boolean/],
  ];
  for (const [id, message] of bad) {
    assert.throws(() => normaliseId(id, 'points[2].id'), (err: Error & { code?: string; statusCode?: number }) => {
      assert.equal(err.code, 'VDB_ERR_POINT_ID');
      assert.equal(err.statusCode, 400);
      assert.match(err.message, message);
      assert.match(err.message, /points\[2\]\.id/);
      return true;
    });
  }
});
