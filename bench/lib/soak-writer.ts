/**
 * Scenario `writer`: the build process is a second SQLite writer. While an import that fits float8 +
 * PCA builds (and, in a second variant, while a `lid_desc` optimize of a float32 collection runs),
 * deletes by id, deletes by `where`, small upserts and import uploads into another collection run
 * continuously; every answer other than the expected one is counted by status and code.
 */
import type { HttpClient } from './server.ts';
import { call, IMPORT_PATH, loop, NDJSON, ndjson, parse, points, rng, settleJobs, sleep, vector, waitJob, Tally, type Job, type ScenarioResult } from './soak-common.ts';
import { withSoakServer, type SoakContext } from './soak-server.ts';

const DIM = 64;
const JOB_TIMEOUT_MS = 900_000;
/**
 * Between two requests of one writer. Unthrottled, the writers keep both cores busy at nice 0 and
 * the build process (nice 19) barely runs: a 3,000-point import took 18 s (1.4 s idle), an optimize
 * of 3,000 points 108 s (1.5 s idle). Deletes are cheap; an upsert costs an HNSW insert per replica,
 * and a delete by `where` scans the collection's live rows in SQLite (json in SQL, no index).
 */
const PAUSE_MS = 3;
const UPSERT_PAUSE_MS = 40;
const WHERE_PAUSE_MS = 50;
const SIDE_PAUSE_MS = 250;

interface Target {
  name: string;
  /** Ids that exist (or existed) in the collection, for deletes by id and re-upserts. */
  pool: (string | number)[];
}

let group = 0;

/** The concurrent writers, each a loop of one request at a time, until `running()` is false. */
function writers(c: HttpClient, t: Tally, target: Target, side: Buffer, running: () => boolean, random: () => number): Promise<void>[] {
  const base = `/v1/collections/${target.name}`;
  const pick = (n: number) => Array.from({ length: n }, () => target.pool[Math.floor(random() * target.pool.length)]);
  return [
    loop(running, async () => {
      await call(c, t, 'delete ids', 'POST', `${base}/points/delete`, { ids: pick(3) });
      await sleep(PAUSE_MS);
    }),
    loop(running, async () => {
      // A fresh g each time on a few reused ids: deleted ids come back, so tombstones do not pile up.
      const g = 1_000_000 + group++;
      const pts = Array.from({ length: 5 }, (_, j) => ({ id: `g${g % 16}-${j}`, vector: vector(random, DIM), payload: { g } }));
      const up = await call(c, t, 'upsert (where group)', 'PUT', `${base}/points`, { points: pts });
      if (up === null || up.status !== 200) {
        await sleep(WHERE_PAUSE_MS);
        return;
      }
      const del = parse<{ deleted: number }>(await call(c, t, 'delete where', 'POST', `${base}/points/delete`, { where: { g } }));
      if (del !== null && del.deleted !== 5) t.fail('delete where', 'wrong deleted count', `where {g: ${g}} deleted ${del.deleted} of the 5 points just upserted`);
      await sleep(WHERE_PAUSE_MS);
    }),
    loop(running, async () => {
      const pts = pick(8).map((id) => ({ id, vector: vector(random, DIM), payload: { g: -1 } }));
      await call(c, t, 'upsert', 'PUT', `${base}/points`, { points: pts });
      await sleep(UPSERT_PAUSE_MS);
    }),
    loop(running, async () => {
      const job = parse<{ job_id: string }>(await call(c, t, 'import upload (2nd collection)', 'POST', IMPORT_PATH('side'), side, { expect: [202], contentType: NDJSON }));
      // Cancelled at once (it would only queue behind the build); 409 once it has committed.
      if (job === null) {
        await sleep(SIDE_PAUSE_MS);
        return;
      }
      const cancelled = parse<Job>(await call(c, t, 'job cancel (2nd collection)', 'DELETE', `/v1/jobs/${job.job_id}`, undefined, { expect: [200, 409] }));
      // The job answered by the cancel: cancelled, or done when it committed first; failed is a failure.
      t.op('import job (2nd collection)');
      if (cancelled?.state === 'failed') t.fail('import job (2nd collection)', `job failed ${cancelled.error?.code ?? ''}`.trim(), JSON.stringify(cancelled));
      await sleep(SIDE_PAUSE_MS);
    }),
  ];
}

/** Runs `driver` (an import or optimize, to its end) with the writers going; then waits for leftover jobs. */
async function race(c: HttpClient, t: Tally, target: Target, side: Buffer, random: () => number, driver: () => Promise<void>): Promise<void> {
  let on = true;
  const loops = writers(c, t, target, side, () => on, random);
  try {
    await driver();
  } finally {
    on = false;
    await Promise.all(loops);
  }
  if (!(await settleJobs(c, 120_000))) t.fail('jobs', 'not settled', 'jobs still queued or running 120 s after the round');
}

