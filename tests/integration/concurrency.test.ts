import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { l2, randomVectors } from '../helpers/random.ts';
import { call, finished, startServer, type TestServer } from '../helpers/server.ts';

const DIM = 32;

function ndjson(ids: string[], vectors: number[][], payload: (i: number) => object): string {
  return ids.map((id, i) => JSON.stringify({ id, vector: vectors[i], payload: payload(i) })).join('\n');
}

/**
 * Writes of every kind, back to back until `until` settles: deletes by id and by `where`,
 * upserts, and import uploads into a second collection. Returns the answers that were not 2xx,
 * and keeps `live` (id → vector) as the acknowledged writes leave it.
 */
async function writeThroughout(server: TestServer, live: Map<string, number[]>, until: Promise<unknown>): Promise<string[]> {
  const failures: string[] = [];
  let done = false;
  void until.finally(() => (done = true));
  const check = (what: string, res: { status: number; body: unknown }) => {
    if (res.status < 200 || res.status > 299) failures.push(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
    return res;
  };
  let round = 0;
  const extra = randomVectors(4000, DIM, 77);
  const writers = [
    (async () => {
      while (!done) {
        const r = round++;
        const ids = [`w${r}a`, `w${r}b`, `w${r}c`];
        const points = ids.map((id, i) => ({ id, vector: extra[(3 * r + i) % extra.length], payload: { g: 'w', r } }));
        if (check('upsert', await call(server, 'PUT', '/v1/collections/a/points', { points })).status === 200) {
          points.forEach((p) => live.set(p.id, p.vector));
        }
        // Delete one of them by id, one by where.
        if (check('delete ids', await call(server, 'POST', '/v1/collections/a/points/delete', { ids: [ids[0]] })).status === 200) live.delete(ids[0]);
        if (check('delete where', await call(server, 'POST', '/v1/collections/a/points/delete', { where: { g: 'w', r } })).status === 200) {
          live.delete(ids[1]);
          live.delete(ids[2]);
        }
      }
    })(),
    (async () => {
      // One upload at a time, each waiting for its job: a steady stream, not a queue of hundreds.
      for (let i = 0; !done; i++) {
        const body = ndjson(Array.from({ length: 200 }, (_, j) => `b${i}-${j}`), randomVectors(200, DIM, 1000 + i), () => ({ i }));
        const res = await fetch(`${server.url}/v1/collections/b/import?format=ndjson`, { method: 'POST', body });
        const answer = check('import upload', { status: res.status, body: (await res.json()) }) as { status: number; body: { job_id?: string } };
        if (answer.body.job_id) {
          const job = await finished(server, answer.body.job_id, 120_000);
          if (job.state !== 'done') failures.push(`import job: ${JSON.stringify(job)}`);
        }
      }
    })(),
  ];
  await until;
  await Promise.all(writers);
  assert.ok(round > 5, `only ${round} write rounds ran during the job`);
  return failures;
}

/** Every live point is found by an exact-enough search for its own vector; no deleted one is. */
async function checkContents(server: TestServer, live: Map<string, number[]>, deleted: string[]): Promise<void> {
  const info = (await call(server, 'GET', '/v1/collections/a')).body;
  assert.equal(info.count, live.size);
  assert.equal(info.stats.index.live, live.size, 'the index holds exactly the live points');
  const sample = [...live.entries()].filter((_, i) => i % 97 === 0);
  for (const [id, vector] of sample) {
    const found = await call(server, 'POST', '/v1/collections/a/search', { vector, k: 1, ef: 200, with_payload: false });
    assert.equal(found.status, 200);
    const best = found.body.results[0];
    // Ties (duplicate vectors) aside, the point itself comes first.
    assert.ok(best.id === id || l2(live.get(best.id)!, vector) === 0, `${id}: got ${best.id}`);
  }
  for (const id of deleted.slice(0, 20)) assert.equal((await call(server, 'GET', `/v1/collections/a/points/${id}`)).status, 404);
}

test('deletes, upserts and import uploads run throughout a fitting import and a LID optimize with no error', async (t) => {
  const server = await startServer(t, { rebuildMinDeleted: 0 });
  for (const name of ['a', 'b']) {
    const storage = name === 'a' ? { codec: 'float8_e4m3', pca_dimension: 16 } : undefined;
    assert.equal((await call(server, 'PUT', `/v1/collections/${name}`, { dimension: DIM, metric: 'l2', storage })).status, 201);
  }
  const live = new Map<string, number[]>();
  const deletedBefore: string[] = [];

  // The first import fits the float8 codec and PCA in the build process, re-encodes the staged rows, commits.
  const vectors = randomVectors(6000, DIM, 5);
  const ids = vectors.map((_, i) => `p${i}`);
  const started = await fetch(`${server.url}/v1/collections/a/import?format=ndjson`, { method: 'POST', body: ndjson(ids, vectors, (i) => ({ g: i % 10 })) });
  assert.equal(started.status, 202, await started.clone().text());
  const { job_id: importJob } = (await started.json()) as { job_id: string };
  ids.forEach((id, i) => live.set(id, vectors[i]));
  const importFailures = await writeThroughout(server, live, finished(server, importJob, 120_000));
  assert.deepEqual(importFailures, []);
  assert.equal((await call(server, 'GET', `/v1/jobs/${importJob}`)).body.state, 'done');

  // Deletes leave tombstones for the optimize to purge.
  const doomed = ids.slice(0, 1500);
  assert.equal((await call(server, 'POST', '/v1/collections/a/points/delete', { ids: doomed })).body.deleted, 1500);
  for (const id of doomed) live.delete(id);
  deletedBefore.push(...doomed);

  // A LID-ordered optimize: a k-NN pass (written in chunks), the rebuild, the tombstone purge.
  const optimize = await call(server, 'POST', '/v1/collections/a/optimize', { build_order: 'lid_desc', lid_k: 10 });
  assert.equal(optimize.status, 202);
  const optimizeFailures = await writeThroughout(server, live, finished(server, optimize.body.id as string, 120_000));
  assert.deepEqual(optimizeFailures, []);
  const job = (await call(server, 'GET', `/v1/jobs/${optimize.body.id}`)).body;
  assert.equal(job.state, 'done', JSON.stringify(job));
  await sleep(50);
  await checkContents(server, live, deletedBefore);
});

test('an upsert that waited for the lock while an import committed a codec fit writes with the fitted codec', async (t) => {
  const server = await startServer(t);
  const engine = server.app.engine;
  assert.equal((await call(server, 'PUT', '/v1/collections/f', { dimension: DIM, metric: 'l2', storage: { codec: 'float8_e4m3' } })).status, 201);
  const early = randomVectors(100, DIM, 8);
  assert.equal((await call(server, 'PUT', '/v1/collections/f/points', { points: early.map((vector, i) => ({ id: `e${i}`, vector })) })).status, 200);
  // The import builds, then waits for the snapshot lock before its commit.
  const snapshots = await engine.forTest.holdSnapshots('f');
  const vectors = randomVectors(2000, DIM, 9);
  const started = await fetch(`${server.url}/v1/collections/f/import?format=ndjson`, { method: 'POST', body: ndjson(vectors.map((_, i) => `p${i}`), vectors, () => ({})) });
  const { job_id: job } = (await started.json()) as { job_id: string };
  // Built (on a loaded machine that takes more than the second and a half this once waited), it waits for the lock.
  const deadline = Date.now() + 60_000;
  while (engine.forTest.snapshotQueue('f') < 2) {
    assert.ok(Date.now() < deadline, 'the import came to wait for the snapshot lock');
    await sleep(50);
  }
  // Hold the write lock, let the commit ask for it, then queue an upsert behind it.
  const writes = await engine.forTest.holdWrites();
  snapshots();
  await sleep(300);
  const late = randomVectors(10, DIM, 10);
  const upsert = call(server, 'PUT', '/v1/collections/f/points', { points: late.map((vector, i) => ({ id: `p${i}`, vector })) });
  await sleep(100);
  writes();
  assert.equal((await upsert).status, 200);
  assert.equal((await finished(server, job)).state, 'done');
  const info = (await call(server, 'GET', '/v1/collections/f')).body;
  assert.equal(info.stats.storage.codec_fitted, true);
  assert.equal(info.count, 2100);
  // Later writes and reads of every kind still work, and the late vectors were stored float8-encoded.
  const again = await call(server, 'PUT', '/v1/collections/f/points', { points: [{ id: 'p5', vector: late[5] }, { id: 'e1', vector: early[1] }] });
  assert.equal(again.status, 200, JSON.stringify(again.body));
  const stored = (await call(server, 'GET', '/v1/collections/f/points/p3?with_vector=true')).body.vector as number[];
  assert.ok(stored.some((x, i) => x !== late[3][i]), 'float8 rounds the stored values');
  assert.ok(l2(stored, late[3]) < 0.05 * l2(late[3], new Array<number>(DIM).fill(0)));
  const found = await call(server, 'POST', '/v1/collections/f/search', { vector: late[3], k: 1, ef: 200, with_payload: false });
  assert.equal(found.body.results[0].id, 'p3');
});
