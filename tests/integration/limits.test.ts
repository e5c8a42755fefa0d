import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, finished, startServer } from '../helpers/server.ts';

test('payload bytes, collections per server and points per collection are limits with their own codes', async (t) => {
  const server = await startServer(t, { maxPayloadBytes: 100, maxCollections: 2, maxPointsPerCollection: 3 });
  assert.equal((await call(server, 'PUT', '/v1/collections/a', { dimension: 2, metric: 'l2' })).status, 201);
  assert.equal((await call(server, 'PUT', '/v1/collections/b', { dimension: 2, metric: 'l2' })).status, 201);
  const third = await call(server, 'PUT', '/v1/collections/c', { dimension: 2, metric: 'l2' });
  assert.equal(third.status, 422);
  assert.equal(third.body.code, 'VDB_ERR_COLLECTION_LIMIT');
  assert.equal((await call(server, 'PUT', '/v1/collections/a', { dimension: 2, metric: 'l2' })).status, 200, 'the same create again is fine');

  const big = await call(server, 'PUT', '/v1/collections/a/points', { points: [{ id: 'x', vector: [0, 0] }, { id: 'y', vector: [1, 1], payload: { text: 'z'.repeat(100) } }] });
  assert.equal(big.status, 413);
  assert.equal(big.body.code, 'VDB_ERR_PAYLOAD_TOO_LARGE');
  assert.match(big.body.message, /points\[1\]\.payload is \d+ bytes/);
  assert.equal((await call(server, 'GET', '/v1/collections/a/points/x')).status, 404, 'nothing of the batch was written');

  const points = (ids: string[]) => ({ points: ids.map((id, i) => ({ id, vector: [i, 0] })) });
  assert.equal((await call(server, 'PUT', '/v1/collections/a/points', points(['p1', 'p2', 'p3']))).status, 200);
  const over = await call(server, 'PUT', '/v1/collections/a/points', points(['p1', 'p4']));
  assert.equal(over.status, 422);
  assert.equal(over.body.code, 'VDB_ERR_POINT_LIMIT');
  assert.equal((await call(server, 'PUT', '/v1/collections/a/points', points(['p1', 'p2']))).status, 200, 'replacing points stays within the limit');
  await call(server, 'POST', '/v1/collections/a/points/delete', { ids: ['p3'] });
  assert.equal((await call(server, 'PUT', '/v1/collections/a/points', points(['p4']))).status, 200, 'a delete makes room');

  // Imports: a payload too large fails the upload; a commit past the point limit fails the job.
  const post = (body: string) => call(server, 'POST', '/v1/collections/b/import?format=ndjson', body, { 'content-type': 'application/octet-stream' });
  const upload = await post(JSON.stringify({ id: 'q', vector: [0, 0], payload: { text: 'z'.repeat(200) } }));
  assert.equal(upload.status, 413);
  assert.match(upload.body.message, /line 1: payload is \d+ bytes/);
  const accepted = await post(['q1', 'q2', 'q3', 'q4'].map((id) => JSON.stringify({ id, vector: [0, 1] })).join('\n'));
  assert.equal(accepted.status, 202);
  const job = await finished(server, accepted.body.job_id as string);
  assert.equal(job.state, 'failed');
  assert.equal((job.error as { code: string }).code, 'VDB_ERR_POINT_LIMIT');
  assert.equal((await call(server, 'GET', '/v1/collections/b')).body.count, 0);
});

test('imports past the concurrent limit get 429 with Retry-After; names that could reach a path are refused', async (t) => {
  const server = await startServer(t, { maxConcurrentImports: 1 });
  assert.equal((await call(server, 'PUT', '/v1/collections/a', { dimension: 2, metric: 'l2' })).status, 201);
  // An upload that stays open holds the one place.
  const controller = new AbortController();
  let push: (chunk: Uint8Array) => void = () => undefined;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => (push = (chunk) => c.enqueue(chunk)) });
  const first = fetch(`${server.url}/v1/collections/a/import?format=ndjson`, {
    method: 'POST', body: stream, headers: { 'content-type': 'application/octet-stream' }, signal: controller.signal, duplex: 'half',
  }).catch(() => null);
  push(new TextEncoder().encode('{"id":"x","vector":[0,0]}\n'));
  let second = await call(server, 'POST', '/v1/collections/a/import?format=ndjson', '{"id":"y","vector":[0,1]}', { 'content-type': 'application/octet-stream' });
  for (let i = 0; i < 50 && second.status === 202; i++) {
    await new Promise((r) => setTimeout(r, 20));
    second = await call(server, 'POST', '/v1/collections/a/import?format=ndjson', '{"id":"y","vector":[0,1]}', { 'content-type': 'application/octet-stream' });
  }
  assert.equal(second.status, 429);
  assert.equal(second.body.code, 'VDB_ERR_IMPORT_LIMIT');
  assert.equal(second.headers.get('retry-after'), '1');
  controller.abort();
  await first;

  for (const name of ['..', '.hidden', 'a%2F..%2Fb', 'a..b%00', 'x'.repeat(65), '%E2%80%AE']) {
    const res = await call(server, 'PUT', `/v1/collections/${name}`, { dimension: 2, metric: 'l2' });
    assert.ok(res.status === 400 || res.status === 404, `${name}: ${res.status}`);
    assert.ok(['VDB_ERR_REQUEST_INVALID', 'VDB_ERR_ROUTE_NOT_FOUND'].includes(res.body.code as string), `${name}: ${JSON.stringify(res.body)}`);
  }
  assert.deepEqual(((await call(server, 'GET', '/v1/collections')).body.collections as { name: string }[]).map((c) => c.name), ['a']);
});

