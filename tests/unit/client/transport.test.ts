import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { Packr, Unpackr } from 'msgpackr';
import { VicinityClient, VicinityError } from '../../../client/src/index.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** A stand-in server; `connections` counts the TCP connections it accepted. */
async function fakeServer(t: TestContext, handler: Handler): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

const OVERLOADED = { statusCode: 503, code: 'VDB_ERR_OVERLOADED', error: 'Service Unavailable', message: 'every replica queue is full' };
const JOB = { id: 'j', kind: 'import', collection: 'c', state: 'done', phase: null, processed: 1, total: 1, rate: 1, eta_s: null, created_at: '', finished_at: '' };
const ANSWER = { results: [{ id: '1', distance: 0.5 }], took_ms: 0.1 };

function client(t: TestContext, url: string, options: ConstructorParameters<typeof VicinityClient>[1] = {}): VicinityClient {
  const c = new VicinityClient(url, options);
  t.after(() => c.close());
  return c;
}

test('a 503 is retried after its Retry-After, and the answer that follows is returned', async (t) => {
  const times: number[] = [];
  const { url } = await fakeServer(t, (_req, res) => {
    times.push(performance.now());
    if (times.length < 3) sendJson(res, 503, OVERLOADED, { 'retry-after': times.length === 1 ? '1' : '0' });
    else sendJson(res, 200, JOB);
  });
  const job = await client(t, url).getJob('j');
  assert.equal(job.id, 'j');
  assert.equal(times.length, 3);
  assert.ok(times[1] - times[0] >= 950, `waited ${times[1] - times[0]} ms for Retry-After: 1`);
  assert.ok(times[2] - times[1] < 500, `waited ${times[2] - times[1]} ms for Retry-After: 0`);
});

test('retries are bounded: after `retries` of them the 503 is the error', async (t) => {
  let seen = 0;
  const { url } = await fakeServer(t, (_req, res) => {
    seen++;
    sendJson(res, 503, OVERLOADED, { 'retry-after': '0' });
  });
  await assert.rejects(client(t, url, { retries: 1 }).search('c', { vector: [1], k: 1 }), {
    name: 'VicinityError',
    status: 503,
    code: 'VDB_ERR_OVERLOADED',
    message: 'every replica queue is full',
  });
  assert.equal(seen, 2, 'one request and one retry');
});

test('a long Retry-After is cut to maxRetryDelayMs', async (t) => {
  let seen = 0;
  const { url } = await fakeServer(t, (_req, res) => {
    if (seen++ === 0) sendJson(res, 503, OVERLOADED, { 'retry-after': '3600' });
    else sendJson(res, 200, ANSWER);
  });
  const started = performance.now();
  const answer = await client(t, url, { maxRetryDelayMs: 200 }).search('c', { vector: [1], k: 1 });
  assert.deepEqual(answer, ANSWER);
  const waited = performance.now() - started;
  assert.ok(waited >= 190 && waited < 2000, `waited ${waited} ms`);
});

test('writes that are not repeatable (POST deletes, imports) are not retried', async (t) => {
  let seen = 0;
  const { url } = await fakeServer(t, (_req, res) => {
    seen++;
    sendJson(res, 503, OVERLOADED, { 'retry-after': '0' });
  });
  await assert.rejects(client(t, url).deletePoints('c', { ids: [1] }), { status: 503 });
  assert.equal(seen, 1);
});

test('timeoutMs ends an attempt with ETIMEDOUT (status 0)', async (t) => {
  const { url } = await fakeServer(t, () => {
    // never answers
  });
  const started = performance.now();
  await assert.rejects(client(t, url, { timeoutMs: 150, retries: 0 }).getCollection('c'), (err: unknown) => {
    assert.ok(err instanceof VicinityError);
    assert.equal(err.status, 0);
    assert.equal(err.code, 'ETIMEDOUT');
    assert.equal(err.message, `no answer from ${url} within 150 ms (options.timeoutMs)`);
    return true;
  });
  const took = performance.now() - started;
  assert.ok(took >= 140 && took < 2000, `took ${took} ms`);
});

