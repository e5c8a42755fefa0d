import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { randomVectors } from '../helpers/random.ts';
import { call, startServer } from '../helpers/server.ts';

const DIM = 32;
const MiB = 2 ** 20;

/** Mounts a tmpfs of `mib` MiB at a new directory; null (with why) where the machine does not allow it. */
function mountTmpfs(mib: number): { dir: string; unmount: () => void } | { dir: null; why: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-full-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', dir], { encoding: 'utf8' });
  if (mounted.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { dir: null, why: `cannot mount a tmpfs here (${(mounted.stderr || mounted.error?.message || '').trim()}); as root: mount -t tmpfs -o size=48m tmpfs DIR and run with VICINITY_DATA_DIR=DIR` };
  }
  return {
    dir,
    unmount: () => {
      spawnSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const batch = (from: number, n: number, seed: number) =>
  randomVectors(n, DIM, seed).map((vector, i) => ({ id: `p${from + i}`, vector, payload: { text: 'x'.repeat(2000), n: from + i } }));

test('a full disk: writes get 507 VDB_ERR_STORAGE_FULL, searches go on, and once space is freed writes resume with nothing lost', { timeout: 120_000 }, async (t) => {
  const mount = mountTmpfs(48);
  if (mount.dir === null) return t.skip(mount.why);
  const dataDir = join(mount.dir, 'data');
  let server = await startServer(t, { dataDir, snapshotIntervalMs: 3_600_000, snapshotEveryChanges: 1_000_000 });
  t.after(() => mount.unmount()); // after the server has closed (hooks run in the order added)
  assert.equal((await call(server, 'PUT', '/v1/collections/c', { dimension: DIM, metric: 'l2' })).status, 201);
  assert.equal((await call(server, 'PUT', '/v1/collections/c/points', { points: batch(0, 200, 1) })).status, 200);

  // Leave about 3 MiB free, then write until the disk is full.
  const { bavail, bsize } = statfsSync(mount.dir);
  const ballast = join(mount.dir, 'ballast');
  writeFileSync(ballast, Buffer.alloc(Math.max(0, bavail * bsize - 3 * MiB)));
  let acked = 200;
  let full: { status: number; body: { code: string; message: string } } | null = null;
  for (let round = 0; round < 200 && full === null; round++) {
    const answer = await call(server, 'PUT', '/v1/collections/c/points', { points: batch(acked, 100, 10 + round) });
    if (answer.status === 200) acked += 100;
    else full = answer;
  }
  assert.ok(full !== null, 'the disk filled up');
  assert.equal(full.status, 507, JSON.stringify(full.body));
  assert.equal(full.body.code, 'VDB_ERR_STORAGE_FULL');
  assert.match(full.body.message, /disk holding the data directory is full/);
  // Searches, reads and deletes' refusals meanwhile.
  const query = batch(0, 1, 1)[0].vector;
  const search = await call(server, 'POST', '/v1/collections/c/search', { vector: query, k: 1 });
  assert.equal(search.status, 200);
  assert.equal(search.body.results[0].id, 'p0');
  assert.equal((await call(server, 'GET', '/readyz')).status, 200);
  assert.equal((await call(server, 'GET', '/v1/collections/c')).body.count, acked);
  const link = await call(server, 'PUT', '/v1/collections/c/links', { links: [{ from: 'p0', to: 'p1' }] });
  assert.ok(link.status === 200 || link.status === 507, `a link write is made or refused with 507, got ${link.status}`);

  // Space freed: writes resume; after a restart every acknowledged point is there and SQLite is sound.
  rmSync(ballast);
  assert.equal((await call(server, 'PUT', '/v1/collections/c/points', { points: batch(acked, 100, 999) })).status, 200);
  acked += 100;
  server = await server.restart();
  const after = await call(server, 'GET', '/v1/collections/c');
  assert.equal(after.body.count, acked);
  assert.equal(after.body.stats.index.live, acked);
  for (const id of ['p0', `p${acked - 1}`, `p${acked - 150}`]) assert.equal((await call(server, 'GET', `/v1/collections/c/points/${id}`)).status, 200, id);
  await server.app.close();
  const db = new Database(join(dataDir, 'vicinity.db'), { readonly: true });
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  db.close();
});
