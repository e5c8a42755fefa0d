import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import { call, startServer, type TestServer } from '../helpers/server.ts';
import { randomVectors } from '../helpers/random.ts';

const DIM = 8;
const packr = new Packr({ moreTypes: true, useRecords: false });

/** Payloads JSON text must carry exactly: escapes, unicode, nesting, numbers, empty ones, and none. */
function payloadOf(i: number): Record<string, unknown> | null {
  if (i % 7 === 0) return null;
  if (i % 7 === 1) return {};
  return {
    text: `chunk ${i}: "quoted", back\\slash, tab\t, newline\n, ünïcødé 🚀, \u2028 separator `.repeat(1 + (i % 3)),
    n: i,
    x: i / 3,
    nested: { tags: ['a', String(i)], deep: { flag: i % 2 === 0, none: null } },
  };
}

/** Every search result's payload against what was written (`expected` by id; deleted ids must not come back). */
async function checkAnswers(server: TestServer, queries: number[][], expected: Map<string, Record<string, unknown> | null>): Promise<void> {
  const k = expected.size;
  for (const vector of queries) {
    const json = await call(server, 'POST', '/v1/collections/p/search', { vector, k });
    assert.equal(json.status, 200);
    assert.match(json.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(json.body.results.length, expected.size);
    for (const r of json.body.results) assert.deepEqual(r.payload, expected.get(r.id), `payload of ${r.id} (JSON)`);
    const res = await fetch(`${server.url}/v1/collections/p/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/msgpack', accept: 'application/msgpack' },
      body: packr.pack({ vector: new Float32Array(vector), k, with_vector: true }),
    });
    const packed = packr.unpack(Buffer.from(await res.arrayBuffer())) as { results: { id: string; payload: unknown; vector: number[] }[]; took_ms: number };
    assert.equal(typeof packed.took_ms, 'number');
    assert.deepEqual(packed.results.map((r) => r.id), json.body.results.map((r: { id: string }) => r.id));
    for (const r of packed.results) {
      assert.deepEqual(r.payload, expected.get(r.id), `payload of ${r.id} (MessagePack)`);
      assert.equal(r.vector.length, DIM);
    }
  }
  const batch = await call(server, 'POST', '/v1/collections/p/search/batch', { searches: queries.slice(0, 2).map((vector) => ({ vector, k: 3 })) });
  assert.equal(batch.status, 200);
  for (const list of batch.body.results) for (const r of list) assert.deepEqual(r.payload, expected.get(r.id));
  const bare = await call(server, 'POST', '/v1/collections/p/search', { vector: queries[0], k: 3, with_payload: false });
  for (const r of bare.body.results) assert.equal('payload' in r, false);
}

for (const memory of [{ name: 'all kept in memory', bytes: 64 * 2 ** 20 }, { name: 'most read from SQLite (a budget of a few texts)', bytes: 2000 }]) {
  test(`search answers carry payloads exactly as written, through replacements, deletes and a restart: ${memory.name}`, async (t) => {
    const server = await startServer(t, { payloadMemoryBytes: memory.bytes });
    await call(server, 'PUT', '/v1/collections/p', { dimension: DIM, metric: 'l2' });
    const vectors = randomVectors(60, DIM, 5);
    const expected = new Map(vectors.map((_, i) => [String(i), payloadOf(i)]));
    const points = vectors.map((vector, i) => ({ id: i, vector, payload: payloadOf(i) ?? undefined }));
    assert.equal((await call(server, 'PUT', '/v1/collections/p/points', { points })).status, 200);
    const queries = randomVectors(4, DIM, 6);
    await checkAnswers(server, queries, expected);

    // Replaced payloads (and one payload removed), deleted points.
    const replaced = [3, 4, 5, 9].map((i) => ({ id: i, vector: vectors[i], payload: i === 9 ? undefined : { replaced: i } }));
    assert.equal((await call(server, 'PUT', '/v1/collections/p/points', { points: replaced })).status, 200);
    for (const p of replaced) expected.set(String(p.id), p.payload ?? null);
    assert.equal((await call(server, 'POST', '/v1/collections/p/points/delete', { ids: [10, 11, 12] })).body.deleted, 3);
    for (const id of ['10', '11', '12']) expected.delete(id);
    await checkAnswers(server, queries, expected);

    const again = await server.restart();
    await checkAnswers(again, queries, expected);
  });
}
