import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { prng } from '../helpers/random.ts';
import { call, startServer, type TestServer } from '../helpers/server.ts';

const DIM = 192;
const DOCS = 30;
const CHUNKS = 6;

type Result = { id: string; distance: number; payload?: Record<string, unknown>; explain?: Record<string, unknown> };

/**
 * Documents of chunks on unrelated topics (each chunk its own axis, plus a little noise), chained by
 * `next` links both ways: a query at one chunk finds that chunk and nothing else of its document.
 */
async function corpus(server: TestServer, knnK = 16): Promise<Map<string, number[]>> {
  const random = prng(11);
  const vectors = new Map<string, number[]>();
  assert.equal((await call(server, 'PUT', '/v1/collections/docs', { dimension: DIM, metric: 'cosine', graph: { knn_k: knnK } })).status, 201);
  const points = [];
  for (let d = 0; d < DOCS; d++) {
    for (let c = 0; c < CHUNKS; c++) {
      const vector = Array.from({ length: DIM }, (_, i) => (i === d * CHUNKS + c ? 1 : 0) + (random() - 0.5) * 0.002);
      vectors.set(`d${d}c${c}`, vector);
      points.push({ id: `d${d}c${c}`, vector, payload: { doc: d, chunk: c } });
    }
  }
  assert.equal((await call(server, 'PUT', '/v1/collections/docs/points', { points })).status, 200);
  const links = [];
  for (let d = 0; d < DOCS; d++) for (let c = 0; c + 1 < CHUNKS; c++) links.push({ from: `d${d}c${c}`, to: `d${d}c${c + 1}`, type: 'next', both: true });
  assert.equal((await call(server, 'PUT', '/v1/collections/docs/links', { links })).status, 200);
  return vectors;
}

async function search(server: TestServer, body: object): Promise<Result[]> {
  const res = await call(server, 'POST', '/v1/collections/docs/search', body);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.results as Result[];
}

test('expanding through next links brings a document\'s neighbouring chunks into the results, explained', async (t) => {
  const server = await startServer(t);
  const vectors = await corpus(server);
  // A document none of whose other chunks is near its chunk 2.
  let doc = -1;
  for (let d = 0; d < DOCS && doc < 0; d++) {
    const top = await search(server, { vector: vectors.get(`d${d}c2`)!, k: 5, with_payload: false });
    if (top.filter((r) => r.id.startsWith(`d${d}c`)).length === 1) doc = d;
  }
  assert.ok(doc >= 0);
  const c = (chunk: number) => `d${doc}c${chunk}`;
  const query = vectors.get(c(2))!;
  const sameDoc = (rs: Result[]) => rs.filter((r) => r.id.startsWith(`d${doc}c`)).map((r) => r.id).sort();
  const plain = await search(server, { vector: query, k: 5 });
  assert.equal(plain[0].id, c(2));
  assert.deepEqual(sameDoc(plain), [c(2)], 'plain search finds only the chunk itself');

  const expanded = await search(server, { vector: query, k: 5, expand: { via: ['links:next'], hops: 2, decay: 1 }, explain: true });
  assert.deepEqual(sameDoc(expanded), [0, 1, 2, 3, 4].map(c), 'two hops along next in both directions');
  for (const r of expanded) {
    const e = r.explain as { source: string; from?: string; link_type?: string; hop: number; similarity: number; gain: number };
    if (r.id === c(2)) assert.deepEqual([e.source, e.hop], ['index', 0]);
    if (r.id === c(1) || r.id === c(3)) assert.deepEqual([e.source, e.from, e.link_type, e.hop], ['link', c(2), 'next', 1]);
    if (r.id === c(0)) assert.deepEqual([e.source, e.from, e.hop], ['link', c(1), 2]);
    assert.ok(Math.abs(1 - e.similarity - r.distance) < 1e-6, 'distance stays the plain similarity');
  }
  // The bonus decays with each hop: at decay 0.1 the first hop adds 0.1, the second 0.01.
  const decayed = await search(server, { vector: query, k: 5, expand: { via: ['links:next'], hops: 2, decay: 0.1 } });
  const order = decayed.map((r) => r.id);
  assert.equal(order[0], c(2));
  assert.deepEqual(order.slice(1, 3).sort(), [c(1), c(3)].sort());
  assert.deepEqual(order.slice(3).sort(), [c(0), c(4)].sort());
  // One hop only reaches the direct neighbours; a type that no link has reaches nothing.
  assert.deepEqual(sameDoc(await search(server, { vector: query, k: 5, expand: { via: ['links'], hops: 1, decay: 1 } })), [1, 2, 3].map(c));
  assert.deepEqual(sameDoc(await search(server, { vector: query, k: 5, expand: { via: ['links:cites'], hops: 3, decay: 1 } })), [c(2)]);
  // where applies to expanded candidates too.
  const filtered = await search(server, { vector: query, k: 5, where: { chunk: { $lte: 2 } }, expand: { via: ['links:next'], hops: 3, decay: 1 } });
  for (const r of filtered) assert.ok((r.payload!.chunk as number) <= 2);
  assert.deepEqual(sameDoc(filtered), [0, 1, 2].map(c));
  // Deleted points are neither results nor stepping stones.
  await call(server, 'POST', '/v1/collections/docs/points/delete', { ids: [c(3)] });
  assert.deepEqual(sameDoc(await search(server, { vector: query, k: 5, expand: { via: ['links:next'], hops: 3, decay: 1 } })), [0, 1, 2].map(c));
});

