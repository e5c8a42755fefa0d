import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import { call, startServer, type Answer } from '../helpers/server.ts';

function expectError(answer: Answer, status: number, code: string, text?: RegExp): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.code, code, JSON.stringify(answer.body));
  assert.equal(answer.body.statusCode, status);
  assert.equal(typeof answer.body.error, 'string');
  if (text) assert.match(answer.body.message, text);
}

test('every bad input gets a 4xx that says what to change, and stored data is unchanged', async (t) => {
  const server = await startServer(t, { maxLabel: 3, bodyLimitBytes: 64 * 1024 });
  const ok = await call(server, 'PUT', '/v1/collections/c', { dimension: 3, metric: 'cosine' });
  assert.equal(ok.status, 201);
  const upsert = (points: unknown) => call(server, 'PUT', '/v1/collections/c/points', { points });
  const search = (body: unknown) => call(server, 'POST', '/v1/collections/c/search', body);
  assert.equal((await upsert([{ id: 'a', vector: [1, 0, 0], payload: { x: 1 } }])).status, 200);

  await t.test('collection names and configs', async () => {
    expectError(await call(server, 'PUT', '/v1/collections/bad%20name', { dimension: 3, metric: 'l2' }), 400, 'VDB_ERR_REQUEST_INVALID', /collection name/);
    expectError(await call(server, 'PUT', '/v1/collections/_x', { dimension: 3, metric: 'l2' }), 400, 'VDB_ERR_REQUEST_INVALID', /starting with a letter or digit/);
    expectError(await call(server, 'PUT', `/v1/collections/${'x'.repeat(65)}`, { dimension: 3, metric: 'l2' }), 400, 'VDB_ERR_REQUEST_INVALID');
    expectError(await call(server, 'PUT', '/v1/collections/d', { dimension: 0, metric: 'l2' }), 400, 'VDB_ERR_REQUEST_INVALID', /dimension/);
    expectError(await call(server, 'PUT', '/v1/collections/d', { dimension: 4097, metric: 'l2' }), 400, 'VDB_ERR_REQUEST_INVALID', /dimension/);
    expectError(await call(server, 'PUT', '/v1/collections/d', { dimension: 3, metric: 'hamming' }), 400, 'VDB_ERR_REQUEST_INVALID', /metric must be one of/);
    expectError(await call(server, 'PUT', '/v1/collections/d', { dimension: 3 }), 400, 'VDB_ERR_REQUEST_INVALID', /metric/);
    expectError(await call(server, 'PUT', '/v1/collections/d', { dimension: 3, metric: 'l2', shards: 2 }), 400, 'VDB_ERR_REQUEST_INVALID', /unknown field 'shards'/);
    expectError(await call(server, 'PUT', '/v1/collections/d', { dimension: '3', metric: 'l2' }), 400, 'VDB_ERR_REQUEST_INVALID', /dimension must be integer/);
    expectError(await call(server, 'PUT', '/v1/collections/d', { dimension: 3, metric: 'ip', storage: { codec: 'float16', pca_dimension: 2 } }), 422, 'VDB_ERR_COLLECTION_CONFIG', /ip.*l2 or cosine/);
    expectError(await call(server, 'PUT', '/v1/collections/d', { dimension: 3, metric: 'l2', storage: { pca_dimension: 3 } }), 422, 'VDB_ERR_COLLECTION_CONFIG', /below the dimension \(3\)/);
    expectError(await call(server, 'PUT', '/v1/collections/d', { dimension: 3, metric: 'l2', storage: { codec: 'float12' } }), 400, 'VDB_ERR_REQUEST_INVALID', /codec/);
    expectError(await call(server, 'GET', '/v1/collections/nope'), 404, 'VDB_ERR_COLLECTION_NOT_FOUND', /nope/);
    expectError(await call(server, 'DELETE', '/v1/collections/nope'), 404, 'VDB_ERR_COLLECTION_NOT_FOUND');
    expectError(await call(server, 'PUT', '/v1/collections/nope/points', { points: [] }), 404, 'VDB_ERR_COLLECTION_NOT_FOUND');
    expectError(await call(server, 'GET', '/v1/nothing'), 404, 'VDB_ERR_ROUTE_NOT_FOUND');
  });

  await t.test('vectors', async () => {
    expectError(await upsert([{ id: 'b', vector: [1, 2] }]), 422, 'VDB_ERR_VECTOR_DIMENSION', /points\[0\]\.vector has 2 values/);
    expectError(await upsert([{ id: 'b', vector: [] }]), 400, 'VDB_ERR_REQUEST_INVALID', /vector/);
    expectError(await upsert([{ id: 'b', vector: new Array(4097).fill(1) }]), 400, 'VDB_ERR_REQUEST_INVALID', /4096/);
    expectError(await upsert([{ id: 'b', vector: [1, 1e39, 0] }]), 422, 'VDB_ERR_VECTOR_RANGE', /float32/);
    expectError(await upsert([{ id: 'b', vector: [0, 0, 0] }]), 422, 'VDB_ERR_VECTOR_ZERO', /cosine/);
    expectError(await upsert([{ id: 'b', vector: [1e-46, 0, 0] }]), 422, 'VDB_ERR_VECTOR_ZERO');
    expectError(await upsert([{ id: 'b', vector: [1, 'x', 0] }]), 400, 'VDB_ERR_REQUEST_INVALID', /must be number/);
    expectError(await search({ vector: [1, 2, 3, 4], k: 1 }), 422, 'VDB_ERR_VECTOR_DIMENSION');
    expectError(await search({ vector: [0, 0, 0], k: 1 }), 422, 'VDB_ERR_VECTOR_ZERO');
    const packr = new Packr({ moreTypes: true, useRecords: false });
    const nan = await call(server, 'PUT', '/v1/collections/c/points', packr.pack({ points: [{ id: 'b', vector: [1, NaN, 0] }] }), { 'content-type': 'application/msgpack' });
    expectError(nan, 422, 'VDB_ERR_VECTOR_NOT_FINITE', /points\[0\]\.vector\[1\] is NaN/);
    const inf = await call(server, 'POST', '/v1/collections/c/search', packr.pack({ vector: new Float32Array([Infinity, 0, 0]), k: 1 }), { 'content-type': 'application/msgpack' });
    expectError(inf, 422, 'VDB_ERR_VECTOR_NOT_FINITE');
    const ragged = await call(server, 'POST', '/v1/collections/c/search', packr.pack({ vector: Buffer.alloc(7), k: 1 }), { 'content-type': 'application/msgpack' });
    expectError(ragged, 400, 'VDB_ERR_VECTOR_ENCODING', /multiple of 4/);
  });

  await t.test('ids and payloads', async () => {
    expectError(await upsert([{ id: -1, vector: [1, 0, 0] }]), 400, 'VDB_ERR_POINT_ID', /non-negative/);
    expectError(await upsert([{ id: 2 ** 53, vector: [1, 0, 0] }]), 400, 'VDB_ERR_POINT_ID');
    expectError(await upsert([{ id: 1.5, vector: [1, 0, 0] }]), 400, 'VDB_ERR_REQUEST_INVALID', /id/);
    expectError(await upsert([{ id: '', vector: [1, 0, 0] }]), 400, 'VDB_ERR_POINT_ID', /1 to 256/);
    expectError(await upsert([{ id: 'é'.repeat(129), vector: [1, 0, 0] }]), 400, 'VDB_ERR_POINT_ID', /258/);
    expectError(await upsert([{ id: 'b', vector: [1, 0, 0], payload: [1] }]), 400, 'VDB_ERR_REQUEST_INVALID', /payload/);
    expectError(await upsert([{ id: 'b', vector: [1, 0, 0], extra: 1 }]), 400, 'VDB_ERR_REQUEST_INVALID', /unknown field 'extra'/);
    expectError(await call(server, 'GET', '/v1/collections/c/points/zzz'), 404, 'VDB_ERR_POINT_NOT_FOUND', /zzz/);
    expectError(await call(server, 'POST', '/v1/collections/c/points/delete', {}), 400, 'VDB_ERR_REQUEST_INVALID', /ids or where/);
    expectError(await call(server, 'POST', '/v1/collections/c/points/delete', { ids: ['a'], where: {} }), 400, 'VDB_ERR_REQUEST_INVALID');
    expectError(await call(server, 'POST', '/v1/collections/c/points/scroll', { cursor: 'garbage' }), 400, 'VDB_ERR_CURSOR_INVALID');
    expectError(await call(server, 'POST', '/v1/collections/c/points/scroll', { limit: 1001 }), 400, 'VDB_ERR_REQUEST_INVALID', /limit/);
  });

  await t.test('search parameters and filters', async () => {
    expectError(await search({ vector: [1, 0, 0], k: 0 }), 400, 'VDB_ERR_REQUEST_INVALID', /k must be >= 1/);
    expectError(await search({ vector: [1, 0, 0], k: 1001 }), 400, 'VDB_ERR_REQUEST_INVALID', /k must be <= 1000/);
    expectError(await search({ vector: [1, 0, 0] }), 400, 'VDB_ERR_REQUEST_INVALID', /'k'/);
    expectError(await search({ vector: [1, 0, 0], k: 1, where: { x: { $regex: 'a' } } }), 400, 'VDB_ERR_WHERE_INVALID', /\$regex/);
    expectError(await search({ vector: [1, 0, 0], k: 1, where: { x: { $eq: { a: 1 } } } }), 400, 'VDB_ERR_WHERE_INVALID');
    const batch = await call(server, 'POST', '/v1/collections/c/search/batch', { searches: [{ vector: [1, 0, 0], k: 1 }, { vector: [1, 0], k: 1 }] });
    expectError(batch, 422, 'VDB_ERR_VECTOR_DIMENSION', /searches\[1\]\.vector/);
    const batch2 = await call(server, 'POST', '/v1/collections/c/search/batch', { searches: [{ vector: [1, 0, 0], k: 1 }, { vector: [1, 0, 0], k: -1 }] });
    expectError(batch2, 400, 'VDB_ERR_REQUEST_INVALID', /searches\[1\]\.k/);
    // k above the live count returns them all.
    const all = await search({ vector: [1, 0, 0], k: 50 });
    assert.equal(all.body.results.length, 1);
  });

  await t.test('bodies: malformed, wrong type, too large', async () => {
    expectError(await call(server, 'POST', '/v1/collections/c/search', '{"vector": [1, 0', { 'content-type': 'application/json' }), 400, 'VDB_ERR_REQUEST_MALFORMED');
    expectError(await call(server, 'POST', '/v1/collections/c/search', '{"__proto__": {"k": 1}}', { 'content-type': 'application/json' }), 400, 'VDB_ERR_REQUEST_MALFORMED');
    expectError(await call(server, 'POST', '/v1/collections/c/search', '', { 'content-type': 'application/json' }), 400, 'VDB_ERR_REQUEST_MALFORMED');
    expectError(await call(server, 'POST', '/v1/collections/c/search', Buffer.from([0x92, 0x01]), { 'content-type': 'application/msgpack' }), 400, 'VDB_ERR_REQUEST_MALFORMED', /MessagePack/);
    expectError(await call(server, 'POST', '/v1/collections/c/search', Buffer.from([0x01, 0x02]), { 'content-type': 'application/msgpack' }), 400, 'VDB_ERR_REQUEST_MALFORMED');
    expectError(await call(server, 'POST', '/v1/collections/c/search', 'k=1', { 'content-type': 'text/plain' }), 415, 'VDB_ERR_REQUEST_MEDIA_TYPE', /application\/json/);
    const big = { points: Array.from({ length: 3000 }, (_, i) => ({ id: i, vector: [1, 0, 0] })) };
    expectError(await call(server, 'PUT', '/v1/collections/c/points', big), 413, 'VDB_ERR_REQUEST_TOO_LARGE', /import/);
    const packr = new Packr({ moreTypes: true, useRecords: false });
    const date = await call(server, 'PUT', '/v1/collections/c/points', packr.pack({ points: [{ id: 'd', vector: [1, 0, 0], payload: { at: new Date() } }] }), { 'content-type': 'application/msgpack' });
    expectError(date, 400, 'VDB_ERR_REQUEST_MALFORMED', /payload\.at/);
  });

  await t.test('labels that would not fit are refused, atomically', async () => {
    // maxLabel 3: labels 0..3; 'a' holds 0.
    assert.equal((await upsert([1, 2, 3].map((i) => ({ id: `l${i}`, vector: [1, i, 0] })))).status, 200);
    expectError(await upsert([{ id: 'l4', vector: [1, 0, 1] }, { id: 'l5', vector: [1, 1, 1] }]), 422, 'VDB_ERR_LABELS_EXHAUSTED');
    assert.equal((await call(server, 'GET', '/v1/collections/c/points/l4')).status, 404);
    // Known ids keep their label and can still be written.
    assert.equal((await upsert([{ id: 'l3', vector: [2, 0, 1] }])).status, 200);
  });

  // Nothing above changed the stored data or broke the server.
  const described = await call(server, 'GET', '/v1/collections/c');
  assert.equal(described.body.count, 4);
  assert.equal(described.body.stats.index.live, 4);
  const a = await call(server, 'GET', '/v1/collections/c/points/a');
  assert.deepEqual(a.body.payload, { x: 1 });
});

test('the default body limit is 32 MiB', async (t) => {
  const server = await startServer(t);
  await call(server, 'PUT', '/v1/collections/c', { dimension: 3, metric: 'l2' });
  const body = `{"points": [${'{"id": 1, "vector": [1, 2, 3]},'.repeat(1_100_000)}{"id": 2, "vector": [1, 2, 3]}]}`;
  assert.ok(body.length > 32 * 1024 * 1024);
  expectError(await call(server, 'PUT', '/v1/collections/c/points', body, { 'content-type': 'application/json' }), 413, 'VDB_ERR_REQUEST_TOO_LARGE', /33554432/);
  assert.equal((await call(server, 'GET', '/v1/collections/c')).body.count, 0);
});