test("an aborted signal rejects with the signal's reason, during the request and during a retry's wait", async (t) => {
  let seen = 0;
  const { url } = await fakeServer(t, (req, res) => {
    seen++;
    if (req.url!.includes('slow')) return; // never answers
    sendJson(res, 503, OVERLOADED, { 'retry-after': '30' });
  });
  const c = client(t, url, { maxRetryDelayMs: 60_000 });
  const reason = new Error('stop');
  const during = new AbortController();
  setTimeout(() => during.abort(reason), 50);
  await assert.rejects(c.getCollection('slow', { signal: during.signal }), (err: unknown) => err === reason);
  const waiting = new AbortController();
  setTimeout(() => waiting.abort(reason), 100);
  const started = performance.now();
  await assert.rejects(c.getCollection('c', { signal: waiting.signal }), (err: unknown) => err === reason);
  assert.ok(performance.now() - started < 5000, 'did not sit out the Retry-After');
  const before = seen;
  await assert.rejects(c.getCollection('c', { signal: AbortSignal.abort(reason) }), (err: unknown) => err === reason);
  assert.equal(seen, before, 'an already aborted signal sends nothing');
});

test('the API key goes as a Bearer token; connections are kept alive and reused', async (t) => {
  const auth: (string | undefined)[] = [];
  const { url, connections } = await fakeServer(t, (req, res) => {
    auth.push(req.headers.authorization);
    sendJson(res, 200, ANSWER);
  });
  const c = client(t, url, { apiKey: 's3cret' });
  for (let i = 0; i < 20; i++) await c.search('c', { vector: [1], k: 1 });
  await Promise.all([c.search('c', { vector: [1], k: 1 }), c.search('c', { vector: [1], k: 1 })]);
  assert.deepEqual(new Set(auth), new Set(['Bearer s3cret']));
  // undici may open a second connection while the first is still finishing an answer.
  assert.ok(connections() <= 3, `${connections()} connections for 22 requests`);
});

test('JSON carries a Float32Array vector as a plain array, leaving other fields alone', async (t) => {
  const bodies: unknown[] = [];
  const { url } = await fakeServer(t, (req, res, body) => {
    assert.equal(req.headers['content-type'], 'application/json');
    bodies.push(JSON.parse(body.toString()));
    sendJson(res, 200, req.url!.endsWith('/points') ? { upserted: 1 } : { results: [[]], took_ms: 1 });
  });
  const c = client(t, url);
  await c.upsert('c', [{ id: 1, vector: new Float32Array([0.5, 0.25]), payload: { vector: 'kept' } }]);
  await c.searchBatch('c', [{ vector: new Float32Array([1, 2]), k: 3, expand: null }]);
  assert.deepEqual(bodies, [
    { points: [{ id: 1, vector: [0.5, 0.25], payload: { vector: 'kept' } }] },
    { searches: [{ vector: [1, 2], k: 3, expand: null }] },
  ]);
});

test('MessagePack: Float32Array vectors travel as float32 bytes, undefined fields are left out, answers are decoded', async (t) => {
  // Decoded as the server decodes bodies (server/plugins/body.ts), answered as it answers.
  const unpackr = new Unpackr({ moreTypes: true, mapsAsObjects: true, useRecords: false, int64AsType: 'number' });
  const packr = new Packr({ moreTypes: true, useRecords: false });
  const seen: Record<string, unknown>[] = [];
  const { url } = await fakeServer(t, (req, res, body) => {
    assert.equal(req.headers['content-type'], 'application/msgpack');
    assert.equal(req.headers.accept, 'application/msgpack');
    seen.push(unpackr.unpack(body) as Record<string, unknown>);
    const answer = req.url!.endsWith('/search') ? { results: [{ id: '7', distance: 0.25, payload: { n: [1, 2] } }], took_ms: 0.5 } : { ...OVERLOADED, statusCode: 409, code: 'VDB_ERR_X', message: 'no' };
    res.writeHead(req.url!.endsWith('/search') ? 200 : 409, { 'content-type': 'application/msgpack' }).end(packr.pack(answer));
  });
  const c = client(t, url, { transport: 'msgpack' });
  const vector = new Float32Array([0.1, -2.5, 3e-7]);
  const answer = await c.search('c', { vector, k: 2, where: undefined, with_payload: true });
  assert.deepEqual(answer, { results: [{ id: '7', distance: 0.25, payload: { n: [1, 2] } }], took_ms: 0.5 });
  const sent = seen[0];
  assert.deepEqual(Object.keys(sent).sort(), ['k', 'vector', 'with_payload']);
  assert.ok(sent.vector instanceof Uint8Array, 'a bin, which the server reads as little-endian float32');
  const bytes = sent.vector;
  assert.deepEqual(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)), vector);
  await assert.rejects(c.upsert('c', [{ id: 'a', vector: [0.5, 1] }]), (err: unknown) => err instanceof VicinityError && err.status === 409 && err.code === 'VDB_ERR_X');
  assert.deepEqual(seen[1], { points: [{ id: 'a', vector: [0.5, 1] }] }, 'plain arrays stay arrays');
});

