import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pack } from 'msgpackr';
import { call, finished, startServer, type TestServer } from '../helpers/server.ts';
import { fvecsBuffer, npyBuffer } from '../helpers/import-files.ts';
import { randomVectors } from '../helpers/random.ts';
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { join } from 'node:path';

const DIM = 8;

async function collection(server: TestServer, name: string, extra: object = {}): Promise<void> {
  const res = await call(server, 'PUT', `/v1/collections/${name}`, { dimension: DIM, metric: 'l2', ...extra });
  assert.equal(res.status, 201);
}

async function importBody(server: TestServer, name: string, query: string, body: Uint8Array | string, type = 'application/octet-stream') {
  return call(server, 'POST', `/v1/collections/${name}/import?${query}`, body, { 'content-type': type });
}

async function imported(server: TestServer, name: string, query: string, body: Uint8Array | string): Promise<Record<string, unknown>> {
  const res = await importBody(server, name, query, body);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const job = await finished(server, res.body.job_id as string);
  assert.equal(job.state, 'done', JSON.stringify(job));
  return job;
}

async function count(server: TestServer, name: string): Promise<number> {
  return (await call(server, 'GET', `/v1/collections/${name}`)).body.count as number;
}

/** The nearest stored point of each vector must be itself, at distance 0. */
async function assertSelfNearest(server: TestServer, name: string, ids: string[], vectors: number[][]): Promise<void> {
  for (let i = 0; i < ids.length; i += Math.max(1, Math.floor(ids.length / 25))) {
    const res = await call(server, 'POST', `/v1/collections/${name}/search`, { vector: vectors[i], k: 1, ef: 200 });
    assert.equal(res.status, 200);
    assert.equal(res.body.results[0].id, ids[i]);
    assert.equal(res.body.results[0].distance, 0);
  }
}

test('each format round-trips ids, vectors and payloads', async (t) => {
  const server = await startServer(t, { bodyLimitBytes: 1024 });
  const vectors = randomVectors(300, DIM, 1);
  const bodies = {
    npy: npyBuffer(vectors),
    fvecs: fvecsBuffer(vectors),
    ndjson: vectors.map((v, i) => JSON.stringify({ id: `p${i}`, vector: v, payload: { i, tag: i % 2 ? 'odd' : 'even' } })).join('\n'),
    msgpack: Buffer.concat(vectors.map((v, i) => pack({ id: i === 0 ? 7 : `p${i}`, vector: Float32Array.from(v), payload: { i } }))),
  };
  for (const [format, body] of Object.entries(bodies)) {
    await collection(server, format);
    // Bigger than the 1 KiB request body limit: imports are bound by their own caps.
    assert.ok(Buffer.byteLength(body) > 1024);
    const job = await imported(server, format, `format=${format}&id_offset=1000`, body);
    assert.equal(job.records, 300);
    assert.equal(job.processed, 300);
    assert.equal(await count(server, format), 300);
    const ids = vectors.map((_, i) => (format === 'npy' || format === 'fvecs' ? String(1000 + i) : format === 'msgpack' && i === 0 ? '7' : `p${i}`));
    const point = await call(server, 'GET', `/v1/collections/${format}/points/${ids[5]}?with_vector=true`);
    assert.deepEqual(point.body.vector, vectors[5]);
    if (format === 'ndjson') assert.deepEqual(point.body.payload, { i: 5, tag: 'odd' });
    if (format === 'msgpack') assert.deepEqual(point.body.payload, { i: 5 });
    await assertSelfNearest(server, format, ids, vectors);
  }
  // Payloads are filterable once the job is done.
  const odd = await call(server, 'POST', '/v1/collections/ndjson/search', { vector: vectors[0], k: 5, where: { tag: 'odd' } });
  assert.equal(odd.body.results.length, 5);
  for (const r of odd.body.results) assert.equal(r.payload.tag, 'odd');
});

