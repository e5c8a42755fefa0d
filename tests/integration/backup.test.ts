import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { main } from '../../cli/cli.ts';
import { capture } from '../helpers/capture.ts';
import { call, startServer, type TestServer } from '../helpers/server.ts';

const DIM = 8;
const vectorOf = (n: number) => Array.from({ length: DIM }, (_, i) => Math.fround(Math.sin(n * 7.1 + i)));

/** Op j upserts o<j>, except every fourth, which deletes the point the op before it wrote. */
function stateAfter(ops: number): Map<string, number> {
  const state = new Map<string, number>();
  for (let j = 0; j < ops; j++) {
    if (j % 4 === 3) state.delete(`o${j - 1}`);
    else state.set(`o${j}`, j);
  }
  return state;
}

async function applyOp(server: TestServer, j: number): Promise<void> {
  const res =
    j % 4 === 3
      ? await call(server, 'POST', '/v1/collections/b/points/delete', { ids: [`o${j - 1}`] })
      : await call(server, 'PUT', '/v1/collections/b/points', { points: [{ id: `o${j}`, vector: vectorOf(j), payload: { j } }] });
  assert.equal(res.status, 200);
}

async function allPoints(server: TestServer): Promise<Map<string, number>> {
  const points = new Map<string, number>();
  let cursor: string | null = null;
  do {
    const page = await call(server, 'POST', '/v1/collections/b/points/scroll', { limit: 500, ...(cursor && { cursor }) });
    for (const p of page.body.points as { id: string; payload: { j: number } }[]) points.set(p.id, p.payload.j);
    cursor = page.body.next_cursor as string | null;
  } while (cursor);
  return points;
}

/** The nearest point's id for each query (batches of at most 1,000 searches). */
async function nearestIds(server: TestServer, queries: number[][]): Promise<(string | undefined)[]> {
  const ids: (string | undefined)[] = [];
  for (let i = 0; i < queries.length; i += 1000) {
    const found = await call(server, 'POST', '/v1/collections/b/search/batch', {
      searches: queries.slice(i, i + 1000).map((vector) => ({ vector, k: 1, ef: 200, with_payload: false })),
    });
    assert.equal(found.status, 200);
    ids.push(...(found.body.results as { id: string }[][]).map((r) => r[0]?.id));
  }
  return ids;
}

async function restore(backup: string, dataDir: string): Promise<{ code: number; err: string }> {
  const out = capture();
  const err = capture();
  const code = await main(['node', 'vicinity', 'restore', backup, '--data-dir', dataDir], { out, err, errIsTTY: false });
  return { code, err: err.text };
}

test('a backup taken under writes restores to the state at its sequence number, with indexes that agree', async (t) => {
  const server = await startServer(t, { snapshotEveryChanges: 40 });
  assert.equal((await call(server, 'PUT', '/v1/collections/b', { dimension: DIM, metric: 'l2' })).status, 201);

  // Writes go on, one at a time, through the whole backup.
  let acked = 0;
  let stop = false;
  const writer = (async () => {
    for (let j = 0; !stop; j++) {
      await applyOp(server, j);
      acked = j + 1;
    }
  })();
  while (acked < 200) await sleep(5);
  const before = acked;
  const started = await call(server, 'POST', '/v1/backups');
  assert.equal(started.status, 202);
  assert.equal(started.body.state, 'running');
  const id = started.body.id as string;
  let view = started.body;
  while (view.state === 'running') {
    await sleep(20);
    view = (await call(server, 'GET', `/v1/backups/${id}`)).body;
  }
  const after = acked + 1; // the op in flight may be in the copy
  while (acked < after + 50) await sleep(5);
  stop = true;
  await writer;
  assert.equal(view.state, 'done', JSON.stringify(view));
  assert.ok(view.seq > 0 && view.bytes > 0);
  const listed = (await call(server, 'GET', '/v1/backups')).body.backups as { id: string; state: string }[];
  assert.deepEqual(listed.map((b) => [b.id, b.state]), [[id, 'done']]);
  const files = JSON.parse(readFileSync(join(view.path as string, 'manifest.json'), 'utf8')).files as { path: string }[];
  assert.ok(files.some((f) => f.path.endsWith('.hnsw')), 'a snapshot was copied with the database');

  const target = join(mkdtempSync(join(tmpdir(), 'vicinity-restore-')), 'data');
  t.after(() => rmSync(join(target, '..'), { recursive: true, force: true }));
  const restored = await restore(view.path as string, target);
  assert.equal(restored.code, 0, restored.err);

  const copy = await startServer(t, { dataDir: target });
  const points = await allPoints(copy);
  // The copy is the state after some op the backup saw: no earlier than the last one acknowledged before it began.
  let match = -1;
  for (let ops = before; ops <= after && match < 0; ops++) {
    const expected = stateAfter(ops);
    if (expected.size === points.size && [...expected].every(([pid, j]) => points.get(pid) === j)) match = ops;
  }
  assert.ok(match >= 0, `the restored ${points.size} points are the state after one op between ${before} and ${after}`);
  // The index agrees with the rows: every point finds itself, no deleted one is found.
  const ids = [...points.keys()];
  (await nearestIds(copy, ids.map((pid) => vectorOf(points.get(pid)!)))).forEach((id, i) => assert.equal(id, ids[i]));
});

