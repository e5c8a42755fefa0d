/**
 * Scenario `crash`: SIGKILL at a random moment or as a job reaches a phase, while upserts, deletes, links, imports and optimizes
 * run together and snapshots are written every second, then a restart and a check of everything the
 * server acknowledged. One round is one kill. After each restart:
 * - every point holds the last version acknowledged for it, or one of the versions in flight at the
 *   kill (never an older one, never one that was not sent); a point whose delete was acknowledged is gone;
 * - every import is all there or not there at all, and all there when its job was seen `done`;
 *   points deleted by `where` while the kill came may be partly gone (deletes commit in chunks);
 * - every acknowledged link is there with its weight, every acknowledged link delete is gone;
 * - `count` equals `stats.index.live` and the points listed, and each point checked is found by a
 *   search for its own vector (so the index holds the vector SQLite holds), or, where hnswlib's
 *   in-place update left its node unlinked, by an exact search (counted apart: see `missDetail`);
 * - `/readyz` turns 200 (the time it takes is reported).
 * Each point, import and link checked is one operation; a violation is a failure.
 */
import { request as httpRequest } from 'node:http';
import type { HttpClient } from './server.ts';
import { call, getJob, IMPORT_PATH, loop, NDJSON, ndjson, parse, rng, sleep, vector, Tally, type Answer, type CollectionInfo, type ScenarioResult } from './soak-common.ts';
import { withSoakServer, type SoakContext, type SoakServer } from './soak-server.ts';

const DIM = 16;
const NAME = 'crash';
const ANCHORS = 40;
const POOL = 600;
const WRITERS = 2;
const EF = 400;
const TEXT = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor '.repeat(3);

/** What a point may hold after a restart: a version number, or absent (null). */
type Version = number | null;

interface PointModel {
  acked: Version;
  /** Versions sent and not answered when the server died. */
  inFlight: Set<Version>;
}

interface ImportModel {
  n: number;
  records: number;
  jobId: string | null;
  /** Seen `done` before the kill: every record must be there. */
  done: boolean;
  /** A delete by `where` of its points was sent (`acked`: and answered). */
  deleting: 'no' | 'sent' | 'acked';
}

interface LinkModel {
  acked: number | null;
  inFlight: Set<number | null>;
}

interface Listed {
  id: string;
  payload: { v?: number; imp?: number } | null;
  vector: number[];
}

