import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { E4M3 } from '../../index/minifloat.ts';
import { npyBuffer } from '../helpers/import-files.ts';
import { cosineDistance, l2, prng } from '../helpers/random.ts';
import { call, finished, startServer, type TestServer } from '../helpers/server.ts';

/** `n` vectors of dimension `dim` near a `rank`-dimensional subspace, shifted by `offset`. */
function lowRank(n: number, dim: number, rank: number, seed: number, offset = 0): number[][] {
  const random = prng(seed);
  const basis = Array.from({ length: rank }, () => Array.from({ length: dim }, () => random() * 2 - 1));
  return Array.from({ length: n }, () => {
    const w = Array.from({ length: rank }, () => random() * 2 - 1);
    return Array.from({ length: dim }, (_, j) => Math.fround(offset + w.reduce((s, wi, r) => s + wi * basis[r][j], 0) + 0.01 * (random() - 0.5)));
  });
}


/** Every live point with its vector as stored (decoded). */
async function storedPoints(server: TestServer, name: string): Promise<{ id: string; vector: number[] }[]> {
  const all: { id: string; vector: number[] }[] = [];
  let cursor: string | null = null;
  do {
    const page = await call(server, 'POST', `/v1/collections/${name}/points/scroll`, { limit: 1000, cursor, with_vector: true, with_payload: false });
    assert.equal(page.status, 200);
    all.push(...(page.body.points as { id: string; vector: number[] }[]));
    cursor = page.body.next_cursor as string | null;
  } while (cursor);
  return all;
}

async function search(server: TestServer, name: string, body: object): Promise<{ id: string; distance: number }[]> {
  const res = await call(server, 'POST', `/v1/collections/${name}/search`, { with_payload: false, ...body });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.results as { id: string; distance: number }[];
}

/** Recall of `found` against the exact top-k over the stored vectors; checks the distances are the oracle's. */
function checkAgainstOracle(
  stored: { id: string; vector: number[] }[], query: number[], found: { id: string; distance: number }[], k: number,
  distance: (a: readonly number[], b: readonly number[]) => number, exactDistances = true,
): number {
  const truth = stored.map((p) => ({ id: p.id, d: distance(query, p.vector) })).sort((a, b) => a.d - b.d).slice(0, k);
  const byId = new Map(stored.map((p) => [p.id, p.vector]));
  if (exactDistances) {
    for (const r of found) {
      const d = distance(query, byId.get(r.id)!);
      assert.ok(Math.abs(r.distance - d) <= 1e-4 * Math.max(1, Math.abs(d)), `distance of ${r.id}: ${r.distance} ≠ ${d}`);
    }
  }
  const want = new Set(truth.map((t) => t.id));
  return found.filter((r) => want.has(r.id)).length / k;
}

async function stats(server: TestServer, name: string): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON
  const res = await call(server, 'GET', `/v1/collections/${name}`);
  assert.equal(res.status, 200);
  return res.body.stats.storage;
}

async function answers(server: TestServer, name: string, queries: number[][], extra: object = {}): Promise<string[][]> {
  return Promise.all(queries.map(async (q) => (await search(server, name, { vector: q, k: 10, ...extra })).map((r) => r.id)));
}

/** Same answers after a restart (snapshots) and after a rebuild from SQLite alone (snapshots removed). */
async function survivesRestartAndRebuild(server: TestServer, name: string, queries: number[][], extra: object = {}): Promise<TestServer> {
  const before = await answers(server, name, queries, extra);
  server = await server.restart();
  assert.deepEqual(await answers(server, name, queries, extra), before, 'after a restart');
  server = await server.restart(() => rmSync(join(server.dataDir, 'indexes'), { recursive: true, force: true }));
  assert.deepEqual(await answers(server, name, queries, extra), before, 'after a rebuild from SQLite');
  return server;
}

