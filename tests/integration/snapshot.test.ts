import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { call, startServer, waitReady, type TestServer } from '../helpers/server.ts';

const DIM = 12;

function vectors(n: number): number[][] {
  let s = 7;
  const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return Array.from({ length: n }, () => Array.from({ length: DIM }, () => Math.fround(r())));
}

async function top(server: TestServer, vector: number[]): Promise<string[]> {
  const res = await call(server, 'POST', '/v1/collections/s/search', { vector, k: 5, ef: 100, with_payload: false });
  return res.body.results.map((r: { id: string }) => r.id);
}

test('a snapshot is written on close and reused; a damaged one is rebuilt from SQLite', async (t) => {
  let server = await startServer(t);
  await call(server, 'PUT', '/v1/collections/s', { dimension: DIM, metric: 'l2' });
  const data = vectors(400);
  await call(server, 'PUT', '/v1/collections/s/points', { points: data.map((vector, id) => ({ id, vector })) });
  await call(server, 'POST', '/v1/collections/s/points/delete', { ids: [0, 1, 2] });
  const expected = await top(server, data[3]);
  assert.equal(expected[0], '3');

  const indexDir = join(server.dataDir, 'indexes');
  const damage: [string, () => void][] = [
    ['intact', () => {}],
    ['one byte altered', () => {
      const file = join(indexDir, readdirSync(indexDir).find((f) => f.endsWith('.hnsw'))!);
      const bytes = readFileSync(file);
      bytes[200] = bytes[200] ^ 0xff;
      writeFileSync(file, bytes);
    }],
    ['truncated', () => {
      const file = join(indexDir, readdirSync(indexDir).find((f) => f.endsWith('.hnsw'))!);
      truncateSync(file, 1000);
    }],
    ['manifest garbage', () => {
      const file = join(indexDir, readdirSync(indexDir).find((f) => f.endsWith('.manifest.json'))!);
      writeFileSync(file, '{"format": 1, "file": ');
    }],
    ['all files gone', () => rmSync(indexDir, { recursive: true, force: true })],
  ];
  for (const [name, harm] of damage) {
    server = await server.restart(() => {
      assert.ok(readdirSync(indexDir).some((f) => f.endsWith('.hnsw')), `${name}: close wrote a snapshot`);
      harm();
    });
    await waitReady(server);
    const described = await call(server, 'GET', '/v1/collections/s');
    assert.equal(described.body.count, 397, name);
    assert.equal(described.body.stats.index.live, 397, `${name}: index live count`);
    assert.deepEqual(await top(server, data[3]), expected, `${name}: same results`);
    assert.ok(!(await top(server, data[0])).includes('0'), `${name}: deleted point stays deleted`);
    // A change after restart makes the next close write a fresh snapshot.
    await call(server, 'PUT', '/v1/collections/s/points', { points: [{ id: 399, vector: data[399] }] });
  }
});

test('/readyz is 503 and searches answer VDB_ERR_NOT_READY while an index is rebuilt', async (t) => {
  let server = await startServer(t);
  await call(server, 'PUT', '/v1/collections/s', { dimension: DIM, metric: 'l2', hnsw: { ef_construction: 100 } });
  const data = vectors(20_000);
  for (let i = 0; i < data.length; i += 2000) {
    const points = data.slice(i, i + 2000).map((vector, j) => ({ id: i + j, vector }));
    assert.equal((await call(server, 'PUT', '/v1/collections/s/points', { points })).status, 200);
  }
  server = await server.restart(() => rmSync(join(server.dataDir, 'indexes'), { recursive: true, force: true }), false);
  const early = await call(server, 'GET', '/readyz');
  assert.equal(early.status, 503);
  assert.equal(early.headers.get('retry-after'), '1');
  const search = await call(server, 'POST', '/v1/collections/s/search', { vector: data[0], k: 1 });
  assert.equal(search.status, 503);
  assert.equal(search.body.code, 'VDB_ERR_NOT_READY');
  assert.equal((await call(server, 'GET', '/healthz')).status, 200, 'liveness answers while loading');
  await waitReady(server, 60_000);
  assert.deepEqual(await top(server, data[0]).then((ids) => ids[0]), '0');
});

test('snapshot files of a dropped collection are removed, even after a crash between drop and cleanup', async (t) => {
  let server = await startServer(t);
  await call(server, 'PUT', '/v1/collections/gone', { dimension: DIM, metric: 'l2' });
  await call(server, 'PUT', '/v1/collections/kept', { dimension: DIM, metric: 'l2' });
  const points = vectors(50).map((vector, id) => ({ id, vector }));
  await call(server, 'PUT', '/v1/collections/gone/points', { points });
  await call(server, 'PUT', '/v1/collections/kept/points', { points });
  const indexDir = join(server.dataDir, 'indexes');
  let orphan: string[] = [];
  server = await server.restart(() => {
    orphan = readdirSync(indexDir).filter((f) => f.startsWith('c1'));
    assert.ok(orphan.length >= 2, 'close wrote snapshots of both');
  });
  assert.equal((await call(server, 'DELETE', '/v1/collections/gone')).status, 200);
  for (let i = 0; i < 50 && readdirSync(indexDir).some((f) => f.startsWith('c1')); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(!readdirSync(indexDir).some((f) => f.startsWith('c1')), 'drop removes the files (in the background)');
  // Simulate a crash between the drop's commit and the file cleanup: put the files back.
  server = await server.restart(() => {
    for (const f of orphan) writeFileSync(join(indexDir, f), 'stale');
  });
  for (let i = 0; i < 50 && readdirSync(indexDir).some((f) => f.startsWith('c1')); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(!readdirSync(indexDir).some((f) => f.startsWith('c1')), 'start-up removes orphaned snapshot files');
  assert.equal((await call(server, 'GET', '/v1/collections/kept')).body.count, 50);
});