/** Every point of the collection, by scroll (1,000 at a time). */
async function listAll(c: HttpClient, t: Tally): Promise<Map<string, Listed> | null> {
  const out = new Map<string, Listed>();
  let cursor: string | null | undefined;
  do {
    const page = parse<{ points: Listed[]; next_cursor: string | null }>(
      await call(c, t, 'scroll (check)', 'POST', `/v1/collections/${NAME}/points/scroll`, { limit: 1000, with_vector: true, ...(cursor ? { cursor } : {}) }),
    );
    if (page === null) return null;
    for (const p of page.points) out.set(p.id, p);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

class CrashModel {
  readonly points = new Map<string, PointModel>();
  readonly imports: ImportModel[] = [];
  readonly links = new Map<string, LinkModel>();
  version = 0;

  point(id: string): PointModel {
    let p = this.points.get(id);
    if (!p) this.points.set(id, (p = { acked: null, inFlight: new Set() }));
    return p;
  }

  link(key: string): LinkModel {
    let l = this.links.get(key);
    if (!l) this.links.set(key, (l = { acked: null, inFlight: new Set() }));
    return l;
  }
}

/**
 * Where a round's kill lands: at a random moment, or as soon as a job is seen in a phase (polled
 * every 5 ms), or after 8 s if it never is.
 */
const TARGETS = ['random', 'import uploading', 'import building', 'import committing', 'import loading', 'optimize building', 'optimize committing', 'optimize loading'] as const;
type Target = (typeof TARGETS)[number];

/** The load of one round, until `on()` turns false (the kill). Imports pause in rounds aimed at an optimize. */
function load(c: HttpClient, t: Tally, m: CrashModel, random: () => number, on: () => boolean, target: Target, seenPhase: (phase: string) => void): Promise<unknown> {
  const q = { quietNetwork: true, expect: [200, 202, 503] };
  const writer = (w: number) =>
    loop(on, async () => {
      const ids = Array.from({ length: 1 + Math.floor(random() * 20) }, () => `u${w + WRITERS * Math.floor(random() * (POOL / WRITERS))}`);
      const unique = [...new Set(ids)];
      if (random() < 0.2) {
        for (const id of unique) m.point(id).inFlight.add(null);
        const answer = await call(c, t, 'delete', 'POST', `/v1/collections/${NAME}/points/delete`, { ids: unique }, q);
        if (answer?.status === 200) for (const id of unique) Object.assign(m.point(id), { acked: null, inFlight: new Set() });
        return;
      }
      const batch = unique.map((id) => ({ id, vector: vector(random, DIM), payload: { v: ++m.version, text: TEXT } }));
      for (const p of batch) m.point(p.id).inFlight.add(p.payload.v);
      const answer = await call(c, t, 'upsert', 'PUT', `/v1/collections/${NAME}/points`, { points: batch }, q);
      if (answer?.status === 200) for (const p of batch) Object.assign(m.point(p.id), { acked: p.payload.v, inFlight: new Set() });
    });
  const linker = loop(on, async () => {
    const pairs = Array.from({ length: 1 + Math.floor(random() * 8) }, () => [Math.floor(random() * ANCHORS), Math.floor(random() * ANCHORS)]);
    const keys = [...new Set(pairs.map(([a, b]) => `a${a}>a${b}`))];
    if (random() < 0.3) {
      for (const k of keys) m.link(k).inFlight.add(null);
      const links = keys.map((k) => ({ from: k.split('>')[0], to: k.split('>')[1], type: 'next' }));
      const answer = await call(c, t, 'link delete', 'POST', `/v1/collections/${NAME}/links/delete`, { links }, q);
      if (answer?.status === 200) for (const k of keys) Object.assign(m.link(k), { acked: null, inFlight: new Set() });
    } else {
      const weight = (1 + (++m.version % 1000)) / 1000;
      for (const k of keys) m.link(k).inFlight.add(weight);
      const links = keys.map((k) => ({ from: k.split('>')[0], to: k.split('>')[1], type: 'next', weight }));
      const answer = await call(c, t, 'link', 'PUT', `/v1/collections/${NAME}/links`, { links }, q);
      if (answer?.status === 200) for (const k of keys) Object.assign(m.link(k), { acked: weight, inFlight: new Set() });
    }
    await sleep(5);
  });
  const importer = loop(() => on() && !target.startsWith('optimize'), async () => {
    // Delete the points of an import that is done, by `where`, then import more.
    const old = m.imports.find((i) => i.done && i.deleting === 'no');
    if (old && random() < 0.5) {
      old.deleting = 'sent';
      const answer = await call(c, t, 'delete (where)', 'POST', `/v1/collections/${NAME}/points/delete`, { where: { imp: old.n } }, q);
      if (answer?.status === 200) old.deleting = 'acked';
      return;
    }
    const records = 100 + Math.floor(random() * 900);
    const imp: ImportModel = { n: m.imports.length, records, jobId: null, done: false, deleting: 'no' };
    m.imports.push(imp);
    const body = ndjson(Array.from({ length: records }, (_, k) => ({ id: `i${imp.n}-${k}`, vector: vector(random, DIM), payload: { imp: imp.n } })));
    t.op('import');
    const uploaded = await slowUpload(c.port, IMPORT_PATH(NAME), body, () => seenPhase('import uploading'));
    if (uploaded !== null && uploaded.status !== 202) t.fail('import', `${uploaded.status}`, uploaded.body);
    const answer = uploaded?.status === 202 ? (JSON.parse(uploaded.body) as { job_id: string }) : null;
    if (answer === null) return;
    imp.jobId = answer.job_id;
    while (on()) {
      const job = await getJob(c, answer.job_id);
      if (job?.phase) seenPhase(`import ${job.phase}`);
      if (job?.state === 'done') imp.done = on(); // seen done while the server was still meant to be up
      if (job && job.state !== 'queued' && job.state !== 'running') break;
      await sleep(5);
    }
  });
  const optimizer = loop(() => on() && target !== 'random' && !target.startsWith('import'), async () => {
    await sleep(200 + random() * 500);
    if (!on()) return;
    const job = parse<{ id: string }>(await call(c, t, 'optimize', 'POST', `/v1/collections/${NAME}/optimize`, {}, q));
    while (job && on()) {
      const seen = await getJob(c, job.id);
      if (seen?.phase) seenPhase(`optimize ${seen.phase}`);
      if (seen && seen.state !== 'queued' && seen.state !== 'running') break;
      await sleep(5);
    }
  });
  return Promise.all([...Array.from({ length: WRITERS }, (_, w) => writer(w)), linker, importer, optimizer]);
}

/**
 * Streams an import body in 8 pieces 20 ms apart, so kills land in uploads too; `halfway` is called
 * once half of it is sent. Resolves with the answer, or null when the server went away.
 */
function slowUpload(port: number, path: string, body: Buffer, halfway: () => void): Promise<Answer | null> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path, headers: { 'content-type': NDJSON, 'transfer-encoding': 'chunked' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve(null));
    });
    req.on('error', () => resolve(null));
    void (async () => {
      const piece = Math.ceil(body.length / 8);
      for (let at = 0; at < body.length; at += piece) {
        if (req.destroyed) return;
        req.write(body.subarray(at, at + piece));
        if (at + piece >= body.length / 2 && at < body.length / 2) halfway();
        await sleep(20);
      }
      req.end();
    })();
  });
}

