import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { kill, spawnServer } from '../helpers/process.ts';
import { prng } from '../helpers/random.ts';
import { call, finished, startServer, waitReady, type TestServer } from '../helpers/server.ts';

const DIM = 4;
type Link = { from: string; to: string; type: string; weight: number };

async function collection(server: { url: string }, name: string, ids: string[]): Promise<void> {
  assert.equal((await call(server, 'PUT', `/v1/collections/${name}`, { dimension: DIM, metric: 'l2' })).status, 201);
  const random = prng(ids.length);
  const points = ids.map((id, i) => ({ id, vector: Array.from({ length: DIM }, () => random()), payload: { doc: `d${i % 3}` } }));
  assert.equal((await call(server, 'PUT', `/v1/collections/${name}/points`, { points })).status, 200);
}

/** Every link of a point in one direction, page by page. */
async function allLinks(server: { url: string }, name: string, id: string, query = '', limit = 2): Promise<Link[]> {
  const links: Link[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const q = `?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`;
    const res = await call(server, 'GET', `/v1/collections/${name}/points/${encodeURIComponent(id)}/links${q}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    links.push(...(res.body.links as Link[]));
    assert.ok(res.body.links.length <= limit);
    cursor = res.body.next_cursor as string | null;
    if (cursor === null) return links;
  }
  throw new Error('no end');
}

const key = (l: Link): string => `${l.from}>${l.to}:${l.type}@${l.weight}`;
const sorted = (ls: Link[]): string[] => ls.map(key).sort();

test('links are put, replaced, listed in pages by direction and type, and deleted', async (t) => {
  const server = await startServer(t);
  const ids = ['a', 'b', 'c', 'd', 'e', '7'];
  await collection(server, 'c', ids);
  const put = await call(server, 'PUT', '/v1/collections/c/links', {
    links: [
      { from: 'a', to: 'b', type: 'next' },
      { from: 'a', to: 'c' },
      { from: 'a', to: 'd', type: 'cites', weight: 0.25 },
      { from: 'b', to: 'c', type: 'next', both: true },
      { from: 'a', to: 7, type: 'cites', weight: 0.5 },
    ],
  });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.deepEqual(put.body, { linked: 6 });
  // The same (from, to, type) again replaces its weight.
  assert.equal((await call(server, 'PUT', '/v1/collections/c/links', { links: [{ from: 'a', to: 'c', weight: 0.75 }] })).body.linked, 1);

  const out = await allLinks(server, 'c', 'a');
  assert.deepEqual(sorted(out), sorted([
    { from: 'a', to: 'b', type: 'next', weight: 1 },
    { from: 'a', to: 'c', type: 'related', weight: 0.75 },
    { from: 'a', to: 'd', type: 'cites', weight: 0.25 },
    { from: 'a', to: '7', type: 'cites', weight: 0.5 },
  ]));
  assert.deepEqual(sorted(await allLinks(server, 'c', 'a', '&type=cites')), ['a>7:cites@0.5', 'a>d:cites@0.25']);
  assert.deepEqual(sorted(await allLinks(server, 'c', 'c', '&direction=in')), ['a>c:related@0.75', 'b>c:next@1']);
  assert.deepEqual(sorted(await allLinks(server, 'c', 'b', '&direction=both', 1)), ['a>b:next@1', 'b>c:next@1', 'c>b:next@1']);
  assert.deepEqual(sorted(await allLinks(server, 'c', 'b', '&direction=both', 3)), ['a>b:next@1', 'b>c:next@1', 'c>b:next@1']);
  assert.deepEqual(await allLinks(server, 'c', 'e', '&direction=both'), []);

  const stats = (await call(server, 'GET', '/v1/collections/c')).body.stats.links;
  assert.deepEqual(stats, { total: 6, by_type: { cites: 2, next: 3, related: 1 } });
  // An optimize (a rebuild of the index) keeps them.
  const job = await call(server, 'POST', '/v1/collections/c/optimize', { build_order: 'lid_desc' });
  assert.equal((await finished(server, job.body.id as string)).state, 'done');
  assert.deepEqual(sorted(await allLinks(server, 'c', 'a')), sorted(out));

  // Delete one typed link, every type between two points, then everything touching a point.
  assert.deepEqual((await call(server, 'POST', '/v1/collections/c/links/delete', { links: [{ from: 'a', to: 'd', type: 'next' }] })).body, { deleted: 0 });
  assert.deepEqual((await call(server, 'POST', '/v1/collections/c/links/delete', { links: [{ from: 'a', to: 'd', type: 'cites' }, { from: 'a', to: 'zz' }] })).body, { deleted: 1 });
  assert.deepEqual((await call(server, 'POST', '/v1/collections/c/links/delete', { links: [{ from: 'c', to: 'b' }] })).body, { deleted: 1 });
  assert.deepEqual((await call(server, 'POST', '/v1/collections/c/links/delete', { ids: ['b', 'nope'] })).body, { deleted: 2 });
  assert.deepEqual(sorted(await allLinks(server, 'c', 'a', '&direction=both')), ['a>7:cites@0.5', 'a>c:related@0.75']);
});

test('a link to a missing point fails the whole request, naming it; bad links and limits are refused with codes', async (t) => {
  const server = await startServer(t, { maxLinksPerPoint: 3, maxLinksPerRequest: 5 });
  await collection(server, 'c', ['a', 'b', 'c', 'd', 'e', 'f']);
  const missing = await call(server, 'PUT', '/v1/collections/c/links', { links: [{ from: 'a', to: 'b' }, { from: 'a', to: 'ghost' }] });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.code, 'VDB_ERR_POINT_NOT_FOUND');
  assert.match(missing.body.message, /'ghost'/);
  assert.deepEqual(await allLinks(server, 'c', 'a'), [], 'nothing of the request was written');

  const bad: [object, string][] = [
    [{ links: [{ from: 'a', to: 'b', type: 'Next' }] }, 'type'],
    [{ links: [{ from: 'a', to: 'b', type: '' }] }, 'type'],
    [{ links: [{ from: 'a', to: 'b', weight: 0 }] }, 'weight'],
    [{ links: [{ from: 'a', to: 'b', weight: 1.5 }] }, 'weight'],
    [{ links: [{ from: 'a' }] }, 'to'],
    [{ links: [{ from: 'a', to: 'b', extra: 1 }] }, 'extra'],
  ];
  for (const [body, mention] of bad) {
    const res = await call(server, 'PUT', '/v1/collections/c/links', body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.body.code, 'VDB_ERR_REQUEST_INVALID');
    assert.match(res.body.message, new RegExp(mention));
  }
  const both = await call(server, 'POST', '/v1/collections/c/links/delete', { ids: ['a'], links: [] });
  assert.equal(both.body.code, 'VDB_ERR_REQUEST_INVALID');
  assert.equal((await call(server, 'GET', '/v1/collections/c/points/a/links?direction=up')).body.code, 'VDB_ERR_REQUEST_INVALID');
  assert.equal((await call(server, 'GET', '/v1/collections/c/points/a/links?cursor=junk')).body.code, 'VDB_ERR_CURSOR_INVALID');
  assert.equal((await call(server, 'GET', '/v1/collections/c/points/ghost/links')).status, 404);
  assert.equal((await call(server, 'PUT', '/v1/collections/nope/links', { links: [] })).status, 404);

  const tooMany = await call(server, 'PUT', '/v1/collections/c/links', { links: ['b', 'c', 'd'].map((to) => ({ from: 'a', to, both: true })) });
  assert.equal(tooMany.status, 422);
  assert.equal(tooMany.body.code, 'VDB_ERR_LINK_LIMIT');
  assert.match(tooMany.body.message, /VICINITY_MAX_LINKS_PER_REQUEST/);
  assert.equal((await call(server, 'PUT', '/v1/collections/c/links', { links: ['b', 'c', 'd'].map((to) => ({ from: 'a', to })) })).status, 200);
  const fourth = await call(server, 'PUT', '/v1/collections/c/links', { links: [{ from: 'b', to: 'c' }, { from: 'a', to: 'e' }] });
  assert.equal(fourth.status, 422);
  assert.match(fourth.body.message, /point 'a' would have 4 outgoing links/);
  assert.equal((await allLinks(server, 'c', 'b')).length, 0, 'the request rolled back as a whole');
  const incoming = await call(server, 'PUT', '/v1/collections/c/links', { links: ['b', 'c', 'd', 'f'].map((from) => ({ from, to: 'e' })) });
  assert.equal(incoming.status, 422);
  assert.match(incoming.body.message, /point 'e' would have 4 incoming links/);
});

test('deleting a point deletes its links in the same write; dropping a collection drops them', async (t) => {
  const server = await startServer(t);
  await collection(server, 'c', ['a', 'b', 'c', 'd']);
  await call(server, 'PUT', '/v1/collections/c/links', { links: [{ from: 'a', to: 'b', both: true }, { from: 'c', to: 'b' }, { from: 'c', to: 'd' }] });
  assert.equal((await call(server, 'POST', '/v1/collections/c/points/delete', { ids: ['b'] })).body.deleted, 1);
  assert.deepEqual(sorted(await allLinks(server, 'c', 'c', '&direction=both')), ['c>d:related@1']);
  assert.deepEqual(await allLinks(server, 'c', 'a', '&direction=both'), []);
  // The id comes back as a new point: its old links do not.
  await call(server, 'PUT', '/v1/collections/c/points', { points: [{ id: 'b', vector: [0, 0, 0, 0] }] });
  assert.deepEqual(await allLinks(server, 'c', 'b', '&direction=both'), []);
  // Delete by where: payload doc d0 holds 'a' and 'd'.
  assert.equal((await call(server, 'POST', '/v1/collections/c/points/delete', { where: { doc: 'd0' } })).body.deleted, 2);
  assert.deepEqual(await allLinks(server, 'c', 'c', '&direction=both'), []);
  assert.equal((await call(server, 'GET', '/v1/collections/c')).body.stats.links.total, 0);

  await call(server, 'PUT', '/v1/collections/c/links', { links: [{ from: 'b', to: 'c', both: true }] });
  assert.equal((await call(server, 'DELETE', '/v1/collections/c')).status, 200);
  await collection(server, 'c', ['b', 'c']);
  assert.deepEqual(await allLinks(server, 'c', 'b', '&direction=both'), [], 'a new collection of the same name starts without links');
});

test('acknowledged links survive a restart and SIGKILL; deleted ones stay deleted', { timeout: 120_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vicinity-links-crash-'));
  let running = await spawnServer(dataDir);
  t.after(() => {
    running.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  await waitReady(running);
  const ids = Array.from({ length: 40 }, (_, i) => `p${i}`);
  await collection(running, 'c', ids);
  const random = prng(5);
  const acked = new Map<string, Link>();
  const gone = new Set<string>();
  const pick = (): string => ids[Math.floor(random() * ids.length)];
  for (let round = 0; round < 3; round++) {
    let stop = false;
    const uncertain = new Set<string>();
    const writer = (async () => {
      while (!stop) {
        if (acked.size > 10 && random() < 0.3) {
          const victim = [...acked.values()][Math.floor(random() * acked.size)];
          uncertain.add(`${victim.from}>${victim.to}`);
          const res = await call(running, 'POST', '/v1/collections/c/links/delete', { links: [{ from: victim.from, to: victim.to, type: victim.type }] }).catch(() => null);
          if (res?.status !== 200) break;
          acked.delete(`${victim.from}>${victim.to}`);
          gone.add(`${victim.from}>${victim.to}`);
          uncertain.delete(`${victim.from}>${victim.to}`);
          continue;
        }
        const batch = Array.from({ length: 1 + Math.floor(random() * 5) }, () => ({ from: pick(), to: pick(), type: 'next', weight: Math.ceil(random() * 100) / 100 }));
        batch.forEach((l) => uncertain.add(`${l.from}>${l.to}`));
        const res = await call(running, 'PUT', '/v1/collections/c/links', { links: batch }).catch(() => null);
        if (res?.status !== 200) break;
        for (const l of batch) {
          acked.set(`${l.from}>${l.to}`, l);
          gone.delete(`${l.from}>${l.to}`);
          uncertain.delete(`${l.from}>${l.to}`);
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 200 + random() * 600));
    await kill(running);
    stop = true;
    await writer;
    running = await spawnServer(dataDir);
    await waitReady(running);
    const found = new Map<string, Link>();
    for (const id of ids) for (const l of await allLinks(running, 'c', id, '', 1000)) found.set(`${l.from}>${l.to}`, l);
    for (const [k, l] of acked) if (!uncertain.has(k)) assert.deepEqual(found.get(k), l, `acknowledged link ${k} after kill ${round}`);
    for (const k of gone) if (!uncertain.has(k)) assert.ok(!found.has(k), `deleted link ${k} is back after kill ${round}`);
    for (const k of found.keys()) assert.ok(acked.has(k) || uncertain.has(k), `link ${k} was never acknowledged`);
    // Requests cut off by the kill may or may not have committed: take what the server has.
    for (const k of uncertain) {
      if (found.has(k)) acked.set(k, found.get(k)!);
      else acked.delete(k);
    }
    assert.equal((await call(running, 'GET', '/v1/collections/c')).body.stats.links.total, acked.size);
  }
});

test('links and searches: a link request on a dropped-and-recreated collection name goes to the new one only', async (t) => {
  const server: TestServer = await startServer(t);
  await collection(server, 'c', ['a', 'b']);
  await call(server, 'DELETE', '/v1/collections/c');
  await collection(server, 'c', ['a']);
  const res = await call(server, 'PUT', '/v1/collections/c/links', { links: [{ from: 'a', to: 'b' }] });
  assert.equal(res.status, 404, 'b belonged to the dropped collection');
});

test('imports carry links, committed with their records; a link to an unknown id fails the import, naming the record', async (t) => {
  const server = await startServer(t);
  await collection(server, 'c', ['old']);
  const post = (format: string, body: string | Uint8Array) =>
    call(server, 'POST', `/v1/collections/c/import?format=${format}`, body, { 'content-type': 'application/octet-stream' });
  const ndjson = [
    { id: 'n0', vector: [1, 0, 0, 0], links: [{ to: 'n1', type: 'next' }, { to: 'old', weight: 0.5 }] },
    { id: 'n1', vector: [0, 1, 0, 0], links: [{ to: 'n0', type: 'next' }] },
    { id: 'n2', vector: [0, 0, 1, 0] },
  ].map((r) => JSON.stringify(r)).join('\n');
  const ok = await post('ndjson', ndjson);
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  assert.equal((await finished(server, ok.body.job_id as string)).state, 'done');
  assert.deepEqual(sorted(await allLinks(server, 'c', 'n0', '&direction=both')), ['n0>n1:next@1', 'n0>old:related@0.5', 'n1>n0:next@1']);

  const { Packr } = await import('msgpackr');
  const packr = new Packr({ useRecords: false });
  const msgpack = Buffer.concat([
    packr.pack({ id: 'm0', vector: [0, 0, 0, 1], links: [{ to: 'n2', type: 'cites' }] }),
    packr.pack({ id: 'm1', vector: [1, 1, 0, 0], links: [{ to: 'ghost' }] }),
  ]);
  const failing = await post('msgpack', msgpack);
  assert.equal(failing.status, 202);
  const job = await finished(server, failing.body.job_id as string);
  assert.equal(job.state, 'failed');
  const error = job.error as { code: string; message: string };
  assert.equal(error.code, 'VDB_ERR_IMPORT_LINK');
  assert.match(error.message, /record 1 \(id 'm1'\) links to 'ghost'/);
  assert.equal((await call(server, 'GET', '/v1/collections/c/points/m0')).status, 404, 'nothing of a failed import is visible');
  assert.deepEqual(await allLinks(server, 'c', 'n2', '&direction=in'), []);

  for (const [links, mention] of [['x', 'links must be an array'], [[{ to: 'n0', type: 'Bad' }], 'type'], [[{ to: 'n0', weight: 2 }], 'weight'], [[{ weight: 1 }], 'to is missing']] as const) {
    const bad = await post('ndjson', JSON.stringify({ id: 'z', vector: [0, 0, 0, 1], links }));
    assert.equal(bad.status, 400, JSON.stringify(links));
    assert.equal(bad.body.code, 'VDB_ERR_IMPORT_FORMAT');
    assert.match(bad.body.message, new RegExp(`line 1: .*${mention}`));
  }
});
