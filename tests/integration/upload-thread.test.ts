import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { npyBuffer } from '../helpers/import-files.ts';
import { randomVectors } from '../helpers/random.ts';
import { call, finished, startServer, type TestServer } from '../helpers/server.ts';

const DIM = 64;

async function create(server: TestServer, name: string): Promise<void> {
  assert.equal((await call(server, 'PUT', `/v1/collections/${name}`, { dimension: DIM, metric: 'l2' })).status, 201);
}

function stagedRows(server: TestServer): number {
  const db = new Database(join(server.config.dataDir, 'vicinity.db'), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM import_rows').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** POSTs `body` as a streamed .npy import; resolves with the answer. */
async function upload(server: TestServer, name: string, body: Readable): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/v1/collections/${name}/import?format=npy`, {
    method: 'POST',
    body: Readable.toWeb(body) as ReadableStream,
    duplex: 'half',
    headers: { 'content-type': 'application/octet-stream' },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('an upload is parsed and staged off the event loop: the server thread stays mostly idle while it streams', async (t) => {
  const server = await startServer(t);
  await create(server, 'big');
  const body = npyBuffer(randomVectors(60_000, DIM, 1)); // 15 MiB
  // Warm the path once (the upload thread starts, code is compiled), then measure a second upload.
  await create(server, 'warm');
  assert.equal((await upload(server, 'warm', Readable.from([npyBuffer(randomVectors(2_000, DIM, 2))]))).status, 202);
  const before = performance.eventLoopUtilization();
  const started = performance.now();
  const answer = await upload(server, 'big', Readable.from((function* () {
    for (let at = 0; at < body.length; at += 64 * 1024) yield body.subarray(at, at + 64 * 1024);
  })()));
  const elu = performance.eventLoopUtilization(before);
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  // This process runs the client too, so the loop is not idle; parsing and staging 60,000 rows on it kept it near 1.
  t.diagnostic(`event loop utilisation ${elu.utilization.toFixed(2)}`);
  assert.ok(elu.utilization < 0.6, `event loop utilisation ${elu.utilization.toFixed(2)} over a ${(performance.now() - started).toFixed(0)} ms upload`);
  // Every record arrived (the other tests build and search what the thread stages); the build is not needed here.
  const job = await call(server, 'GET', `/v1/jobs/${answer.body.job_id as string}`);
  assert.equal(job.body.total, 60_000);
  assert.equal(answer.body.records, 60_000);
  assert.ok([200, 409].includes((await call(server, 'DELETE', `/v1/jobs/${answer.body.job_id as string}`)).status)); // 409: it was done already
});

test('two uploads stream through the thread at once and both arrive whole; a cancel mid-stream leaves no staged row behind', async (t) => {
  const server = await startServer(t);
  for (const name of ['a', 'b', 'c']) await create(server, name);
  const [a, b] = await Promise.all([
    upload(server, 'a', Readable.from([npyBuffer(randomVectors(5_000, DIM, 3))])),
    upload(server, 'b', Readable.from([npyBuffer(randomVectors(7_000, DIM, 4))])),
  ]);
  assert.equal(a.status, 202);
  assert.equal(b.status, 202);
  assert.equal((await finished(server, a.body.job_id as string)).state, 'done');
  assert.equal((await finished(server, b.body.job_id as string)).state, 'done');
  assert.equal((await call(server, 'GET', '/v1/collections/a')).body.count, 5_000);
  assert.equal((await call(server, 'GET', '/v1/collections/b')).body.count, 7_000);

  // A body that keeps coming, fast: batches are being staged when the cancel arrives.
  const rows = randomVectors(200_000, DIM, 5);
  const body = npyBuffer(rows);
  let stop = false;
  const stream = Readable.from((async function* () {
    for (let at = 0; at < body.length && !stop; at += 32 * 1024) {
      yield body.subarray(at, at + 32 * 1024);
      if ((at / (32 * 1024)) % 16 === 0) await sleep(1);
    }
  })());
  const answer = upload(server, 'c', stream);
  let jobId: string | undefined;
  for (let i = 0; i < 200 && jobId === undefined; i++) {
    await sleep(20);
    const jobs = (await call(server, 'GET', '/v1/jobs')).body.jobs as { id: string; collection: string; processed: number }[];
    const job = jobs.find((j) => j.collection === 'c');
    if (job && stagedRows(server) > 0) jobId = job.id;
  }
  assert.ok(jobId, 'the upload never staged a row');
  assert.equal((await call(server, 'DELETE', `/v1/jobs/${jobId}`)).status, 200);
  stop = true;
  assert.equal((await answer).body.code, 'VDB_ERR_JOB_CANCELLED');
  // The thread's last write (granted before the cancel, or refused after it) is over before the purge ends.
  await sleep(500);
  assert.equal(stagedRows(server), 0);
  assert.equal((await call(server, 'GET', '/v1/collections/c')).body.count, 0);
});

test('a malformed body is answered as soon as the thread finds it, with its own code, even while the client still has more to send', async (t) => {
  const server = await startServer(t, { importIdleTimeoutMs: 4000 });
  await create(server, 'bad');
  // A whole .npy header of the wrong dtype, then the client pauses: the rest would come later.
  const header = npyBuffer(randomVectors(1_000, DIM, 6), { descr: '<i4' }).subarray(0, 128);
  const url = new URL(`${server.url}/v1/collections/bad/import?format=npy`);
  const started = performance.now();
  const answer = await new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (text += s));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
      });
    });
    req.on('error', reject);
    req.write(header); // and no end: the client is between two writes
  });
  const ms = performance.now() - started;
  assert.equal(answer.status, 400, JSON.stringify(answer.body));
  assert.equal(answer.body.code, 'VDB_ERR_IMPORT_FORMAT');
  assert.match(String(answer.body.message), /i4|dtype|descr/);
  assert.ok(ms < 2000, `answered after ${ms.toFixed(0)} ms`);
  // The job failed with the same code, and holds no import slot.
  const jobs = (await call(server, 'GET', '/v1/jobs')).body.jobs as { collection: string; state: string; error: { code: string } | null }[];
  const job = jobs.find((j) => j.collection === 'bad');
  assert.equal(job?.state, 'failed');
  assert.equal(job?.error?.code, 'VDB_ERR_IMPORT_FORMAT');
});

test('a shutdown while an upload streams: the server closes once the request is answered, the job is interrupted, and nothing staged survives the restart', async (t) => {
  const server = await startServer(t);
  await create(server, 'c');
  const body = npyBuffer(randomVectors(100_000, DIM, 7));
  let stop = false;
  const stream = Readable.from((async function* () {
    for (let at = 0; at < body.length && !stop; at += 32 * 1024) {
      yield body.subarray(at, at + 32 * 1024);
      await sleep(2);
    }
  })());
  const answer = upload(server, 'c', stream).catch((err: unknown) => ({ status: 0, body: { error: String(err) } }));
  // Staged rows are there, and the thread holds the write lock for some of the time.
  for (let i = 0; i < 200 && stagedRows(server) === 0; i++) await sleep(20);
  assert.ok(stagedRows(server) > 0, 'the upload never staged a row');
  const started = performance.now();
  const again = await server.restart();
  stop = true;
  t.diagnostic(`closed and reopened in ${(performance.now() - started).toFixed(0)} ms; the client got ${JSON.stringify(await answer)}`);
  const jobs = (await call(again, 'GET', '/v1/jobs')).body.jobs as { collection: string; state: string; error: { code: string } | null }[];
  assert.equal(jobs.find((j) => j.collection === 'c')?.error?.code, 'VDB_ERR_JOB_INTERRUPTED');
  for (let i = 0; i < 100 && stagedRows(again) > 0; i++) await sleep(50);
  assert.equal(stagedRows(again), 0);
  assert.equal((await call(again, 'GET', '/v1/collections/c')).body.count, 0);
});
