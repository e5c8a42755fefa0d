import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { npyBuffer } from '../helpers/import-files.ts';
import { kill, spawnServer, type Running } from '../helpers/process.ts';
import { prng, randomVectors } from '../helpers/random.ts';
import { call, waitReady } from '../helpers/server.ts';

const DIM = 16;
const BASE = 300;
const BIG = 8000;

/** Build processes whose server is gone (re-parented to init). */
function orphanBuilds(): number[] {
  const orphans: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      if (cmdline.includes('build-child.ts') && ppid === 1) orphans.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return orphans;
}

async function count(server: Running): Promise<number> {
  return (await call(server, 'GET', '/v1/collections/c')).body.count as number;
}

test('SIGKILL during an import: after restart the collection has all of it or none of it', { timeout: 180_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vicinity-import-crash-'));
  let running = await spawnServer(dataDir);
  t.after(() => {
    running.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  await waitReady(running);
  assert.equal((await call(running, 'PUT', '/v1/collections/c', { dimension: DIM, metric: 'l2', hnsw: { m: 32, ef_construction: 400 } })).status, 201);
  const base = randomVectors(BASE, DIM, 1);
  const points = base.map((vector, i) => ({ id: `b${i}`, vector }));
  assert.equal((await call(running, 'PUT', '/v1/collections/c/points', { points })).status, 200);

  const random = prng(3);
  let expected = BASE;
  const outcomes: string[] = [];
  for (let round = 0; round < 4; round++) {
    const vectors = randomVectors(BIG, DIM, 100 + round);
    const accepted = await call(running, 'POST', `/v1/collections/c/import?format=npy&id_offset=${round * BIG}`, npyBuffer(vectors), {
      'content-type': 'application/octet-stream',
    });
    assert.equal(accepted.status, 202);
    if (round % 2 === 0) {
      // Somewhere in the build.
      await sleep(Math.floor(random() * 800));
    } else {
      // Right after the commit, while the snapshot is written and the replicas load it.
      for (;;) {
        const job = (await call(running, 'GET', `/v1/jobs/${accepted.body.job_id}`)).body;
        if ((round === 1 ? job.phase === 'committing' : job.phase === 'loading') || !['queued', 'running'].includes(job.state as string)) break;
        await sleep(2);
      }
    }
    await kill(running);
    // The build process notices its server is gone and exits.
    for (let i = 0; orphanBuilds().length > 0; i++) {
      assert.ok(i < 100, `build processes left running: ${orphanBuilds().join(', ')}`);
      await sleep(20);
    }
    running = await spawnServer(dataDir);
    await waitReady(running, 60_000);
    const job = (await call(running, 'GET', `/v1/jobs/${accepted.body.job_id}`)).body;
    const now = await count(running);
    if (job.state === 'done') expected += BIG;
    else {
      assert.equal(job.state, 'failed', JSON.stringify(job));
      assert.equal(job.error.code, 'VDB_ERR_JOB_INTERRUPTED');
    }
    outcomes.push(job.state as string);
    assert.equal(now, expected, `round ${round}: job ${job.state}, count ${now}`);
    // Every base point is still its own nearest neighbour; the imported ones too when done.
    for (let i = 0; i < BASE; i += 37) {
      const hit = (await call(running, 'POST', '/v1/collections/c/search', { vector: base[i], k: 1, ef: 100 })).body.results[0];
      assert.equal(hit.id, `b${i}`);
    }
    if (job.state === 'done') {
      const hit = (await call(running, 'POST', '/v1/collections/c/search', { vector: vectors[17], k: 1, ef: 100 })).body.results[0];
      assert.equal(hit.id, String(round * BIG + 17));
    }
  }
  t.diagnostic(`outcomes: ${outcomes.join(', ')}`);
  // Staged rows of interrupted jobs are removed after the restart.
  const db = new Database(join(dataDir, 'vicinity.db'), { readonly: true });
  try {
    for (let i = 0; ; i++) {
      const { n } = db.prepare('SELECT count(*) AS n FROM import_rows').get() as { n: number };
      if (n === 0) break;
      assert.ok(i < 400, `${n} staged rows left`);
      await sleep(25);
    }
  } finally {
    db.close();
  }
});
