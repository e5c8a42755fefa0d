import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cosineDistance, prng } from '../helpers/random.ts';
import { call, finished, startServer, type TestServer } from '../helpers/server.ts';

const DIM = 8;

/** The oracle: the k nearest other live points by brute force. */
function exact(points: Map<string, number[]>, id: string, k: number): string[] {
  const v = points.get(id)!;
  return [...points].filter(([other]) => other !== id).map(([other, w]) => ({ other, d: cosineDistance(v, w) }))
    .sort((a, b) => a.d - b.d).slice(0, k).map((x) => x.other);
}

async function overlay(server: TestServer, name: string): Promise<{ knn_k: number; covered: number; behind: number }> {
  return (await call(server, 'GET', `/v1/collections/${name}`)).body.stats.overlay;
}

async function caughtUp(server: TestServer, name: string, live: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const o = await overlay(server, name);
    if (o.behind === 0 && o.covered === live) return;
    await sleep(50);
  }
  assert.fail(`overlay of ${name} did not catch up: ${JSON.stringify(await overlay(server, name))}`);
}

type Neighbour = { id: string; distance: number };

async function neighbours(server: TestServer, name: string, id: string, k?: number): Promise<Neighbour[]> {
  const res = await call(server, 'GET', `/v1/collections/${name}/points/${id}/neighbours${k ? `?k=${k}` : ''}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.neighbours as Neighbour[];
}

test('every live point gets its nearest neighbours in the background; deletes and re-upserts keep them true', { timeout: 120_000 }, async (t) => {
  const server = await startServer(t);
  const random = prng(3);
  const points = new Map<string, number[]>();
  for (let i = 0; i < 600; i++) points.set(`p${i}`, Array.from({ length: DIM }, () => random() - 0.5));
  assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: DIM, metric: 'cosine' })).status, 201);
  for (let at = 0; at < 600; at += 100) {
    const batch = [...points].slice(at, at + 100).map(([id, vector]) => ({ id, vector }));
    assert.equal((await call(server, 'PUT', '/v1/collections/c/points', { points: batch })).status, 200);
  }
  await caughtUp(server, 'c', 600);
  assert.equal((await overlay(server, 'c')).knn_k, 16);

  const recallOf = async (ids: string[]): Promise<number> => {
    let hits = 0;
    for (const id of ids) {
      const got = await neighbours(server, 'c', id);
      assert.equal(got.length, 16);
      assert.ok(!got.some((n) => n.id === id), 'a point is not its own neighbour');
      for (let i = 1; i < got.length; i++) assert.ok(got[i - 1].distance <= got[i].distance, 'nearest first');
      for (const n of got) assert.ok(Math.abs(n.distance - cosineDistance(points.get(id)!, points.get(n.id)!)) < 1e-5, 'exact distance');
      const truth = new Set(exact(points, id, 16));
      hits += got.filter((n) => truth.has(n.id)).length;
    }
    return hits / (ids.length * 16);
  };
  const sample = [...points.keys()].filter((_, i) => i % 20 === 0);
  const recall = await recallOf(sample);
  assert.ok(recall >= 0.95, `overlay recall@16 ${recall}`);
  assert.equal((await neighbours(server, 'c', 'p0', 4)).length, 4);

  // Deleted points never appear; their own entry is gone.
  const victims = [...points.keys()].filter((_, i) => i % 3 === 0);
  assert.equal((await call(server, 'POST', '/v1/collections/c/points/delete', { ids: victims })).body.deleted, victims.length);
  for (const id of victims) points.delete(id);
  for (const id of [...points.keys()].slice(0, 60)) {
    for (const n of await neighbours(server, 'c', id)) assert.ok(points.has(n.id), `${n.id} was deleted`);
  }
  assert.equal((await call(server, 'GET', `/v1/collections/c/points/${victims[0]}/neighbours`)).status, 404);

  // A re-upserted point with a new vector gets new neighbours: put p1 right next to p2.
  const moved = points.get('p2')!.map((x) => x + 1e-4);
  points.set('p1', moved);
  await call(server, 'PUT', '/v1/collections/c/points', { points: [{ id: 'p1', vector: moved }] });
  await caughtUp(server, 'c', points.size);
  assert.equal((await neighbours(server, 'c', 'p1', 1))[0].id, 'p2');

  // An optimize's k-NN pass provides every entry at once, and they stay current.
  const job = await call(server, 'POST', '/v1/collections/c/optimize', { build_order: 'lid_desc' });
  assert.equal((await finished(server, job.body.id as string)).state, 'done');
  await caughtUp(server, 'c', points.size);
  const after = await recallOf([...points.keys()].slice(0, 20));
  assert.ok(after >= 0.95, `overlay recall@16 after optimize ${after}`);
});

test('points written after an entry was filled join it when they are nearer than its neighbours', { timeout: 120_000 }, async (t) => {
  const server = await startServer(t);
  const random = prng(17);
  const points = new Map<string, number[]>();
  assert.equal((await call(server, 'PUT', '/v1/collections/late', { dimension: DIM, metric: 'cosine' })).status, 201);
  // Two halves, the second written only once every entry of the first was filled without it.
  for (const half of [0, 1]) {
    const batch = Array.from({ length: 300 }, (_, i) => ({ id: `h${half}-${i}`, vector: Array.from({ length: DIM }, () => random() - 0.5) }));
    assert.equal((await call(server, 'PUT', '/v1/collections/late/points', { points: batch })).status, 200);
    for (const p of batch) points.set(p.id, p.vector);
    await caughtUp(server, 'late', points.size);
  }
  let hits = 0;
  const first = [...points.keys()].filter((id, i) => id.startsWith('h0-') && i % 10 === 0);
  for (const id of first) {
    const truth = new Set(exact(points, id, 16));
    hits += (await neighbours(server, 'late', id)).filter((n) => truth.has(n.id)).length;
  }
  assert.ok(hits / (first.length * 16) >= 0.95, `overlay recall@16 of the first half ${hits / (first.length * 16)}`);
});

test('an overlay can be turned off, and asking for its neighbours then says so', async (t) => {
  const server = await startServer(t);
  assert.equal((await call(server, 'PUT', '/v1/collections/off', { dimension: 2, metric: 'l2', graph: { knn_k: 0 } })).status, 201);
  await call(server, 'PUT', '/v1/collections/off/points', { points: [{ id: 'a', vector: [0, 0] }, { id: 'b', vector: [1, 1] }] });
  const res = await call(server, 'GET', '/v1/collections/off/points/a/neighbours');
  assert.equal(res.status, 422);
  assert.equal(res.body.code, 'VDB_ERR_OVERLAY_OFF');
  // Off, it has nothing to catch up on: a monitor of `behind` must not see work that will never be done.
  assert.deepEqual(await overlay(server, 'off'), { knn_k: 0, covered: 0, behind: 0 });
  assert.equal((await call(server, 'PUT', '/v1/collections/bad', { dimension: 2, metric: 'l2', graph: { knn_k: 65 } })).body.code, 'VDB_ERR_REQUEST_INVALID');
  assert.equal((await call(server, 'GET', '/v1/collections/off/points/a/neighbours?k=0')).body.code, 'VDB_ERR_REQUEST_INVALID');
  // The same create again is still idempotent with the new setting's default filled in.
  assert.equal((await call(server, 'PUT', '/v1/collections/on', { dimension: 2, metric: 'l2' })).status, 201);
  assert.equal((await call(server, 'PUT', '/v1/collections/on', { dimension: 2, metric: 'l2', graph: { knn_k: 16 } })).status, 200);
});

test('on an l2 collection an optimize\'s k-NN pass fills the overlay itself', { timeout: 60_000 }, async (t) => {
  const server = await startServer(t);
  const random = prng(9);
  const points = new Map<string, number[]>();
  for (let i = 0; i < 400; i++) points.set(`p${i}`, Array.from({ length: DIM }, () => random()));
  assert.equal((await call(server, 'PUT', '/v1/collections/e', { dimension: DIM, metric: 'l2', graph: { knn_k: 8 } })).status, 201);
  await call(server, 'PUT', '/v1/collections/e/points', { points: [...points].map(([id, vector]) => ({ id, vector })) });
  await caughtUp(server, 'e', 400);
  const job = await call(server, 'POST', '/v1/collections/e/optimize', { build_order: 'lid_desc' });
  assert.equal((await finished(server, job.body.id as string)).state, 'done');
  const o = await overlay(server, 'e');
  assert.equal(o.covered, 400, 'every entry holds for its point right after the optimize');
  let hits = 0;
  for (const id of [...points.keys()].slice(0, 40)) {
    const got = await neighbours(server, 'e', id);
    assert.equal(got.length, 8);
    const v = points.get(id)!;
    const truth = new Set([...points].filter(([o2]) => o2 !== id).map(([o2, w]) => ({ o2, d: w.reduce((s, x, i) => s + (x - v[i]) ** 2, 0) }))
      .sort((a, b) => a.d - b.d).slice(0, 8).map((x) => x.o2));
    hits += got.filter((n) => truth.has(n.id)).length;
  }
  assert.ok(hits / 320 >= 0.9, `recall@8 ${hits / 320}`);
});

test('labels freed by a purge and reused never show up in other points\' neighbours; a failed import leaves entries as they were', { timeout: 120_000 }, async (t) => {
  const server = await startServer(t);
  const random = prng(21);
  const old = new Map<string, number[]>();
  for (let i = 0; i < 300; i++) old.set(`o${i}`, Array.from({ length: DIM }, () => random()));
  assert.equal((await call(server, 'PUT', '/v1/collections/r', { dimension: DIM, metric: 'l2' })).status, 201);
  await call(server, 'PUT', '/v1/collections/r/points', { points: [...old].map(([id, vector]) => ({ id, vector })) });
  await caughtUp(server, 'r', 300);
  const victims = [...old.keys()].filter((_, i) => i % 3 === 1);
  await call(server, 'POST', '/v1/collections/r/points/delete', { ids: victims });
  for (const id of victims) old.delete(id);
  // An optimize without a k-NN pass purges the tombstones: their labels are free again.
  const job = await call(server, 'POST', '/v1/collections/r/optimize', { build_order: 'random' });
  assert.equal((await finished(server, job.body.id as string)).state, 'done');
  assert.equal((await call(server, 'GET', '/v1/collections/r')).body.deleted, 0);
  // New points, far from every old one, take the freed labels.
  const fresh = victims.map((_, i) => ({ id: `n${i}`, vector: Array.from({ length: DIM }, () => 1000 + random()) }));
  await call(server, 'PUT', '/v1/collections/r/points', { points: fresh });
  for (const id of [...old.keys()]) {
    for (const n of await neighbours(server, 'r', id)) assert.ok(old.has(n.id), `${id} lists ${n.id}, a new point on a reused label`);
  }
  await caughtUp(server, 'r', old.size + fresh.length);
  for (const id of [...old.keys()].slice(0, 50)) {
    const got = await neighbours(server, 'r', id);
    assert.equal(got.length, 16);
    for (const n of got) assert.ok(old.has(n.id), `${id} lists ${n.id}`);
  }

  // A LID-ordered import that replaces o0 and then fails keeps o0's entry current.
  const before = await neighbours(server, 'r', 'o0');
  const body = [
    JSON.stringify({ id: 'o0', vector: old.get('o0')!.map((x) => x + 0.001) }),
    ...Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: `x${i}`, vector: Array.from({ length: DIM }, () => random()), links: i === 29 ? [{ to: 'ghost' }] : undefined })),
  ].join('\n');
  const imp = await call(server, 'POST', '/v1/collections/r/import?format=ndjson&build_order=lid_desc', body, { 'content-type': 'application/octet-stream' });
  assert.equal(imp.status, 202);
  assert.equal((await finished(server, imp.body.job_id as string)).state, 'failed');
  assert.deepEqual(await neighbours(server, 'r', 'o0'), before);
  assert.equal((await overlay(server, 'r')).covered, old.size + fresh.length);
});

test('link cursors stay with their direction; max_per fields need every segment', async (t) => {
  const server = await startServer(t);
  assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: 2, metric: 'l2' })).status, 201);
  await call(server, 'PUT', '/v1/collections/c/points', { points: ['a', 'b', 'c'].map((id, i) => ({ id, vector: [i, 0] })) });
  await call(server, 'PUT', '/v1/collections/c/links', { links: [{ from: 'a', to: 'b' }, { from: 'a', to: 'c' }, { from: 'b', to: 'a' }] });
  const page = await call(server, 'GET', '/v1/collections/c/points/a/links?direction=both&limit=1');
  const wrong = await call(server, 'GET', `/v1/collections/c/points/a/links?direction=in&cursor=${page.body.next_cursor as string}`);
  assert.equal(wrong.status, 400);
  assert.equal(wrong.body.code, 'VDB_ERR_CURSOR_INVALID');
  for (const bad of ['a..b', '.a', 'a.']) {
    const res = await call(server, 'POST', '/v1/collections/c/search', { vector: [0, 0], k: 2, select: { max_per: { field: bad, count: 1 } } });
    assert.equal(res.status, 400, bad);
    assert.match(res.body.message, /empty segment/);
  }
});

test('writes, deletes, links and an optimize racing the filler leave a true overlay and no dangling link', { timeout: 120_000 }, async (t) => {
  const server = await startServer(t);
  const random = prng(33);
  const live = new Map<string, number[]>();
  assert.equal((await call(server, 'PUT', '/v1/collections/m', { dimension: DIM, metric: 'l2', graph: { knn_k: 8 } })).status, 201);
  let next = 0;
  const upsert = async (n: number): Promise<void> => {
    const points = Array.from({ length: n }, () => ({ id: `p${next++}`, vector: Array.from({ length: DIM }, () => random()) }));
    assert.equal((await call(server, 'PUT', '/v1/collections/m/points', { points })).status, 200);
    for (const p of points) live.set(p.id, p.vector);
  };
  await upsert(400);
  let optimized = 0;
  const churn = (async () => {
    for (let round = 0; round < 12; round++) {
      await upsert(60);
      const ids = [...live.keys()];
      const victims = ids.filter(() => random() < 0.1);
      const links = Array.from({ length: 20 }, () => ({ from: ids[Math.floor(random() * ids.length)], to: ids[Math.floor(random() * ids.length)], type: 'next' }));
      const linked = await call(server, 'PUT', '/v1/collections/m/links', { links: links.filter((l) => !victims.includes(l.from) && !victims.includes(l.to)) });
      assert.equal(linked.status, 200, JSON.stringify(linked.body));
      assert.equal((await call(server, 'POST', '/v1/collections/m/points/delete', { ids: victims })).status, 200);
      for (const id of victims) live.delete(id);
      if (round % 4 === 1) {
        const job = await call(server, 'POST', '/v1/collections/m/optimize', { build_order: round % 8 === 1 ? 'lid_desc' : 'random' });
        if (job.status === 202) optimized++;
      }
    }
  })();
  await churn;
  assert.ok(optimized > 0);
  for (let i = 0; i < 400; i++) {
    const jobs = (await call(server, 'GET', '/v1/jobs')).body.jobs as { state: string }[];
    if (jobs.every((j) => ['done', 'failed', 'cancelled'].includes(j.state))) break;
    await sleep(50);
  }
  await caughtUp(server, 'm', live.size);
  for (const id of [...live.keys()].filter((_, i) => i % 5 === 0)) {
    const got = await neighbours(server, 'm', id);
    assert.equal(got.length, 8);
    for (const n of got) assert.ok(live.has(n.id), `${id} lists ${n.id}, deleted`);
    const out = (await call(server, 'GET', `/v1/collections/m/points/${id}/links?direction=both&limit=1000`)).body.links as { from: string; to: string }[];
    for (const l of out) assert.ok(live.has(l.from) && live.has(l.to), `dangling link ${l.from} → ${l.to}`);
  }
});
