import assert from 'node:assert/strict';
import { test } from 'node:test';
import { select, type Pool, type Selection } from '../../index/select.ts';
import type { Metric } from '../../index/vector-index.ts';
import { prng } from '../helpers/random.ts';
import { call, startServer, type TestServer } from '../helpers/server.ts';

const DIM = 8;
const CLUSTERS = 6;
const PER = 30;

interface Point {
  id: string;
  vector: number[];
  payload: Record<string, unknown>;
}

/** Tight clusters of near-duplicates (a RAG corpus of repeated passages); `doc` names the cluster, every fifth point has none. */
function corpus(seed: number): Point[] {
  const random = prng(seed);
  const centres = Array.from({ length: CLUSTERS }, () => Array.from({ length: DIM }, () => random() - 0.5));
  const points: Point[] = [];
  for (let c = 0; c < CLUSTERS; c++) {
    for (let j = 0; j < PER; j++) {
      const id = `${c}-${j}`;
      const vector = centres[c].map((x) => Math.fround(x + (random() - 0.5) * 0.1));
      points.push({ id, vector, payload: j % 5 === 4 ? { n: j } : { doc: `d${c}`, n: j } });
    }
  }
  return points;
}

function unit(v: readonly number[]): Float32Array {
  const norm = Math.hypot(...v);
  return Float32Array.from(v, (x) => x / norm);
}

/** The oracle: the whole collection as the pool, exactly scored, then index/select.ts. */
function expected(points: Point[], query: number[], k: number, selection: Selection, metric: Metric, maxPer?: { field: string; count: number }): string[] {
  const vecs = points.map((point) => (metric === 'cosine' ? unit(point.vector) : Float32Array.from(point.vector)));
  const q = metric === 'cosine' ? unit(query) : Float32Array.from(query);
  const sim = (v: Float32Array): number => (metric === 'l2' ? 1 - v.reduce((t, x, i) => t + (x - q[i]) ** 2, 0) / 2 : v.reduce((t, x, i) => t + x * q[i], 0));
  // Labels follow upsert order here, so ties go to the earlier point.
  const order = vecs.map((v, i) => ({ i, s: sim(v) })).sort((a, b) => b.s - a.s || a.i - b.i);
  const vectors = new Float32Array(points.length * DIM);
  order.forEach((o, j) => vectors.set(vecs[o.i], j * DIM));
  const docs = new Map<string, number>();
  const pool: Pool = {
    metric, dim: DIM, vectors,
    relevance: Float64Array.from(order, (o) => o.s),
    groups: maxPer
      ? Int32Array.from(order, (o) => {
        const doc = points[o.i].payload[maxPer.field] as string | undefined;
        if (doc === undefined) return -1;
        if (!docs.has(doc)) docs.set(doc, docs.size);
        return docs.get(doc)!;
      })
      : null,
  };
  return select(pool, k, selection, maxPer?.count).picks.map((p) => points[order[p].i].id);
}

async function load(t: Parameters<typeof startServer>[0], metric: Metric, storage?: object): Promise<{ server: TestServer; points: Point[] }> {
  const server = await startServer(t);
  const points = corpus(metric.length);
  assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: DIM, metric, hnsw: { ef_search: 400 }, ...(storage && { storage }) })).status, 201);
  assert.equal((await call(server, 'PUT', '/v1/collections/c/points', { points })).status, 200);
  return { server, points };
}

type Result = { id: string; distance: number; payload?: Record<string, unknown>; explain?: Record<string, unknown> };

async function search(server: TestServer, body: object): Promise<{ results: Result[]; quality?: Record<string, number> }> {
  const res = await call(server, 'POST', '/v1/collections/c/search', body);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as never;
}

for (const metric of ['cosine', 'l2', 'ip'] as const) {
  test(`${metric}: mmr, cover and max_per pick what the oracle picks over the whole collection`, async (t) => {
    const { server, points } = await load(t, metric);
    const pool = points.length;
    const random = prng(99);
    for (let q = 0; q < 5; q++) {
      const query = points[Math.floor(random() * points.length)].vector.map((x) => x + (random() - 0.5) * 0.05);
      const cases: [object, Selection, { field: string; count: number } | undefined][] = [
        [{ mode: 'mmr', lambda: 0.5, pool }, { mode: 'mmr', lambda: 0.5 }, undefined],
        [{ mode: 'mmr', lambda: 0.2, pool }, { mode: 'mmr', lambda: 0.2 }, undefined],
        [{ mode: 'cover', coverage_weight: 2, pool }, { mode: 'cover', coverageWeight: 2 }, undefined],
        [{ mode: 'topk', pool, max_per: { field: 'doc', count: 2 } }, { mode: 'topk' }, { field: 'doc', count: 2 }],
        [{ mode: 'mmr', pool, max_per: { field: 'doc', count: 1 } }, { mode: 'mmr', lambda: 0.5 }, { field: 'doc', count: 1 }],
      ];
      for (const [body, selection, maxPer] of cases) {
        const got = await search(server, { vector: query, k: 10, select: body, with_payload: false });
        assert.deepEqual(got.results.map((r) => r.id), expected(points, query, 10, selection, metric, maxPer), JSON.stringify(body));
      }
    }
  });
}

