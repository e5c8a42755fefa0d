import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CollectionsRepo } from '../../../storage/collections.ts';
import { currentSeq, openDatabase } from '../../../storage/db.ts';
import { JobsRepo } from '../../../storage/jobs.ts';
import { PointsRepo } from '../../../storage/points.ts';
import { StagingRepo } from '../../../storage/staging.ts';

const CONFIG = { dimension: 2, metric: 'l2', hnsw: { m: 16, ef_construction: 200, ef_search: 64 }, storage: { codec: 'float32' }, build_order: 'given', graph: { knn_k: 16 } } as const;
const blob = (x: number) => Buffer.from(new Float32Array([x, x]).buffer);

function setup() {
  const db = openDatabase({ path: ':memory:', synchronous: 'NORMAL' });
  const collection = new CollectionsRepo(db).create('c', CONFIG);
  const points = new PointsRepo(db);
  const jobs = new JobsRepo(db);
  const staging = new StagingRepo(db);
  const job = jobs.create({ id: 'j1', kind: 'import', collectionId: collection.id, collection: 'c', detail: {} });
  return { db, cid: collection.id, points, jobs, staging, job };
}

test('staging reserves labels for new ids, keeps known ids\' labels, and shows nothing before the commit', () => {
  const { cid, points, staging } = setup();
  points.upsert(cid, [{ id: 'a', vector: blob(1), payload: null }, { id: 'b', vector: blob(2), payload: null }]);
  points.deleteIds(cid, ['b']);
  staging.stage('j1', cid, [
    { row: 0, id: 'b', vector: blob(20), payload: '{"x":1}' },
    { row: 1, id: 'c', vector: blob(30), payload: null },
    { row: 2, id: 'c', vector: blob(31), payload: null },
  ], true);
  assert.deepEqual(staging.rowsByKeys('j1', [2, 0]).map((r) => [r.row, r.label]), [[2, 2], [0, 1]]);
  assert.equal(staging.count('j1'), 2);
  assert.equal(points.get(cid, 'c'), undefined);
  assert.equal(points.get(cid, 'b'), undefined);
});

test('the commit makes every staged record visible with one sequence number and fixes the counts', () => {
  const { db, cid, points, staging, jobs } = setup();
  points.upsert(cid, [{ id: 'a', vector: blob(1), payload: null }, { id: 'b', vector: blob(2), payload: null }]);
  points.deleteIds(cid, ['b']);
  staging.stage('j1', cid, [
    { row: 0, id: 'a', vector: blob(10), payload: null },
    { row: 1, id: 'b', vector: blob(20), payload: '{"x":1}' },
    { row: 2, id: 'new', vector: blob(30), payload: null },
  ], false);
  // An upsert creates 'late' while the import holds it staged: it takes the staged label, so the commit moves nothing.
  staging.stage('j1', cid, [{ row: 3, id: 'late', vector: blob(40), payload: null }], false);
  const staged = staging.rowsByKeys('j1', [3])[0].label;
  points.upsert(cid, [{ id: 'late', vector: blob(41), payload: null }]);
  assert.equal(points.get(cid, 'late')!.label, staged);
  const before = currentSeq(db);
  const commit = staging.commit('j1', cid);
  assert.equal(commit.seq, before + 1);
  assert.equal(commit.records, 4);
  const late = points.get(cid, 'late')!;
  assert.equal(late.label, staged);
  assert.deepEqual(late.vector, blob(40), 'the later commit wins');
  assert.deepEqual(points.get(cid, 'b')!.payload, '{"x":1}');
  assert.equal(points.rowsAtSeq(cid, commit.seq, -1, 100).length, 4);
  const record = new CollectionsRepo(db).get('c')!;
  assert.equal(record.liveCount, 4);
  assert.equal(record.deletedCount, 0);
  assert.equal(jobs.get('j1')!.committedSeq, commit.seq);
  // Purged in chunks.
  assert.equal(staging.purge('j1', 3), false);
  assert.equal(staging.purge('j1', 3), true);
  assert.deepEqual(staging.jobsWithRows(), []);
});

test('the commit refuses a dropped collection and changes nothing', () => {
  const { db, cid, points, staging } = setup();
  staging.stage('j1', cid, [{ row: 0, id: 'x', vector: blob(1), payload: null }], false);
  new CollectionsRepo(db).drop(cid);
  const seq = currentSeq(db);
  assert.throws(() => staging.commit('j1', cid), { code: 'VDB_ERR_COLLECTION_GONE' });
  assert.equal(currentSeq(db), seq);
  assert.equal(points.get(cid, 'x'), undefined);
});

test('jobs left running by a stopped process settle: committed ones done, the rest failed', () => {
  const { jobs, cid, staging } = setup();
  jobs.create({ id: 'j2', kind: 'import', collectionId: cid, collection: 'c', detail: {} });
  jobs.create({ id: 'j3', kind: 'import', collectionId: cid, collection: 'c', detail: {} });
  jobs.update('j3', { state: 'done' });
  jobs.create({ id: 'j4', kind: 'import', collectionId: cid, collection: 'c', detail: {} });
  staging.stage('j4', cid, [{ row: 0, id: 'x', vector: blob(1), payload: null }], false);
  staging.commit('j4', cid);
  const settled = jobs.settleInterrupted();
  assert.deepEqual(settled.failed.sort(), ['j1', 'j2']);
  assert.deepEqual(settled.done, ['j4']);
  assert.equal(jobs.get('j4')!.state, 'done');
  assert.equal(jobs.get('j1')!.state, 'failed');
  assert.equal(jobs.get('j1')!.error!.code, 'VDB_ERR_JOB_INTERRUPTED');
  assert.ok(jobs.get('j1')!.finishedAt! > 0);
  assert.equal(jobs.get('j3')!.state, 'done');
});
