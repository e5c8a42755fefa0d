import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { VicinityClient, VicinityError, type Job, type Point, type StoredLink, type StoredPoint, type TransportKind } from '../../client/src/index.ts';
import { l2, randomVectors } from '../helpers/random.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const DIM = 8;
const N = 600;

function clientOf(t: TestContext, server: TestServer, transport: TransportKind, apiKey?: string): VicinityClient {
  const client = new VicinityClient(server.url, { transport, apiKey });
  t.after(() => client.close());
  return client;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-sdk-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

for (const transport of ['json', 'msgpack'] as const) {
  test(`every method against a real server over ${transport}`, { timeout: 240_000 }, async (t) => {
    const server = await startServer(t);
    const client = clientOf(t, server, transport);
    const name = `docs-${transport}`;
    const vectors = randomVectors(N, DIM, 7);

    assert.deepEqual(await client.health(), { status: 'ok' });
    assert.equal(await client.ready(), true);
    assert.match(await client.metrics(), /^# HELP /m);

    const made = await client.createCollection(name, { dimension: DIM, metric: 'l2', graph: { knn_k: 4 } });
    assert.equal(made.created, true);
    assert.equal(made.collection.dimension, DIM);
    assert.equal((await client.createCollection(name, { dimension: DIM, metric: 'l2', graph: { knn_k: 4 } })).created, false);
    await assert.rejects(client.createCollection(name, { dimension: DIM + 1, metric: 'l2' }), { name: 'VicinityError', status: 409 });
    assert.ok((await client.listCollections()).some((c) => c.name === name));

    // Half the vectors as Float32Array, half as plain arrays; ids both numbers and strings.
    const points: Point[] = vectors.map((v, i) => ({
      id: i % 2 ? `p${i}` : i,
      vector: i % 3 ? v : new Float32Array(v),
      payload: { i, lang: i % 4 === 0 ? 'en' : 'de' },
    }));
    const progress: [number, number][] = [];
    assert.deepEqual(await client.upsert(name, points, { batchSize: 250, onProgress: (done, total) => progress.push([done, total]) }), { upserted: N });
    assert.deepEqual(progress, [[250, N], [500, N], [600, N]]);
    assert.equal((await client.getCollection(name)).count, N);

    const stored = await client.getPoint(name, 4, { withVector: true });
    assert.deepEqual(stored, { id: '4', payload: { i: 4, lang: 'en' }, vector: vectors[4] });
    assert.deepEqual(await client.getPoint(name, 'p3', { withPayload: false }), { id: 'p3' });
    await assert.rejects(client.getPoint(name, 'missing'), { status: 404, code: 'VDB_ERR_POINT_NOT_FOUND' });

    // Search: the point itself comes first at distance 0; filters, selection and explanations pass through.
    const answer = await client.search(name, { vector: new Float32Array(vectors[10]), k: 5, with_payload: true });
    assert.equal(answer.results[0].id, '10');
    assert.equal(answer.results[0].distance, 0);
    assert.deepEqual(answer.results[0].payload, { i: 10, lang: 'de' });
    assert.equal(typeof answer.took_ms, 'number');
    const exact = vectors.map((v, i) => ({ i, d: l2(v, vectors[10]) })).sort((a, b) => a.d - b.d);
    assert.equal(Number(answer.results[4].id.replace('p', '')), exact[4].i);
    const filtered = await client.search(name, { vector: vectors[10], k: 10, where: { lang: 'en' }, with_payload: true });
    assert.equal(filtered.results.length, 10);
    assert.ok(filtered.results.every((hit) => hit.payload?.lang === 'en'));
    const diverse = await client.search(name, { vector: vectors[10], k: 4, select: { mode: 'mmr', pool: 40 }, explain: true });
    assert.equal(diverse.results.length, 4);
    assert.ok(diverse.quality && diverse.results.every((hit) => hit.explain?.source === 'index'));
    const batch = await client.searchBatch(name, [
      { vector: vectors[1], k: 1 },
      { vector: new Float32Array(vectors[2]), k: 2 },
    ]);
    assert.deepEqual(batch.results.map((r) => r.map((hit) => hit.id)[0]), ['p1', '2']);
    assert.equal(batch.results[1].length, 2);

    // Scroll follows the cursor across pages.
    const all = await collect(client.scroll(name, { limit: 64 }));
    assert.equal(all.length, N);
    assert.equal(new Set(all.map((p) => p.id)).size, N);
    const english: StoredPoint[] = await collect(client.scroll(name, { where: { lang: 'en' }, limit: 40, withVector: true, withPayload: false }));
    assert.equal(english.length, N / 4);
    assert.ok(english.every((p) => p.payload === undefined && p.vector?.length === DIM));

    // Links: 30 from point 0, listed 7 a page; expansion follows them.
    const targets = Array.from({ length: 30 }, (_, i) => (i + 1) % 2 ? `p${i + 1}` : i + 1);
    assert.deepEqual(await client.putLinks(name, targets.map((to) => ({ from: 0, to, type: 'cites', weight: 1 }))), { linked: 30 });
    assert.deepEqual(await client.putLinks(name, [{ from: 'p99', to: 0, both: true }]), { linked: 2 });
    const out: StoredLink[] = await collect(client.links(name, 0, { type: 'cites', limit: 7 }));
    assert.equal(out.length, 30);
    assert.deepEqual(new Set(out.map((l) => l.to)), new Set(targets.map(String)));
    assert.ok(out.every((l) => l.from === '0' && l.type === 'cites' && l.weight === 1));
    const incoming = await collect(client.links(name, 0, { direction: 'in', limit: 1 }));
    assert.deepEqual(incoming.map((l) => [l.from, l.type]), [['p99', 'related']]);
    const expanded = await client.search(name, { vector: vectors[0], k: 40, expand: { via: ['links:cites'], decay: 1 }, explain: true });
    assert.ok(expanded.results.some((hit) => hit.explain?.source === 'link'), 'expansion reached a linked point');
    assert.deepEqual(await client.deleteLinks(name, { links: [{ from: 0, to: 'p1' }] }), { deleted: 1 });
    assert.deepEqual(await client.deleteLinks(name, { ids: ['p99'] }), { deleted: 2 });
    assert.equal((await collect(client.links(name, 0, { direction: 'both' }))).length, 29);

    // The k-NN overlay is filled in the background.
    let neighbours = await client.neighbours(name, 6, 3);
    for (let i = 0; neighbours.length === 0 && i < 500; i++) {
      await sleep(20);
      neighbours = await client.neighbours(name, 6, 3);
    }
    assert.equal(neighbours.length, 3);
    assert.ok(neighbours[0].distance <= neighbours[2].distance);
    assert.ok(neighbours.every((n) => n.id !== '6'));

    // Deletes by ids and by filter.
    assert.deepEqual(await client.deletePoints(name, { ids: [0, 'p1', 'unknown'] }), { deleted: 2 });
    assert.deepEqual(await client.deletePoints(name, { where: { lang: 'en' } }), { deleted: N / 4 - 1 });
    assert.equal((await client.getCollection(name)).count, N - 2 - (N / 4 - 1));

    // Optimize is a job; waitForJob reports each poll.
    const optimize = await client.optimize(name, { buildOrder: 'random', seed: 3 });
    assert.equal(optimize.kind, 'optimize');
    const polls: Job[] = [];
    const optimized = await client.waitForJob(optimize.id, { pollMs: 50, onProgress: (job) => polls.push(job) });
    assert.equal(optimized.state, 'done', JSON.stringify(optimized.error));
    assert.equal(polls.at(-1)?.state, 'done');
    assert.ok((await client.listJobs({ limit: 10 })).some((job) => job.id === optimize.id));
    await assert.rejects(client.cancelJob(optimize.id), { status: 409, code: 'VDB_ERR_JOB_FINISHED' });

    // Backups.
    const backup = await client.startBackup();
    assert.equal(backup.state, 'running');
    let followed = await client.getBackup(backup.id);
    for (let i = 0; followed.state === 'running' && i < 500; i++) {
      await sleep(20);
      followed = await client.getBackup(backup.id);
    }
    assert.equal(followed.state, 'done');
    assert.ok((await client.listBackups()).some((b) => b.id === backup.id));

    assert.deepEqual(await client.dropCollection(name), { dropped: name });
    await assert.rejects(client.getCollection(name), (err: unknown) => {
      assert.ok(err instanceof VicinityError);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'VDB_ERR_COLLECTION_NOT_FOUND');
      assert.match(err.message, new RegExp(name));
      return true;
    });
  });

  test(`imports from a path, a stream and a Float32Array over ${transport}, with progress and waitForJob`, { timeout: 240_000 }, async (t) => {
    const server = await startServer(t);
    const client = clientOf(t, server, transport);
    const dir = scratch(t);
    await client.createCollection('imp', { dimension: 4, metric: 'l2' });

    // A path: NDJSON, the format from the extension.
    const rows = randomVectors(300, 4, 11);
    const file = join(dir, 'rows.ndjson');
    writeFileSync(file, rows.map((vector, i) => JSON.stringify({ id: `f${i}`, vector, payload: { from: 'file' } })).join('\n') + '\n');
    const fileProgress: number[] = [];
    const fromFile = await client.importFile('imp', file, { onProgress: (sent, total) => {
      assert.equal(total, statSync(file).size);
      fileProgress.push(sent);
    } });
    assert.equal(fromFile.records, 300);
    assert.equal(fileProgress.at(-1), statSync(file).size);
    const fileJob = await client.waitForJob(fromFile.job_id, { pollMs: 50 });
    assert.equal(fileJob.state, 'done', JSON.stringify(fileJob.error));

    // A stream of NDJSON lines without a known size.
    // An async iterable that is not a Readable, arriving in bursts.
    async function* lines(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 200; i++) {
        if (i % 50 === 0) await sleep(5);
        yield Buffer.from(JSON.stringify({ id: `s${i}`, vector: rows[i], payload: { from: 'stream' } }) + '\n');
      }
    }
    let streamed = 0;
    const fromStream = await client.importStream('imp', lines(), { format: 'ndjson', onProgress: (sent, total) => {
      assert.equal(total, null);
      streamed = sent;
    } });
    assert.equal(fromStream.records, 200);
    assert.equal(streamed, fromStream.bytes);
    assert.equal((await client.waitForJob(fromStream.job_id, { pollMs: 50 })).state, 'done');

    // A Float32Array of 2,000 × 4 values as .npy, ids from an offset, over several 1 MiB-ish chunks' worth of calls.
    const flat = new Float32Array(randomVectors(2000, 4, 12).flat());
    const sent: number[] = [];
    const fromArray = await client.importVectors('imp', flat, 4, { idOffset: 10_000, buildOrder: 'given', onProgress: (bytes) => sent.push(bytes) });
    assert.equal(fromArray.records, 2000);
    assert.equal(sent.at(-1), fromArray.bytes);
    const jobs: Job[] = [];
    const arrayJob = await client.waitForJob(fromArray.job_id, { pollMs: 20, onProgress: (job) => jobs.push(job) });
    assert.equal(arrayJob.state, 'done', JSON.stringify(arrayJob.error));
    assert.equal(arrayJob.build_order, 'given');
    assert.equal((await client.getCollection('imp')).count, 2500);
    const row = await client.getPoint('imp', 10_000 + 1234, { withVector: true });
    assert.deepEqual(row.vector, Array.from(flat.subarray(1234 * 4, 1235 * 4)));
    const hit = await client.search('imp', { vector: flat.subarray(1999 * 4), k: 1 });
    assert.equal(hit.results[0].id, '11999');

    // A bad body is the server's 4xx; a wrong dimension is refused before the upload.
    await assert.rejects(client.importVectors('imp', new Float32Array(9), 4), /not a positive multiple of the dimension 4/);
    await assert.rejects(client.importStream('imp', Readable.from([Buffer.from('not json\n')]), { format: 'ndjson' }), (err: unknown) => {
      assert.ok(err instanceof VicinityError);
      assert.ok(err.status >= 400 && err.status < 500, String(err.status));
      assert.match(err.code, /^VDB_ERR_IMPORT/);
      return true;
    });
    await assert.rejects(client.importFile('imp', join(dir, 'missing.npy')), { code: 'ENOENT' });
    await assert.rejects(client.importFile('imp', join(dir, 'rows.txt')), /cannot tell the format of .*rows\.txt/);

    // A running job cancelled through the SDK.
    const slow = await client.importVectors('imp', new Float32Array(randomVectors(3000, 4, 13).flat()), 4, { idOffset: 50_000, buildOrder: 'random' });
    const cancelled = await client.cancelJob(slow.job_id).catch((err: unknown) => (err as VicinityError).code);
    assert.ok(cancelled === 'VDB_ERR_JOB_FINISHED' || (cancelled as Job).state === 'cancelled', JSON.stringify(cancelled));

    // An aborted wait rejects with the signal's reason.
    const stop = new AbortController();
    stop.abort(new Error('enough'));
    await assert.rejects(client.waitForJob(slow.job_id, { signal: stop.signal }), /enough/);
  });
}

