import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadHnswlib } from '../../index/native/load.ts';
import { loadParallelBuilder } from '../../index/native/parallel-build.ts';
import { call, finished, startServer, type TestServer } from '../helpers/server.ts';
import { npyBuffer } from '../helpers/import-files.ts';
import { l2, randomVectors } from '../helpers/random.ts';

const DIM = 16;
const N = 3000;
const builder = loadParallelBuilder(loadHnswlib('auto').build);

/** Waits for the job an import (`job_id`) or an optimize (`id`) answered with. */
async function job(server: TestServer, res: { status: number; body: { job_id?: string; id?: string } }): Promise<Record<string, unknown>> {
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const done = await finished(server, (res.body.job_id ?? res.body.id)!, 120_000);
  assert.equal(done.state, 'done', JSON.stringify(done));
  return done;
}

/** Searches at ef = n must return the brute-force neighbours, in order. */
async function assertOracle(server: TestServer, name: string, vectors: number[][]): Promise<void> {
  for (const query of randomVectors(25, DIM, 31)) {
    const want = vectors.map((v, i) => ({ id: String(i), d: l2(v, query) })).sort((a, b) => a.d - b.d).slice(0, 10).map((x) => x.id);
    const res = await call(server, 'POST', `/v1/collections/${name}/search`, { vector: query, k: 10, ef: vectors.length });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual((res.body.results as { id: string }[]).map((r) => r.id), want);
  }
}

const tempFiles = (server: TestServer): string[] => {
  try {
    return readdirSync(join(server.dataDir, 'indexes')).filter((f) => f.startsWith('.build-'));
  } catch {
    return []; // no snapshot yet
  }
};

for (const buildThreads of [2, 1]) {
  const how = buildThreads === 1 || builder.builder === null ? 'the addPoint loop' : 'the parallel builder';
  test(`VICINITY_BUILD_THREADS=${buildThreads}: an import into an empty collection and an optimize (${how}) search as brute force`, async (t) => {
    t.diagnostic(builder.reason);
    const server = await startServer(t, { buildThreads });
    assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: DIM, metric: 'l2' })).status, 201);
    const vectors = randomVectors(N, DIM, 30);
    const imported = await job(server, await call(server, 'POST', '/v1/collections/c/import?format=npy', npyBuffer(vectors), { 'content-type': 'application/octet-stream' }));
    assert.equal(imported.build_order, 'random');
    assert.equal(imported.processed, N);
    await assertOracle(server, 'c', vectors);
    await job(server, await call(server, 'POST', '/v1/collections/c/optimize', { build_order: 'random' }));
    await assertOracle(server, 'c', vectors);
    // A second import goes into an index that holds points: the loop, in either case.
    const more = randomVectors(200, DIM, 32);
    await job(server, await call(server, 'POST', '/v1/collections/c/import?format=npy&id_offset=3000', npyBuffer(more), { 'content-type': 'application/octet-stream' }));
    await assertOracle(server, 'c', [...vectors, ...more]);
    assert.deepEqual(tempFiles(server), []);
    // And it all comes back after a restart, from the snapshot.
    await assertOracle(await server.restart(), 'c', [...vectors, ...more]);
  });
}

test('an import cancelled while its index builds leaves nothing, and the next import builds normally', async (t) => {
  const server = await startServer(t, { buildThreads: 2 });
  assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: DIM, metric: 'l2', hnsw: { m: 32, ef_construction: 400 } })).status, 201);
  const accepted = await call(server, 'POST', '/v1/collections/c/import?format=npy', npyBuffer(randomVectors(30_000, DIM, 33)), { 'content-type': 'application/octet-stream' });
  assert.equal(accepted.status, 202);
  const jobId = accepted.body.job_id as string;
  for (;;) {
    const view = (await call(server, 'GET', `/v1/jobs/${jobId}`)).body as { phase: string | null; processed: number; state: string };
    assert.equal(view.state, 'running', 'the build must still run when the test cancels it');
    if (view.phase === 'building' && view.processed > 0) break;
    await sleep(10);
  }
  const cancelled = await call(server, 'DELETE', `/v1/jobs/${jobId}`);
  assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
  assert.equal(cancelled.body.state, 'cancelled');
  assert.ok((cancelled.body.processed as number) < 30_000);
  assert.equal((await call(server, 'GET', '/v1/collections/c')).body.count, 0);
  const vectors = randomVectors(N, DIM, 34);
  await job(server, await call(server, 'POST', '/v1/collections/c/import?format=npy', npyBuffer(vectors), { 'content-type': 'application/octet-stream' }));
  assert.equal((await call(server, 'GET', '/v1/collections/c')).body.count, N);
  await assertOracle(server, 'c', vectors);
  assert.deepEqual(tempFiles(server), []);
});