test('options are checked in the constructor with what to change', () => {
  assert.throws(() => new VicinityClient(undefined, { transport: 'xml' as never }), /options\.transport must be 'json' or 'msgpack', got 'xml'/);
  assert.throws(() => new VicinityClient(undefined, { timeoutMs: -1 }), /options\.timeoutMs must be an integer ≥ 0, got -1/);
  assert.throws(() => new VicinityClient(undefined, { retries: 1.5 }), /options\.retries must be an integer ≥ 0, got 1\.5/);
  assert.throws(() => new VicinityClient(undefined, { connections: 0 }), /options\.connections must be an integer ≥ 1, got 0/);
  assert.throws(() => new VicinityClient(undefined, { apiKey: '' }), /options\.apiKey must be a non-empty string/);
  assert.equal(new VicinityClient().url, 'http://127.0.0.1:7373');
});

test('ready() is false on the 503 of a loading server, at once; metrics() is the text as it came', async (t) => {
  let readyCalls = 0;
  const { url } = await fakeServer(t, (req, res) => {
    if (req.url === '/readyz') {
      readyCalls++;
      sendJson(res, 503, { statusCode: 503, code: 'VDB_ERR_NOT_READY', error: 'Service Unavailable', message: 'indexes are loading' }, { 'retry-after': '1' });
    } else {
      assert.equal(req.headers.accept, 'text/plain');
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end('# HELP x y\nx 1\n');
    }
  });
  const c = client(t, url);
  const started = performance.now();
  assert.equal(await c.ready(), false);
  assert.equal(readyCalls, 1, 'not retried');
  assert.ok(performance.now() - started < 900, 'did not wait for Retry-After');
  assert.equal(await c.metrics(), '# HELP x y\nx 1\n');
});

test('an abort settles a call still waiting for a connection, at once', async (t) => {
  const { url } = await fakeServer(t, (_req, res) => void setTimeout(() => sendJson(res, 200, JOB), 1000));
  const c = client(t, url, { connections: 1 });
  const ahead = c.getJob('j');
  const controller = new AbortController();
  const queued = c.getJob('j', { signal: controller.signal });
  const started = performance.now();
  setTimeout(() => controller.abort(new Error('given up')), 100);
  await assert.rejects(queued, /given up/);
  assert.ok(performance.now() - started < 600, `settled after ${Math.round(performance.now() - started)} ms`);
  assert.equal((await ahead).id, 'j');
});

test('a DELETE whose connection dropped before the answer is not sent again (it may have been carried out)', async (t) => {
  let deletes = 0;
  const { url } = await fakeServer(t, (req, res) => {
    if (req.method === 'DELETE') {
      deletes++;
      res.socket?.destroy();
    } else sendJson(res, 200, JOB);
  });
  const c = client(t, url, { retries: 3 });
  await assert.rejects(c.dropCollection('c'), (err: unknown) => err instanceof VicinityError && err.status === 0);
  assert.equal(deletes, 1);
});

test('an answer labelled MessagePack that does not decode is a VicinityError', async (t) => {
  const { url } = await fakeServer(t, (_req, res) => void res.writeHead(200, { 'content-type': 'application/msgpack' }).end(Buffer.from([0xc1])));
  await assert.rejects(client(t, url, { transport: 'msgpack' }).getJob('j'), (err: unknown) => err instanceof VicinityError && err.code === 'HTTP_BODY' && err.status === 200);
});
