import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CollectionsRepo } from '../../../storage/collections.ts';
import { openDatabase } from '../../../storage/db.ts';
import { JobsRepo } from '../../../storage/jobs.ts';

test('pruning removes finished jobs older than the cut-off or beyond the newest to keep, never unfinished ones', () => {
  const db = openDatabase({ path: ':memory:', synchronous: 'NORMAL' });
  const { id } = new CollectionsRepo(db).create('c', { dimension: 2, metric: 'l2', hnsw: { m: 16, ef_construction: 200, ef_search: 64 }, storage: { codec: 'float32' }, build_order: 'given', graph: { knn_k: 16 } });
  const jobs = new JobsRepo(db);
  for (let i = 0; i < 6; i++) {
    jobs.create({ id: `j${i}`, kind: 'import', collectionId: id, collection: 'c', detail: {}, state: i === 5 ? 'queued' : 'running' });
    if (i < 5) jobs.update(`j${i}`, { state: 'done' });
  }
  const finishedAt = (job: string, at: number) => db.prepare('UPDATE jobs SET finished_at = ? WHERE id = ?').run(at, job);
  [1000, 2000, 3000, 4000, 5000].forEach((at, i) => finishedAt(`j${i}`, at));
  assert.equal(jobs.prune(1500, 100), 1, 'j0 finished before the cut-off');
  assert.equal(jobs.prune(0, 2), 2, 'j1 and j2 are beyond the newest two');
  assert.deepEqual(jobs.list(10).map((j) => j.id).sort(), ['j3', 'j4', 'j5']);
  assert.equal(jobs.get('j5')!.state, 'queued');
});