/** Checks the restarted server against the model and takes what it holds as the model's truth. */
async function check(c: HttpClient, t: Tally, m: CrashModel, round: number): Promise<void> {
  const listed = await listAll(c, t);
  if (listed === null) return;
  const toSearch: Listed[] = [];
  for (const [id, p] of m.points) {
    t.op('point checked');
    const seen = listed.get(id);
    const version: Version = seen ? (seen.payload?.v ?? -1) : null;
    if (version !== p.acked && !p.inFlight.has(version)) {
      t.fail('point checked', version === null ? 'acknowledged point lost' : p.acked === null ? 'deleted point back' : 'wrong version', `round ${round}: ${id} holds ${version}, acknowledged ${p.acked}, in flight ${[...p.inFlight].join(',')}`);
    }
    p.acked = version;
    p.inFlight.clear();
    if (seen) toSearch.push(seen);
  }
  for (let a = 0; a < ANCHORS; a++) {
    t.op('point checked');
    if (!listed.has(`a${a}`)) t.fail('point checked', 'acknowledged point lost', `round ${round}: anchor a${a} is missing`);
  }
  for (const imp of m.imports) {
    if (imp.deleting === 'acked' && !imp.done) continue;
    let present = 0;
    for (let k = 0; k < imp.records; k++) if (listed.has(`i${imp.n}-${k}`)) present++;
    if (imp.deleting === 'acked') {
      t.op('import checked');
      if (present > 0) t.fail('import checked', 'deleted import back', `round ${round}: import ${imp.n}: ${present} of ${imp.records} points back after their delete was acknowledged`);
      continue;
    }
    if (imp.deleting === 'sent') {
      imp.deleting = present === 0 ? 'acked' : 'no'; // a delete by where cut short: part may be gone
      if (present === 0 || present === imp.records) continue;
      // Delete what is left, so the import's check stays all-or-nothing.
      await call(c, t, 'delete (where, after)', 'POST', `/v1/collections/${NAME}/points/delete`, { where: { imp: imp.n } });
      imp.deleting = 'acked';
      continue;
    }
    t.op('import checked');
    const job = imp.jobId === null ? null : await getJob(c, imp.jobId);
    if (present !== 0 && present !== imp.records) {
      t.fail('import checked', 'half-visible import', `round ${round}: import ${imp.n}: ${present} of ${imp.records} points, job ${job?.state}`);
    } else if (imp.done && present === 0) {
      t.fail('import checked', 'done import lost', `round ${round}: import ${imp.n} was done, 0 of ${imp.records} points`);
    } else if (job?.state === 'done' && present === 0) {
      t.fail('import checked', 'done import lost', `round ${round}: import ${imp.n}'s job says done after the restart, 0 points`);
    } else if (job !== null && job.state !== 'done' && present > 0) {
      t.fail('import checked', 'failed import visible', `round ${round}: import ${imp.n}'s job is ${job.state}, its points are there`);
    }
    imp.done = present === imp.records;
    if (!imp.done) imp.deleting = 'acked'; // nothing of it: never looked at again
  }
  for (let a = 0; a < ANCHORS; a++) {
    const answer = parse<{ links: { to: string; type: string; weight: number }[] }>(
      await call(c, t, 'links (check)', 'GET', `/v1/collections/${NAME}/points/a${a}/links?direction=out&limit=1000`),
    );
    if (answer === null) continue;
    const have = new Map(answer.links.filter((l) => l.type === 'next').map((l) => [`a${a}>${l.to}`, l.weight]));
    for (let b = 0; b < ANCHORS; b++) {
      const key = `a${a}>a${b}`;
      const model = m.links.get(key);
      if (!model) continue;
      t.op('link checked');
      const weight = have.get(key) ?? null;
      if (weight !== model.acked && !model.inFlight.has(weight)) {
        t.fail('link checked', weight === null ? 'acknowledged link lost' : 'wrong link weight', `round ${round}: ${key} has ${weight}, acknowledged ${model.acked}, in flight ${[...model.inFlight].join(',')}`);
      }
      model.acked = weight;
      model.inFlight.clear();
    }
  }
  const info = parse<CollectionInfo>(await call(c, t, 'describe', 'GET', `/v1/collections/${NAME}`));
  if (info !== null) {
    t.op('count checked');
    if (info.count !== info.stats.index.live || info.count !== listed.size) {
      t.fail('count checked', 'count ≠ index ≠ listed', `round ${round}: count ${info.count}, stats.index.live ${info.stats.index.live}, listed ${listed.size}`);
    }
  }
  // Every point of the pool still there is found by its own vector.
  for (let at = 0; at < toSearch.length; at += 200) {
    const chunk = toSearch.slice(at, at + 200);
    const answer = parse<{ results: { id: string; distance: number }[][] }>(
      await call(c, t, 'search (check)', 'POST', `/v1/collections/${NAME}/search/batch`, { searches: chunk.map((p) => ({ vector: p.vector, k: 1, ef: EF, with_payload: false })) }),
    );
    if (answer === null) continue;
    for (const [i, p] of chunk.entries()) {
      t.op('point searchable');
      const hit = answer.results[i][0];
      if (hit?.id === p.id && hit.distance <= 1e-4) continue;
      const miss = await missDetail(c, p);
      if (miss.kind === 'wider') {
        t.count('points found only by a wider search (k 100, ef 4000)');
      } else if (miss.kind === 'unreachable') {
        t.count('points not reached by the graph (found by exact search)');
        t.notes.push(`round ${round}: ${p.id} not reached by a graph search (k 100, ef 4000), found by an exact one at distance 0`);
      } else {
        t.fail('point searchable', 'index disagrees with SQLite', `round ${round}: a search for ${p.id}'s vector found ${hit?.id} at ${hit?.distance}; ${miss.detail}`);
      }
    }
  }
}