test('keys: without one the server answers 401, with one every call goes through', async (t) => {
  const key = 'sdk-test-key-0123456789abcdef';
  const server = await startServer(t, { apiKey: key });
  for (const transport of ['json', 'msgpack'] as const) {
    const anonymous = clientOf(t, server, transport);
    await assert.rejects(anonymous.listCollections(), { status: 401, code: 'VDB_ERR_UNAUTHENTICATED' });
    assert.deepEqual(await anonymous.health(), { status: 'ok' }, 'liveness needs no key');
    const keyed = clientOf(t, server, transport, key);
    await keyed.createCollection(`k-${transport}`, { dimension: 2, metric: 'cosine' });
    await keyed.upsert(`k-${transport}`, [{ id: 1, vector: [1, 0] }]);
    assert.equal((await keyed.search(`k-${transport}`, { vector: [1, 0.1], k: 1 })).results[0].id, '1');
    assert.match(await keyed.metrics(), /vicinity_/);
    const wrong = clientOf(t, server, transport, 'not-the-key-0123456789');
    await assert.rejects(wrong.getCollection(`k-${transport}`), { status: 401 });
  }
});

test('an unreachable server is status 0 with the system code', async () => {
  const client = new VicinityClient('http://127.0.0.1:9', { retries: 0 });
  try {
    await assert.rejects(client.health(), { name: 'VicinityError', status: 0, code: 'ECONNREFUSED' });
  } finally {
    await client.close();
  }
});
