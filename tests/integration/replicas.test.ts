import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { matchesWhere, parseWhere } from '../../storage/where.ts';
import { call, indexed, startServer } from '../helpers/server.ts';
import { l2, prng, randomVectors } from '../helpers/random.ts';

const DIM = 8;



test('writes interleaved with searches from many clients: every search sees the writes acknowledged before it', async (t) => {
  const server = await startServer(t, { replicas: 2 });
  await call(server, 'PUT', '/v1/collections/rw', { dimension: DIM, metric: 'l2', hnsw: { ef_construction: 64 } });
  const random = prng(3);
  const clients = Array.from({ length: 8 }, (_, c) => (async () => {
    for (let i = 0; i < 25; i++) {
      const id = `c${c}-${i}`;
      const vector = Array.from({ length: DIM }, () => Math.fround(random() * 10));
      const up = await call(server, 'PUT', '/v1/collections/rw/points', { points: [{ id, vector, payload: { c } }] });
      assert.equal(up.status, 200);
      // Read-your-writes: the point just acknowledged is found, whichever replica answers.
      const found = await call(server, 'POST', '/v1/collections/rw/search', { vector, k: 3, ef: 64, with_payload: false });
      assert.equal(found.status, 200);
      assert.equal(found.body.results[0]?.id, id, `${id} is visible right after its upsert`);
      const ids = found.body.results.map((r: { id: string }) => r.id);
      assert.equal(new Set(ids).size, ids.length, 'no duplicated results');
      if (i % 5 === 4) {
        const del = await call(server, 'POST', '/v1/collections/rw/points/delete', { ids: [id] });
        assert.equal(del.body.deleted, 1);
        const after = await call(server, 'POST', '/v1/collections/rw/search', { vector, k: 3, ef: 64, with_payload: false });
        assert.ok(!after.body.results.some((r: { id: string }) => r.id === id), `${id} is gone right after its delete`);
      }
    }
  })());
  await Promise.all(clients);
  const described = await call(server, 'GET', '/v1/collections/rw');
  assert.equal(described.body.count, 8 * 20);
  assert.equal(described.body.stats.replicas, 2);
  assert.equal(described.body.stats.index.live, 8 * 20);
});

test('a crashed replica is replaced and reloads without losing acknowledged writes', async (t) => {
  const server = await startServer(t, { replicas: 2 });
  await call(server, 'PUT', '/v1/collections/k', { dimension: DIM, metric: 'l2' });
  const random = prng(5);
  const points = Array.from({ length: 300 }, (_, id) => ({ id, vector: Array.from({ length: DIM }, () => Math.fround(random())) }));
  await call(server, 'PUT', '/v1/collections/k/points', { points: points.slice(0, 200) });
  const { engine } = server.app;
  await engine.forTest.killReplica(0);
  // Written while replica 0 is being replaced: its successor must pick these up from SQLite.
  await call(server, 'PUT', '/v1/collections/k/points', { points: points.slice(200) });
  await engine.forTest.killReplica(1);
  for (let round = 0; round < 4; round++) {
    const res = await call(server, 'POST', '/v1/collections/k/search/batch', {
      searches: points.map((p) => ({ vector: p.vector, k: 1, ef: 100, with_payload: false })),
    });
    assert.equal(res.status, 200);
    points.forEach((p, i) => assert.equal(res.body.results[i][0]?.id, String(p.id)));
  }
  const described = await call(server, 'GET', '/v1/collections/k');
  assert.equal(described.body.stats.index.live, 300);
});

