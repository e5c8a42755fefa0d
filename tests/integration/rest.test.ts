import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import { call, startServer, waitReady } from '../helpers/server.ts';
import { l2, prng } from '../helpers/random.ts';



const DIM = 8;

function makePoints(n: number, seed = 1) {
  const r = prng(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: i % 2 === 0 ? i : `p-${i}`,
    vector: Array.from({ length: DIM }, () => Math.fround(r() * 2 - 1)),
    payload: { i, lang: i % 3 === 0 ? 'en' : 'de', tags: i % 5 === 0 ? ['a', 'b'] : ['c'], nested: { even: i % 2 === 0 } },
  }));
}

test('the full REST flow: collections, points, search, scroll, delete, restart', async (t) => {
  let server = await startServer(t);
  assert.equal((await call(server, 'GET', '/healthz')).status, 200);
  assert.equal((await call(server, 'GET', '/readyz')).status, 200);

  const created = await call(server, 'PUT', '/v1/collections/docs', { dimension: DIM, metric: 'l2' });
  assert.equal(created.status, 201);
  assert.equal(created.body.name, 'docs');
  assert.equal(created.body.count, 0);
  assert.deepEqual(created.body.config.hnsw, { m: 16, ef_construction: 200, ef_search: 64 });
  const same = await call(server, 'PUT', '/v1/collections/docs', { dimension: DIM, metric: 'l2', hnsw: { m: 16 } });
  assert.equal(same.status, 200, 'identical after defaults');
  const different = await call(server, 'PUT', '/v1/collections/docs', { dimension: DIM, metric: 'cosine' });
  assert.equal(different.status, 409);
  assert.equal(different.body.code, 'VDB_ERR_COLLECTION_EXISTS');

  const points = makePoints(300);
  const up = await call(server, 'PUT', '/v1/collections/docs/points', { points });
  assert.equal(up.status, 200);
  assert.deepEqual(up.body, { upserted: 300 });
  assert.equal((await call(server, 'PUT', '/v1/collections/docs/points', { points: [] })).body.upserted, 0);

  const described = await call(server, 'GET', '/v1/collections/docs');
  assert.equal(described.body.count, 300);
  assert.equal(described.body.stats.index.live, 300);

  // 5 and "5" name the same point; ids come back as strings.
  const p4 = await call(server, 'GET', '/v1/collections/docs/points/4?with_vector=true');
  assert.equal(p4.status, 200);
  assert.equal(p4.body.id, '4');
  assert.deepEqual(p4.body.payload, points[4].payload);
  assert.deepEqual(p4.body.vector, points[4].vector);
  const p5 = await call(server, 'GET', '/v1/collections/docs/points/p-5');
  assert.equal(p5.body.vector, undefined);

  // Unfiltered search against brute force.
  const query = points[10].vector;
  const exact = points.map((p) => ({ id: String(p.id), d: l2(query, p.vector) })).sort((a, b) => a.d - b.d);
  const found = await call(server, 'POST', '/v1/collections/docs/search', { vector: query, k: 10, ef: 100 });
  assert.equal(found.status, 200);
  assert.deepEqual(found.body.results.map((r: { id: string }) => r.id), exact.slice(0, 10).map((e) => e.id));
  assert.ok(Math.abs(found.body.results[0].distance) < 1e-6);
  assert.deepEqual(found.body.results[0].payload, points[10].payload);
  assert.equal(typeof found.body.took_ms, 'number');
  const bare = await call(server, 'POST', '/v1/collections/docs/search', { vector: query, k: 3, with_payload: false, with_vector: true });
  assert.equal(bare.body.results[0].payload, undefined);
  assert.equal(bare.body.results[0].vector.length, DIM);
  const ef1 = await call(server, 'POST', '/v1/collections/docs/search', { vector: query, k: 5, ef: 1 });
  assert.equal(ef1.body.results.length, 5, 'ef below k is raised to k');

  // Filtered search returns k whenever k match, and only matches.
  const rare = { $and: [{ lang: 'en' }, { tags: 'a' }] }; // i % 15 === 0: 20 points
  const filtered = await call(server, 'POST', '/v1/collections/docs/search', { vector: query, k: 10, where: rare });
  const rareIds = points.filter((p) => p.payload.i % 15 === 0).map((p) => String(p.id));
  const expected = exact.filter((e) => rareIds.includes(e.id)).slice(0, 10).map((e) => e.id);
  assert.deepEqual(filtered.body.results.map((r: { id: string }) => r.id), expected);
  const half = await call(server, 'POST', '/v1/collections/docs/search', { vector: query, k: 20, where: { 'nested.even': true } });
  assert.equal(half.body.results.length, 20);
  for (const r of half.body.results) assert.equal(r.payload.nested.even, true);

  // Batch search.
  const batch = await call(server, 'POST', '/v1/collections/docs/search/batch', {
    searches: [{ vector: query, k: 2 }, { vector: points[20].vector, k: 1 }],
  });
  assert.equal(batch.body.results.length, 2);
  assert.equal(batch.body.results[1][0].id, '20');

  // Scroll visits every point once, in a stable order.
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: { points: { id: string }[]; next_cursor: string | null } } = await call(server, 'POST', '/v1/collections/docs/points/scroll', { limit: 70, cursor });
    seen.push(...page.body.points.map((p) => p.id));
    cursor = page.body.next_cursor;
  } while (cursor);
  assert.equal(seen.length, 300);
  assert.equal(new Set(seen).size, 300);
  const en = await call(server, 'POST', '/v1/collections/docs/points/scroll', { where: { lang: 'en' }, limit: 1000 });
  assert.equal(en.body.points.length, 100);
  assert.equal(en.body.next_cursor, null);

  // Deletes: by id (unknown ids ignored) and by where.
  const del = await call(server, 'POST', '/v1/collections/docs/points/delete', { ids: [10, 'nope', '10'] });
  assert.deepEqual(del.body, { deleted: 1 });
  assert.equal((await call(server, 'GET', '/v1/collections/docs/points/10')).status, 404);
  const after = await call(server, 'POST', '/v1/collections/docs/search', { vector: query, k: 10 });
  assert.ok(!after.body.results.some((r: { id: string }) => r.id === '10'));
  const delWhere = await call(server, 'POST', '/v1/collections/docs/points/delete', { where: { lang: 'de' } });
  assert.equal(delWhere.body.deleted, 199, 'point 10 (de) was already deleted');
  const left = await call(server, 'GET', '/v1/collections/docs');
  assert.equal(left.body.count, 100);
  assert.equal(left.body.deleted, 200);
  assert.equal(left.body.stats.index.live, 100);

  // Re-upserting a deleted id brings it back.
  assert.equal((await call(server, 'PUT', '/v1/collections/docs/points', { points: [points[10]] })).status, 200);
  const back = await call(server, 'POST', '/v1/collections/docs/search', { vector: query, k: 1 });
  assert.equal(back.body.results[0].id, '10');

  // MessagePack in (Float32Array vector) and out.
  const packr = new Packr({ moreTypes: true, useRecords: false });
  const mp = await fetch(`${server.url}/v1/collections/docs/search`, {
    method: 'POST',
    headers: { 'content-type': 'application/msgpack', accept: 'application/msgpack' },
    body: packr.pack({ vector: new Float32Array(query), k: 1 }),
  });
  assert.equal(mp.status, 200);
  assert.equal(mp.headers.get('content-type'), 'application/msgpack');
  const decoded = packr.unpack(Buffer.from(await mp.arrayBuffer())) as { results: { id: string }[] };
  assert.equal(decoded.results[0].id, '10');
  const rawBytes = Buffer.from(new Float32Array(points[12].vector).buffer);
  const mpRaw = await fetch(`${server.url}/v1/collections/docs/search`, {
    method: 'POST',
    headers: { 'content-type': 'application/msgpack' },
    body: packr.pack({ vector: rawBytes, k: 1 }),
  });
  assert.equal(((await mpRaw.json()) as { results: { id: string }[] }).results[0].id, '12');

  // Restart keeps everything: points, payloads, deletes, and search results.
  server = await server.restart();
  await waitReady(server);
  const again = await call(server, 'GET', '/v1/collections/docs');
  assert.equal(again.body.count, 101);
  assert.equal(again.body.stats.index.live, 101);
  const same10 = await call(server, 'POST', '/v1/collections/docs/search', { vector: query, k: 1 });
  assert.equal(same10.body.results[0].id, '10');
  const gone = await call(server, 'GET', '/v1/collections/docs/points/p-1');
  assert.equal(gone.status, 404);

  const list = await call(server, 'GET', '/v1/collections');
  assert.deepEqual(list.body.collections.map((c: { name: string }) => c.name), ['docs']);
  assert.equal((await call(server, 'DELETE', '/v1/collections/docs')).status, 200);
  assert.equal((await call(server, 'GET', '/v1/collections/docs')).status, 404);
  const recreated = await call(server, 'PUT', '/v1/collections/docs', { dimension: 3, metric: 'cosine' });
  assert.equal(recreated.status, 201);
  assert.equal(recreated.body.count, 0);
});

test('a big batch is applied in slices and is visible to the next search', async (t) => {
  const server = await startServer(t);
  await call(server, 'PUT', '/v1/collections/big', { dimension: DIM, metric: 'l2', hnsw: { ef_construction: 40 } });
  const points = makePoints(3000, 7);
  assert.equal((await call(server, 'PUT', '/v1/collections/big/points', { points })).status, 200);
  const res = await call(server, 'POST', '/v1/collections/big/search', { vector: points[2999].vector, k: 1 });
  assert.equal(res.body.results[0].id, 'p-2999');
  const described = await call(server, 'GET', '/v1/collections/big');
  assert.equal(described.body.stats.index.live, 3000);
});
