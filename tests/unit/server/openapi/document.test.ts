import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import Fastify from 'fastify';
import { buildApp } from '../../../../server/app.ts';
import { ROUTE_ACCESS } from '../../../../server/auth/policy.ts';
import { loadConfig } from '../../../../server/config.ts';
import { errorCatalogue } from '../../../../server/errors.ts';
import { openApiDocument } from '../../../../server/openapi/build.ts';
import { installOpenApi, openApiPath } from '../../../../server/openapi/document.ts';
import { EXAMPLE_MESSAGES } from '../../../../server/openapi/errors.ts';
import { OPERATIONS } from '../../../../server/openapi/operations.ts';
import { operations, response, schemaChecker } from '../../../helpers/openapi.ts';

const doc = await openApiDocument();

test('the document passes an OpenAPI 3.1 validator', async () => {
  const result = await new Validator().validate(structuredClone(doc));
  assert.equal(doc.openapi, '3.1.0');
  assert.ok(result.valid, JSON.stringify(result.errors, null, 2));
  // The validator does refuse a broken document: a response without its description.
  const broken = structuredClone(doc) as { paths: Record<string, Record<string, { responses: Record<string, { description?: string }> }>> };
  delete broken.paths['/healthz'].get.responses['200'].description;
  assert.equal((await new Validator().validate(broken)).valid, false);
});

test("every route of Fastify's table is in the document, and nothing else", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-openapi-'));
  const app = buildApp({ ...loadConfig({ VICINITY_LOG_LEVEL: 'silent', VICINITY_REPLICAS: '1' }), dataDir: dir });
  t.after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // The routes are added once the plugins have loaded (server/app.ts): a hook added now sees them all.
  const table = new Set<string>();
  app.addHook('onRoute', (route) => {
    if (route.schema?.hide) return; // the /docs pages and their files
    for (const method of [route.method].flat()) if (method !== 'HEAD') table.add(`${method} ${openApiPath(route.url)}`);
  });
  await app.ready();
  const documented = new Set(operations(doc).map((o) => `${o.method} ${o.path}`));
  assert.ok(table.size >= 26, `${table.size} routes`);
  assert.deepEqual([...documented].sort(), [...table].sort());
  for (const key of Object.keys(OPERATIONS)) assert.ok(key in ROUTE_ACCESS, `${key} has an access rule`);
});

test('every error a route documents is a catalogue code with that status, and has an example', () => {
  const statusOf = new Map(errorCatalogue().map((e) => [e.code, e.status]));
  let checked = 0;
  for (const { method, path, operation } of operations(doc)) {
    const statuses = Object.keys(operation.responses as object).map(Number);
    assert.ok(statuses.some((s) => s < 300), `${method} ${path} documents an answer`);
    assert.ok(statuses.includes(500), `${method} ${path} documents 500`);
    for (const status of statuses.filter((s) => s >= 400)) {
      const media = response(doc, operation, status)!.content['application/json'];
      const codes = media.schema.allOf[1].properties.code.enum as string[];
      assert.ok(codes.length > 0, `${method} ${path} ${status} names its codes`);
      for (const code of codes) {
        assert.equal(statusOf.get(code), status, `${method} ${path}: ${code} is answered with ${statusOf.get(code)}, not ${status}`);
        assert.ok(EXAMPLE_MESSAGES[code], `${code} has an example message`);
        assert.equal(media.examples[code].value.code, code);
        checked++;
      }
    }
    const role = operation['x-vicinity-role'] as string;
    if (role !== 'open') assert.ok(statuses.includes(401), `${method} ${path} needs a key`);
    // Every key may read: only a higher role, or a key's collections, can forbid.
    const forbids = role === 'write' || role === 'admin' || path.includes('{name}') || path === '/v1/jobs/{id}';
    assert.equal(statuses.includes(403), forbids, `${method} ${path} (${role}) and 403`);
  }
  assert.ok(checked > 100, `${checked} codes checked`);
});

test('every request body has examples, and each validates against its schema', () => {
  const check = schemaChecker(doc);
  let examples = 0;
  for (const { method, path, operation } of operations(doc)) {
    const content = operation.requestBody?.content as Record<string, { schema: unknown; examples?: Record<string, { value: unknown }> }> | undefined;
    if (!content) continue;
    const [type, media] = Object.entries(content).find(([, m]) => m.examples)!;
    assert.ok(media, `${method} ${path} has request examples`);
    for (const [name, { value }] of Object.entries(media.examples!)) {
      const validate = check(media.schema);
      assert.ok(validate(value), `${method} ${path} (${type}) example ${name}: ${JSON.stringify(validate.errors)}`);
      examples++;
    }
    if (type === 'application/json') assert.ok(content['application/msgpack'], `${method} ${path} takes MessagePack too`);
  }
  assert.ok(examples >= 15, `${examples} examples`);
});

test('answer examples validate against their schemas, and the main routes have them', () => {
  const check = schemaChecker(doc);
  let examples = 0;
  for (const { method, path, operation } of operations(doc)) {
    for (const [status, answer] of Object.entries(operation.responses as Record<string, { content?: Record<string, { schema: unknown; example?: unknown }> }>)) {
      if (Number(status) >= 300) continue;
      const media = Object.values(answer.content ?? {})[0];
      if (media?.example === undefined) continue;
      const validate = check(media.schema);
      assert.ok(validate(media.example), `${method} ${path} ${status} example: ${JSON.stringify(validate.errors)}`);
      examples++;
    }
  }
  assert.ok(examples >= 24, `${examples} answer examples`);
});

test('a wrong example is caught: the checks can fail', () => {
  const check = schemaChecker(doc);
  const search = doc.paths as Record<string, Record<string, { requestBody: { content: Record<string, { schema: unknown }> } }>>;
  const validate = check(search['/v1/collections/{name}/search'].post.requestBody.content['application/json'].schema);
  assert.equal(validate({ vector: [0.1], k: 0 }), false);
  assert.equal(validate({ vector: [0.1], k: 1, nearest: true }), false);
});

test('a route the document does not describe fails the start', async (t) => {
  const app = Fastify();
  t.after(() => app.close());
  installOpenApi(app);
  app.after(() => {
    app.get('/v1/undocumented', () => 'x');
  });
  await assert.rejects(async () => {
    await app.ready();
  }, /routes without an entry in server\/openapi\/operations\.ts: GET \/v1\/undocumented/);
});