/**
 * Why a point was not found by its own vector. hnswlib's in-place update (a point upserted again with
 * a new vector, or re-inserted after a delete) can leave a node that no other node links to
 * (https://github.com/nmslib/hnswlib/issues/522): a wide graph search does not reach it, while an exact search (a filter
 * matching the point alone) finds it at distance 0. That is counted apart, as is a point a wider
 * search (k 100, ef 4000) finds at distance 0 (HNSW is approximate); a point the wide search finds at
 * another distance, or the exact search does not find, is a failure.
 */
async function missDetail(c: HttpClient, p: Listed): Promise<{ kind: 'wider' | 'unreachable' | 'wrong'; detail: string }> {
  const path = `/v1/collections/${NAME}/search`;
  const wide = await c.request('POST', path, JSON.stringify({ vector: p.vector, k: 100, ef: 4000, with_payload: false }));
  const found = wide.status === 200 ? (JSON.parse(wide.body) as { results: { id: string; distance: number }[] }).results.find((h) => h.id === p.id) : undefined;
  const exact = await c.request('POST', path, JSON.stringify({ vector: p.vector, k: 1, where: { v: p.payload?.v ?? -1 }, with_payload: false }));
  const first = exact.status === 200 ? (JSON.parse(exact.body) as { results: { id: string; distance: number }[] }).results[0] : undefined;
  const detail = `k 100 at ef 4000: ${found ? `found at ${found.distance}` : 'not found'}; exact search: ${exact.status} ${exact.body.slice(0, 160)}`;
  if (found !== undefined && found.distance <= 1e-4) return { kind: 'wider', detail };
  return { kind: found === undefined && first?.id === p.id && first.distance <= 1e-4 ? 'unreachable' : 'wrong', detail };
}