test('a float8 collection fills by upserts: float32 until 1,024 points, then the codec is fitted and every row re-encoded', async (t) => {
  let server = await startServer(t);
  const dim = 16;
  // Offset 300: beyond E4M3's range as a plain cast, so the centring and scaling have to work.
  const vectors = lowRank(1300, dim, 16, 11, 300);
  assert.equal((await call(server, 'PUT', '/v1/collections/c8', { dimension: dim, metric: 'l2', storage: { codec: 'float8_e4m3' } })).status, 201);
  const points = vectors.map((vector, i) => ({ id: i, vector, payload: { g: i % 10 } }));
  assert.equal((await call(server, 'PUT', '/v1/collections/c8/points', { points: points.slice(0, 500) })).status, 200);
  let s = await stats(server, 'c8');
  assert.equal(s.codec_fitted, false);
  assert.equal(s.bytes_per_vector.vector_store, dim * 4, 'float32 until the fit');

  assert.equal((await call(server, 'PUT', '/v1/collections/c8/points', { points: points.slice(500) })).status, 200);
  s = await stats(server, 'c8');
  assert.equal(s.codec_fitted, true);
  assert.equal(s.bytes_per_vector.vector_store, dim);
  assert.equal(s.vector_store_ratio, 0.25);
  assert.equal(s.saturated_values, 0);

  // Early and late points both come back close to what was sent: the early ones were re-encoded.
  for (const i of [3, 900]) {
    const got = await call(server, 'GET', `/v1/collections/c8/points/${i}?with_vector=true`);
    assert.equal(got.body.payload.g, i % 10, 'the re-encoded point kept its payload');
    const error = Math.sqrt(l2(got.body.vector as number[], vectors[i]));
    const plainCast = Math.sqrt(l2(vectors[i].map((x) => E4M3.decode(E4M3.encode(x).code)), vectors[i]));
    assert.ok(error > 0 && error < plainCast / 20, `point ${i} is off by ${error}; a plain E4M3 cast by ${plainCast}`);
  }

  const stored = await storedPoints(server, 'c8');
  assert.equal(stored.length, 1300);
  const queries = lowRank(20, dim, 16, 12, 300);
  let recall = 0;
  for (const q of queries) recall += checkAgainstOracle(stored, q, await search(server, 'c8', { vector: q, k: 10, ef: 200 }), 10, l2);
  assert.ok(recall / queries.length >= 0.97, `recall ${recall / queries.length} against the stored vectors`);

  // A selective filter scores the decoded bytes exactly.
  const filtered = await search(server, 'c8', { vector: queries[0], k: 5, where: { g: 3 } });
  const allowed = stored.filter((p) => Number(p.id) % 10 === 3);
  assert.equal(checkAgainstOracle(allowed, queries[0], filtered, 5, l2), 1);

  server = await survivesRestartAndRebuild(server, 'c8', queries);
  assert.equal((await stats(server, 'c8')).codec_fitted, true);

  // Far beyond the fitted range: clamped to the format's largest value, counted in the stats.
  const far = vectors[0].map((x, j) => (j < 2 ? 1e7 : x));
  assert.equal((await call(server, 'PUT', '/v1/collections/c8/points', { points: [{ id: 'far', vector: far }] })).status, 200);
  assert.equal((await stats(server, 'c8')).saturated_values, 2);
  const back = (await call(server, 'GET', '/v1/collections/c8/points/far?with_vector=true')).body.vector as number[];
  assert.ok(back[0] < 1e5 && back[0] > 300, `a clamped value comes back at the codec's edge, not ${back[0]}`);
});

test('a PCA collection is fitted by its first import and rescores candidates with the full stored vectors', async (t) => {
  let server = await startServer(t);
  const dim = 32;
  const name = 'cp';
  const create = { dimension: dim, metric: 'cosine', storage: { codec: 'float16', pca_dimension: 8 } };
  assert.equal((await call(server, 'PUT', `/v1/collections/${name}`, create)).status, 201);
  const early = lowRank(50, dim, 6, 21);
  assert.equal((await call(server, 'PUT', `/v1/collections/${name}/points`, { points: early.map((vector, i) => ({ id: `e${i}`, vector })) })).status, 200);
  assert.equal((await stats(server, name)).pca_fitted, false);
  assert.equal((await search(server, name, { vector: early[7], k: 1 }))[0].id, 'e7', 'before the fit the index holds full vectors');

  const rows = lowRank(3000, dim, 6, 21).slice(50);
  const res = await call(server, 'POST', `/v1/collections/${name}/import?format=npy`, npyBuffer(rows), { 'content-type': 'application/octet-stream' });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  assert.equal((await finished(server, res.body.job_id as string)).state, 'done');
  const s = await stats(server, name);
  assert.equal(s.pca_fitted, true);
  assert.equal(s.pca_version, 1);
  assert.equal(s.bytes_per_vector.vector_store, dim * 2);

  const stored = await storedPoints(server, name);
  assert.equal(stored.length, 3000);
  const queries = lowRank(3020, dim, 6, 21).slice(3000);
  let rescored = 0;
  let raw = 0;
  for (const q of queries) {
    rescored += checkAgainstOracle(stored, q, await search(server, name, { vector: q, k: 10 }), 10, cosineDistance);
    const plain = await search(server, name, { vector: q, k: 10, rescore: false });
    assert.equal(plain.length, 10);
    raw += checkAgainstOracle(stored, q, plain, 10, cosineDistance, false);
  }
  assert.ok(rescored / queries.length >= 0.9, `recall with rescoring ${rescored / queries.length}`);
  assert.ok(rescored >= raw, `rescoring (${rescored}) should not lose to the reduced distances (${raw})`);
  assert.equal((await search(server, name, { vector: early[7], k: 1 }))[0].id, 'e7', 'points upserted before the fit are in the reduced index');

  // A filtered graph walk on the reduced index, rescored.
  const some = await search(server, name, { vector: queries[0], k: 10, where: { missing: { $exists: false } } });
  assert.equal(some.length, 10);

  server = await survivesRestartAndRebuild(server, name, queries);
  assert.equal((await stats(server, name)).pca_version, 1);

  // Optimize refits PCA on a sample of what is stored now, and the index is rebuilt under it.
  const optimized = await call(server, 'POST', `/v1/collections/${name}/optimize`, { build_order: 'random' });
  assert.equal(optimized.status, 202);
  assert.equal((await finished(server, optimized.body.id as string)).state, 'done');
  assert.equal((await stats(server, name)).pca_version, 2);
  let refitted = 0;
  for (const q of queries) refitted += checkAgainstOracle(stored, q, await search(server, name, { vector: q, k: 10 }), 10, cosineDistance);
  assert.ok(refitted / queries.length >= 0.9, `recall after the refit ${refitted / queries.length}`);
  await survivesRestartAndRebuild(server, name, queries);
});

