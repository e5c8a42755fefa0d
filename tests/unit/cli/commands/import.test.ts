import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';

const BIN = fileURLToPath(new URL('../../../../bin/vicinity.mjs', import.meta.url));

interface Seen {
  method: string;
  url: string;
  body: Buffer;
}

/**
 * A stand-in for the server: records every request and answers job polls from `jobs` in turn.
 * `onPoll` runs at each job poll, and when an upload to the collection `stalled` begins.
 */
async function fakeServer(t: TestContext, jobs: Record<string, unknown>[], onPoll?: () => void): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  let polls = 0;
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const server = createServer((req: IncomingMessage, res) => {
    if (req.url!.startsWith('/v1/collections/stalled/')) {
      // Never reads the body nor answers: the upload stalls.
      onPoll?.();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, body });
      if (req.url === '/v1/collections/missing') {
        return send(res, 404, { statusCode: 404, code: 'VDB_ERR_COLLECTION_NOT_FOUND', error: 'Not Found', message: "collection 'missing' does not exist" });
      }
      if (req.url!.startsWith('/v1/collections/') && !req.url!.includes('/import')) {
        return send(res, req.method === 'PUT' ? 201 : 200, { name: 'c', dimension: 8, metric: 'l2', count: 0 });
      }
      if (req.url!.startsWith('/v1/collections/refused/')) {
        return send(res, 400, { statusCode: 400, code: 'VDB_ERR_IMPORT_FORMAT', error: 'Bad Request', message: 'row 299: truncated' });
      }
      if (req.method === 'POST') return send(res, 202, { job_id: 'j1', records: 300, bytes: body.length });
      if (req.method === 'DELETE') return send(res, 200, { ...jobs[0], state: 'cancelled' });
      onPoll?.();
      send(res, 200, jobs[Math.min(polls++, jobs.length - 1)]);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections(); // the stalled upload's socket stays half-open otherwise
    return closed;
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function job(state: string, processed: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'j1', kind: 'import', collection: 'c', state, phase: state === 'running' ? 'indexing' : null, processed, total: 300, rate: 1500,
    eta_s: state === 'running' ? 0.1 : null, created_at: '2025-01-01T00:00:00.000Z', finished_at: null, records: 300, bytes: 9728,
    build_order: 'given', ...extra,
  };
}

/** A 300 × 8 float32 .npy file (its content does not matter to the fake server). */
function npyFile(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-import-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (300, 8), }".padEnd(117, ' ') + '\n';
  const head = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]);
  const file = join(dir, 'v.npy');
  writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.alloc(300 * 8 * 4)]));
  return file;
}

