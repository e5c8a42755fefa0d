import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { l2, randomVectors } from '../helpers/random.ts';
import { call, finished, startServer, type TestServer } from '../helpers/server.ts';

const DIM = 12;

async function upsert(server: TestServer, name: string, points: { id: string | number; vector: number[]; payload?: object | null }[]): Promise<void> {
  for (let at = 0; at < points.length; at += 500) {
    const res = await call(server, 'PUT', `/v1/collections/${name}/points`, { points: points.slice(at, at + 500) });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }
}

async function info(server: TestServer, name: string): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON
  const res = await call(server, 'GET', `/v1/collections/${name}`);
  assert.equal(res.status, 200);
  return res.body;
}

/** Top-10 ids of `query` by brute force over `live`. */
function exactTop(live: Map<string, number[]>, query: number[], k = 10): string[] {
  return [...live].map(([id, v]) => ({ id, d: l2(query, v) })).sort((a, b) => a.d - b.d).slice(0, k).map((x) => x.id);
}

test('optimize rebuilds in a LID order while searches and writes go on: nothing lost, no tombstones left', async (t) => {
  let server = await startServer(t, { rebuildMinDeleted: 0 });
  assert.equal((await call(server, 'PUT', '/v1/collections/o', { dimension: DIM, metric: 'l2' })).status, 201);
  const vectors = randomVectors(3000, DIM, 41);
  const live = new Map<string, number[]>();
  await upsert(server, 'o', vectors.map((vector, i) => ({ id: `p${i}`, vector, payload: { g: i % 7 } })));
  vectors.forEach((v, i) => live.set(`p${i}`, v));
  const doomed = Array.from({ length: 1800 }, (_, i) => `p${i}`);
  assert.equal((await call(server, 'POST', '/v1/collections/o/points/delete', { ids: doomed })).body.deleted, 1800);
  for (const id of doomed) live.delete(id);
  assert.equal((await info(server, 'o')).stats.index.deleted, 1800);

  const started = await call(server, 'POST', '/v1/collections/o/optimize', { build_order: 'lid_desc', lid_k: 10 });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  assert.equal(started.body.kind, 'optimize');
  // Searches and writes while it runs: every search answers, every write lands.
  const extra = randomVectors(200, DIM, 42);
  let searches = 0;
  let state = started.body.state as string;
  for (let i = 0; state !== 'done' && state !== 'failed'; i++) {
    const q = extra[i % extra.length];
    const found = await call(server, 'POST', '/v1/collections/o/search', { vector: q, k: 5, with_payload: false });
    assert.equal(found.status, 200);
    assert.equal(found.body.results.length, 5);
    searches++;
    if (i < extra.length) {
      await upsert(server, 'o', [{ id: `x${i}`, vector: extra[i] }]);
      live.set(`x${i}`, extra[i]);
    }
    state = (await call(server, 'GET', `/v1/jobs/${started.body.id}`)).body.state;
    await sleep(5);
  }
  const job = await finished(server, started.body.id as string);
  assert.equal(job.state, 'done', JSON.stringify(job));
  assert.ok(searches > 0);

  const after = await info(server, 'o');
  assert.equal(after.count, live.size);
  assert.equal(after.stats.index.deleted, 0, 'the rebuilt index holds no tombstones');
  assert.equal(after.stats.index.live, live.size);
  assert.equal(after.deleted, 0, 'the tombstones the rebuild left out are purged');
  const lid = after.stats.lid;
  assert.ok(lid && lid.count >= 1000 && lid.min <= lid.q1 && lid.q1 <= lid.median && lid.median <= lid.q3 && lid.q3 <= lid.max, JSON.stringify(lid));

  const check = async (s: TestServer) => {
    let hits = 0;
    for (const q of extra.slice(0, 30)) {
      const got = (await call(s, 'POST', '/v1/collections/o/search', { vector: q, k: 10, ef: 100, with_payload: false })).body.results.map((r: { id: string }) => r.id);
      const want = new Set(exactTop(live, q));
      hits += got.filter((id: string) => want.has(id)).length;
    }
    assert.ok(hits >= 0.95 * 300, `recall ${hits / 300}`);
    for (const id of ['p0', 'p1799']) assert.equal((await call(s, 'GET', `/v1/collections/o/points/${id}`)).status, 404);
    assert.equal((await call(s, 'GET', '/v1/collections/o/points/x5')).status, 200);
  };
  await check(server);
  // A deleted id upserted again gets a fresh label and is found.
  await upsert(server, 'o', [{ id: 'p3', vector: vectors[3] }]);
  live.set('p3', vectors[3]);
  assert.equal((await call(server, 'POST', '/v1/collections/o/search', { vector: vectors[3], k: 1 })).body.results[0].id, 'p3');
  server = await server.restart();
  await check(server);
});