/** Counts a job that did not end `done` as a failure of `kind`. */
function checkJob(t: Tally, kind: string, job: Job | null): void {
  t.op(kind);
  const phases = (job as { phase_seconds?: Record<string, number> } | null)?.phase_seconds ?? {};
  for (const [phase, seconds] of Object.entries(phases)) t.count(`${kind} ${phase} s`, seconds);
  if (job?.state !== 'done') t.fail(kind, `job ${job?.state ?? 'unanswered'} ${job?.error?.code ?? ''}`.trim(), JSON.stringify(job));
}

export async function writerScenario(ctx: SoakContext): Promise<ScenarioResult[]> {
  const sizes = ctx.smoke ? { imported: 2000, pre: 300, optimized: 2000, side: 200 } : { imported: 12_000, pre: 800, optimized: 20_000, side: 1000 };
  const imp = new Tally('writer', `import ${sizes.imported} (float8+PCA fit)`);
  const opt = new Tally('writer', `optimize lid_desc ${sizes.optimized} f32`);
  const setup = new Tally('writer', 'setup');
  await withSoakServer(ctx.spec, ctx.log, async (server) => {
    const c = server.client;
    const random = rng(ctx.seed);
    await call(c, setup, 'create', 'PUT', '/v1/collections/side', { dimension: DIM, metric: 'l2' });
    const side = ndjson(points(random, 0, sizes.side, DIM));
    // The optimize target: float32, filled by one import.
    await call(c, setup, 'create', 'PUT', '/v1/collections/opt', { dimension: DIM, metric: 'l2' });
    const filled = parse<{ job_id: string }>(
      await call(c, setup, 'import', 'POST', IMPORT_PATH('opt'), ndjson(points(random, 0, sizes.optimized, DIM, (i) => ({ g: i % 10 }))), { expect: [202], contentType: NDJSON }),
    );
    if (filled === null) throw new Error(`writer: the optimize collection's import failed: ${JSON.stringify(setup.result().examples)}`);
    checkJob(setup, 'import job', await waitJob(c, filled.job_id, 100, JOB_TIMEOUT_MS));
    const optTarget: Target = { name: 'opt', pool: Array.from({ length: sizes.optimized }, (_, i) => i) };

    for (let r = 0; ctx.more(r); r++) {
      // 1. A fresh float8 + PCA collection: its first import fits both in the build process.
      const name = `w${r}`;
      await call(c, imp, 'create', 'PUT', `/v1/collections/${name}`, { dimension: DIM, metric: 'l2', storage: { codec: 'float8_e4m3', pca_dimension: 32 } });
      const pool = Array.from({ length: sizes.pre }, (_, i) => `p${i}`);
      for (let i = 0; i < pool.length; i += 100) {
        const pts = pool.slice(i, i + 100).map((id) => ({ id, vector: vector(random, DIM), payload: { g: -1 } }));
        await call(c, imp, 'upsert', 'PUT', `/v1/collections/${name}/points`, { points: pts });
      }
      const body = ndjson(points(random, 0, sizes.imported, DIM, (i) => ({ g: i % 10 })));
      let seconds = performance.now();
      await race(c, imp, { name, pool }, side, random, async () => {
        const job = parse<{ job_id: string }>(await call(c, imp, 'import upload', 'POST', IMPORT_PATH(name), body, { expect: [202], contentType: NDJSON }));
        if (job !== null) checkJob(imp, 'import job', await waitJob(c, job.job_id, 50, JOB_TIMEOUT_MS));
      });
      imp.count('race seconds', Math.round((performance.now() - seconds) / 100) / 10);
      imp.rounds++;
      await call(c, imp, 'drop', 'DELETE', `/v1/collections/${name}`);

      // 2. An optimize in LID order of the float32 collection: k-NN pass, knn table, tombstone purge.
      seconds = performance.now();
      await race(c, opt, optTarget, side, random, async () => {
        const job = parse<Job>(await call(c, opt, 'optimize', 'POST', '/v1/collections/opt/optimize', { build_order: 'lid_desc' }, { expect: [202] }));
        if (job !== null) checkJob(opt, 'optimize job', await waitJob(c, job.id, 50, JOB_TIMEOUT_MS));
      });
      opt.count('race seconds', Math.round((performance.now() - seconds) / 100) / 10);
      opt.rounds++;
      const f = (x: ScenarioResult) => `${x.failures}/${x.operations}`;
      ctx.say(`writer round ${r + 1}: import ${f(imp.result())}, optimize ${f(opt.result())} failures/operations so far`);
    }
  });
  const results = [imp.result(), opt.result()];
  const s = setup.result();
  if (s.failures > 0) results.push(s);
  return results;
}
