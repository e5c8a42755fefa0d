import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BuildProgress } from '../../../../server/engine/build-state.ts';
import { deferred, enterPhase, jobView, type LiveJob } from '../../../../server/engine/import-progress.ts';
import type { JobRecord } from '../../../../storage/jobs.ts';

const job: JobRecord = {
  id: 'j', kind: 'import', collectionId: 1, collection: 'c', state: 'running', detail: { format: 'npy' },
  total: null, processed: 0, committedSeq: null, error: null, createdAt: Date.now() - 10_000, finishedAt: null,
};

test('a building job shows the shared progress, its rate and an ETA', () => {
  const live: LiveJob = { phase: 'staging', since: Date.now() - 2000, processed: 0, total: null, progress: new BuildProgress(), cancel: false, seconds: {}, building: false, received: deferred() };
  enterPhase(live, 'building', { total: 1000 });
  assert.ok(live.seconds.staging! >= 2);
  live.since -= 4000;
  live.progress.processed = 400;
  const view = jobView(job, live);
  assert.equal(view.phase, 'building');
  assert.equal(view.processed, 400);
  assert.equal(view.total, 1000);
  assert.ok(view.rate >= 95 && view.rate <= 100, String(view.rate));
  assert.ok(view.eta_s! >= 6 && view.eta_s! <= 7, String(view.eta_s));
  assert.equal(view.format, 'npy');
});

test('a finished job reports its overall rate; control reaches the build copy', () => {
  const done = jobView({ ...job, state: 'done', processed: 500, total: 500, finishedAt: job.createdAt + 5000 }, undefined);
  assert.equal(done.rate, 100);
  assert.equal(done.eta_s, 0);
  assert.equal(done.seconds, 5);
  // Control changes made on the server side reach the build's copy once attached.
  const server = new BuildProgress();
  server.setExpected(10);
  const build = new BuildProgress();
  build.apply(server.control());
  server.attach((control) => build.apply(control));
  assert.equal(build.expected, 10);
  assert.equal(build.cancelled, false);
  server.receive();
  server.cancel();
  assert.equal(build.received, true);
  assert.equal(build.cancelled, true);
});
