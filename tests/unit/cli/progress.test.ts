import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProgress } from '../../../cli/progress.ts';
import type { Job } from '../../../client/src/types.ts';
import { capture } from '../../helpers/capture.ts';

const job = (processed: number, total: number | null, phase: string | null, eta: number | null): Job => ({
  id: 'j',
  kind: 'import',
  collection: 'c',
  state: 'running',
  phase,
  processed,
  total,
  rate: 2000,
  eta_s: eta,
  created_at: '',
  finished_at: null,
  records: 4000,
  bytes: 0,
  build_order: 'given',
});

test('without bars, progress is a plain line at most every interval, then one for the end of the upload', () => {
  const stream = capture();
  let now = 1000;
  const progress = createProgress({ bars: false, stream, fileBytes: 4 * 1024 * 1024, intervalMs: 3000, now: () => now });
  progress.upload(1024 * 1024); // first call prints
  now += 1000;
  progress.upload(2 * 1024 * 1024); // too soon
  now += 2000;
  progress.upload(3 * 1024 * 1024);
  now += 1000;
  progress.uploadDone(4000);
  progress.build(job(0, null, 'staging', null)); // first build line prints at once
  now += 1000;
  progress.build(job(1000, 4000, 'indexing', 1.5)); // too soon
  now += 3000;
  progress.build(job(3000, 4000, 'indexing', 0.5));
  progress.stop();
  assert.equal(
    stream.text,
    [
      'upload: 1.0 MiB / 4.0 MiB',
      'upload: 3.0 MiB / 4.0 MiB at 1.0 MiB/s, eta 1 s',
      'upload: done, 4.0 MiB in 4.00 s, 4,000 records staged',
      'build: 0 / ? records at 2,000/s (staging)',
      'build: 3,000 / 4,000 records at 2,000/s, eta 1 s (indexing)',
      '',
    ].join('\n'),
  );
});

test('bars draw both phases on the stream and stop cleanly', () => {
  const stream = Object.assign(capture(), { isTTY: true, columns: 120, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
  const progress = createProgress({ bars: true, stream, fileBytes: 1024 });
  progress.upload(512);
  progress.uploadDone(10);
  progress.build(job(5, 10, 'indexing', 1));
  progress.stop();
  progress.stop();
  assert.match(stream.text, /upload \|█{30}\| 100% 1\.0 KiB \/ 1\.0 KiB at /);
  assert.match(stream.text, /build {2}\|█{15}░{15}\| 50% 5 \/ 10 records at 2,000\/s, eta 1 s \(indexing\)/);
});
