import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from '../../../../server/openapi/build.ts';
import { curlCalls, markdownFiles } from '../../../helpers/curl.ts';
import { operationFor, schemaChecker } from '../../../helpers/openapi.ts';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

test('the curl extractor reads method, path and body however the command is written', () => {
  const text = [
    "curl -X PUT localhost:7373/v1/collections/docs -H 'content-type: application/json' \\",
    '  -d \'{"dimension": 3, "metric": "cosine"}\'',
    'Run `curl -s http://127.0.0.1:7373/v1/collections/docs` to see it.',
    'curl --request POST --data "{\\"vector\\": [1], \\"k\\": 1}" "https://db.example:7373/v1/collections/a/search?x=1" | jq .',
    "curl -XPOST -H 'api-key: k' $URL/v1/collections/docs/points/delete --data-raw '{\"ids\": [1]}'",
  ].join('\n');
  const calls = curlCalls(text, 'x.md');
  assert.equal(calls.length, 4);
  assert.deepEqual(calls.map(({ method, path, body }) => ({ method, path, body })), [
    { method: 'PUT', path: '/v1/collections/docs', body: '{"dimension": 3, "metric": "cosine"}' },
    { method: 'GET', path: '/v1/collections/docs', body: null },
    { method: 'POST', path: '/v1/collections/a/search?x=1', body: '{"vector": [1], "k": 1}' },
    { method: 'POST', path: '/v1/collections/docs/points/delete', body: '{"ids": [1]}' },
  ]);
  assert.equal(calls[0].where, 'x.md:1');
});

test("every curl example in README.md and docs/ is a route of the document, and its body passes the route's schema", async () => {
  const doc = await openApiDocument();
  const check = schemaChecker(doc);
  const calls = markdownFiles().flatMap((file) => curlCalls(readFileSync(file, 'utf8'), relative(ROOT, file)));
  assert.ok(calls.length >= 3, `${calls.length} curl examples found`);
  let bodies = 0;
  for (const call of calls) {
    const found = operationFor(doc, call.method, call.path);
    assert.ok(found, `${call.where}: ${call.method} ${call.path} is not a route of the API`);
    if (call.body === null) continue;
    const media = found.operation.requestBody?.content?.['application/json'];
    assert.ok(media, `${call.where}: ${call.method} ${found.path} takes no JSON body`);
    let value: unknown;
    assert.doesNotThrow(() => (value = JSON.parse(call.body!)), `${call.where}: the body is not JSON`);
    const validate = check(media.schema);
    assert.ok(validate(value), `${call.where}: ${call.method} ${found.path} body ${call.body}: ${JSON.stringify(validate.errors)}`);
    bodies++;
  }
  assert.ok(bodies >= 3, `${bodies} bodies checked`);
});