test('an import into an empty float8 + PCA collection fits both; upserts after it use the fitted codec', async (t) => {
  const server = await startServer(t);
  const dim = 24;
  const create = { dimension: dim, metric: 'l2', storage: { codec: 'float8_e5m2', pca_dimension: 12 } };
  assert.equal((await call(server, 'PUT', '/v1/collections/both', create)).status, 201);
  // An empty import has nothing to fit on: it succeeds and the model waits.
  const empty = await call(server, 'POST', '/v1/collections/both/import?format=ndjson', '', { 'content-type': 'application/x-ndjson' });
  assert.equal(empty.status, 202);
  assert.equal((await finished(server, empty.body.job_id as string)).state, 'done');
  assert.equal((await stats(server, 'both')).codec_fitted, false);

  const rows = lowRank(2000, dim, 8, 31, 1000);
  const res = await call(server, 'POST', '/v1/collections/both/import?format=npy&build_order=random', npyBuffer(rows), { 'content-type': 'application/octet-stream' });
  assert.equal(res.status, 202);
  assert.equal((await finished(server, res.body.job_id as string)).state, 'done');
  const s = await stats(server, 'both');
  assert.deepEqual([s.codec_fitted, s.pca_fitted, s.bytes_per_vector.vector_store], [true, true, dim]);

  const extra = lowRank(10, dim, 8, 32, 1000);
  assert.equal((await call(server, 'PUT', '/v1/collections/both/points', { points: extra.map((vector, i) => ({ id: `x${i}`, vector })) })).status, 200);
  const stored = await storedPoints(server, 'both');
  assert.equal(stored.length, 2010);
  assert.ok(stored.every((p) => p.vector.length === dim));
  let recall = 0;
  for (const q of extra) recall += checkAgainstOracle(stored, q, await search(server, 'both', { vector: q, k: 10, oversample: 8 }), 10, l2);
  assert.ok(recall / extra.length >= 0.9, `recall ${recall / extra.length}`);
});