test('lambda 1, coverage weight 0 and topk over a pool are the top-k; the plain search agrees', async (t) => {
  const { server, points } = await load(t, 'cosine');
  const query = points[7].vector;
  const plain = (await search(server, { vector: query, k: 10 })).results;
  for (const select of [{ mode: 'topk', pool: 40 }, { mode: 'mmr', lambda: 1 }, { mode: 'cover', coverage_weight: 0, pool: 100 }]) {
    const got = (await search(server, { vector: query, k: 10, select })).results;
    assert.deepEqual(got.map((r) => r.id), plain.map((r) => r.id), JSON.stringify(select));
    got.forEach((r, i) => assert.ok(Math.abs(r.distance - plain[i].distance) < 1e-5));
    assert.deepEqual(got.map((r) => r.payload), plain.map((r) => r.payload));
  }
});

test('diverse selection covers more clusters; explain reports sources, similarity, gains and quality', async (t) => {
  const { server, points } = await load(t, 'cosine');
  const query = points[3].vector;
  const clusters = (rs: Result[]): number => new Set(rs.map((r) => r.id.split('-')[0])).size;
  const plain = await search(server, { vector: query, k: 10, explain: true });
  const mmr = await search(server, { vector: query, k: 10, select: { mode: 'mmr', lambda: 0.3, pool: 100 }, explain: true });
  const cover = await search(server, { vector: query, k: 10, select: { mode: 'cover', coverage_weight: 5, pool: 100 }, explain: true });
  assert.equal(clusters(plain.results), 1, 'plain top-10 is ten near-copies');
  assert.ok(clusters(mmr.results) > 1 && clusters(cover.results) > 1);
  assert.ok(mmr.quality!.diversity > plain.quality!.diversity);
  assert.ok(cover.quality!.coverage > plain.quality!.coverage);
  assert.ok(plain.quality!.relevance > mmr.quality!.relevance);
  for (const r of [...plain.results, ...mmr.results]) {
    const e = r.explain as { source: string; hop: number; similarity: number; gain: number };
    assert.equal(e.source, 'index');
    assert.equal(e.hop, 0);
    assert.ok(Math.abs(1 - e.similarity - r.distance) < 1e-6, 'similarity is 1 − cosine distance');
    assert.equal(typeof e.gain, 'number');
  }
  const perDoc = await search(server, { vector: query, k: 10, select: { max_per: { field: 'doc', count: 2 } } });
  const counts = new Map<unknown, number>();
  for (const r of perDoc.results) counts.set(r.payload!.doc, (counts.get(r.payload!.doc) ?? 0) + 1);
  for (const [doc, c] of counts) if (doc !== undefined) assert.ok(c <= 2, `${JSON.stringify(doc)}: ${c}`);
  assert.equal(perDoc.results.length, 10);
});

test('where applies to the pool; batches explain each search; a compressed collection selects from its stored vectors', async (t) => {
  const { server, points } = await load(t, 'cosine', { codec: 'float16' });
  const where = { doc: { $in: ['d1', 'd4'] } };
  const got = await search(server, { vector: points[0].vector, k: 10, where, select: { mode: 'mmr', lambda: 0.3 } });
  assert.equal(got.results.length, 10);
  for (const r of got.results) assert.ok(['d1', 'd4'].includes(r.payload!.doc as string));
  assert.equal(new Set(got.results.map((r) => r.payload!.doc)).size, 2);
  const none = await search(server, { vector: points[0].vector, k: 10, where: { doc: 'nope' }, select: { mode: 'mmr' }, explain: true });
  assert.deepEqual({ ...none, took_ms: 0 }, { results: [], quality: { relevance: 0, coverage: 0, diversity: 0 }, took_ms: 0 });
  const batch = await call(server, 'POST', '/v1/collections/c/search/batch', {
    searches: [{ vector: points[0].vector, k: 3 }, { vector: points[40].vector, k: 3, select: { mode: 'cover' }, explain: true }],
  });
  assert.equal(batch.status, 200);
  const quality = batch.body.quality as (Record<string, number> | null)[];
  assert.equal(quality[0], null);
  assert.ok(quality[1]!.relevance > 0.9);
  const plain = await call(server, 'POST', '/v1/collections/c/search/batch', { searches: [{ vector: points[0].vector, k: 3 }] });
  assert.equal(plain.body.quality, undefined, 'no quality without explain');
});

test('bad selections are refused with a code', async (t) => {
  const { server, points } = await load(t, 'cosine');
  const vector = points[0].vector;
  const bad: [object, string][] = [
    [{ k: 10, select: { pool: 5 } }, 'k (10)'],
    [{ k: 10, select: { mode: 'mmr', lambda: 1.5 } }, 'lambda'],
    [{ k: 10, select: { mode: 'mmr', lambda: -0.1 } }, 'lambda'],
    [{ k: 10, select: { pool: 10_001 } }, 'pool'],
    [{ k: 10, select: { mode: 'best' } }, 'mode'],
    [{ k: 10, select: { coverage_weight: -1 } }, 'coverage_weight'],
    [{ k: 10, select: { max_per: { field: 'doc' } } }, 'count'],
    [{ k: 10, select: { max_per: { field: 'doc', count: 0 } } }, 'count'],
    [{ k: 10, select: { extra: 1 } }, 'extra'],
    [{ k: 10, explain: 'yes' }, 'explain'],
  ];
  for (const [body, mention] of bad) {
    const res = await call(server, 'POST', '/v1/collections/c/search', { vector, ...body });
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.body.code, 'VDB_ERR_REQUEST_INVALID', JSON.stringify(body));
    assert.match(String(res.body.message), new RegExp(mention.replace(/[()]/g, '\\$&')), JSON.stringify(res.body));
  }
  const batch = await call(server, 'POST', '/v1/collections/c/search/batch', { searches: [{ vector, k: 2 }, { vector, k: 10, select: { pool: 4 } }] });
  assert.equal(batch.status, 400);
  assert.match(String(batch.body.message), /searches\[1\]\.select\.pool/);
});