test('an import cancelled while its parallel build writes or reads back its file leaves no file behind', async (t) => {
  const server = await startServer(t, { buildThreads: 2 });
  t.diagnostic(builder.reason);
  if (builder.builder === null) return;
  assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: 64, metric: 'l2', hnsw: { m: 16, ef_construction: 16 } })).status, 201);
  const accepted = await call(server, 'POST', '/v1/collections/c/import?format=npy', npyBuffer(randomVectors(40_000, 64, 35)), { 'content-type': 'application/octet-stream' });
  assert.equal(accepted.status, 202);
  const jobId = accepted.body.job_id as string;
  // The file exists from the moment the threads are done until it has been read back.
  const deadline = Date.now() + 120_000;
  while (tempFiles(server).length === 0) {
    assert.ok(Date.now() < deadline, 'the parallel builder never wrote its file');
    await sleep(1);
  }
  const cancelled = await call(server, 'DELETE', `/v1/jobs/${jobId}`);
  assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
  assert.equal(cancelled.body.state, 'cancelled');
  await sleep(500); // the build process is gone, and the next one may start
  assert.deepEqual(tempFiles(server), []);
});

test('a parallel build\'s file that a kill left behind is removed when the server starts', async (t) => {
  const server = await startServer(t, { buildThreads: 2 });
  // As a kill -9 leaves it: the builder's file beside the snapshots, and no build running.
  mkdirSync(join(server.dataDir, 'indexes'), { recursive: true });
  writeFileSync(join(server.dataDir, 'indexes', '.build-0123456789ab.tmp'), Buffer.alloc(1 << 20));
  assert.equal(tempFiles(server).length, 1);
  const again = await server.restart();
  await sleep(500);
  assert.deepEqual(tempFiles(again), []);
});

test('cosine + int8 + PCA: the import that fits the model and the optimize that refits PCA find through the parallel builder what one thread finds', async (t) => {
  const create = { dimension: DIM, metric: 'cosine', storage: { codec: 'int8', pca_dimension: 6 } };
  const vectors = randomVectors(2_000, DIM, 36).map((v, i) => v.map((x, j) => x * (1 + (j % 4)) + (i % 7) * 0.1));
  const queries = randomVectors(15, DIM, 37);
  const answers: string[][][] = [];
  for (const buildThreads of [2, 1]) {
    const server = await startServer(t, { buildThreads });
    assert.equal((await call(server, 'PUT', '/v1/collections/c', create)).status, 201);
    await job(server, await call(server, 'POST', '/v1/collections/c/import?format=npy', npyBuffer(vectors), { 'content-type': 'application/octet-stream' }));
    // Labels freed by deletes are reused by the points upserted after the optimize purged them.
    const gone = Array.from({ length: 300 }, (_, i) => i * 5);
    assert.equal((await call(server, 'POST', '/v1/collections/c/points/delete', { ids: gone })).status, 200);
    await job(server, await call(server, 'POST', '/v1/collections/c/optimize', { build_order: 'random' }));
    const fresh = randomVectors(gone.length, DIM, 38);
    const back = gone.map((id, i) => ({ id, vector: fresh[i] }));
    assert.equal((await call(server, 'PUT', '/v1/collections/c/points', { points: back })).status, 200);
    await job(server, await call(server, 'POST', '/v1/collections/c/optimize', { build_order: 'random' }));
    const found: string[][] = [];
    for (const query of queries) {
      const res = await call(server, 'POST', '/v1/collections/c/search', { vector: query, k: 10, ef: vectors.length });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      found.push((res.body.results as { id: string }[]).map((r) => r.id));
    }
    answers.push(found);
  }
  assert.deepEqual(answers[0], answers[1]);
});
