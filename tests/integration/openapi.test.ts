import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { Packr } from 'msgpackr';
import { sha256 } from '../../server/auth/keys.ts';
import { loadConfig } from '../../server/config.ts';
import { openApiDocument } from '../../server/openapi/build.ts';
import { openApiPath } from '../../server/openapi/document.ts';
import { OPERATIONS } from '../../server/openapi/operations.ts';
import { curlCalls, markdownFiles } from '../helpers/curl.ts';
import { operationFor, response, schemaChecker } from '../helpers/openapi.ts';
import { call, finished, startServer, type Answer, type TestServer } from '../helpers/server.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const doc = await openApiDocument();
const check = schemaChecker(doc);
const packr = new Packr({ useRecords: false });

/** Checks an answer against the document: a status it lists, and a body its schema for that status accepts. */
function conforms(route: string, operation: Record<string, any>, answer: Answer): void { // eslint-disable-line @typescript-eslint/no-explicit-any -- the document
  const documented = response(doc, operation, answer.status);
  assert.ok(documented, `${route} answered ${answer.status}, which the document does not list: ${JSON.stringify(answer.body)}`);
  const [, media] = Object.entries(documented.content as Record<string, { schema: unknown }>)[0];
  const validate = check(media.schema);
  assert.ok(validate(answer.body), `${route} ${answer.status}: ${JSON.stringify(validate.errors)} in ${JSON.stringify(answer.body).slice(0, 600)}`);
}

test('the request examples of the document succeed, in order, on a real server, and every answer matches the document', { timeout: 120_000 }, async (t) => {
  const server = await startServer(t);
  const served = await call(server, 'GET', '/openapi.json');
  assert.equal(served.status, 200);
  assert.deepEqual(served.body, doc, 'the server serves the document openApiDocument() builds');

  const ids: Record<string, string> = {};
  let sent = 0;
  for (const [key, entry] of Object.entries(OPERATIONS)) {
    const [method, url] = key.split(' ');
    const operation = (doc.paths as Record<string, Record<string, Record<string, any>>>)[openApiPath(url)][method.toLowerCase()]; // eslint-disable-line @typescript-eslint/no-explicit-any
    const path = (name: string) =>
      url
        .replace(':name', name)
        .replace(':id', url.startsWith('/v1/jobs/') ? ids.job : url.startsWith('/v1/backups/') ? ids.backup : '1');
    const content = operation.requestBody?.content as Record<string, { examples?: Record<string, { value: unknown }> }> | undefined;
    const examples = Object.entries(content ?? {}).flatMap(([type, media]) => Object.entries(media.examples ?? {}).map(([name, e]) => ({ type, name, value: e.value })));
    assert.equal(examples.length, Object.keys(entry.examples ?? {}).length, `${key}: every example is in the document`);
    if (examples.length === 0) {
      const answer = await call(server, method, path('docs'));
      if (key === 'DELETE /v1/jobs/:id') assert.ok([200, 409].includes(answer.status), `${key}: ${answer.status}`); // the optimize may be done already
      else assert.ok(answer.status < 300, `${key}: ${answer.status} ${JSON.stringify(answer.body)}`);
      conforms(key, operation, answer);
      if (key === 'POST /v1/backups') ids.backup = answer.body.id as string;
      continue;
    }
    for (const [i, { type, name, value }] of examples.entries()) {
      // Each collection configuration gets its own collection; the other examples go to `docs`.
      const target = key === 'PUT /v1/collections/:name' && i > 0 ? `docs-${name}` : 'docs';
      const raw = typeof value === 'string';
      const answer = await call(server, method, path(target), value, raw ? { 'content-type': type } : {});
      assert.ok(answer.status < 300, `${key} example ${name}: ${answer.status} ${JSON.stringify(answer.body)}`);
      conforms(key, operation, answer);
      sent++;
      if (key.endsWith('/import')) ids.job = answer.body.job_id as string;
      if (key.endsWith('/optimize')) ids.job = answer.body.id as string;
      if (raw) continue;
      // The same body as MessagePack, which every JSON body may be.
      const packed = await call(server, method, path(target), packr.pack(value), { 'content-type': 'application/msgpack' });
      assert.ok(packed.status < 300, `${key} example ${name} as MessagePack: ${packed.status} ${JSON.stringify(packed.body)}`);
      conforms(key, operation, packed);
    }
    if (key.endsWith('/import')) assert.equal((await finished(server, ids.job)).state, 'done');
  }
  assert.ok(sent >= 15, `${sent} examples sent`);
});