export async function crashScenario(ctx: SoakContext): Promise<ScenarioResult[]> {
  const primary = ['point checked', 'import checked', 'link checked', 'count checked', 'point searchable'];
  const t = new Tally('crash', 'SIGKILL at a job phase or at random, into upserts, deletes, links, imports and optimizes', primary);
  // Snapshots every second and every 200 changes, so kills land in them too.
  const spec = { ...ctx.spec, env: { VICINITY_SNAPSHOT_INTERVAL_S: '1', VICINITY_SNAPSHOT_EVERY_CHANGES: '200', ...ctx.spec.env } };
  const readyMs: number[] = [];
  await withSoakServer(spec, ctx.log, async (first, track) => {
    let server: SoakServer = first;
    const random = rng(ctx.seed + 11);
    const m = new CrashModel();
    await call(server.client, t, 'create', 'PUT', `/v1/collections/${NAME}`, { dimension: DIM, metric: 'l2' });
    const anchors = Array.from({ length: ANCHORS }, (_, a) => ({ id: `a${a}`, vector: vector(random, DIM), payload: { anchor: true } }));
    await call(server.client, t, 'anchors', 'PUT', `/v1/collections/${NAME}/points`, { points: anchors });
    for (let r = 0; ctx.more(r); r++) {
      let on = true;
      const target = TARGETS[r % TARGETS.length];
      let hit: () => void = () => undefined;
      const reached = new Promise<void>((resolve) => (hit = resolve));
      let killedAt = 'timeout';
      const running = load(server.client, t, m, random, () => on, target, (phase) => {
        if (phase !== target || !on) return;
        killedAt = phase;
        hit();
      });
      if (target === 'random') {
        await sleep(300 + random() * 2700);
        killedAt = 'random';
      } else {
        await Promise.race([reached, sleep(8000)]);
      }
      on = false;
      t.count(`killed at ${killedAt === 'timeout' ? `8 s (${target} not seen)` : killedAt}`);
      await server.stop('SIGKILL');
      await running;
      const started = performance.now();
      server = track(await server.restart('SIGKILL'));
      readyMs.push(performance.now() - started);
      await check(server.client, t, m, r);
      t.rounds++;
      if ((r + 1) % 10 === 0 || !ctx.more(r + 1)) {
        const res = t.result();
        ctx.say(`crash round ${r + 1}: ${res.operations} checks, ${res.failures} violations, ${m.points.size + ANCHORS} points and ${m.imports.length} imports tracked`);
      }
    }
  });
  readyMs.sort((a, b) => a - b);
  if (readyMs.length > 0) {
    t.counters['restart to /readyz 200, median ms'] = Math.round(readyMs[Math.floor(readyMs.length / 2)]);
    t.counters['restart to /readyz 200, max ms'] = Math.round(readyMs[readyMs.length - 1]);
  }
  return [t.result()];
}
