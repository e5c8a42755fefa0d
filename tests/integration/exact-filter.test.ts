import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prng } from '../helpers/random.ts';
import { call, startServer } from '../helpers/server.ts';

// Past one segment of the shared vector store (16,384 labels), so a filter's points lie in two.
const DIM = 8;
const FIRST = 16_600;
const GROUPS = 40;
const K = 10;

interface Live {
  vector: number[];
  group: number;
}

const squaredL2 = (a: readonly number[], b: readonly number[]) => a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0);

/** The exact top k of one group among the live points: ids, nearest first. */
function oracle(live: Map<string, Live>, query: number[], group: number): string[] {
  return [...live].filter(([, p]) => p.group === group).map(([id, p]) => ({ id, d: squaredL2(p.vector, query) }))
    .sort((a, b) => a.d - b.d || (a.id < b.id ? -1 : 1)).slice(0, K).map((x) => x.id);
}

for (const codec of ['float32', 'int8'] as const) {
  test(`a filter scored exactly (${codec}) answers as a brute force while points are upserted across segments, replaced and deleted`, async (t) => {
    const server = await startServer(t);
    const random = prng(codec === 'float32' ? 3 : 4);
    const name = `exact-${codec}`;
    const created = await call(server, 'PUT', `/v1/collections/${name}`, { dimension: DIM, metric: 'l2', storage: { codec }, graph: { knn_k: 0 } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const live = new Map<string, Live>();
    let next = 0;
    const upsert = async (count: number, ids?: string[]) => {
      const points = Array.from({ length: count }, (_, i) => {
        const id = ids?.[i] ?? `p${next++}`;
        const vector = Array.from({ length: DIM }, () => Math.fround(random() * 2 - 1));
        return { id, vector, payload: { g: Math.floor(random() * GROUPS) } };
      });
      const answer = await call(server, 'PUT', `/v1/collections/${name}/points`, { points });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      for (const p of points) live.set(p.id, { vector: p.vector, group: p.payload.g });
    };
    for (let done = 0; done < FIRST; done += 2_000) await upsert(Math.min(2_000, FIRST - done));

    // int8 stores codes, so its distances are to the decoded vectors: compare ids where the gap to
    // the next exact distance is wide, and require the found ones to pass the filter always.
    const check = async (round: number) => {
      for (let s = 0; s < 4; s++) {
        const group = (round * 7 + s) % GROUPS;
        const query = Array.from({ length: DIM }, () => random() * 2 - 1);
        const found = await call(server, 'POST', `/v1/collections/${name}/search`, { vector: query, k: K, where: { g: group } });
        assert.equal(found.status, 200, JSON.stringify(found.body));
        const ids = (found.body.results as { id: string; payload: { g: number } }[]).map((r) => r.id);
        for (const r of found.body.results as { id: string; payload: { g: number } }[]) {
          assert.ok(live.has(r.id), `round ${round}: ${r.id} was deleted`);
          assert.equal(r.payload.g, group, `round ${round}: ${r.id} fails the filter`);
        }
        const want = oracle(live, query, group);
        if (codec === 'float32') assert.deepEqual(ids, want, `round ${round}, group ${group}`);
        else assert.ok(ids.filter((id) => want.includes(id)).length >= K - 2, `round ${round}, group ${group}: ${ids.join()} vs ${want.join()}`);
      }
    };
    await check(0);
    for (let round = 1; round <= 6; round++) {
      // New points (labels further into the second segment), replacements of old points and deletes,
      // each acknowledged before the searches that follow.
      await upsert(400);
      const old = Array.from({ length: 200 }, () => `p${Math.floor(random() * next)}`).filter((id, i, all) => all.indexOf(id) === i);
      await upsert(old.length, old);
      const gone = [...live.keys()].filter(() => random() < 0.02);
      const deleted = await call(server, 'POST', `/v1/collections/${name}/points/delete`, { ids: gone });
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      for (const id of gone) live.delete(id);
      // Searches sent while the next write is on its way see it or not, but never a deleted point or a
      // point of another group; after it is acknowledged, they see it.
      const during = Promise.all([0, 1, 2].map(async (s) => {
        const group = (round + s) % GROUPS;
        const found = await call(server, 'POST', `/v1/collections/${name}/search`, { vector: Array.from({ length: DIM }, () => 0), k: K, where: { g: group } });
        assert.equal(found.status, 200, JSON.stringify(found.body));
        for (const r of found.body.results as { payload: { g: number } }[]) assert.equal(r.payload.g, group);
        assert.equal(found.body.results.length, K);
      }));
      await upsert(100);
      await during;
      await check(round);
    }
  });
}
