import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { call, waitReady } from '../helpers/server.ts';
import { kill, spawnServer } from '../helpers/process.ts';
import { prng } from '../helpers/random.ts';

const DIM = 16;
const KILLS = 6;


test('SIGKILL at random moments loses no acknowledged write', { timeout: 180_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vicinity-crash-'));
  let running = await spawnServer(dataDir);
  t.after(() => {
    running.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  await waitReady(running);
  assert.equal((await call(running, 'PUT', '/v1/collections/c', { dimension: DIM, metric: 'l2', hnsw: { ef_construction: 64 } })).status, 201);

  const random = prng(42);
  const live = new Map<string, number[]>(); // acknowledged and not deleted
  const deleted = new Set<string>(); // acknowledged deletes
  let next = 0;

  for (let round = 0; round < KILLS; round++) {
    let stop = false;
    const uncertain = new Set<string>();
    const writer = (async () => {
      while (!stop) {
        if (live.size > 50 && random() < 0.2) {
          const victims = [...live.keys()].slice(0, 5);
          victims.forEach((id) => uncertain.add(id));
          const res = await call(running, 'POST', '/v1/collections/c/points/delete', { ids: victims }).catch(() => null);
          if (res?.status !== 200) break;
          for (const id of victims) {
            live.delete(id);
            deleted.add(id);
            uncertain.delete(id);
          }
          continue;
        }
        const batch = Array.from({ length: 1 + Math.floor(random() * 40) }, () => ({
          id: `p${next++}`,
          vector: Array.from({ length: DIM }, () => Math.fround(random())),
        }));
        batch.forEach((p) => uncertain.add(p.id));
        const res = await call(running, 'PUT', '/v1/collections/c/points', { points: batch }).catch(() => null);
        if (res?.status !== 200) break;
        for (const p of batch) {
          live.set(p.id, p.vector);
          uncertain.delete(p.id);
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 300 + random() * 1500));
    await kill(running);
    stop = true;
    await writer;

    running = await spawnServer(dataDir);
    await waitReady(running, 60_000);

    const described = await call(running, 'GET', '/v1/collections/c');
    const count = described.body.count as number;
    assert.ok(count >= live.size - [...uncertain].filter((id) => live.has(id)).length, `round ${round}: count ${count} < acknowledged ${live.size}`);
    assert.equal(described.body.stats.index.live, count, `round ${round}: index live count equals SQLite's`);
    for (const id of deleted) {
      if (uncertain.has(id)) continue;
      assert.equal((await call(running, 'GET', `/v1/collections/c/points/${id}`)).status, 404, `deleted ${id} stays deleted`);
    }
    const ids = [...live.keys()].filter((id) => !uncertain.has(id));
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200);
      const res = await call(running, 'POST', '/v1/collections/c/search/batch', {
        searches: chunk.map((id) => ({ vector: live.get(id)!, k: 1, ef: 200, with_payload: false })),
      });
      assert.equal(res.status, 200);
      chunk.forEach((id, j) => assert.equal(res.body.results[j][0]?.id, id, `round ${round}: ${id} is searchable`));
    }
    // Points of an interrupted request are either all there or all absent; keep the real state.
    for (const id of uncertain) {
      const res = await call(running, 'GET', `/v1/collections/c/points/${id}?with_vector=true`);
      if (res.status === 200) {
        live.set(id, res.body.vector as number[]);
        deleted.delete(id);
      } else {
        live.delete(id);
      }
    }
  }
  assert.ok(live.size > 100, `the test wrote enough (${live.size} live points)`);
  t.diagnostic(`${KILLS} kills; ${live.size} live and ${deleted.size} deleted points verified after each restart`);
});