test('filtered searches return k whenever k match, all matching, with recall ≥ 0.9 against the exact filtered top-k', async (t) => {
  const server = await startServer(t, { replicas: 2 });
  const n = 1500;
  const random = prng(11);
  const langs = ['en', 'de', 'fr', 'es'];
  const points = Array.from({ length: n }, (_, id) => ({
    id,
    vector: Array.from({ length: DIM }, () => Math.fround(random())),
    payload: {
      bucket: id % 100,
      lang: langs[id % 4],
      tags: id % 7 === 0 ? ['x', 'y'] : ['z'],
      ...(id % 3 === 0 ? { flag: id % 2 === 0 } : {}),
    },
  }));
  await call(server, 'PUT', '/v1/collections/f', { dimension: DIM, metric: 'l2' });
  await call(server, 'PUT', '/v1/collections/f/points', { points });

  const scalar = fc.oneof(fc.integer({ min: 0, max: 99 }), fc.constantFrom(...langs, 'x', 'y', 'z'), fc.boolean());
  const field = fc.oneof(
    fc.record({ bucket: fc.oneof(fc.integer({ min: 0, max: 99 }), fc.record({ $lt: fc.integer({ min: 0, max: 100 }) }), fc.record({ $gte: fc.integer({ min: 0, max: 100 }) })) }),
    fc.record({ lang: fc.oneof(fc.constantFrom(...langs), fc.record({ $ne: fc.constantFrom(...langs) }), fc.record({ $in: fc.array(fc.constantFrom(...langs), { maxLength: 3 }) })) }),
    fc.record({ tags: fc.oneof(fc.constantFrom('x', 'z'), fc.record({ $nin: fc.array(scalar, { maxLength: 2 }) })) }),
    fc.record({ flag: fc.oneof(fc.boolean(), fc.record({ $exists: fc.boolean() })) }),
  );
  const where = fc.oneof(field, fc.record({ $and: fc.array(field, { minLength: 1, maxLength: 2 }) }), fc.record({ $or: fc.array(field, { minLength: 1, maxLength: 2 }) }), fc.record({ $not: field }));

  await fc.assert(
    fc.asyncProperty(where, fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 1, max: 20 }), async (w, q, k) => {
      const node = parseWhere(w);
      const query = points[q].vector;
      const matching = points.filter((p) => matchesWhere(node, p.payload));
      const expected = matching
        .map((p) => ({ id: String(p.id), d: l2(query, p.vector) }))
        .sort((a, b) => a.d - b.d || Number(a.id) - Number(b.id))
        .slice(0, k);
      const res = await call(server, 'POST', '/v1/collections/f/search', { vector: query, k, ef: 200, where: w });
      assert.equal(res.status, 200);
      const got = res.body.results as { id: string; payload: Record<string, unknown> }[];
      assert.equal(got.length, Math.min(k, matching.length), `k results whenever k match: ${JSON.stringify(w)}`);
      for (const r of got) assert.ok(matchesWhere(node, r.payload), 'every result matches');
      // Recall against the exact filtered top-k (graph walks may differ on ties and far tails).
      const hits = got.filter((r) => expected.some((e) => e.id === r.id)).length;
      assert.ok(hits >= Math.floor(0.9 * expected.length), `recall ${hits}/${expected.length} for ${JSON.stringify(w)}`);
    }),
    { numRuns: 120 },
  );
});

test('a full search queue answers 503 with Retry-After', async (t) => {
  const server = await startServer(t, { replicas: 1, replicaQueue: 2 });
  await call(server, 'PUT', '/v1/collections/o', { dimension: 64, metric: 'l2', hnsw: { ef_construction: 16 } });
  const random = prng(9);
  const points = Array.from({ length: 4000 }, (_, id) => ({ id, vector: Array.from({ length: 64 }, () => random()) }));
  await call(server, 'PUT', '/v1/collections/o/points', { points });
  const body = { vector: points[0].vector, k: 100, ef: 4000, with_payload: false };
  const answers = await Promise.all(Array.from({ length: 40 }, () => call(server, 'POST', '/v1/collections/o/search', body)));
  const refused = answers.filter((a) => a.status === 503);
  assert.ok(refused.length > 0, 'some searches are refused');
  assert.ok(answers.some((a) => a.status === 200), 'the queued ones are answered');
  for (const a of refused) {
    assert.equal(a.body.code, 'VDB_ERR_OVERLOADED');
    assert.equal(a.headers.get('retry-after'), '1');
  }
});

test('a writer is slowed to the indexing rate once the replicas lag behind', async (t) => {
  const server = await startServer(t, { replicas: 2, maxIndexBacklog: 300 });
  await call(server, 'PUT', '/v1/collections/b', { dimension: 32, metric: 'l2' });
  const data = randomVectors(4000, 32, 21);
  for (let i = 0; i < data.length; i += 500) {
    const points = data.slice(i, i + 500).map((vector, j) => ({ id: i + j, vector }));
    assert.equal((await call(server, 'PUT', '/v1/collections/b/points', { points })).status, 200);
    assert.ok(server.app.engine.gauges.indexBacklog <= 300, `backlog ${server.app.engine.gauges.indexBacklog} after an acknowledged write`);
  }
});

