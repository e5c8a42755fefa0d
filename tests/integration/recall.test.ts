import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { l2, randomVectors } from '../helpers/random.ts';
import { call, startServer } from '../helpers/server.ts';

/** Recall@k of `found` against brute force over `vectors`, ties at the k-th distance counting as found. */
function recallOf(vectors: number[][], query: number[], found: string[], k: number): number {
  const distances = vectors.map((v) => l2(query, v)).sort((a, b) => a - b);
  const kth = distances[k - 1];
  return found.filter((id) => l2(query, vectors[Number(id)]) <= kth * (1 + 1e-6)).length / k;
}

test('the online recall estimate agrees with brute force over the same searches, in stats and /metrics', async (t) => {
  const server = await startServer(t, { recallSampleRate: 1, recallCpu: 1, replicas: 1 });
  // A sparse graph searched with a small ef: recall well below 1, so agreement means something.
  await call(server, 'PUT', '/v1/collections/r', { dimension: 24, metric: 'l2', hnsw: { m: 4, ef_construction: 16, ef_search: 10 } });
  const vectors = randomVectors(4000, 24, 11);
  for (let i = 0; i < vectors.length; i += 1000) {
    await call(server, 'PUT', '/v1/collections/r/points', { points: vectors.slice(i, i + 1000).map((vector, j) => ({ id: String(i + j), vector })) });
  }
  const k = 10;
  const offline: number[] = [];
  const samples = async () => (await call(server, 'GET', '/v1/collections/r')).body.stats.recall.samples as number;
  for (const query of randomVectors(150, 24, 12)) {
    const answer = await call(server, 'POST', '/v1/collections/r/search', { vector: query, k, with_payload: false });
    offline.push(recallOf(vectors, query, (answer.body.results as { id: string }[]).map((r) => r.id), k));
    // One check runs at a time (a search offered meanwhile is skipped), at low priority: wait for it.
    while ((await samples()) < offline.length) await sleep(5);
  }
  // Exact searches are not sampled: their recall is not the index's.
  await call(server, 'POST', '/v1/collections/r/search', { vector: vectors[0], k, where: { nothing: 1 } });
  await sleep(300);
  const truth = offline.reduce((a, b) => a + b, 0) / offline.length;
  assert.ok(truth < 0.95, `the setting gives imperfect recall (${truth})`);

  const { recall } = (await call(server, 'GET', '/v1/collections/r')).body.stats;
  assert.equal(recall.sample_rate, 1);
  assert.equal(recall.samples, offline.length, 'every search was checked, the exact one was not');
  assert.ok(Math.abs(recall.estimate - truth) < 1e-9, `estimate ${recall.estimate} vs brute force ${truth} over the same searches`);
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const metric = Number(/^vicinity_search_recall\{collection="r"\} (\S+)$/m.exec(text)?.[1]);
  assert.ok(Math.abs(metric - recall.estimate) < 1e-9, 'the metric and stats agree');
  assert.match(text, /^vicinity_search_recall_samples\{collection="r"\} \d+$/m);
});

test('the checks are paced to VICINITY_RECALL_CPU of one core', async (t) => {
  const server = await startServer(t, { recallSampleRate: 1, recallCpu: 0.0001, replicas: 1 });
  await call(server, 'PUT', '/v1/collections/p', { dimension: 64, metric: 'l2' });
  await call(server, 'PUT', '/v1/collections/p/points', { points: randomVectors(2000, 64, 3).map((vector, i) => ({ id: i, vector })) });
  const samples = async () => (await call(server, 'GET', '/v1/collections/p')).body.stats.recall.samples as number;
  await call(server, 'POST', '/v1/collections/p/search', { vector: randomVectors(1, 64, 4)[0], k: 10 });
  while ((await samples()) < 1) await sleep(5);
  // A check of 2,000 × 64 takes at least ~0.1 ms, so the next waits ≥ 1 s at 0.01 % of a core: none of these is checked.
  for (const query of randomVectors(30, 64, 5)) await call(server, 'POST', '/v1/collections/p/search', { vector: query, k: 10 });
  await sleep(50);
  assert.equal(await samples(), 1);
});

test('with VICINITY_RECALL_SAMPLE_RATE=0 no search is checked', async (t) => {
  const server = await startServer(t, { recallSampleRate: 0 });
  await call(server, 'PUT', '/v1/collections/z', { dimension: 2, metric: 'l2' });
  await call(server, 'PUT', '/v1/collections/z/points', { points: [{ id: 'a', vector: [0, 1] }] });
  for (let i = 0; i < 20; i++) await call(server, 'POST', '/v1/collections/z/search', { vector: [0, 1], k: 1 });
  await sleep(200);
  const { recall } = (await call(server, 'GET', '/v1/collections/z')).body.stats;
  assert.deepEqual(recall, { estimate: null, samples: 0, sample_rate: 0, window_s: 3600 });
  assert.doesNotMatch(await (await fetch(`${server.url}/metrics`)).text(), /vicinity_search_recall\{/);
});
