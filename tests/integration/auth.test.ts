import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha256 } from '../../server/auth/keys.ts';
import { ROUTE_ACCESS, type Access } from '../../server/auth/policy.ts';
import { buildApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { call, finished, startServer, type TestServer } from '../helpers/server.ts';

const KEYS = {
  admin: 'admin-key-0123456789abcdef',
  writer: 'write-key-0123456789abcdef',
  reader: 'read-key-0123456789abcdef',
  stranger: 'other-key-0123456789abcdef',
};

async function serverWithKeys(t: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-keys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'keys.json');
  writeFileSync(file, JSON.stringify([
    { name: 'ops', sha256: sha256(KEYS.admin).toString('hex'), role: 'admin' },
    { name: 'ingest', sha256: sha256(KEYS.writer).toString('hex'), role: 'write', collections: ['c*'] },
    { name: 'app', sha256: sha256(KEYS.reader).toString('hex'), role: 'read' },
    { name: 'elsewhere', sha256: sha256(KEYS.stranger).toString('hex'), role: 'write', collections: ['other'] },
  ]));
  // The docs' own rule (VICINITY_DOCS_PUBLIC, open on loopback by default) is tested in openapi.test.ts.
  return startServer(t, { apiKeysFile: file, docsPublic: false });
}

const as = (key: string) => ({ authorization: `Bearer ${key}` });

test('every route answers 401 without a key, 403 beyond a key\'s role or collections, and serves keys that may', { timeout: 120_000 }, async (t) => {
  const server = await serverWithKeys(t);
  for (const route of Object.keys(ROUTE_ACCESS)) {
    const [method, url] = route.split(' ');
    assert.ok(server.app.hasRoute({ method, url }), `${route} is in the policy table but not a route`);
  }
  // A collection with a point and a finished job to address.
  assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: 2, metric: 'l2' }, as(KEYS.admin))).status, 201);
  assert.equal((await call(server, 'PUT', '/v1/collections/c/points', { points: [{ id: 'p1', vector: [0, 1] }] }, as(KEYS.writer))).status, 200);
  const job = await call(server, 'POST', '/v1/collections/c/import?format=ndjson', '{"id":"p2","vector":[1,0]}', { ...as(KEYS.writer), 'content-type': 'application/octet-stream' });
  assert.equal(job.status, 202, JSON.stringify(job.body));
  await finished({ url: server.url }, job.body.job_id as string).catch(() => undefined);

  const path = (url: string, name: string) => url.replace(':name', name).replace(':id', url.startsWith('/v1/jobs') ? (job.body.job_id as string) : 'p1');
  const bodyFor = (method: string) => (method === 'GET' || method === 'DELETE' ? undefined : {});
  const rank: Record<Access, number> = { open: 0, read: 1, write: 2, admin: 3 };
  for (const [route, access] of Object.entries(ROUTE_ACCESS)) {
    const [method, url] = route.split(' ');
    // Destructive admin calls go to a collection that does not exist; the others to 'c'.
    const target = method === 'DELETE' && url === '/v1/collections/:name' ? 'gone' : 'c';
    const send = (headers: Record<string, string>, name = target) =>
      call(server, method, path(url, name), bodyFor(method), { ...(method === 'GET' || method === 'DELETE' ? {} : { 'content-type': 'application/json' }), ...headers });

    const anonymous = await send({});
    if (access === 'open') {
      assert.ok(anonymous.status < 400, `${route} is open`);
      continue;
    }
    assert.equal(anonymous.status, 401, `${route} without a key`);
    assert.equal(anonymous.body.code, 'VDB_ERR_UNAUTHENTICATED');
    assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await send(as('not-a-key-at-all-0000'))).status, 401, `${route} with an unknown key`);

    for (const [who, role] of [['reader', 'read'], ['writer', 'write'], ['admin', 'admin']] as const) {
      const key = KEYS[who];
      const answer = await send(who === 'reader' ? { 'api-key': key } : as(key));
      if (rank[role] >= rank[access]) {
        assert.ok(answer.status !== 401 && answer.status !== 403, `${route} as ${who}: ${answer.status} ${JSON.stringify(answer.body)}`);
      } else {
        assert.equal(answer.status, 403, `${route} as ${who}`);
        assert.equal(answer.body.code, 'VDB_ERR_FORBIDDEN');
      }
    }
    // A key scoped to another collection touches nothing of 'c'.
    if (url.includes(':name') || url.startsWith('/v1/jobs/')) {
      assert.equal((await send(as(KEYS.stranger))).status, 403, `${route} with a key for another collection`);
    }
  }
  const listed = await call(server, 'GET', '/v1/collections', undefined, as(KEYS.stranger));
  assert.deepEqual(listed.body.collections, [], 'a scoped key sees only its collections');
  assert.deepEqual((await call(server, 'GET', '/v1/jobs', undefined, as(KEYS.stranger))).body.jobs, []);
  const all = (await call(server, 'GET', '/v1/jobs', undefined, as(KEYS.admin))).body.jobs as unknown[];
  assert.ok(all.length >= 1);
  assert.equal((await call(server, 'GET', '/v1/jobs', undefined, as(KEYS.writer))).body.jobs.length, all.length, 'every job is of c*');
});