test('format comes from ?format or the content type, else 400', async (t) => {
  const server = await startServer(t);
  await collection(server, 'c');
  const vectors = randomVectors(10, DIM, 2);
  const ndjson = vectors.map((v, i) => JSON.stringify({ id: i, vector: v })).join('\n');
  const typed = await importBody(server, 'c', '', ndjson, 'application/x-ndjson');
  assert.equal(typed.status, 202);
  await finished(server, typed.body.job_id as string);
  const none = await importBody(server, 'c', '', ndjson, 'text/plain');
  assert.equal(none.status, 400);
  assert.equal(none.body.code, 'VDB_ERR_REQUEST_INVALID');
  assert.match(none.body.message as string, /\?format=/);
  const bad = await importBody(server, 'c', 'format=csv', ndjson);
  assert.equal(bad.status, 400);
  const missing = await importBody(server, 'nope', 'format=ndjson', ndjson);
  assert.equal(missing.status, 404);
  assert.equal(missing.body.code, 'VDB_ERR_COLLECTION_NOT_FOUND');
});

test('malformed bodies answer 4xx naming the record, and leave the collection unchanged', async (t) => {
  const server = await startServer(t, { importMaxBytes: 4096 });
  await collection(server, 'c');
  const seed = randomVectors(5, DIM, 3);
  await imported(server, 'c', 'format=ndjson', seed.map((v, i) => JSON.stringify({ id: `s${i}`, vector: v })).join('\n'));
  const good = randomVectors(20, DIM, 4);
  const withNaN = good.map((v) => [...v]);
  withNaN[3][2] = NaN;
  const cases: [string, string, Uint8Array | string, number, string, RegExp][] = [
    ['truncated .npy header', 'npy', npyBuffer(good).subarray(0, 30), 400, 'VDB_ERR_IMPORT_FORMAT', /header/],
    ['wrong dtype', 'npy', npyBuffer(good, { descr: '<i4' }), 400, 'VDB_ERR_IMPORT_FORMAT', /i4|dtype|descr/],
    ['wrong dimension', 'npy', npyBuffer(randomVectors(3, DIM + 1, 5)), 422, 'VDB_ERR_VECTOR_DIMENSION', /9|8/],
    ['NaN', 'npy', npyBuffer(withNaN), 422, 'VDB_ERR_VECTOR_NOT_FINITE', /row 3/],
    ['ragged NDJSON', 'ndjson', `${JSON.stringify({ id: 1, vector: good[0] })}\n${JSON.stringify({ id: 2, vector: good[1].slice(0, 5) })}\n`, 422, 'VDB_ERR_VECTOR_DIMENSION', /line 2/],
    ['broken NDJSON', 'ndjson', `${JSON.stringify({ id: 1, vector: good[0] })}\n{"id": 2, "vector": [1,\n`, 400, 'VDB_ERR_IMPORT_FORMAT', /line 2/],
    ['garbage MessagePack', 'msgpack', Buffer.from([0xc1, 0xff, 0x00, 0x13]), 400, 'VDB_ERR_IMPORT_FORMAT', /record|byte/],
    ['past the byte cap', 'npy', npyBuffer(randomVectors(200, DIM, 6)), 413, 'VDB_ERR_IMPORT_TOO_LARGE', /4096/],
  ];
  for (const [what, format, body, status, code, message] of cases) {
    const res = await importBody(server, 'c', `format=${format}`, body);
    assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.code, code, what);
    assert.match(res.body.message as string, message, what);
    assert.equal(await count(server, 'c'), 5, what);
  }
  const jobs = (await call(server, 'GET', '/v1/jobs')).body.jobs as { state: string; error?: { code: string } }[];
  assert.equal(jobs.filter((j) => j.state === 'failed').length, cases.length);
  assert.ok(jobs.every((j) => j.state !== 'failed' || j.error?.code));
  // Nothing staged is left behind, and the collection still works.
  const db = new Database(join(server.dataDir, 'vicinity.db'), { readonly: true });
  t.after(() => db.close());
  for (let i = 0; db.prepare('SELECT count(*) AS n FROM import_rows').get() !== undefined; i++) {
    if ((db.prepare('SELECT count(*) AS n FROM import_rows').get() as { n: number }).n === 0) break;
    assert.ok(i < 200, 'staged rows were not removed');
    await sleep(25);
  }
  await assertSelfNearest(server, 'c', seed.map((_, i) => `s${i}`), seed);
});

