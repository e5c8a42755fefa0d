import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImportErrors } from '../../../../server/import/errors.ts';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_RECORD_BYTES, importOptions, type ImportOptionsInput } from '../../../../server/import/records.ts';

const base: ImportOptionsInput = { format: 'ndjson', dimension: 8, metric: 'cosine' };

test('import error codes have their statuses', () => {
  const statuses = Object.values(ImportErrors).map((E) => {
    const e = new E('x');
    return [e.code, e.statusCode];
  });
  assert.deepEqual(statuses, [
    ['VDB_ERR_IMPORT_FORMAT', 400],
    ['VDB_ERR_IMPORT_TOO_LARGE', 413],
    ['VDB_ERR_IMPORT_TIMEOUT', 408],
    ['VDB_ERR_IMPORT_OPTIONS', 400],
  ]);
});

test('import options get defaults and are frozen', () => {
  const o = importOptions(base);
  assert.deepEqual({ ...o }, {
    format: 'ndjson', dimension: 8, metric: 'cosine', idOffset: 0, maxBytes: DEFAULT_MAX_BYTES, maxRecords: 2 ** 32 - 1,
    maxRecordBytes: DEFAULT_MAX_RECORD_BYTES, maxPayloadBytes: 65536, maxPayloadDepth: 64, batchSize: 1024, contentLength: null,
  });
  assert.equal(DEFAULT_MAX_BYTES, 64 * 2 ** 30);
  assert.ok(Object.isFrozen(o));
});

test('invalid import options are refused with exact messages', () => {
  const cases: [Partial<Record<keyof ImportOptionsInput, unknown>>, string][] = [
    [{ format: 'csv' }, 'options.format must be one of npy, fvecs, ndjson, msgpack'],
    [{ dimension: 0 }, 'options.dimension must be an integer from 1 to 4096'],
    [{ dimension: 4097 }, 'options.dimension must be an integer from 1 to 4096'],
    [{ metric: 'dot' }, 'options.metric must be one of l2, cosine, ip'],
    [{ idOffset: -1 }, 'options.idOffset must be a non-negative safe integer'],
    [{ idOffset: 2 ** 53 }, 'options.idOffset must be a non-negative safe integer'],
    [{ maxBytes: 0 }, 'options.maxBytes must be a positive safe integer'],
    [{ maxRecords: 1.5 }, 'options.maxRecords must be a positive safe integer'],
    [{ maxRecordBytes: 10 }, 'options.maxRecordBytes must be an integer from 64 to 1073741824'],
    [{ maxPayloadDepth: 501 }, 'options.maxPayloadDepth must be an integer from 1 to 500'],
    [{ batchSize: 0 }, 'options.batchSize must be an integer from 1 to 65536'],
    [{ batchSize: 65537 }, 'options.batchSize must be an integer from 1 to 65536'],
    [{ contentLength: -5 }, 'options.contentLength must be a non-negative safe integer or null'],
  ];
  for (const [change, message] of cases) {
    assert.throws(() => importOptions({ ...base, ...change } as ImportOptionsInput), (err: Error & { code: string; statusCode: number }) => {
      assert.equal(err.code, 'VDB_ERR_IMPORT_OPTIONS');
      assert.equal(err.statusCode, 400);
      assert.equal(err.message, message);
      return true;
    });
  }
});
