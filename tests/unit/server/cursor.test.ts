import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCursor, encodeCursor } from '../../../server/engine/cursor.ts';

test('cursors round-trip labels', () => {
  for (const label of [0, 1, 99, 4294967295]) assert.equal(decodeCursor(encodeCursor(label)), label);
});

test('foreign cursors are refused', () => {
  for (const bad of ['', 'garbage', Buffer.from('l-1').toString('base64url'), Buffer.from('lx').toString('base64url'), Buffer.from('l12345678901').toString('base64url')]) {
    assert.throws(() => decodeCursor(bad), { code: 'VDB_ERR_CURSOR_INVALID' });
  }
});
