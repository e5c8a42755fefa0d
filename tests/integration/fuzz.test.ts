import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFuzz } from '../helpers/fuzz.ts';
import { call, startServer } from '../helpers/server.ts';

test('fuzzed requests never answer 5xx and carry documented codes, and valid operations between them agree with a reference model (a short seed; npm run fuzz runs more)', { timeout: 180_000 }, async (t) => {
  const server = await startServer(t);
  const run = await runFuzz(server.app, { requests: 600, seed: 20261206, every: 30 });
  assert.equal(run.requests, 600);
  assert.equal(run.sequences, 20);
  assert.deepEqual(run.violations.slice(0, 5), []);
  assert.equal((await call(server, 'GET', '/readyz')).status, 200, 'the server stays ready');
  // What the first long run found: a path that is not UTF-8 answered Fastify's own code.
  const bad = await call(server, 'GET', '/v1/collections/%ED%A0%80/points/p1');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, 'VDB_ERR_REQUEST_MALFORMED');
});
