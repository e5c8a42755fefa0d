import assert from 'node:assert/strict';
import { test } from 'node:test';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomVectors } from '../helpers/random.ts';
import { call, startServer, type TestServer } from '../helpers/server.ts';

const DIM = 4;

async function upsert(server: TestServer, name: string, points: { id: string; vector: number[]; payload?: unknown }[]): Promise<void> {
  for (let at = 0; at < points.length; at += 2000) {
    const res = await call(server, 'PUT', `/v1/collections/${name}/points`, { points: points.slice(at, at + 2000) });
    assert.equal(res.status, 200, JSON.stringify(res.body).slice(0, 300));
  }
}

/** Every id a filtered scroll returns, page by page. */
async function scrollAll(server: TestServer, name: string, where: unknown, limit = 100): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await call(server, 'POST', `/v1/collections/${name}/points/scroll`, { where, limit, ...(cursor ? { cursor } : {}) });
    assert.equal(page.status, 200, JSON.stringify(page.body));
    ids.push(...(page.body.points as { id: string }[]).map((p) => p.id));
    cursor = page.body.next_cursor as string | null;
    if (cursor === null) return ids;
  }
  throw new Error('scroll did not end');
}

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let i = 1; i < depth; i++) value = { n: value };
  return value;
}

test('payloads nested past 64 levels are refused, so no payload can break the collection\'s SQL filters', async (t) => {
  const server = await startServer(t);
  assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: DIM, metric: 'l2' })).status, 201);
  await upsert(server, 'c', [{ id: 'ok', vector: [1, 0, 0, 0], payload: { g: 1, deep: nested(63) } }]);
  for (const depth of [65, 1001]) {
    const refused = await call(server, 'PUT', '/v1/collections/c/points', { points: [{ id: 'deep', vector: [0, 1, 0, 0], payload: { g: 1, deep: nested(depth - 1) } }] });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'VDB_ERR_PAYLOAD_INVALID');
    assert.match(refused.body.message, /^points\[0\]\.payload\.deep(\.n)+ is nested more than 64 levels deep/);
  }
  // Filters through SQL (a long string the payload index does not hold) still work.
  const long = 'x'.repeat(300);
  await upsert(server, 'c', [{ id: 'long', vector: [0, 0, 1, 0], payload: { g: 1, text: long } }]);
  assert.deepEqual(await scrollAll(server, 'c', { text: long }), ['long']);
  assert.deepEqual(await scrollAll(server, 'c', { g: 1 }), ['ok', 'long']);
  assert.equal((await call(server, 'POST', '/v1/collections/c/points/delete', { where: { text: long } })).body.deleted, 1);
  assert.equal((await call(server, 'POST', '/v1/collections/c/points/delete', { where: { g: 1 } })).body.deleted, 1);
});

test('keys with backslashes, quotes and control characters filter alike on every path: search, scroll, delete, SQL scans', async (t) => {
  const server = await startServer(t);
  assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: DIM, metric: 'l2' })).status, 201);
  const keys = ['c\\d', 'a"b', 'k\\', 'u\u0001', 'é\t', 'a$b'];
  const long = 'y'.repeat(300);
  const points = keys.flatMap((key, k) => [
    { id: `${k}-short`, vector: [k, 1, 0, 0], payload: { [key]: 'v' } },
    { id: `${k}-long`, vector: [k, 2, 0, 0], payload: { [key]: long } },
    { id: `${k}-other`, vector: [k, 3, 0, 0], payload: { [`${key}x`]: 'v' } },
  ]);
  await upsert(server, 'c', points);
  for (const [k, key] of keys.entries()) {
    const search = await call(server, 'POST', '/v1/collections/c/search', { vector: [k, 1, 0, 0], k: 10, where: { [key]: 'v' }, with_payload: false });
    assert.equal(search.status, 200, JSON.stringify(search.body));
    assert.deepEqual(search.body.results.map((r: { id: string }) => r.id), [`${k}-short`], `search on ${JSON.stringify(key)}`);
    assert.deepEqual(await scrollAll(server, 'c', { [key]: 'v' }), [`${k}-short`], `scroll on ${JSON.stringify(key)}`);
    assert.deepEqual(await scrollAll(server, 'c', { [key]: long }), [`${k}-long`], `scanned scroll on ${JSON.stringify(key)}`);
    assert.deepEqual(await scrollAll(server, 'c', { [key]: { $exists: true } }), [`${k}-short`, `${k}-long`]);
  }
  for (const [k, key] of keys.entries()) {
    assert.equal((await call(server, 'POST', '/v1/collections/c/points/delete', { where: { [key]: 'v' } })).body.deleted, 1, `delete on ${JSON.stringify(key)}`);
    assert.equal((await call(server, 'POST', '/v1/collections/c/points/delete', { where: { [key]: long } })).body.deleted, 1, `scanned delete on ${JSON.stringify(key)}`);
    assert.equal((await call(server, 'GET', `/v1/collections/c/points/${k}-other`)).status, 200);
  }
  assert.equal((await call(server, 'GET', '/v1/collections/c')).body.count, keys.length);
});

test('a large delete by filter runs in short writes, a rare long-string filter scrolls in bounded pages, and where: {} is refused', async (t) => {
  const server = await startServer(t);
  assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: DIM, metric: 'l2' })).status, 201);
  const n = 40_000;
  const long = (i: number) => `${'z'.repeat(300)}${i % 1000 === 0 ? 'rare' : 'common'}`;
  const vectors = randomVectors(n, DIM, 3);
  await upsert(server, 'c', vectors.map((vector, i) => ({ id: `p${i}`, vector, payload: { g: i % 4, text: long(i) } })));

  // Rare matches of a filter the payload index cannot answer: pages may come back short, with a cursor.
  const rare = await scrollAll(server, 'c', { text: long(0) }, 10);
  assert.deepEqual(rare, Array.from({ length: n / 1000 }, (_, i) => `p${i * 1000}`));

  const refused = await call(server, 'POST', '/v1/collections/c/points/delete', { where: {} });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.code, 'VDB_ERR_WHERE_INVALID');
  assert.match(refused.body.message, /matches every point/);

  // Delete three quarters by filter while watching the event loop (this process serves the requests).
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const deleted = await call(server, 'POST', '/v1/collections/c/points/delete', { where: { g: { $ne: 0 } } });
  delay.disable();
  assert.equal(deleted.body.deleted, 30_000);
  const worstMs = delay.max / 1e6;
  assert.ok(worstMs < 150, `the event loop stalled ${worstMs.toFixed(0)} ms during the delete`);
  const info = (await call(server, 'GET', '/v1/collections/c')).body;
  assert.equal(info.count, 10_000);
  assert.equal(info.deleted, 30_000);
  const found = await call(server, 'POST', '/v1/collections/c/search', { vector: vectors[1], k: 5, ef: 200 });
  assert.ok(found.body.results.every((r: { payload: { g: number } }) => r.payload.g === 0));
});
