import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { VicinityClient, VicinityError } from '../../../client/src/index.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** A stand-in server: `handler` sees each request with its whole body (unless it answers early). */
async function fakeServer(t: TestContext, handler: Handler, early?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<string> {
  const server = createServer((req, res) => {
    if (early?.(req, res)) return;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

test('importStream streams the body with Content-Length and the query, counting bytes as they go', async (t) => {
  let seen: { url?: string; length?: string; type?: string; body?: Buffer } = {};
  const url = await fakeServer(t, (req, res, body) => {
    seen = { url: req.url, length: req.headers['content-length'], type: req.headers['content-type'], body };
    sendJson(res, 202, { job_id: 'j1', records: 3, bytes: body.length });
  });
  const data = Buffer.alloc(200_000, 7);
  let counted = 0;
  const stream = Readable.from([data.subarray(0, 70_000), data.subarray(70_000)]);
  const accepted = await new VicinityClient(url).importStream('c', stream, {
    format: 'npy',
    idOffset: 5,
    buildOrder: 'random',
    seed: 9,
    size: data.length,
    onProgress: (sent, total) => {
      assert.equal(total, data.length);
      counted = sent;
    },
  });
  assert.deepEqual(accepted, { job_id: 'j1', records: 3, bytes: 200_000 });
  assert.equal(counted, 200_000);
  assert.equal(seen.url, '/v1/collections/c/import?format=npy&id_offset=5&build_order=random&seed=9');
  assert.equal(seen.length, '200000');
  assert.equal(seen.type, 'application/octet-stream');
  assert.ok(seen.body?.equals(data));
});

test('an error answered before the body is all sent still surfaces as the server error', async (t) => {
  const url = await fakeServer(
    t,
    () => assert.fail('the handler should not run'),
    (_req, res) => {
      sendJson(res, 400, { statusCode: 400, code: 'VDB_ERR_IMPORT_FORMAT', error: 'Bad Request', message: 'header: not a .npy file' });
      return true;
    },
  );
  const big = Readable.from((function* () {
    for (let i = 0; i < 64; i++) yield Buffer.alloc(256 * 1024);
  })());
  await assert.rejects(
    new VicinityClient(url).importStream('c', big, { format: 'npy', size: 64 * 256 * 1024 }),
    (err: unknown) => err instanceof VicinityError && err.status === 400 && err.code === 'VDB_ERR_IMPORT_FORMAT' && /not a \.npy/.test(err.message),
  );
});

test('a connection closed during the upload says so, rather than that the server is unreachable', async (t) => {
  const url = await fakeServer(t, () => assert.fail('the handler should not run'), (req) => {
    req.once('data', () => req.socket.destroy());
    return true;
  });
  const big = Readable.from((function* () {
    for (let i = 0; i < 64; i++) yield Buffer.alloc(256 * 1024);
  })());
  await assert.rejects(new VicinityClient(url).importStream('c', big, { format: 'npy', size: 64 * 256 * 1024 }), (err: unknown) => {
    assert.ok(err instanceof VicinityError);
    assert.equal(err.status, 0);
    assert.ok(['EPIPE', 'ECONNRESET'].includes(err.code), err.code);
    assert.match(err.message, /^the server at http:\/\/127\.0\.0\.1:\d+ closed the connection during the upload \((EPIPE|ECONNRESET)\): it probably refused the body early/);
    return true;
  });
});

test('error answers become VicinityError with the server code and message', async (t) => {
  const url = await fakeServer(t, (req, res) => {
    if (req.url === '/v1/collections/nope') {
      sendJson(res, 404, { statusCode: 404, code: 'VDB_ERR_COLLECTION_NOT_FOUND', error: 'Not Found', message: "collection 'nope' does not exist" });
    } else {
      res.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>');
    }
  });
  const client = new VicinityClient(url + '/');
  await assert.rejects(client.getCollection('nope'), { name: 'VicinityError', status: 404, code: 'VDB_ERR_COLLECTION_NOT_FOUND', message: "collection 'nope' does not exist" });
  await assert.rejects(client.getJob('x'), { status: 502, code: 'HTTP_502', message: 'the server answered HTTP 502: <html>bad gateway</html>' });
});

test('createCollection tells created from already existing; names are URL-encoded', async (t) => {
  const urls: string[] = [];
  const url = await fakeServer(t, (req, res, body) => {
    urls.push(req.url!);
    sendJson(res, urls.length === 1 ? 201 : 200, { name: 'a b', ...JSON.parse(body.toString()), count: 0 });
  });
  const client = new VicinityClient(url);
  const first = await client.createCollection('a b', { dimension: 4, metric: 'cosine' });
  const second = await client.createCollection('a b', { dimension: 4, metric: 'cosine' });
  assert.equal(first.created, true);
  assert.equal(second.created, false);
  assert.equal(first.collection.dimension, 4);
  assert.deepEqual(urls, ['/v1/collections/a%20b', '/v1/collections/a%20b']);
});

test('an unreachable server gives a message naming the URL and the cause', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const closed = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await assert.rejects(new VicinityClient(closed).getJob('x'), (err: unknown) => {
    assert.ok(err instanceof VicinityError);
    assert.equal(err.status, 0);
    assert.equal(err.code, 'ECONNREFUSED');
    assert.equal(err.message, `cannot reach the server at ${closed}: connect ECONNREFUSED ${closed.slice(7)}`);
    return true;
  });
});

test('the URL must be http or https', () => {
  assert.throws(() => new VicinityClient('ftp://x'), /url must be an http:\/\/ or https:\/\/ URL, got 'ftp:\/\/x'/);
  assert.throws(() => new VicinityClient('localhost:7373'), /url must be/);
});

test('importFile closes its file when the upload never happens (aborted, or no server)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-fd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'v.ndjson');
  writeFileSync(file, '{"id":1,"vector":[1,2]}\n');
  const open = () => readdirSync('/proc/self/fd').length;
  const c = new VicinityClient('http://127.0.0.1:1');
  t.after(() => c.close());
  const before = open();
  for (let i = 0; i < 20; i++) {
    await assert.rejects(c.importFile('c', file, { signal: AbortSignal.abort() }));
    await assert.rejects(c.importFile('c', file), (err: unknown) => err instanceof VicinityError && err.status === 0);
  }
  assert.ok(open() - before < 5, `${open() - before} more open files after 40 failed imports`);
});
