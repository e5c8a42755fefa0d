import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { kill, spawnServer } from '../helpers/process.ts';
import { call, waitReady } from '../helpers/server.ts';

function start(dataDir: string): Promise<{ code: number | null; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, VICINITY_PORT: '0', VICINITY_DATA_DIR: dataDir, VICINITY_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(timer);
    resolve({ code, err });
  }));
}

test('a data directory whose SQLite file is not a database stops the start, naming the file and what to do, and changes nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-corrupt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'vicinity.db');
  writeFileSync(file, 'this is not a database, but someone’s precious file'.repeat(100));
  const before = readFileSync(file);
  const { code, err } = await start(dir);
  assert.equal(code, 1);
  assert.match(err, new RegExp(`vicinity: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a usable SQLite database .*restore it .* from a backup, or move them aside`));
  assert.deepEqual(readFileSync(file), before, 'the file is left as it was');
});

test('a WAL cut short by a crash: the server starts on what SQLite recovers, and its index agrees with SQLite', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-wal-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let running = await spawnServer(dir, { VICINITY_SNAPSHOT_EVERY_CHANGES: '1000000' });
  t.after(() => running.child.kill('SIGKILL'));
  await waitReady(running);
  await call(running, 'PUT', '/v1/collections/w', { dimension: 4, metric: 'l2' });
  for (let b = 0; b < 20; b++) {
    const points = Array.from({ length: 50 }, (_, i) => ({ id: b * 50 + i, vector: [b, i, 1, 0] }));
    assert.equal((await call(running, 'PUT', '/v1/collections/w/points', { points })).status, 200);
  }
  await kill(running);
  const wal = join(dir, 'vicinity.db-wal');
  const size = statSync(wal).size;
  truncateSync(wal, Math.floor(size * 0.6)); // a torn write in the middle of the log
  running = await spawnServer(dir);
  await waitReady(running);
  const described = await call(running, 'GET', '/v1/collections/w');
  assert.equal(described.status, 200);
  const count = described.body.count as number;
  assert.ok(count > 0 && count < 1000 && count % 50 === 0, `whole batches survive: ${count}`);
  assert.equal(described.body.stats.index.live, count, 'the index holds exactly what SQLite holds');
  const scrolled = await call(running, 'POST', '/v1/collections/w/points/scroll', { limit: 1000 });
  assert.equal(scrolled.body.points.length, count);
  const search = await call(running, 'POST', '/v1/collections/w/search', { vector: [0, 0, 1, 0], k: 1, with_payload: false });
  assert.equal(search.body.results[0].id, '0');
});
