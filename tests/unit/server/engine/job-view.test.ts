import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Job } from '../../../../server/engine/job.ts';
import { jobView } from '../../../../server/engine/job-view.ts';
import type { JobRecord } from '../../../../storage/jobs.ts';

const record: JobRecord = {
  id: 'j', kind: 'import', collectionId: 1, collection: 'c', state: 'running', detail: { format: 'npy' },
  total: null, processed: 0, committedSeq: null, error: null, createdAt: Date.now() - 10_000, finishedAt: null,
};

test('a building job shows the build progress, its rate and an ETA', () => {
  const job = new Job(record, { followable: false });
  job.total = 1000;
  job.receive();
  job.enter('building');
  assert.ok(job.seconds.queued! >= 0);
  // Pretend the phase began 4 s ago.
  Object.defineProperty(job, 'since', { value: Date.now() - 4000 });
  job.built = 400;
  const view = jobView(record, job);
  assert.equal(view.phase, 'building');
  assert.equal(view.state, 'running');
  assert.equal(view.processed, 400);
  assert.equal(view.total, 1000);
  assert.ok(view.rate >= 95 && view.rate <= 100, String(view.rate));
  assert.ok(view.eta_s! >= 6 && view.eta_s! <= 7, String(view.eta_s));
  assert.equal(view.format, 'npy');
});

test('a queued job is state queued, with no ETA; a finished job reports its overall rate', () => {
  const optimize = new Job({ ...record, kind: 'optimize' }, { followable: false });
  const queued = jobView({ ...record, kind: 'optimize', state: 'running' }, optimize);
  assert.equal(queued.state, 'queued');
  assert.equal(queued.phase, 'queued');
  assert.equal(queued.eta_s, null);
  const done = jobView({ ...record, state: 'done', processed: 500, total: 500, finishedAt: record.createdAt + 5000 }, undefined);
  assert.equal(done.rate, 100);
  assert.equal(done.eta_s, 0);
  assert.equal(done.seconds, 5);
});

test('a job only moves forward, and ends once', async () => {
  const job = new Job(record, { followable: true });
  assert.equal(job.phase, 'staging');
  assert.throws(() => job.enter('committing'), /cannot go from staging to committing/);
  job.following = true;
  job.receive();
  assert.equal(job.phase, 'building', 'a build that followed the upload goes on building');
  await job.whenReceived();
  assert.throws(() => job.enter('queued'), /cannot go from building to queued/);
  const cancel = new Error('cancelled');
  assert.equal(job.end({ state: 'cancelled' }, cancel), true);
  assert.equal(job.end({ state: 'failed' }, new Error('late')), false, 'the first outcome stays');
  assert.equal(job.state, 'cancelled');
  assert.equal(job.signal.reason, cancel);
  assert.throws(() => job.enter('committing'), /has ended/);
});

test('waiting for the body stops when the job ends first', async () => {
  const job = new Job(record, { followable: false });
  const waiting = job.whenReceived();
  job.end({ state: 'failed' }, new Error('dropped'));
  await assert.rejects(waiting, /dropped/);
});