test('restore refuses a damaged backup and a non-empty directory; one backup runs at a time', async (t) => {
  const server = await startServer(t);
  await call(server, 'PUT', '/v1/collections/b', { dimension: DIM, metric: 'l2' });
  await call(server, 'PUT', '/v1/collections/b/points', { points: [{ id: 'a', vector: vectorOf(1) }] });
  // A held snapshot lock keeps the first backup running.
  const release = await server.app.engine.forTest.holdSnapshots('b');
  const first = await call(server, 'POST', '/v1/backups');
  assert.equal(first.status, 202);
  const second = await call(server, 'POST', '/v1/backups');
  assert.equal(second.status, 409);
  assert.equal(second.body.code, 'VDB_ERR_BACKUP_RUNNING');
  release();
  let view = first.body;
  while (view.state === 'running') view = (await call(server, 'GET', `/v1/backups/${first.body.id as string}`)).body;
  assert.equal(view.state, 'done');
  assert.equal((await call(server, 'GET', '/v1/backups/nope')).body.code, 'VDB_ERR_BACKUP_NOT_FOUND');

  const scratch = mkdtempSync(join(tmpdir(), 'vicinity-restore-'));
  t.after(() => rmSync(scratch, { recursive: true, force: true }));
  const damaged = join(scratch, 'damaged');
  cpSync(view.path as string, damaged, { recursive: true });
  const db = join(damaged, 'vicinity.db');
  const bytes = readFileSync(db);
  bytes[bytes.length - 100] ^= 0xff;
  writeFileSync(db, bytes);
  const target = join(scratch, 'data');
  const refused = await restore(damaged, target);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /vicinity\.db does not match its checksum/);
  assert.throws(() => readdirSync(target), 'nothing was copied');

  writeFileSync(join(scratch, 'occupied'), '');
  const occupied = await restore(view.path as string, scratch);
  assert.equal(occupied.code, 1);
  assert.match(occupied.err, /is not empty/);
  assert.equal((await restore(join(scratch, 'nothing-here'), target)).code, 1);
});

test('a backup taken while an optimize purges deleted points restores with an index that agrees with the rows', async (t) => {
  const server = await startServer(t, { snapshotEveryChanges: 100 });
  await call(server, 'PUT', '/v1/collections/b', { dimension: DIM, metric: 'l2' });
  const n = 3000;
  for (let i = 0; i < n; i += 500) {
    await call(server, 'PUT', '/v1/collections/b/points', { points: Array.from({ length: 500 }, (_, j) => ({ id: `o${i + j}`, vector: vectorOf(i + j), payload: { j: i + j } })) });
  }
  const deleted = Array.from({ length: n / 3 }, (_, i) => `o${i * 3}`);
  await call(server, 'POST', '/v1/collections/b/points/delete', { ids: deleted });
  const optimize = await call(server, 'POST', '/v1/collections/b/optimize', { build_order: 'random' });
  assert.equal(optimize.status, 202);
  const started = await call(server, 'POST', '/v1/backups');
  let view = started.body;
  while (view.state === 'running') {
    await sleep(20);
    view = (await call(server, 'GET', `/v1/backups/${started.body.id as string}`)).body;
  }
  assert.equal(view.state, 'done');

  const target = join(mkdtempSync(join(tmpdir(), 'vicinity-restore-')), 'data');
  t.after(() => rmSync(join(target, '..'), { recursive: true, force: true }));
  assert.equal((await restore(view.path as string, target)).code, 0);
  const copy = await startServer(t, { dataDir: target });
  const points = await allPoints(copy);
  assert.equal(points.size, n - deleted.length);
  const ids = [...points.keys()];
  const gone = new Set(deleted);
  (await nearestIds(copy, [...ids, ...deleted].map((pid) => vectorOf(Number(pid.slice(1)))))).forEach((id, i) => {
    if (i < ids.length) assert.equal(id, ids[i], 'a live point finds itself');
    else assert.ok(id !== undefined && !gone.has(id), 'a deleted point is never found');
  });
});

test('a backup cut short by a crash (no manifest, still .partial) is removed at start and never listed', async (t) => {
  const server = await startServer(t);
  const partial = join(server.dataDir, 'backups', '2026-01-01T00-00-00-000Z-abcdef.partial');
  const stray = join(server.dataDir, 'backups', 'not-a-backup');
  const again = await server.restart(() => {
    mkdirSync(join(partial, 'indexes'), { recursive: true });
    writeFileSync(join(partial, 'vicinity.db'), 'half a copy');
    mkdirSync(stray, { recursive: true });
  });
  assert.deepEqual((await call(again, 'GET', '/v1/backups')).body, { backups: [] });
  for (let i = 0; i < 100 && existsSync(partial); i++) await sleep(20);
  assert.ok(!existsSync(partial), 'the partial copy is gone');
  assert.ok(existsSync(stray), 'a directory that is not a backup is left alone');
});