test('upserts during an import are kept; the import wins for ids it commits after', async (t) => {
  const server = await startServer(t);
  await collection(server, 'c', { hnsw: { ef_construction: 400, m: 32 } });
  const vectors = randomVectors(6000, DIM, 7);
  const body = npyBuffer(vectors);
  const accepted = await importBody(server, 'c', 'format=npy', body);
  assert.equal(accepted.status, 202);
  const jobId = accepted.body.job_id as string;
  const early = await call(server, 'GET', `/v1/jobs/${jobId}`);
  assert.ok(['queued', 'running'].includes(early.body.state as string), JSON.stringify(early.body));
  // During the build: a new point, and a point the import also brings (id 10).
  const extra = randomVectors(2, DIM, 8);
  const upsert = await call(server, 'PUT', '/v1/collections/c/points', { points: [{ id: 'live', vector: extra[0] }, { id: 10, vector: extra[1] }] });
  assert.equal(upsert.status, 200);
  const during = await call(server, 'POST', '/v1/collections/c/search', { vector: extra[0], k: 1 });
  assert.equal(during.body.results[0].id, 'live');
  const job = await finished(server, jobId);
  assert.equal(job.state, 'done');
  assert.equal(await count(server, 'c'), 6001);
  const ten = await call(server, 'GET', '/v1/collections/c/points/10?with_vector=true');
  assert.deepEqual(ten.body.vector, vectors[10]);
  await assertSelfNearest(server, 'c', ['live'], [extra[0]]);
  await assertSelfNearest(server, 'c', vectors.map((_, i) => String(i)), vectors);
  // The upsert's vector for id 10 is gone from the index: the import committed after it.
  const old = (await call(server, 'POST', '/v1/collections/c/search', { vector: extra[1], k: 1, ef: 200 })).body.results[0];
  assert.ok(!(old.id === '10' && old.distance === 0), JSON.stringify(old));
  // Survives a restart (snapshot written by the import) with the same answers.
  const again = await server.restart();
  assert.equal(await count(again, 'c'), 6001);
  await assertSelfNearest(again, 'c', vectors.map((_, i) => String(i)), vectors);
});

test('a cancelled import leaves nothing; a finished job cannot be cancelled', async (t) => {
  const server = await startServer(t);
  await collection(server, 'c', { hnsw: { ef_construction: 400, m: 32 } });
  const accepted = await importBody(server, 'c', 'format=npy', npyBuffer(randomVectors(20_000, DIM, 9)));
  assert.equal(accepted.status, 202);
  const jobId = accepted.body.job_id as string;
  const cancelled = await call(server, 'DELETE', `/v1/jobs/${jobId}`);
  assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
  assert.equal(cancelled.body.state, 'cancelled');
  assert.equal(cancelled.body.error.code, 'VDB_ERR_JOB_CANCELLED');
  assert.equal(await count(server, 'c'), 0);
  const twice = await call(server, 'DELETE', `/v1/jobs/${jobId}`);
  assert.equal(twice.status, 409);
  assert.equal(twice.body.code, 'VDB_ERR_JOB_FINISHED');
  const unknown = await call(server, 'GET', '/v1/jobs/no-such-job');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.code, 'VDB_ERR_JOB_NOT_FOUND');
  // The collection takes a later import normally.
  const vectors = randomVectors(50, DIM, 10);
  await imported(server, 'c', 'format=npy', npyBuffer(vectors));
  assert.equal(await count(server, 'c'), 50);
  await assertSelfNearest(server, 'c', vectors.map((_, i) => String(i)), vectors);
});

test('an empty body imports nothing and is done; a shutdown during a build leaves an interrupted job', async (t) => {
  const server = await startServer(t);
  await collection(server, 'c', { hnsw: { ef_construction: 400, m: 32 } });
  const empty = await imported(server, 'c', 'format=npy', npyBuffer([], { dimension: DIM }));
  assert.equal(empty.records, 0);
  assert.equal(await count(server, 'c'), 0);
  const accepted = await importBody(server, 'c', 'format=npy', npyBuffer(randomVectors(20_000, DIM, 12)));
  assert.equal(accepted.status, 202);
  const again = await server.restart();
  const job = await finished(again, accepted.body.job_id as string);
  assert.equal(job.state, 'failed');
  assert.equal((job.error as { code: string }).code, 'VDB_ERR_JOB_INTERRUPTED');
  assert.equal(await count(again, 'c'), 0);
});