test('an int8 collection fills by upserts: fitted min–max at 1,024 points, every value within half a step, exact scoring on the stored bytes', async (t) => {
  let server = await startServer(t);
  const dim = 16;
  const vectors = lowRank(1300, dim, 16, 41, -250);
  assert.equal((await call(server, 'PUT', '/v1/collections/i8', { dimension: dim, metric: 'l2', storage: { codec: 'int8' } })).status, 201);
  const points = vectors.map((vector, i) => ({ id: i, vector, payload: { g: i % 10 } }));
  assert.equal((await call(server, 'PUT', '/v1/collections/i8/points', { points: points.slice(0, 700) })).status, 200);
  let s = await stats(server, 'i8');
  assert.deepEqual([s.codec, s.codec_fitted, s.bytes_per_vector.vector_store], ['int8', false, dim * 4], 'float32 until the fit');

  assert.equal((await call(server, 'PUT', '/v1/collections/i8/points', { points: points.slice(700) })).status, 200);
  s = await stats(server, 'i8');
  assert.deepEqual([s.codec_fitted, s.bytes_per_vector.vector_store, s.vector_store_ratio, s.saturated_values], [true, dim, 0.25, 0]);

  // The fit saw all 1,300 points: 255 steps between each dimension's min and max.
  const low = Array.from({ length: dim }, (_, j) => Math.min(...vectors.map((v) => v[j])));
  const high = Array.from({ length: dim }, (_, j) => Math.max(...vectors.map((v) => v[j])));
  const stored = await storedPoints(server, 'i8');
  assert.equal(stored.length, 1300);
  for (const p of stored) {
    const sent = vectors[Number(p.id)];
    for (let j = 0; j < dim; j++) {
      const step = (high[j] - low[j]) / 255;
      assert.ok(Math.abs(p.vector[j] - sent[j]) <= step / 2 + 1e-4, `point ${p.id}[${j}]: ${p.vector[j]} for ${sent[j]}, step ${step}`);
    }
  }
  assert.ok(stored.some((p) => p.vector.some((x, j) => x !== vectors[Number(p.id)][j])), 'int8 rounds the stored values');

  const queries = lowRank(20, dim, 16, 42, -250);
  let recall = 0;
  for (const q of queries) recall += checkAgainstOracle(stored, q, await search(server, 'i8', { vector: q, k: 10, ef: 200 }), 10, l2);
  assert.ok(recall / queries.length >= 0.97, `recall ${recall / queries.length} against the stored vectors`);
  // A selective filter scores the stored bytes exactly.
  const allowed = stored.filter((p) => Number(p.id) % 10 === 3);
  for (const q of queries.slice(0, 5)) assert.equal(checkAgainstOracle(allowed, q, await search(server, 'i8', { vector: q, k: 5, where: { g: 3 } }), 5, l2), 1);

  server = await survivesRestartAndRebuild(server, 'i8', queries);
  assert.equal((await stats(server, 'i8')).codec_fitted, true);

  // Beyond the fitted range: clamped to the range's end, counted in the stats.
  const far = vectors[0].map((x, j) => (j === 0 ? 1e6 : j === 1 ? -1e6 : x));
  assert.equal((await call(server, 'PUT', '/v1/collections/i8/points', { points: [{ id: 'far', vector: far }] })).status, 200);
  assert.equal((await stats(server, 'i8')).saturated_values, 2);
  const back = (await call(server, 'GET', '/v1/collections/i8/points/far?with_vector=true')).body.vector as number[];
  assert.ok(Math.abs(back[0] - high[0]) < 1e-3 && Math.abs(back[1] - low[1]) < 1e-3, `clamped to [${low[1]}, ${high[0]}]: ${back[0]}, ${back[1]}`);
});

test('an int8 + PCA collection under cosine: codec fitted by upserts, PCA by optimize, rescored with the stored bytes', async (t) => {
  let server = await startServer(t);
  const dim = 32;
  const create = { dimension: dim, metric: 'cosine', storage: { codec: 'int8', pca_dimension: 10 } };
  assert.equal((await call(server, 'PUT', '/v1/collections/ip8', create)).status, 201);
  const vectors = lowRank(1500, dim, 6, 51, 0.5);
  for (let at = 0; at < vectors.length; at += 500) {
    const points = vectors.slice(at, at + 500).map((vector, i) => ({ id: at + i, vector }));
    assert.equal((await call(server, 'PUT', '/v1/collections/ip8/points', { points })).status, 200);
  }
  let s = await stats(server, 'ip8');
  assert.deepEqual([s.codec_fitted, s.pca_fitted, s.bytes_per_vector.vector_store], [true, false, dim]);

  const optimized = await call(server, 'POST', '/v1/collections/ip8/optimize', {});
  assert.equal(optimized.status, 202);
  assert.equal((await finished(server, optimized.body.id as string)).state, 'done');
  s = await stats(server, 'ip8');
  assert.deepEqual([s.codec_fitted, s.pca_fitted, s.pca_version, s.saturated_values], [true, true, 1, 0]);

  const stored = await storedPoints(server, 'ip8');
  assert.equal(stored.length, 1500);
  // Under cosine the unit vector is stored: each value within half a step of the sent vector's.
  const unit = (v: number[]) => v.map((x) => x / Math.hypot(...v));
  const error = Math.max(...stored.map((p) => Math.max(...unit(vectors[Number(p.id)]).map((x, j) => Math.abs(x - p.vector[j])))));
  assert.ok(error > 0 && error < 0.01, `largest error ${error}`);

  const queries = lowRank(20, dim, 6, 52, 0.5);
  let rescored = 0;
  let raw = 0;
  for (const q of queries) {
    rescored += checkAgainstOracle(stored, q, await search(server, 'ip8', { vector: q, k: 10 }), 10, cosineDistance);
    raw += checkAgainstOracle(stored, q, await search(server, 'ip8', { vector: q, k: 10, rescore: false }), 10, cosineDistance, false);
  }
  assert.ok(rescored / queries.length >= 0.95, `recall with rescoring ${rescored / queries.length}`);
  assert.ok(rescored >= raw, `rescoring (${rescored}) should not lose to the reduced distances (${raw})`);

  server = await survivesRestartAndRebuild(server, 'ip8', queries);
  assert.deepEqual([(await stats(server, 'ip8')).pca_version, (await stats(server, 'ip8')).codec_fitted], [1, true]);
});
