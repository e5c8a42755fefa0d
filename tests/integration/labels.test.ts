import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { randomVectors } from '../helpers/random.ts';
import { call, finished, startServer, type TestServer } from '../helpers/server.ts';

const DIM = 8;

async function upsert(server: TestServer, name: string, points: { id: string; vector: number[] }[]): Promise<void> {
  for (let at = 0; at < points.length; at += 1000) {
    const res = await call(server, 'PUT', `/v1/collections/${name}/points`, { points: points.slice(at, at + 1000) });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }
}

async function info(server: TestServer, name: string): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON
  return (await call(server, 'GET', `/v1/collections/${name}`)).body;
}

/** The largest label handed out so far (SQLite's own record), read beside the server. */
function labelsUsed(server: TestServer, name: string): number {
  const db = new Database(join(server.dataDir, 'vicinity.db'), { readonly: true });
  try {
    return db.prepare('SELECT next_label FROM collections WHERE name = ? AND dropped = 0').pluck().get(name) as number;
  } finally {
    db.close();
  }
}

function ndjson(ids: string[], vectors: number[][]): string {
  return ids.map((id, i) => JSON.stringify({ id, vector: vectors[i] })).join('\n');
}

async function startImport(server: TestServer, name: string, body: string): Promise<string> {
  const res = await fetch(`${server.url}/v1/collections/${name}/import?format=ndjson`, { method: 'POST', body });
  const answer = (await res.json()) as { job_id: string };
  assert.equal(res.status, 202, JSON.stringify(answer));
  return answer.job_id;
}

test('ids deleted and upserted again through 20 purges reuse their labels: memory and the largest label stay flat', async (t) => {
  const server = await startServer(t, { rebuildMinDeleted: 0 });
  assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: DIM, metric: 'l2' })).status, 201);
  const keep = randomVectors(500, DIM, 1).map((vector, i) => ({ id: `keep${i}`, vector }));
  await upsert(server, 'c', keep);
  const churn = Array.from({ length: 1000 }, (_, i) => `churn${i}`);
  const used: number[] = [];
  const shared: number[] = [];
  for (let cycle = 0; cycle < 20; cycle++) {
    const vectors = randomVectors(1000, DIM, 100 + cycle);
    await upsert(server, 'c', churn.map((id, i) => ({ id, vector: vectors[i] })));
    const after = await info(server, 'c');
    assert.equal(after.count, 1500);
    assert.equal(after.stats.index.live, 1500);
    used.push(labelsUsed(server, 'c'));
    shared.push(after.stats.memory_bytes.shared_vectors);
    assert.equal((await call(server, 'POST', '/v1/collections/c/points/delete', { ids: churn })).body.deleted, 1000);
    const optimize = await call(server, 'POST', '/v1/collections/c/optimize', { build_order: 'random' });
    assert.equal((await finished(server, optimize.body.id as string)).state, 'done');
    assert.equal((await info(server, 'c')).deleted, 0, 'the optimize purged the tombstones');
  }
  assert.deepEqual(new Set(used), new Set([1500]), `labels handed out per cycle: ${used.join(', ')}`);
  assert.equal(new Set(shared).size, 1, `shared vector bytes per cycle: ${shared.join(', ')}`);
  // The last upsert's vectors are what the index finds.
  const last = randomVectors(1000, DIM, 119);
  await upsert(server, 'c', churn.map((id, i) => ({ id, vector: last[i] })));
  for (const i of [0, 499, 999]) {
    const found = await call(server, 'POST', '/v1/collections/c/search', { vector: last[i], k: 1, ef: 200, with_payload: false });
    assert.equal(found.body.results[0].id, churn[i]);
  }
});

test('two imports of overlapping ids at once leave the index holding exactly the live points, before and after a restart', async (t) => {
  let server = await startServer(t);
  assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: DIM, metric: 'l2' })).status, 201);
  const vectors = randomVectors(9000, DIM, 2);
  const ids = vectors.map((_, i) => `p${i}`);
  // 0–5,999 and 3,000–8,999, uploaded together: the second import stages ids the first holds staged.
  const [first, second] = await Promise.all([
    startImport(server, 'c', ndjson(ids.slice(0, 6000), vectors.slice(0, 6000))),
    startImport(server, 'c', ndjson(ids.slice(3000), vectors.slice(3000))),
  ]);
  for (const id of [first, second]) assert.equal((await finished(server, id, 120_000)).state, 'done');
  const check = async (s: TestServer) => {
    const c = await info(s, 'c');
    assert.equal(c.count, 9000);
    assert.equal(c.stats.index.live, 9000, 'no label an import reserved is left in the index');
    assert.ok(c.stats.index.capacity < 2 * 9000, `capacity ${c.stats.index.capacity}`);
    assert.equal(labelsUsed(s, 'c'), 9000);
    for (const i of [0, 2999, 3000, 5999, 6000, 8999]) {
      const found = await call(s, 'POST', '/v1/collections/c/search', { vector: vectors[i], k: 1, ef: 200, with_payload: false });
      assert.equal(found.body.results[0].id, ids[i]);
    }
  };
  await check(server);
  server = await server.restart();
  await check(server);
});

test('upserts of ids an import is staging take the staged label: the commit wins, nothing is left behind', async (t) => {
  const server = await startServer(t);
  assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: DIM, metric: 'l2' })).status, 201);
  const vectors = randomVectors(5000, DIM, 3);
  const ids = vectors.map((_, i) => `p${i}`);
  const job = await startImport(server, 'c', ndjson(ids, vectors));
  // While it builds, upsert 500 of its ids (new to the collection) with other vectors, and 100 ids of its own.
  const other = randomVectors(600, DIM, 4);
  await upsert(server, 'c', ids.slice(100, 600).map((id, i) => ({ id, vector: other[i] })));
  await upsert(server, 'c', other.slice(500).map((vector, i) => ({ id: `own${i}`, vector })));
  assert.equal((await finished(server, job, 120_000)).state, 'done');
  const c = await info(server, 'c');
  assert.equal(c.count, 5100);
  assert.equal(c.stats.index.live, 5100);
  assert.equal(labelsUsed(server, 'c'), 5100);
  // The import committed after the upserts: its vectors win for the ids both wrote.
  const found = await call(server, 'POST', '/v1/collections/c/search', { vector: vectors[300], k: 1, ef: 200, with_payload: false });
  assert.equal(found.body.results[0].id, 'p300');
  const stale = await call(server, 'POST', '/v1/collections/c/search', { vector: other[200], k: 1, ef: 200, with_payload: false });
  assert.notEqual(stale.body.results[0].id, 'p300');
});
