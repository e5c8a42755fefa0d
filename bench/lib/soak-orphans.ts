/**
 * Scenario `orphans`: labels an import reserved must not stay in the index. (a) Two overlapping
 * imports at once into a fresh collection (ids 0–5,999 and 3,000–8,999); (b) upserts of the ids an
 * import is staging and building. After the jobs, and again after a restart (SIGTERM, same data
 * directory), the collection's `count` must equal the index's `stats.index.live` (and the expected
 * number of points); each comparison is one operation, a mismatch a failure.
 */
import type { HttpClient } from './server.ts';
import { call, IMPORT_PATH, loop, NDJSON, ndjson, parse, points, rng, settleJobs, sleep, vector, waitJob, Tally, type CollectionInfo, type ScenarioResult } from './soak-common.ts';
import { withSoakServer, type SoakContext, type SoakServer } from './soak-server.ts';

const DIM = 32;
const CONFIG = { dimension: DIM, metric: 'l2', hnsw: { m: 16, ef_construction: 100 } };
const JOB_TIMEOUT_MS = 600_000;
const UPSERT_PAUSE_MS = 20;

/** Compares count and index live with `expected`: one operation of `kind`, failed on any difference. */
async function compare(c: HttpClient, t: Tally, kind: string, name: string, expected: number): Promise<void> {
  const info = parse<CollectionInfo>(await call(c, t, 'describe', 'GET', `/v1/collections/${name}`));
  if (info === null) return;
  const live = info.stats.index.live ?? NaN;
  t.op(kind);
  if (live !== info.count || info.count !== expected) {
    const what = live !== info.count ? `live ${live > info.count ? '>' : '<'} count` : 'count ≠ expected';
    t.fail(kind, what, `${name}: count ${info.count}, stats.index.live ${live}, expected ${expected} (excess ${live - info.count})`);
    t.count(`${kind}: excess labels (live − count), total`, live - info.count);
  }
}

async function importJob(c: HttpClient, t: Tally, name: string, body: Buffer): Promise<string | null> {
  const job = parse<{ job_id: string }>(await call(c, t, 'import upload', 'POST', IMPORT_PATH(name), body, { expect: [202], contentType: NDJSON }));
  return job?.job_id ?? null;
}

async function jobsDone(c: HttpClient, t: Tally, ids: (string | null)[]): Promise<void> {
  for (const id of ids) {
    if (id === null) continue;
    const job = await waitJob(c, id, 50, JOB_TIMEOUT_MS);
    t.op('import job');
    if (job?.state !== 'done') t.fail('import job', `job ${job?.state ?? 'unanswered'} ${job?.error?.code ?? ''}`.trim(), JSON.stringify(job));
  }
}

export async function orphansScenario(ctx: SoakContext): Promise<ScenarioResult[]> {
  const n = ctx.smoke ? 1000 : 6000;
  const overlap = n / 2;
  const single = ctx.smoke ? 1000 : 5000;
  const two = new Tally('orphans', `two imports ${n} + ${n}, ${overlap} shared ids`, ['after the jobs', 'after a restart']);
  const ups = new Tally('orphans', `upserts into an import of ${single}`, ['after the job', 'after a restart']);
  await withSoakServer(ctx.spec, ctx.log, async (first, track) => {
    let server: SoakServer = first;
    const random = rng(ctx.seed + 1);
    const restart = async () => (server = track(await server.restart('SIGTERM')));
    for (let r = 0; ctx.more(r); r++) {
      // (a) Both uploads start at once; the second import's shared ids already have labels from the first.
      const a = `two${r}`;
      await call(server.client, two, 'create', 'PUT', `/v1/collections/${a}`, CONFIG);
      const bodies = [ndjson(points(random, 0, n, DIM)), ndjson(points(random, overlap, n, DIM))];
      let clock = performance.now();
      const lap = (t: Tally, what: string) => {
        t.count(`${what} s`, (performance.now() - clock) / 1000);
        clock = performance.now();
      };
      const jobs = await Promise.all(bodies.map((body) => importJob(server.client, two, a, body)));
      await jobsDone(server.client, two, jobs);
      lap(two, 'imports');
      await compare(server.client, two, 'after the jobs', a, n + overlap);

      // (b) Upserts of the ids being imported, from the upload's start until the job is done.
      const b = `ups${r}`;
      clock = performance.now();
      await call(server.client, ups, 'create', 'PUT', `/v1/collections/${b}`, CONFIG);
      let on = true;
      const c = server.client;
      const upserts = loop(
        () => on,
        async () => {
          const pts = Array.from({ length: 10 }, () => ({ id: Math.floor(random() * single), vector: vector(random, DIM) }));
          await call(c, ups, 'upsert', 'PUT', `/v1/collections/${b}/points`, { points: pts });
          // Unthrottled (20 points every 2 ms) the replicas' inserts starved the build (nice 19): 160 s for 5,000 points.
          await sleep(UPSERT_PAUSE_MS);
        },
      );
      try {
        await jobsDone(c, ups, [await importJob(c, ups, b, ndjson(points(random, 0, single, DIM)))]);
      } finally {
        on = false;
        await upserts;
      }
      await settleJobs(c, 60_000);
      lap(ups, 'import with upserts');
      await compare(c, ups, 'after the job', b, single);

      // The same comparisons after a clean restart: the index now comes from the snapshot (+ SQLite).
      clock = performance.now();
      await restart();
      lap(two, 'restart');
      await compare(server.client, two, 'after a restart', a, n + overlap);
      await compare(server.client, ups, 'after a restart', b, single);
      for (const [t, name] of [[two, a], [ups, b]] as const) {
        await call(server.client, t, 'drop', 'DELETE', `/v1/collections/${name}`);
        t.rounds++;
      }
      const f = (x: ScenarioResult) => `${x.failures}/${x.operations}`;
      ctx.say(`orphans round ${r + 1}: two imports ${f(two.result())}, upserts ${f(ups.result())} failures/operations so far`);
    }
  });
  return [two.result(), ups.result()];
}