test('a bad keys file stops the server from starting, saying where', () => {
  const config = { ...loadConfig({ VICINITY_LOG_LEVEL: 'silent' }), dataDir: '/nonexistent', apiKeysFile: '/tmp/vicinity-bad-keys.json' };
  writeFileSync('/tmp/vicinity-bad-keys.json', JSON.stringify([{ name: 'x', sha256: 'abc', role: 'read' }]));
  assert.throws(() => buildApp(config), /vicinity-bad-keys\.json\[0\]\.sha256: 64 lower-case hex digits/);
  writeFileSync('/tmp/vicinity-bad-keys.json', JSON.stringify([{ name: 'x', sha256: '0'.repeat(64), role: 'owner' }]));
  assert.throws(() => buildApp(config), /\[0\]\.role: one of read, write, admin/);
});

test('an unlisted route fails the start', async (t) => {
  const server = await startServer(t);
  const app = buildApp({ ...server.config, dataDir: join(server.dataDir, 'second') });
  app.get('/v1/secret', () => 'leak');
  await assert.rejects(async () => {
    await app.ready();
  }, /routes without an access rule in server\/auth\/policy\.ts: GET \/v1\/secret/);
  await app.close().catch(() => undefined);
});

test('with a certificate and its key the server speaks HTTPS, and keys travel over it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const config = { ...loadConfig({ VICINITY_LOG_LEVEL: 'silent', VICINITY_TLS_CERT: cert, VICINITY_TLS_KEY: key, VICINITY_API_KEY: KEYS.admin }), dataDir: join(dir, 'data') };
  const app = buildApp(config);
  t.after(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const get = (path: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path, headers, ca: readFileSync(cert) }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  assert.equal((await get('/healthz')).status, 200);
  assert.equal((await get('/v1/collections')).status, 401);
  assert.equal((await get('/v1/collections', { authorization: `Bearer ${KEYS.admin}` })).status, 200);
  await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'plain HTTP is not served');
  assert.throws(() => loadConfig({ VICINITY_TLS_CERT: cert }), /VICINITY_TLS_CERT and VICINITY_TLS_KEY go together/);
});

test('refused requests are counted in /metrics by reason, never by key; /metrics needs a key unless VICINITY_METRICS_PUBLIC', async (t) => {
  const server = await serverWithKeys(t);
  assert.equal((await call(server, 'GET', '/metrics')).status, 401);
  const scrape = async () => {
    const res = await fetch(`${server.url}/metrics`, { headers: as(KEYS.reader) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    return res.text();
  };
  const count = (text: string, reason: string) => Number(new RegExp(`^vicinity_requests_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
  const before = await scrape();
  await call(server, 'GET', '/v1/collections', undefined, as('not-a-key-0123456789abcdef'));
  await call(server, 'GET', '/v1/collections');
  await call(server, 'PUT', '/v1/collections/x', { dimension: 2, metric: 'l2' }, as(KEYS.reader));
  const after = await scrape();
  assert.equal(count(after, 'unauthenticated') - count(before, 'unauthenticated'), 2);
  assert.equal(count(after, 'forbidden') - count(before, 'forbidden'), 1);
  assert.match(after, /^vicinity_build_info\{version="[^"]+",hnsw_build="(stock|avx2|native)",node_version="v\d+/m);
  assert.match(after, /^vicinity_nodejs_eventloop_lag_p99_seconds /m);
  for (const key of [...Object.values(KEYS), 'not-a-key']) assert.ok(!after.includes(key), 'no key in the metrics');

  const open = await startServer(t, { apiKeysFile: server.config.apiKeysFile, metricsPublic: true });
  assert.equal((await call(open, 'GET', '/metrics')).status, 200);
  assert.equal((await call(open, 'GET', '/v1/collections')).status, 401, 'only /metrics opens');
});