function cli(args: string[], onStart?: (child: ChildProcess) => void): Promise<{ code: number | null; out: string; err: string }> {
  const env = { ...process.env };
  delete env.VICINITY_URL;
  const child = spawn(process.execPath, [BIN, ...args], { cwd: tmpdir(), env });
  onStart?.(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

test('import --create reads the dimension from the header, streams the file and follows the job to done', async (t) => {
  const file = npyFile(t);
  const { url, seen } = await fakeServer(t, [job('running', 100), job('running', 200), job('done', 300, { seconds: 0.2, finished_at: '2025-01-01T00:00:01.000Z' })]);
  const { code, out, err } = await cli(['import', file, '--collection', 'c', '--create', '--id-offset', '10', '--url', url, '--no-progress', '--json']);
  assert.equal(code, 0, err);
  assert.deepEqual(JSON.parse(seen[0].body.toString()), { dimension: 8, metric: 'l2' });
  assert.equal(seen[1].url, '/v1/collections/c/import?format=npy&id_offset=10');
  assert.equal(seen[1].body.length, 128 + 300 * 8 * 4);
  assert.deepEqual(seen.slice(2).map((s) => `${s.method} ${s.url}`), ['GET /v1/jobs/j1', 'GET /v1/jobs/j1', 'GET /v1/jobs/j1']);
  const summary = JSON.parse(out);
  assert.equal(summary.records, 300);
  assert.equal(summary.file_bytes, 128 + 300 * 8 * 4);
  assert.equal(summary.state, 'done');
  assert.equal(summary.job.seconds, 0.2);
  assert.ok(summary.upload_seconds > 0 && summary.upload_seconds <= summary.total_seconds);
  assert.ok(summary.vectors_per_second > 0);
  assert.match(err, /^created collection 'c' \(dimension 8, l2\)\n/m);
  assert.match(err, /^upload: done, 9\.5 KiB in .*, 300 records staged$/m);
  assert.match(err, /^build: 100 \/ 300 records at 1,500\/s, eta 1 s \(indexing\)$/m);
});

test('a failed job exits 1 with its error code and message, after the summary', async (t) => {
  const file = npyFile(t);
  const failed = job('failed', 120, { error: { code: 'VDB_ERR_VECTOR_NOT_FINITE', message: 'row 120: vector[3] is NaN' } });
  const { url } = await fakeServer(t, [failed]);
  const { code, out, err } = await cli(['import', file, '--collection', 'c', '--url', url, '--no-progress']);
  assert.equal(code, 1);
  assert.match(out, /^failed: did not import 300 records into 'c' \(job j1\)$/m);
  assert.match(err, /^error: VDB_ERR_VECTOR_NOT_FINITE: row 120: vector\[3\] is NaN$/m);
});

test('a missing collection exits 1 with the server error before anything is uploaded', async (t) => {
  const file = npyFile(t);
  const { url, seen } = await fakeServer(t, []);
  const { code, out, err } = await cli(['import', file, '--collection', 'missing', '--url', url, '--no-progress']);
  assert.equal(code, 1);
  assert.equal(out, '');
  assert.equal(err, "error: VDB_ERR_COLLECTION_NOT_FOUND: collection 'missing' does not exist\n");
  assert.deepEqual(seen.map((s) => `${s.method} ${s.url}`), ['GET /v1/collections/missing']);
});

test('an upload refused by the server exits 1 with the server error', async (t) => {
  const file = npyFile(t);
  const { url } = await fakeServer(t, []);
  const { code, out, err } = await cli(['import', file, '--collection', 'refused', '--url', url, '--no-progress']);
  assert.equal(code, 1);
  assert.equal(out, '');
  assert.match(err, /^error: VDB_ERR_IMPORT_FORMAT: row 299: truncated$/m);
});

test('Ctrl-C during the build cancels the job and exits 130', async (t) => {
  const file = npyFile(t);
  let child: ChildProcess | undefined;
  const { url, seen } = await fakeServer(t, [job('running', 10)], () => child?.kill('SIGINT'));
  const { code, out, err } = await cli(['import', file, '--collection', 'c', '--url', url, '--no-progress'], (c) => (child = c));
  assert.equal(code, 130, err);
  assert.equal(out, '');
  assert.ok(seen.some((s) => s.method === 'DELETE' && s.url === '/v1/jobs/j1'));
  assert.match(err, /^interrupted: job j1 cancelled$/m);
});

test('Ctrl-C during the upload abandons it and exits 130', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-import-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'big.fvecs');
  const row = Buffer.alloc(4 + 4 * 256);
  row.writeInt32LE(256, 0);
  writeFileSync(file, Buffer.concat(new Array<Buffer>(16_384).fill(row))); // 16 MiB: more than the socket buffers hold
  let child: ChildProcess | undefined;
  const { url, seen } = await fakeServer(t, [], () => child?.kill('SIGINT'));
  const { code, out, err } = await cli(['import', file, '--collection', 'stalled', '--url', url, '--no-progress'], (c) => (child = c));
  assert.equal(code, 130, err);
  assert.equal(out, '');
  assert.deepEqual(seen.map((s) => `${s.method} ${s.url}`), ['GET /v1/collections/stalled']);
  assert.match(err, /^interrupted: the upload was abandoned, nothing was imported$/m);
});