test('the curl examples of README.md and docs/ succeed, in the order written, on a real server, and their answers match the document', async (t) => {
  const server = await startServer(t);
  const calls = markdownFiles().flatMap((file) => curlCalls(readFileSync(file, 'utf8'), relative(ROOT, file)));
  assert.ok(calls.length >= 3);
  for (const example of calls) {
    const found = operationFor(doc, example.method, example.path);
    assert.ok(found, `${example.where}: ${example.method} ${example.path}`);
    const answer = await call(server, example.method, example.path, example.body === null ? undefined : JSON.parse(example.body));
    assert.ok(answer.status >= 200 && answer.status < 300, `${example.where}: ${example.method} ${example.path} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    conforms(`${example.method} ${found.path}`, found.operation, answer);
  }
});

test('answers match the document when they are errors too', async (t) => {
  const server = await startServer(t);
  const paths = doc.paths as Record<string, Record<string, Record<string, unknown>>>;
  const cases: [string, string, string, unknown][] = [
    ['/v1/collections/{name}/search', 'POST', '/v1/collections/missing/search', { vector: [1], k: 1 }],
    ['/v1/collections/{name}/search', 'POST', '/v1/collections/docs/search', { vector: [1], k: 0 }],
    ['/v1/collections/{name}/points/{id}', 'GET', '/v1/collections/bad%20name/points/1', undefined],
    ['/v1/jobs/{id}', 'GET', '/v1/jobs/nope', undefined],
    ['/v1/backups/{id}', 'GET', '/v1/backups/nope', undefined],
  ];
  for (const [template, method, path, body] of cases) {
    const answer = await call(server, method, path, body);
    assert.ok(answer.status >= 400);
    conforms(`${method} ${path}`, paths[template][method.toLowerCase()], answer);
  }
  const media = await call(server, 'PUT', '/v1/collections/docs/points', 'x', { 'content-type': 'text/plain' });
  assert.equal(media.status, 415);
  conforms('PUT points as text', paths['/v1/collections/{name}/points'].put, media);
});

test('/docs serves the interactive docs from its own files on loopback, without a key', async (t) => {
  const server = await startServer(t);
  const page = await fetch(`${server.url}/docs`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  const html = await page.text();
  assert.match(html, /swagger-ui/);
  assert.doesNotMatch(html, /(src|href)="https?:\/\//, 'nothing is loaded from elsewhere');
  for (const file of ['swagger-ui-bundle.js', 'swagger-initializer.js', 'swagger-ui.css']) {
    assert.equal(await statusOf(`${server.url}/docs/static/${file}`), 200, file);
  }
  const initializer = await fetch(`${server.url}/docs/static/swagger-initializer.js`);
  // Swagger UI's default would send the document to validator.swagger.io for a badge; the plugin's is none.
  assert.match(await initializer.text(), /validatorUrl: null/, 'Swagger UI sends the document to no online validator');
  const json = await call(server, 'GET', '/docs/json');
  assert.equal(json.status, 200);
  assert.equal(json.body.openapi, '3.1.0');
});

const READ_KEY = 'read-key-0123456789abcdef';
const ADMIN_KEY = 'admin-key-0123456789abcdef';

function keysFile(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-docs-keys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'keys.json');
  writeFileSync(file, JSON.stringify([
    { name: 'app', sha256: sha256(READ_KEY).toString('hex'), role: 'read', collections: ['only-this'] },
    { name: 'ops', sha256: sha256(ADMIN_KEY).toString('hex'), role: 'admin' },
  ]));
  return file;
}

/** A server with keys, configured from these variables as it would be at start-up (it listens on loopback for the test). */
async function serverFrom(t: TestContext, env: Record<string, string>): Promise<TestServer> {
  const config = loadConfig({ VICINITY_API_KEYS_FILE: keysFile(t), ...env });
  return startServer(t, { host: config.host, apiKeysFile: config.apiKeysFile, docsPublic: config.docsPublic });
}

/** The status of a GET; the body is read, so that the connection is free for the server to close. */
async function statusOf(url: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(url, { headers });
  await res.arrayBuffer();
  return res.status;
}

const DOCS = ['/openapi.json', '/docs', '/docs/json', '/docs/static/swagger-ui-bundle.js'];

test('with keys on a non-loopback address, the docs need a key and any key may read them', async (t) => {
  const server = await serverFrom(t, { VICINITY_HOST: '0.0.0.0' });
  assert.equal(server.config.docsPublic, false);
  for (const path of DOCS) {
    const anonymous = await fetch(server.url + path);
    assert.equal(anonymous.status, 401, `${path} without a key`);
    assert.equal(((await anonymous.json()) as { code: string }).code, 'VDB_ERR_UNAUTHENTICATED');
    assert.equal(await statusOf(server.url + path, { authorization: 'Bearer not-a-key-0000000' }), 401);
    // A read key limited to one collection reads them too: they hold no data.
    assert.equal(await statusOf(server.url + path, { 'api-key': READ_KEY }), 200, `${path} with a read key`);
  }
});

test('with keys on loopback the docs are open by default; VICINITY_DOCS_PUBLIC says otherwise either way', async (t) => {
  const loopback = await serverFrom(t, {});
  assert.equal(loopback.config.docsPublic, true);
  for (const path of DOCS) assert.equal(await statusOf(loopback.url + path), 200, `${path} on loopback`);
  assert.equal((await call(loopback, 'GET', '/v1/collections')).status, 401, 'the API itself still needs a key');

  const closed = await serverFrom(t, { VICINITY_DOCS_PUBLIC: 'false' });
  assert.equal(await statusOf(closed.url + '/openapi.json'), 401);
  assert.equal(await statusOf(closed.url + '/openapi.json', { authorization: `Bearer ${ADMIN_KEY}` }), 200);

  const opened = await serverFrom(t, { VICINITY_HOST: '0.0.0.0', VICINITY_DOCS_PUBLIC: 'true' });
  for (const path of DOCS) assert.equal(await statusOf(opened.url + path), 200, `${path} with VICINITY_DOCS_PUBLIC=true`);
  assert.equal(await statusOf(opened.url + '/metrics'), 401, 'the metrics keep their own rule');
});