test('searches answer while a burst of replacing upserts and deletes is still being indexed, and see all of it', async (t) => {
  // 384-d in-place updates take milliseconds each: the replicas index this burst for seconds.
  const dim = 384;
  const server = await startServer(t, { replicas: 2, maxIndexBacklog: 100_000 });
  await call(server, 'PUT', '/v1/collections/burst', { dimension: dim, metric: 'l2' });
  const before = randomVectors(3000, dim, 41);
  const after = randomVectors(3000, dim, 42);
  const put = (vectors: number[][], tag: string) =>
    call(server, 'PUT', '/v1/collections/burst/points', { points: vectors.map((vector, id) => ({ id, vector, payload: { tag, odd: id % 2 } })) });
  assert.equal((await put(before, 'before')).status, 200);
  await indexed(server);
  assert.equal((await put(after, 'after')).status, 200);
  const gone = Array.from({ length: 100 }, (_, i) => i * 30);
  assert.equal((await call(server, 'POST', '/v1/collections/burst/points/delete', { ids: gone })).body.deleted, 100);
  const deleted = new Set(gone.map(String));
  const exact = (query: number[], allowed: (id: number) => boolean) =>
    after.map((v, id) => ({ id, d: l2(query, v) })).filter((h) => !deleted.has(String(h.id)) && allowed(h.id)).sort((a, b) => a.d - b.d).slice(0, 5).map((h) => String(h.id));
  for (let q = 0; q < 20; q++) {
    const id = q * 31 + 1;
    const res = await call(server, 'POST', '/v1/collections/burst/search', { vector: after[id], k: 5 });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.results.map((r: { id: string }) => r.id), exact(after[id], () => true), `query ${q}`);
    for (const r of res.body.results) assert.equal(r.payload.tag, 'after');
    const odd = await call(server, 'POST', '/v1/collections/burst/search', { vector: before[id], k: 5, where: { odd: 1 } });
    assert.deepEqual(odd.body.results.map((r: { id: string }) => r.id), exact(before[id], (i) => i % 2 === 1), `filtered query ${q}`);
  }
  const stats = await call(server, 'GET', '/v1/collections/burst');
  assert.equal(stats.body.stats.index.live, 2900, 'stats count what the acknowledged writes made');
  // Every answer above came while the index still lacked part of the burst: none waited for it.
  assert.ok(server.app.engine.gauges.indexBacklog > 0, 'the burst was still being indexed');
  await indexed(server);
  const settled = await call(server, 'POST', '/v1/collections/burst/search', { vector: after[1], k: 5, ef: 200 });
  assert.deepEqual(settled.body.results.map((r: { id: string }) => r.id), exact(after[1], () => true));
});

test('a filter the payload index cannot answer (long strings) is answered from SQLite', async (t) => {
  const server = await startServer(t);
  await call(server, 'PUT', '/v1/collections/long', { dimension: DIM, metric: 'l2' });
  const long = (i: number) => `chunk ${i} `.padEnd(400, 'x');
  const points = randomVectors(300, DIM, 31).map((vector, id) => ({ id, vector, payload: { text: long(id % 3), n: id } }));
  await call(server, 'PUT', '/v1/collections/long/points', { points });
  const res = await call(server, 'POST', '/v1/collections/long/search', { vector: points[0].vector, k: 5, where: { text: long(1) } });
  assert.equal(res.status, 200);
  assert.equal(res.body.results.length, 5);
  for (const r of res.body.results) assert.equal(Number(r.id) % 3, 1);
  const range = await call(server, 'POST', '/v1/collections/long/search', { vector: points[0].vector, k: 300, where: { text: { $gt: long(1) } } });
  assert.deepEqual(new Set(range.body.results.map((r: { id: string }) => Number(r.id) % 3)), new Set([2]));
  assert.equal(range.body.results.length, 100);
});

test('a replica killed under search load: every search still answers 200', async (t) => {
  const server = await startServer(t, { replicas: 2 });
  await call(server, 'PUT', '/v1/collections/q', { dimension: DIM, metric: 'l2' });
  const random = prng(9);
  const points = Array.from({ length: 400 }, (_, id) => ({ id, vector: Array.from({ length: DIM }, () => Math.fround(random())) }));
  await call(server, 'PUT', '/v1/collections/q/points', { points });
  const { engine } = server.app;
  let stop = false;
  const statuses = new Map<number, number>();
  const loops = Array.from({ length: 4 }, async (_, c) => {
    for (let i = 0; !stop; i++) {
      const p = points[(c * 97 + i) % points.length];
      const res = await call(server, 'POST', '/v1/collections/q/search', { vector: p.vector, k: 1, with_payload: false });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 200) assert.equal(res.body.results[0]?.id, String(p.id));
    }
  });
  await new Promise((r) => setTimeout(r, 200));
  await engine.forTest.killReplica(0);
  await new Promise((r) => setTimeout(r, 300));
  await engine.forTest.killReplica(1);
  await new Promise((r) => setTimeout(r, 500));
  stop = true;
  await Promise.all(loops);
  assert.deepEqual([...statuses.keys()], [200], JSON.stringify([...statuses]));
  assert.ok(statuses.get(200)! > 50);
});