/** Sends the head of a request and `part` of its body, then nothing; resolves with the answer, if any. */
function stalledRequest(url: string, path: string, body: string, part: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, url), { method: 'PUT', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.write(part);
  });
}

test('a request body that does not arrive in VICINITY_REQUEST_TIMEOUT_S gets 408; imports stream past it', async (t) => {
  const server = await startServer(t, { requestTimeoutMs: 1000, importIdleTimeoutMs: 60_000 });
  assert.equal((await call(server, 'PUT', '/v1/collections/a', { dimension: 2, metric: 'l2' })).status, 201);
  const body = JSON.stringify({ points: [{ id: 'x', vector: [0, 0] }] });
  const started = Date.now();
  const answer = await stalledRequest(server.url, '/v1/collections/a/points', body, body.slice(0, 10));
  assert.equal(answer.status, 408);
  assert.equal(JSON.parse(answer.body).code, 'VDB_ERR_REQUEST_TIMEOUT');
  assert.ok(Date.now() - started < 5000);
  assert.equal((await call(server, 'GET', '/v1/collections/a')).body.count, 0);

  // An import sending its records a second and a half apart is not cut short.
  const req = httpRequest(new URL('/v1/collections/a/import?format=ndjson', server.url), { method: 'POST', headers: { 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' } });
  const imported = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => (res.resume(), resolve(res.statusCode!)));
    req.on('error', reject);
  });
  for (let i = 0; i < 3; i++) {
    req.write(JSON.stringify({ id: `i${i}`, vector: [i, 1] }) + '\n');
    await sleep(1500);
  }
  req.end();
  assert.equal(await imported, 202);
  assert.equal((await call(server, 'PUT', '/v1/collections/a/points', JSON.parse(body))).status, 200, 'a whole body within the limit is fine');
});

test('a stalled body on a request already answered (415) is let go without a crash', async (t) => {
  const server = await startServer(t, { requestTimeoutMs: 500 });
  const answer = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(new URL('/v1/collections/a/points', server.url), { method: 'PUT', headers: { 'content-type': 'text/csv', 'content-length': 100 } });
    req.on('response', (res) => (res.resume(), resolve(res.statusCode!)));
    req.on('error', reject);
    req.write('a,b');
  });
  assert.equal(answer, 415);
  await sleep(1500);
  assert.equal((await call(server, 'GET', '/readyz')).status, 200);
});

test('payload nesting past VICINITY_MAX_PAYLOAD_DEPTH is refused by upserts and imports alike', async (t) => {
  const server = await startServer(t, { maxPayloadDepth: 3 });
  assert.equal((await call(server, 'PUT', '/v1/collections/a', { dimension: 2, metric: 'l2' })).status, 201);
  const ok = { a: { b: { c: 1 } } }; // levels 1, 2, 3
  const deep = { a: { b: { c: [1] } } };
  assert.equal((await call(server, 'PUT', '/v1/collections/a/points', { points: [{ id: 'x', vector: [0, 0], payload: ok }] })).status, 200);
  const refused = await call(server, 'PUT', '/v1/collections/a/points', { points: [{ id: 'y', vector: [0, 0], payload: deep }] });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.code, 'VDB_ERR_PAYLOAD_INVALID');
  assert.match(refused.body.message, /points\[0\]\.payload\.a\.b\.c is nested more than 3 levels deep \(VICINITY_MAX_PAYLOAD_DEPTH\)/);
  const upload = await call(server, 'POST', '/v1/collections/a/import?format=ndjson', JSON.stringify({ id: 'z', vector: [0, 0], payload: deep }), { 'content-type': 'application/x-ndjson' });
  assert.equal(upload.status, 400);
  assert.match(upload.body.message, /line 1: payload\.a\.b\.c is nested more than 3 levels deep/);
  assert.equal((await call(server, 'GET', '/v1/collections/a')).body.count, 1);
});
