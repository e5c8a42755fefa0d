import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { errorCatalogue } from '../../../server/errors.ts';

test('every error code is unique, well named, and listed in docs/api.md with its status', () => {
  const table = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8');
  const catalogue = errorCatalogue();
  assert.ok(catalogue.length >= 20);
  assert.equal(new Set(catalogue.map((e) => e.code)).size, catalogue.length, 'codes are unique');
  for (const { code, status } of catalogue) {
    assert.match(code, /^VDB_ERR_[A-Z0-9_]+$/);
    assert.ok(status >= 400 && status < 600, `${code} has an HTTP error status`);
    assert.ok(table.includes(`| \`${code}\` | ${status} |`), `docs/api.md lists ${code} with status ${status}`);
  }
});

test('input errors are 4xx and internal ones 5xx', () => {
  const byCode = new Map(errorCatalogue().map((e) => [e.code, e.status]));
  for (const code of ['VDB_ERR_REQUEST_INVALID', 'VDB_ERR_REQUEST_MALFORMED', 'VDB_ERR_WHERE_INVALID', 'VDB_ERR_POINT_ID']) {
    assert.equal(byCode.get(code), 400, code);
  }
  for (const code of ['VDB_ERR_VECTOR_DIMENSION', 'VDB_ERR_VECTOR_NOT_FINITE', 'VDB_ERR_VECTOR_RANGE', 'VDB_ERR_VECTOR_ZERO']) {
    assert.equal(byCode.get(code), 422, code);
  }
  assert.equal(byCode.get('VDB_ERR_REQUEST_TOO_LARGE'), 413);
  assert.equal(byCode.get('VDB_ERR_REQUEST_MEDIA_TYPE'), 415);
  assert.equal(byCode.get('VDB_ERR_NOT_READY'), 503);
});
