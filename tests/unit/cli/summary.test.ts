import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytes, eta, importSummaryJson, importSummaryText, jobText, searchTable, seconds, type ImportFacts } from '../../../cli/summary.ts';
import type { Job } from '../../../client/src/types.ts';

const job: Job = {
  id: 'j-7',
  kind: 'import',
  collection: 'docs',
  state: 'done',
  phase: null,
  processed: 300_000,
  total: 300_000,
  rate: 51234.6,
  eta_s: null,
  created_at: '2025-01-01T00:00:00.000Z',
  finished_at: '2025-01-01T00:00:06.000Z',
  records: 300_000,
  bytes: 9_600_128,
  build_order: 'given',
  seconds: 5.86,
};

const facts: ImportFacts = {
  collection: 'docs',
  file: 'vectors.npy',
  format: 'npy',
  fileBytes: 9_600_128,
  uploadSeconds: 0.8,
  totalSeconds: 7.5,
  job,
};

test('the text summary gives records, bytes, upload and total time, vectors/s and the job figures', () => {
  assert.equal(
    importSummaryText(facts),
    [
      "imported 300,000 records into 'docs' (job j-7)",
      '  file    vectors.npy: 9.2 MiB (9,600,128 bytes), npy',
      '  upload  0.80 s at 11.4 MiB/s',
      '  job     5.86 s on the server, 51,235 records/s, build order given',
      '  total   7.50 s from start to done: 40,000 vectors/s',
      '',
    ].join('\n'),
  );
  assert.match(importSummaryText({ ...facts, job: { ...job, seconds: undefined } }), /job {5}time not reported on the server/);
});

test('the JSON summary is one object with the measured figures and the whole job', () => {
  const summary = importSummaryJson({ ...facts, uploadSeconds: 0.80049, totalSeconds: 7.12345 });
  assert.deepEqual(summary, {
    collection: 'docs',
    file: 'vectors.npy',
    format: 'npy',
    job_id: 'j-7',
    state: 'done',
    records: 300_000,
    file_bytes: 9_600_128,
    upload_seconds: 0.8,
    total_seconds: 7.123,
    vectors_per_second: 42114.4,
    job,
  });
  assert.equal(importSummaryJson({ ...facts, totalSeconds: 0 }).vectors_per_second, 0);
  assert.equal(importSummaryJson({ ...facts, job: { ...job, state: 'failed' } }).vectors_per_second, null);
});

test('a job that did not finish is not reported as imported', () => {
  const text = importSummaryText({ ...facts, job: { ...job, state: 'cancelled' } });
  assert.match(text, /^cancelled: did not import 300,000 records into 'docs' \(job j-7\)\n/);
  assert.match(text, /\n {2}total {3}7\.50 s from start to cancelled\n$/);
});

test('a job is shown one field a line, with its error when it failed', () => {
  const failed: Job = {
    ...job,
    state: 'failed',
    phase: 'indexing',
    processed: 1200,
    total: null,
    rate: 400,
    eta_s: null,
    finished_at: null,
    seconds: undefined,
    error: { code: 'VDB_ERR_IMPORT_FORMAT', message: 'line 3: not JSON' },
  };
  assert.equal(
    jobText(failed),
    [
      "job      j-7 (import into 'docs')",
      'state    failed, indexing',
      'progress 1,200 at 400 records/s',
      'records  300,000 (9.2 MiB), build order given',
      'created  2025-01-01T00:00:00.000Z',
      'finished -',
      'error    VDB_ERR_IMPORT_FORMAT: line 3: not JSON',
      '',
    ].join('\n'),
  );
  assert.match(jobText({ ...job, state: 'running', total: 10, processed: 5, eta_s: 3 }), /progress 5 \/ 10 at 51,235 records\/s, eta 3 s/);
});

test('search results print as an aligned table', () => {
  const answer = { results: [{ id: '17', distance: 0 }, { id: 'long-id', distance: 0.123456789, payload: { lang: 'en' } }], took_ms: 0.42 };
  assert.equal(
    searchTable(answer, false),
    ['#  id       distance', '1  17       0.00000', '2  long-id  0.123457', '2 results in 0.42 ms', ''].join('\n'),
  );
  assert.equal(searchTable(answer, true).split('\n')[2], '2  long-id  0.123457  {"lang":"en"}');
  assert.equal(searchTable({ results: [], took_ms: 0.1 }, false), 'no results\n');
});

test('bytes, seconds and eta read well at every scale', () => {
  assert.deepEqual([0, 0.2, 1, 92, 119.5, 125].map(eta), ['0 s', '1 s', '1 s', '92 s', '2 min 00 s', '2 min 05 s']);
  assert.deepEqual([0, 1023, 1024, 1536 * 1024, 3 * 1024 ** 3].map(bytes), ['0 B', '1023 B', '1.0 KiB', '1.5 MiB', '3.00 GiB']);
  assert.deepEqual([0.123, 12.34, 119.96, 179.6, 3725].map(seconds), ['0.12 s', '12.3 s', '120.0 s', '3 min 00 s', '62 min 05 s']);
});
