import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnServer, type Running } from '../helpers/process.ts';
import { randomVectors } from '../helpers/random.ts';
import { waitReady } from '../helpers/server.ts';

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One request on a connection of its own (no keep-alive), so a refused connection is told apart from an answer cut off. */
function send(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(`${url}${path}`, { method, agent: false, headers: { ...(data && { 'content-type': 'application/json' }), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: text, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

const exitOf = (running: Running) => new Promise<number | null>((resolve) => running.child.once('exit', (code) => resolve(code)));

test('SIGTERM under load: answers finish, the listener closes, jobs stop cleanly, nothing acknowledged is lost, exit 0', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vicinity-shutdown-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const server = await spawnServer(dataDir, { VICINITY_REPLICAS: '2' });
  t.after(() => server.child.kill('SIGKILL'));
  await waitReady(server);
  assert.equal((await send(server.url, 'PUT', '/v1/collections/s', { dimension: 16, metric: 'l2' })).status, 201);
  const vectors = randomVectors(3000, 16, 5);
  assert.equal((await send(server.url, 'PUT', '/v1/collections/s/points', { points: vectors.slice(0, 2000).map((vector, i) => ({ id: `pre${i}`, vector })) })).status, 200);

  const acked = new Set<string>();
  /** Upserts whose connection was reset after SIGTERM: the server must not have written them. */
  const reset: string[] = [];
  const statuses = new Map<number, number>();
  const cutOff: string[] = [];
  let refused = 0;
  let signalled = false;
  /**
   * Runs `op` until the server refuses connections. A connection still in the kernel's accept queue
   * when the listener closes is reset without the server ever reading it: after SIGTERM a reset
   * also ends the loop, and a reset write is checked to be absent after the restart. Any other
   * failure is an answer cut off.
   */
  const loop = async (op: (i: number) => Promise<void>, ids?: (i: number) => string[]) => {
    for (let i = 0; ; i++) {
      try {
        await op(i);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ECONNREFUSED' || (code === 'ECONNRESET' && signalled)) {
          refused++;
          if (code === 'ECONNRESET' && ids) reset.push(...ids(i));
          return;
        }
        cutOff.push(`${code ?? ''} ${(err as Error).message}`);
        return;
      }
    }
  };
  const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);
  const idsOf = (w: number) => (i: number) => Array.from({ length: 10 }, (_, j) => `w${w}-${i}-${j}`);
  const writers = [0, 1, 2].map((w) =>
    loop(async (i) => {
      const ids = idsOf(w)(i);
      const res = await send(server.url, 'PUT', '/v1/collections/s/points', { points: ids.map((id, j) => ({ id, vector: vectors[(i * 10 + j) % 3000] })) });
      count(res.status);
      if (res.status === 200) ids.forEach((id) => acked.add(id));
    }, idsOf(w)),
  );
  const searchers = [0, 1, 2].map(() =>
    loop(async (i) => {
      const res = await send(server.url, 'POST', '/v1/collections/s/search', { vector: vectors[i % 3000], k: 10 });
      count(res.status);
      if (res.status === 200) assert.equal((JSON.parse(res.body) as { results: unknown[] }).results.length, 10);
    }),
  );
  const optimize = await send(server.url, 'POST', '/v1/collections/s/optimize', { build_order: 'random' });
  assert.equal(optimize.status, 202);
  await sleep(800);
  const exited = exitOf(server);
  signalled = true;
  server.child.kill('SIGTERM');
  await Promise.all([...writers, ...searchers]);
  assert.equal(await exited, 0, 'a clean exit');
  assert.deepEqual(cutOff, [], 'no answer was cut off');
  assert.equal(refused, 6, 'every loop ended on a refused connection');
  for (const status of statuses.keys()) assert.ok(status === 200 || status === 503, `status ${status}`);
  assert.ok(acked.size > 0);

  const again = await spawnServer(dataDir);
  t.after(() => again.child.kill('SIGKILL'));
  await waitReady(again);
  const stats = JSON.parse((await send(again.url, 'GET', '/v1/collections/s')).body) as { count: number };
  assert.equal(stats.count, 2000 + acked.size, 'every acknowledged point, and nothing refused');
  for (const id of [...acked].slice(-20)) assert.equal((await send(again.url, 'GET', `/v1/collections/s/points/${id}`)).status, 200);
  for (const id of reset) assert.equal((await send(again.url, 'GET', `/v1/collections/s/points/${id}`)).status, 404, `${id}: its connection was reset, so it was never written`);
  const job = JSON.parse((await send(again.url, 'GET', `/v1/jobs/${(JSON.parse(optimize.body) as { id: string }).id}`)).body) as { state: string; error?: { code: string } };
  assert.ok(job.state === 'done' || job.error?.code === 'VDB_ERR_JOB_INTERRUPTED', JSON.stringify(job));
  const exitedAgain = exitOf(again);
  again.child.kill('SIGINT');
  assert.equal(await exitedAgain, 0);
});

test('logs are JSON lines with request ids; keys and vectors never appear in them', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vicinity-logs-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const key = 'k3y-that-must-never-be-logged';
  const server = await spawnServer(dataDir, { VICINITY_LOG_LEVEL: 'debug', VICINITY_API_KEY: key });
  t.after(() => server.child.kill('SIGKILL'));
  let log = '';
  server.child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  await waitReady(server);
  const auth = { authorization: `Bearer ${key}` };
  await send(server.url, 'PUT', '/v1/collections/l', { dimension: 3, metric: 'l2' }, auth);
  const marker = 0.123456789;
  const upsert = await send(server.url, 'PUT', '/v1/collections/l/points', { points: [{ id: 'a', vector: [marker, 1, 2] }] }, { ...auth, 'x-request-id': 'trace-abc' });
  assert.equal(upsert.status, 200);
  assert.equal(upsert.headers['x-request-id'], 'trace-abc', 'the caller\'s request id is echoed');
  const made = await send(server.url, 'POST', '/v1/collections/l/search', { vector: [marker, 1, 2], k: 1 }, auth);
  assert.match(String(made.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'one is made when the caller sends none');
  assert.equal((await send(server.url, 'POST', '/v1/collections/l/search', { vector: [marker, 1], k: 1 }, auth)).status, 422);
  assert.equal((await send(server.url, 'GET', '/v1/collections', undefined, { authorization: `Bearer ${key}-wrong` })).status, 401);
  const exited = exitOf(server);
  server.child.kill('SIGTERM');
  assert.equal(await exited, 0);

  const lines = log.trim().split('\n');
  const entries = lines.map((line) => JSON.parse(line) as { reqId?: string; msg?: string });
  assert.ok(entries.some((e) => e.reqId === 'trace-abc' && e.msg === 'request'), 'the request line carries its id');
  assert.ok(entries.some((e) => e.msg === 'closed'));
  assert.ok(!log.includes(key), 'no key in the log');
  assert.ok(!log.includes('0.123456789') && !log.includes('0.12345679'), 'no vector in the log');
});

test('a keep-alive connection whose request runs when SIGTERM comes does not hold the shutdown open', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vicinity-shutdown-ka-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const server = await spawnServer(dataDir, { VICINITY_SHUTDOWN_TIMEOUT_S: '30' });
  t.after(() => server.child.kill('SIGKILL'));
  await waitReady(server);
  assert.equal((await send(server.url, 'PUT', '/v1/collections/k', { dimension: 2, metric: 'l2' })).status, 201);
  const agent = new Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  // An import whose body takes about a second to arrive, on a keep-alive connection.
  const answered = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
    const req = request(`${server.url}/v1/collections/k/import?format=ndjson`, { method: 'POST', agent, headers: { 'content-type': 'application/x-ndjson' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
    });
    req.on('error', reject);
    let i = 0;
    const timer = setInterval(() => {
      req.write(`{"id":"p${i}","vector":[${i},1]}\n`);
      if (++i === 10) {
        clearInterval(timer);
        req.end();
      }
    }, 100);
  });
  await sleep(300);
  const started = Date.now();
  const exited = exitOf(server);
  server.child.kill('SIGTERM');
  const answer = await answered;
  assert.equal(answer.status, 202, 'the request in flight was answered');
  assert.equal(answer.connection, 'close', 'and its connection ended with it');
  assert.equal(await exited, 0);
  assert.ok(Date.now() - started < 10_000, `exited after ${Date.now() - started} ms, not at VICINITY_SHUTDOWN_TIMEOUT_S`);
});