test('expanding through the k-NN overlay adds the seeds\' nearest neighbours to the pool', async (t) => {
  const server = await startServer(t);
  const vectors = await corpus(server);
  for (let i = 0; i < 200; i++) {
    const o = (await call(server, 'GET', '/v1/collections/docs')).body.stats.overlay;
    if (o.behind === 0 && o.covered === DOCS * CHUNKS) break;
    await sleep(50);
  }
  const query = vectors.get('d7c1')!;
  // Pool 5 = k: only overlay expansion can bring in anything else; explain says which came from it.
  const got = await search(server, { vector: query, k: 5, select: { mode: 'mmr', lambda: 0.3, pool: 5 }, expand: { via: ['knn'], hops: 1, fanout: 8 }, explain: true });
  assert.equal(got.length, 5);
  const fromOverlay = got.filter((r) => (r.explain as { source: string }).source === 'knn');
  assert.ok(fromOverlay.length > 0, 'mmr picked some expanded candidates');
  for (const r of fromOverlay) {
    const e = r.explain as { from: string; hop: number };
    assert.equal(e.hop, 1);
    const theirs = (await call(server, 'GET', `/v1/collections/docs/points/${e.from}/neighbours?k=8`)).body.neighbours as { id: string }[];
    assert.ok(theirs.some((n) => n.id === r.id), `${r.id} is an overlay neighbour of ${e.from}`);
  }
});

test('bad expansions are refused with a code', async (t) => {
  const server = await startServer(t);
  await corpus(server, 0);
  const vector = Array.from({ length: DIM }, () => 0.1);
  const bad: [object, number, string, string][] = [
    [{ via: ['links'], hops: 0 }, 400, 'VDB_ERR_REQUEST_INVALID', 'hops'],
    [{ via: ['links'], hops: 4 }, 400, 'VDB_ERR_REQUEST_INVALID', 'hops'],
    [{ via: ['friends'] }, 400, 'VDB_ERR_REQUEST_INVALID', 'via'],
    [{ via: ['links:Next'] }, 400, 'VDB_ERR_REQUEST_INVALID', 'via'],
    [{ via: [] }, 400, 'VDB_ERR_REQUEST_INVALID', 'via'],
    [{ hops: 1 }, 400, 'VDB_ERR_REQUEST_INVALID', 'via'],
    [{ via: ['links'], decay: 1.5 }, 400, 'VDB_ERR_REQUEST_INVALID', 'decay'],
    [{ via: ['links'], fanout: 0 }, 400, 'VDB_ERR_REQUEST_INVALID', 'fanout'],
    [{ via: ['knn'] }, 422, 'VDB_ERR_OVERLAY_OFF', 'knn'],
  ];
  for (const [expand, status, code, mention] of bad) {
    const res = await call(server, 'POST', '/v1/collections/docs/search', { vector, k: 3, expand });
    assert.equal(res.status, status, JSON.stringify(expand));
    assert.equal(res.body.code, code);
    assert.match(res.body.message, new RegExp(mention));
  }
});

test('a collection\'s search_defaults apply to every search that does not say otherwise', async (t) => {
  const server = await startServer(t);
  const defaults = { select: { mode: 'mmr', lambda: 0.9 }, expand: { via: ['links:next'], hops: 1, decay: 1 } };
  const bad = await call(server, 'PUT', '/v1/collections/x', { dimension: DIM, metric: 'cosine', graph: { knn_k: 0 }, search_defaults: { expand: { via: ['knn'] } } });
  assert.equal(bad.status, 422);
  assert.equal(bad.body.code, 'VDB_ERR_COLLECTION_CONFIG');
  assert.equal((await call(server, 'PUT', '/v1/collections/x', { dimension: DIM, metric: 'cosine', search_defaults: { expand: { via: ['bogus'] } } })).body.code, 'VDB_ERR_REQUEST_INVALID');

  const vectors = new Map<string, number[]>();
  assert.equal((await call(server, 'PUT', '/v1/collections/docs', { dimension: DIM, metric: 'cosine', search_defaults: defaults })).status, 201);
  assert.deepEqual((await call(server, 'GET', '/v1/collections/docs')).body.config.search_defaults, defaults);
  assert.equal((await call(server, 'PUT', '/v1/collections/docs', { dimension: DIM, metric: 'cosine', search_defaults: defaults })).status, 200, 'the same create again');
  const points = [];
  for (let c = 0; c < CHUNKS * 4; c++) {
    const vector = Array.from({ length: DIM }, (_, i) => (i === c ? 1 : 0));
    vectors.set(`c${c}`, vector);
    points.push({ id: `c${c}`, vector });
  }
  await call(server, 'PUT', '/v1/collections/docs/points', { points });
  await call(server, 'PUT', '/v1/collections/docs/links', { links: [{ from: 'c0', to: 'c20', type: 'next' }] });
  const query = vectors.get('c0')!;
  const withDefaults = await search(server, { vector: query, k: 2, explain: true });
  assert.deepEqual(withDefaults.map((r) => r.id), ['c0', 'c20'], 'the default expansion follows the link');
  assert.equal((withDefaults[1].explain as { source: string }).source, 'link');
  const off = await search(server, { vector: query, k: 2, expand: null, explain: true });
  assert.ok(!off.some((r) => r.id === 'c20'), 'expand: null turns the default off');
  // A default pool below k grows to k; the request's own pool must hold k.
  assert.equal((await search(server, { vector: query, k: 20 })).length, 20);
  assert.equal((await call(server, 'POST', '/v1/collections/docs/search', { vector: query, k: 20, select: { pool: 10 } })).status, 400);
});