test('optimize by a payload field, and with a bad order', async (t) => {
  const server = await startServer(t, { rebuildMinDeleted: 0 });
  assert.equal((await call(server, 'PUT', '/v1/collections/g', { dimension: DIM, metric: 'cosine' })).status, 201);
  const vectors = randomVectors(800, DIM, 43);
  await upsert(server, 'g', vectors.map((vector, i) => ({ id: i, vector, payload: i % 3 ? { lang: i % 2 ? 'en' : 'fr' } : null })));
  const res = await call(server, 'POST', '/v1/collections/g/optimize', { build_order: 'by_payload:lang' });
  assert.equal(res.status, 202);
  assert.equal((await finished(server, res.body.id as string)).state, 'done');
  assert.equal((await call(server, 'POST', '/v1/collections/g/search', { vector: vectors[10], k: 1 })).body.results[0].id, '10');
  assert.equal((await info(server, 'g')).stats.lid, null, 'no k-NN pass ran');

  const empty = await call(server, 'POST', '/v1/collections/g/optimize');
  assert.equal(empty.status, 202);
  assert.equal(empty.body.build_order, 'lid_desc', 'no body, and the collection builds imports in given order: lid_desc');
  assert.equal((await finished(server, empty.body.id as string)).state, 'done');
  assert.ok((await info(server, 'g')).stats.lid.count > 700, 'the LID pass ran');
  for (const bad of [{ build_order: 'sideways' }, { build_order: 'by_payload:' }, { seed: -1 }, { lid_k: 1 }]) {
    const answer = await call(server, 'POST', '/v1/collections/g/optimize', bad);
    assert.equal(answer.status, 400, JSON.stringify(bad));
    assert.equal(answer.body.code, 'VDB_ERR_REQUEST_INVALID');
  }
  assert.equal((await call(server, 'POST', '/v1/collections/nope/optimize', {})).status, 404);
});

test('a collection rebuilds by itself once its tombstones pass the threshold', async (t) => {
  const server = await startServer(t, { rebuildMinDeleted: 300, rebuildDeletedPercent: 50 });
  assert.equal((await call(server, 'PUT', '/v1/collections/a', { dimension: DIM, metric: 'l2' })).status, 201);
  const vectors = randomVectors(1000, DIM, 44);
  await upsert(server, 'a', vectors.map((vector, i) => ({ id: i, vector })));
  await call(server, 'POST', '/v1/collections/a/points/delete', { ids: Array.from({ length: 400 }, (_, i) => i) });
  await sleep(1500);
  assert.equal((await call(server, 'GET', '/v1/jobs')).body.jobs.length, 0, '40 % deleted: below the threshold');
  await call(server, 'POST', '/v1/collections/a/points/delete', { ids: Array.from({ length: 200 }, (_, i) => 400 + i) });
  const end = Date.now() + 30_000;
  let jobs: { id: string; kind: string }[] = [];
  while (jobs.length === 0 && Date.now() < end) {
    await sleep(100);
    jobs = (await call(server, 'GET', '/v1/jobs')).body.jobs;
  }
  assert.equal(jobs.length, 1);
  assert.equal(jobs[0].kind, 'optimize');
  assert.equal((await finished(server, jobs[0].id)).state, 'done');
  const after = await info(server, 'a');
  assert.deepEqual([after.count, after.deleted, after.stats.index.deleted], [400, 0, 0]);
  await sleep(1500);
  assert.equal((await call(server, 'GET', '/v1/jobs')).body.jobs.length, 1, 'no second rebuild once the tombstones are gone');
});

test('imports take the LID and payload orders too', async (t) => {
  const server = await startServer(t, { rebuildMinDeleted: 0 });
  assert.equal((await call(server, 'PUT', '/v1/collections/i', { dimension: DIM, metric: 'l2' })).status, 201);
  const vectors = randomVectors(600, DIM, 45);
  const ndjson = vectors.map((vector, i) => JSON.stringify({ id: i, vector, payload: { shard: i % 4 } })).join('\n');
  for (const order of ['lid_asc', 'by_payload:shard']) {
    const res = await call(server, 'POST', `/v1/collections/i/import?format=ndjson&build_order=${order}`, ndjson, { 'content-type': 'application/x-ndjson' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const job = await finished(server, res.body.job_id as string);
    assert.equal(job.state, 'done', JSON.stringify(job));
    assert.equal(job.build_order, order);
  }
  assert.ok((await info(server, 'i')).stats.lid.count >= 590, 'the lid_asc import kept its pass');
  for (const i of [0, 123, 599]) {
    assert.equal((await call(server, 'POST', '/v1/collections/i/search', { vector: vectors[i], k: 1 })).body.results[0].id, String(i));
  }
  const bad = await call(server, 'POST', '/v1/collections/i/import?format=ndjson&build_order=lid', ndjson, { 'content-type': 'application/x-ndjson' });
  assert.equal(bad.status, 400);
});

test('dropping a collection while it is being optimized fails the job cleanly', async (t) => {
  const server = await startServer(t, { rebuildMinDeleted: 0 });
  assert.equal((await call(server, 'PUT', '/v1/collections/d', { dimension: DIM, metric: 'l2' })).status, 201);
  await upsert(server, 'd', randomVectors(2000, DIM, 46).map((vector, i) => ({ id: i, vector })));
  const res = await call(server, 'POST', '/v1/collections/d/optimize', { build_order: 'lid_desc' });
  assert.equal(res.status, 202);
  assert.equal((await call(server, 'DELETE', '/v1/collections/d')).status, 200);
  const job = await finished(server, res.body.id as string);
  assert.equal(job.state, 'failed', JSON.stringify(job));
  assert.match((job.error as { code: string }).code, /VDB_ERR_COLLECTION_(NOT_FOUND|GONE)/);
  assert.equal((await call(server, 'PUT', '/v1/collections/d', { dimension: DIM, metric: 'l2' })).status, 201, 'the name is free again');
  assert.equal((await call(server, 'GET', '/healthz')).status, 200);
});
