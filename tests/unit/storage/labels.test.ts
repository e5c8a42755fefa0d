import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CollectionsRepo } from '../../../storage/collections.ts';
import { openDatabase } from '../../../storage/db.ts';
import { JobsRepo } from '../../../storage/jobs.ts';
import { PointsRepo } from '../../../storage/points.ts';
import { StagingRepo } from '../../../storage/staging.ts';

const CONFIG = { dimension: 2, metric: 'l2', hnsw: { m: 16, ef_construction: 200, ef_search: 64 }, storage: { codec: 'float32' }, build_order: 'given', graph: { knn_k: 16 } } as const;
const blob = (x: number) => Buffer.from(new Float32Array([x, x]).buffer);
const point = (id: string) => ({ id, vector: blob(1), payload: null });

function setup(maxLabel?: number) {
  const db = openDatabase({ path: ':memory:', synchronous: 'NORMAL' });
  const { id: cid } = new CollectionsRepo(db).create('c', CONFIG);
  const points = new PointsRepo(db, { maxLabel });
  const staging = new StagingRepo(db, { maxLabel });
  const jobs = new JobsRepo(db);
  for (const job of ['j1', 'j2']) jobs.create({ id: job, kind: 'import', collectionId: cid, collection: 'c', detail: {} });
  const label = (id: string) => points.get(cid, id)?.label;
  return { db, cid, points, staging, label };
}

test('purged tombstones free their labels, handed out again lowest first before new ones', () => {
  const { cid, points, label } = setup();
  points.upsert(cid, ['a', 'b', 'c', 'd'].map(point));
  points.deleteIds(cid, ['b', 'd']);
  assert.equal(points.purgeTombstones(cid, Number.MAX_SAFE_INTEGER, 10), 2);
  points.upsert(cid, ['x', 'y', 'z'].map(point));
  assert.deepEqual(['x', 'y', 'z'].map(label), [1, 3, 4]);
});

test('an id an import holds staged keeps that label for an upsert, for a second import and through a purge', () => {
  const { cid, points, staging, label } = setup();
  points.upsert(cid, ['gone'].map(point));
  points.deleteIds(cid, ['gone']);
  staging.stage('j1', cid, [{ row: 0, id: 'new', vector: blob(2), payload: null }, { row: 1, id: 'gone', vector: blob(3), payload: null }], false);
  staging.stage('j2', cid, [{ row: 0, id: 'new', vector: blob(4), payload: null }], false);
  const staged = (job: string, row: number) => staging.rowsByKeys(job, [row])[0].label;
  assert.equal(staged('j2', 0), staged('j1', 0), 'the second import shares the first one\'s label');
  points.upsert(cid, ['new'].map(point));
  assert.equal(label('new'), staged('j1', 0));
  // The tombstone of a staged id is not purged: the staged record holds its label.
  assert.equal(points.purgeTombstones(cid, Number.MAX_SAFE_INTEGER, 10), 0);
  staging.commit('j1', cid);
  assert.equal(label('gone'), staged('j1', 1));
});

test('labels of staged records never committed are freed with them, unless a point or another import holds them', () => {
  const { cid, points, staging, label } = setup();
  staging.stage('j1', cid, ['a', 'b', 'c'].map((id, row) => ({ row, id, vector: blob(row), payload: null })), false);
  staging.stage('j2', cid, [{ row: 0, id: 'c', vector: blob(9), payload: null }], false);
  points.upsert(cid, ['b'].map(point));
  assert.equal(staging.purge('j1', 100), true);
  // 'a' (label 0) is free; 'b' is a point now, 'c' is staged by j2.
  points.upsert(cid, ['n1', 'n2'].map(point));
  assert.deepEqual([label('n1'), label('n2')], [0, 3]);
});

test('running out of labels is a 422 that says how to free them', () => {
  const { cid, points } = setup(1);
  points.upsert(cid, ['a', 'b'].map(point));
  assert.throws(() => points.upsert(cid, ['c'].map(point)), { code: 'VDB_ERR_LABELS_EXHAUSTED', message: /optimize it to free the labels of deleted points/ });
  points.deleteIds(cid, ['a']);
  points.purgeTombstones(cid, Number.MAX_SAFE_INTEGER, 10);
  points.upsert(cid, ['c'].map(point));
});
