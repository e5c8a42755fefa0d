import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { npyBuffer } from '../helpers/import-files.ts';
import { spawnServer } from '../helpers/process.ts';
import { randomVectors } from '../helpers/random.ts';
import { call, startServer, waitReady } from '../helpers/server.ts';

const BIN = fileURLToPath(new URL('../../bin/vicinity.mjs', import.meta.url));

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** Runs `node bin/vicinity.mjs …` from another directory (never synchronously: the server shares this event loop). */
function vicinity(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  if (!('VICINITY_URL' in env)) delete childEnv.VICINITY_URL;
  const child = spawn(process.execPath, [BIN, ...args], { cwd: tmpdir(), env: childEnv });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('vicinity import --create loads an .npy file; search and job see the result; a truncated file exits 1', async (t) => {
  const server = await startServer(t);
  const dir = tempDir(t);
  const vectors = randomVectors(300, 8, 7);
  const file = join(dir, 'vectors.npy');
  writeFileSync(file, npyBuffer(vectors));
  const url = ['--url', server.url];

  const first = await vicinity(['import', file, '--collection', 'docs', '--create', '--no-progress', '--json', ...url]);
  assert.equal(first.code, 0, first.err);
  assert.match(first.err, /^created collection 'docs' \(dimension 8, l2\)$/m);
  const summary = JSON.parse(first.out);
  assert.equal(summary.state, 'done');
  assert.equal(summary.records, 300);
  assert.equal(summary.file_bytes, npyBuffer(vectors).length);
  assert.equal(summary.job.records, 300);
  assert.ok(summary.upload_seconds <= summary.total_seconds);
  const collection = await call(server, 'GET', '/v1/collections/docs');
  assert.deepEqual([collection.body.dimension, collection.body.metric, collection.body.count], [8, 'l2', 300]);

  const search = await vicinity(['search', '--collection', 'docs', '--vector', JSON.stringify(vectors[17]), '--k', '3', '--json', ...url]);
  assert.equal(search.code, 0, search.err);
  const hits = JSON.parse(search.out).results;
  assert.equal(hits.length, 3);
  assert.equal(String(hits[0].id), '17');
  assert.equal(hits[0].distance, 0);

  const random = await vicinity(['search', '--collection', 'docs', '--random', '-k', '5', ...url]);
  assert.equal(random.code, 0, random.err);
  assert.match(random.out, /^# {2}id +distance\n(\d+ {2}\d+ +[\d.e+-]+\n){5}5 results in [\d.]+ ms\n$/);

  const diverse = await vicinity([
    'search', '--collection', 'docs', '--vector', JSON.stringify(vectors[17]), '-k', '4',
    '--select', '{"mode":"mmr","lambda":0.5,"pool":20}', '--expand', '{"via":["knn"]}', '--explain', ...url,
  ]);
  assert.equal(diverse.code, 0, diverse.err);
  assert.match(diverse.out, /^# {2}id +distance +source\n1 {2}17 +[0.e-]+ +index\n/);
  assert.match(diverse.out, /\nrelevance [\d.]+, coverage [\d.]+, diversity [\d.]+\n$/);
  const refused = await vicinity(['search', '--collection', 'docs', '--random', '--select', '{"pool":1}', '-k', '4', ...url]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.err, /VDB_ERR_REQUEST_INVALID/);

  const job = await vicinity(['job', summary.job_id, '--json', ...url]);
  assert.equal(job.code, 0, job.err);
  assert.equal(JSON.parse(job.out).state, 'done');

  // The same collection again (identical: fine) with the rows under new ids.
  const second = await vicinity(['import', file, '--collection', 'docs', '--create', '--id-offset', '1000', '--no-progress', ...url]);
  assert.equal(second.code, 0, second.err);
  assert.match(second.err, /^using the existing collection 'docs'/m);
  assert.match(second.out, /^imported 300 records into 'docs' \(job [\w-]+\)$/m);
  const both = await vicinity(['search', '--collection', 'docs', '--vector', JSON.stringify(vectors[17]), '--k', '2', '--json', ...url]);
  assert.deepEqual(JSON.parse(both.out).results.map((h: { id: unknown }) => String(h.id)).sort(), ['1017', '17']);

  const conflict = await vicinity(['import', file, '--collection', 'docs', '--create', '--metric', 'cosine', '--no-progress', ...url]);
  assert.equal(conflict.code, 1);
  assert.match(conflict.err, /^error: VDB_ERR_COLLECTION_EXISTS: collection 'docs' exists with a different configuration/m);
  const missing = await vicinity(['import', file, '--collection', 'nope', '--no-progress', ...url]);
  assert.equal(missing.code, 1);
  assert.equal(missing.err, "error: VDB_ERR_COLLECTION_NOT_FOUND: collection 'nope' does not exist\n");

  const truncated = join(dir, 'truncated.npy');
  const whole = npyBuffer(vectors);
  writeFileSync(truncated, whole.subarray(0, whole.length - 10));
  const bad = await vicinity(['import', truncated, '--collection', 'docs', '--no-progress', ...url]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /^error: VDB_ERR_IMPORT_FORMAT: .*truncated/m);
  assert.equal((await call(server, 'GET', '/v1/collections/docs')).body.count, 600);
});

/** Runs `vicinity serve` on port 0 in `dir`; resolves once the server listens. */
async function serve(t: TestContext, dir: string): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null> }> {
  const env = { ...process.env, VICINITY_PORT: '0', VICINITY_DATA_DIR: dir, VICINITY_REPLICAS: '1', VICINITY_URL: 'http://127.0.0.1:1' };
  const child = spawn(process.execPath, [BIN, 'serve'], { cwd: tmpdir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // SIGTERM, not SIGKILL: the wrapper forwards it, so the server (in its own process group) stops too.
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  let log = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (match) resolve(match[1]);
    });
    void exited.then((code) => reject(new Error(`serve exited early with ${code}: ${log}`)));
  });
  child.stderr.resume();
  await waitReady({ url });
  return { child, url, exited };
}

