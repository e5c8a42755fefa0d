/**
 * Scenario `snapshot-window`: a snapshot must not carry an import's sequence without its points.
 * The server snapshots every second and after every change, a trickle of upserts keeps changing the
 * collection, and the server is SIGKILLed when the import's job shows `loading` (committed, replicas
 * not yet reloaded), at once or 5–120 ms later, in turn. After a restart every imported point (and
 * every acknowledged upsert) must be found by a search for its own vector; each point checked is one
 * operation, a miss a failure.
 */
import type { HttpClient } from './server.ts';
import { call, getJob, IMPORT_PATH, loop, NDJSON, ndjson, parse, points, rng, sleep, vector, Tally, type CollectionInfo, type ScenarioResult } from './soak-common.ts';
import { withSoakServer, type SoakContext, type SoakServer } from './soak-server.ts';

const DIM = 16;
const POLL_MS = 2;
const TRICKLE_IDS = 50;
const BATCH = 250;
const EF = 500;
const KILL_DELAYS_MS = [0, 5, 15, 30, 60, 120];

interface Hit {
  id: string;
}

/** Searches each vector (k = 1) in batches; returns the indexes of those whose own id did not come first. */
async function misses(c: HttpClient, t: Tally, name: string, ids: string[], vectors: number[][]): Promise<number[]> {
  const missed: number[] = [];
  for (let at = 0; at < ids.length; at += BATCH) {
    const searches = vectors.slice(at, at + BATCH).map((v) => ({ vector: v, k: 1, ef: EF, with_payload: false }));
    const answer = parse<{ results: Hit[][] }>(await call(c, t, 'search (check)', 'POST', `/v1/collections/${name}/search/batch`, { searches }));
    if (answer === null) continue;
    answer.results.forEach((hits, i) => {
      if (hits[0]?.id !== ids[at + i]) missed.push(at + i);
    });
  }
  // A second look with k = 10 and a wider beam, so an approximate-search miss is not counted as lost.
  const lost: number[] = [];
  for (const i of missed) {
    const answer = parse<{ results: Hit[] }>(await call(c, t, 'search (check)', 'POST', `/v1/collections/${name}/search`, { vector: vectors[i], k: 10, ef: 4 * EF, with_payload: false }));
    if (answer !== null && !answer.results.some((h) => h.id === ids[i])) lost.push(i);
  }
  return lost;
}

export async function snapshotWindowScenario(ctx: SoakContext): Promise<ScenarioResult[]> {
  const n = ctx.smoke ? 2000 : 10_000;
  const t = new Tally('snapshot-window', `SIGKILL at loading + 0–120 ms, ${n}-point import`, ['imported point found', 'upserted point found']);
  const spec = { ...ctx.spec, env: { ...ctx.spec.env, VICINITY_SNAPSHOT_INTERVAL_S: '1', VICINITY_SNAPSHOT_EVERY_CHANGES: '1' } };
  await withSoakServer(spec, ctx.log, async (first, track) => {
    let server: SoakServer = first;
    const random = rng(ctx.seed + 3);
    for (let r = 0; ctx.more(r); r++) {
      const name = `s${r}`;
      const c = server.client;
      await call(c, t, 'create', 'PUT', `/v1/collections/${name}`, { dimension: DIM, metric: 'l2' });
      const imported = points(random, 0, n, DIM);
      // The trickle: one upsert at a time; the last acknowledged vector of each id must survive the kill.
      const acked = new Map<string, number[]>();
      let inFlight: string | null = null;
      let on = true;
      const trickle = loop(
        () => on,
        async (i) => {
          const id = `t${i % TRICKLE_IDS}`;
          const v = vector(random, DIM);
          inFlight = id;
          const answer = await call(c, t, 'upsert (trickle)', 'PUT', `/v1/collections/${name}/points`, { points: [{ id, vector: v }] }, { quietNetwork: true });
          if (answer === null) on = false;
          else if (answer.status === 200 && on) acked.set(id, v);
          if (on) inFlight = null;
          await sleep(3);
        },
      );
      const job = parse<{ job_id: string }>(await call(c, t, 'import upload', 'POST', IMPORT_PATH(name), ndjson(imported), { expect: [202], contentType: NDJSON }));
      let phase = 'unanswered';
      for (; job !== null; await sleep(POLL_MS)) {
        const seen = await getJob(c, job.job_id);
        if (seen === null) continue;
        phase = seen.state === 'running' || seen.state === 'queued' ? (seen.phase ?? seen.state) : seen.state;
        if (phase === 'loading' || (seen.state !== 'running' && seen.state !== 'queued')) break;
      }
      // The window opens when replica 0's snapshot (taken after the commit) lands and closes when the
      // build process's snapshot does: a few delays after `loading` first shows, in turn.
      const delay = KILL_DELAYS_MS[r % KILL_DELAYS_MS.length];
      if (phase === 'loading' && delay > 0) await sleep(delay);
      on = false;
      server = track(await server.restart('SIGKILL'));
      await trickle;
      const when = phase === 'loading' ? `loading + ${delay} ms` : phase;
      t.count(`killed at ${when}`);
      const after = job === null ? null : await getJob(server.client, job.job_id);
      t.count(`job after the restart: ${after?.state ?? 'unanswered'}`);
      if (after?.state === 'done') {
        const lost = await misses(server.client, t, name, imported.map((p) => String(p.id)), imported.map((p) => p.vector));
        t.op('imported point found', n);
        if (lost.length > 0) {
          t.fail('imported point found', 'missing after the restart', `${name}: ${lost.length} of ${n} imported points not found (first id ${imported[lost[0]].id}); killed at ${when}`, lost.length);
          t.count(`rounds with imported points missing, killed at ${when}`);
        }
      }
      if (inFlight !== null) acked.delete(inFlight);
      const ids = [...acked.keys()];
      const lost = await misses(server.client, t, name, ids, ids.map((id) => acked.get(id)!));
      t.op('upserted point found', ids.length);
      if (lost.length > 0) t.fail('upserted point found', 'missing after the restart', `${name}: acknowledged upserts not found: ${lost.map((i) => ids[i]).join(', ')}`, lost.length);
      const info = parse<CollectionInfo>(await call(server.client, t, 'describe', 'GET', `/v1/collections/${name}`));
      if (info !== null && info.count !== info.stats.index.live) {
        t.count('rounds with count ≠ stats.index.live after the restart');
        t.notes.push(`${name}: count ${info.count}, stats.index.live ${info.stats.index.live} after a kill at ${when}`);
      }
      await call(server.client, t, 'drop', 'DELETE', `/v1/collections/${name}`);
      t.rounds++;
      if ((r + 1) % 10 === 0 || !ctx.more(r + 1)) ctx.say(`snapshot-window round ${r + 1}: ${t.result().failures} points missing so far`);
    }
  });
  return [t.result()];
}