test('an import that names no order builds in a seeded shuffle; a collection created with an order keeps it', async (t) => {
  const server = await startServer(t);
  await collection(server, 'c');
  await collection(server, 'g', { build_order: 'given' });
  const vectors = randomVectors(300, DIM, 12);
  const body = npyBuffer(vectors);
  const shuffled = await imported(server, 'c', 'format=npy', body);
  assert.deepEqual([shuffled.build_order, shuffled.seed], ['random', 1], 'the default, auto, is a shuffle seeded by seed (default 1)');
  assert.equal((await imported(server, 'c', 'format=npy&build_order=auto&seed=3', body)).build_order, 'random');
  assert.equal((await imported(server, 'c', 'format=npy&build_order=given', body)).build_order, 'given');
  assert.equal((await imported(server, 'g', 'format=npy', body)).build_order, 'given');
  await assertSelfNearest(server, 'c', vectors.map((_, i) => String(i)), vectors);
  // Creating it again without naming an order matches whatever order it has; naming another does not.
  const again = await call(server, 'PUT', '/v1/collections/g', { dimension: DIM, metric: 'l2' });
  assert.equal(again.status, 200, JSON.stringify(again.body));
  assert.equal(again.body.config.build_order, 'given');
  assert.equal((await call(server, 'PUT', '/v1/collections/g', { dimension: DIM, metric: 'l2', build_order: 'random' })).status, 409);
});

test('build_order=random builds the same points', async (t) => {
  const server = await startServer(t);
  await collection(server, 'c');
  const vectors = randomVectors(500, DIM, 11);
  const job = await imported(server, 'c', 'format=npy&build_order=random&seed=5', npyBuffer(vectors));
  assert.equal(job.build_order, 'random');
  assert.equal(job.seed, 5);
  await assertSelfNearest(server, 'c', vectors.map((_, i) => String(i)), vectors);
  const bad = await importBody(server, 'c', 'format=npy&build_order=lid', npyBuffer(vectors));
  assert.equal(bad.status, 400);
});

test('once an import is done its staged rows give their pages back: the file holds little more than the points', async (t) => {
  const server = await startServer(t);
  await collection(server, 'c', { dimension: 256 });
  const vectors = randomVectors(4000, 256, 77);
  await imported(server, 'c', 'format=npy', npyBuffer(vectors));
  const db = new Database(join(server.dataDir, 'vicinity.db'));
  t.after(() => db.close());
  // The staged rows are removed and their pages freed in the background after the job ends (in the
  // upload thread, which may have to start again first: wait for the rows to go, not only the free pages).
  const staged = () => db.prepare('SELECT count(*) FROM import_rows').pluck().get() as number;
  for (let i = 0; staged() > 0 || (db.pragma('freelist_count', { simple: true }) as number) > 0 || i === 0; i++) {
    assert.ok(i < 600, `staged rows left: ${staged()}, free pages left: ${String(db.pragma('freelist_count', { simple: true }))}`);
    await sleep(50);
  }
  // What the WAL holds goes into the file (the server truncates the WAL too, but later writes, such as
  // the k-NN overlay's, start it again): the file's size is then the data's.
  // Retried while busy: the server's own truncation (the upload thread's, after its last vacuum step) may be running.
  for (let i = 0; (db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[])[0].busy !== 0; i++) {
    assert.ok(i < 100, 'the checkpoint stayed busy');
    await sleep(50);
  }
  const vectorBytes = vectors.length * 256 * 4;
  const size = statSync(join(server.dataDir, 'vicinity.db')).size;
  assert.ok(size <= 1.3 * vectorBytes, `the database is ${size} bytes for ${vectorBytes} bytes of vectors`);
});