test('vicinity serve runs the server (replicas included) with VICINITY_URL set, and stops on SIGTERM', async (t) => {
  const { child, url, exited } = await serve(t, tempDir(t));
  const server = { url };
  assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: 2, metric: 'l2' })).status, 201);
  assert.equal((await call(server, 'PUT', '/v1/collections/c/points', { points: [{ id: 1, vector: [1, 0] }] })).status, 200);
  // A search runs on a replica: a worker thread that must load TypeScript too.
  const search = await call(server, 'POST', '/v1/collections/c/search', { vector: [1, 0], k: 1 });
  assert.equal(search.status, 200, JSON.stringify(search.body));
  assert.equal(search.body.results[0].id, '1');
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  await assert.rejects(fetch(url + '/healthz'), 'the server stopped with the command');
});

test('the server of vicinity serve stops when the command is killed outright', async (t) => {
  const { child, url, exited } = await serve(t, tempDir(t));
  child.kill('SIGKILL');
  await exited;
  const end = Date.now() + 15_000;
  while (Date.now() < end && (await fetch(url + '/healthz').then(() => true, () => false))) await sleep(50);
  await assert.rejects(fetch(url + '/healthz'), 'no orphaned server');
});

test('vicinity keys create/list/revoke manage a keys file; the server takes it up on SIGHUP; --api-key reaches it', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'keys.json');
  const made = await vicinity(['keys', 'create', '--name', 'ops', '--role', 'admin', '--file', file]);
  assert.equal(made.code, 0, made.err);
  const admin = made.out.trim();
  assert.match(admin, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  assert.ok(!readFileSync(file, 'utf8').includes(admin), 'only the digest is stored');
  const reader = (await vicinity(['keys', 'create', '--name', 'app', '--role', 'read', '--collections', 'docs,faq-*', '--file', file])).out.trim();
  assert.equal((await vicinity(['keys', 'create', '--name', 'app', '--role', 'read', '--file', file])).code, 2, 'a name is unique');
  assert.equal((await vicinity(['keys', 'create', '--name', 'x', '--role', 'root', '--file', file])).code, 2);
  assert.equal((await vicinity(['keys', 'list', '--file', file])).out, 'ops\tadmin\t*\napp\tread\tdocs,faq-*\n');

  const running = await spawnServer(join(dir, 'data'), { VICINITY_API_KEYS_FILE: file });
  t.after(() => running.child.kill('SIGKILL'));
  await waitReady(running);
  const url = ['--url', running.url];
  const unauthenticated = await vicinity(['search', '--collection', 'docs', '--random', ...url]);
  assert.equal(unauthenticated.code, 1);
  assert.match(unauthenticated.err, /VDB_ERR_UNAUTHENTICATED/);
  assert.equal((await call(running, 'PUT', '/v1/collections/docs', { dimension: 3, metric: 'l2' }, { authorization: `Bearer ${admin}` })).status, 201);
  const found = await vicinity(['search', '--collection', 'docs', '--vector', '[0,0,1]', '--api-key', reader, ...url]);
  assert.equal(found.code, 0, found.err);
  assert.equal((await vicinity(['search', '--collection', 'docs', '--vector', '[0,0,1]', ...url], { VICINITY_API_KEY: reader })).code, 0);

  // Revoked and reloaded: the key stops working without a restart.
  assert.equal((await vicinity(['keys', 'revoke', '--name', 'app', '--file', file])).code, 0);
  assert.equal((await vicinity(['keys', 'revoke', '--name', 'app', '--file', file])).code, 1);
  running.child.kill('SIGHUP');
  let status = 0;
  for (let i = 0; i < 100 && status !== 401; i++) {
    status = (await call(running, 'GET', '/v1/collections/docs', undefined, { authorization: `Bearer ${reader}` })).status;
    if (status !== 401) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(status, 401);
  assert.equal((await call(running, 'GET', '/v1/collections/docs', undefined, { authorization: `Bearer ${admin}` })).status, 200);
  // A file that no longer parses leaves the keys in use.
  writeFileSync(file, '{ not json');
  running.child.kill('SIGHUP');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await call(running, 'GET', '/v1/collections/docs', undefined, { 'api-key': admin })).status, 200);
});
