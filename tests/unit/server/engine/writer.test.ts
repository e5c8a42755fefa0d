import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDatabase } from '../../../../storage/db.ts';
import { Writer } from '../../../../server/engine/writer.ts';

function tempDb(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-writer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'db.sqlite');
  const db = openDatabase({ path, synchronous: 'NORMAL' });
  db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)');
  return { path, db };
}

test('a connection is read-only outside write(): a write that bypasses the lock fails at once', async (t) => {
  const { db } = tempDb(t);
  const writer = new Writer(db);
  assert.throws(() => db.prepare('INSERT INTO t (k, v) VALUES (1, 1)').run(), /readonly|read-only/i);
  await writer.write(() => db.prepare('INSERT INTO t (k, v) VALUES (1, 1)').run());
  assert.equal(db.prepare('SELECT v FROM t WHERE k = 1').pluck().get(), 1);
  assert.throws(() => db.prepare('UPDATE t SET v = 2').run(), /readonly|read-only/i);
  // A failed write rolls back and leaves the connection read-only again.
  await assert.rejects(writer.write(() => {
    db.prepare('UPDATE t SET v = 3').run();
    throw new Error('no');
  }), /no/);
  assert.equal(db.prepare('SELECT v FROM t WHERE k = 1').pluck().get(), 1);
  assert.throws(() => db.prepare('UPDATE t SET v = 2').run(), /readonly|read-only/i);
});

test('writes run one at a time in call order, and each one\'s committed step runs before the next write', async (t) => {
  const { db } = tempDb(t);
  const writer = new Writer(db);
  const log: string[] = [];
  await Promise.all(
    [1, 2, 3].map((i) =>
      writer.write(
        () => {
          log.push(`write ${i}`);
          db.prepare('INSERT INTO t (k, v) VALUES (?, ?)').run(i, i);
        },
        () => log.push(`committed ${i}`),
      ),
    ),
  );
  assert.deepEqual(log, ['write 1', 'committed 1', 'write 2', 'committed 2', 'write 3', 'committed 3']);
});

/**
 * Another thread writing on its own connection, like the build process: 20 transactions of 10,000
 * rows back to back, each under a lease of the main side's lock when `leased` (without it this side's
 * writes wait in SQLite's busy handler: the event loop was measured blocked for 233 ms).
 */
const BORROWER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require('better-sqlite3');
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
let next = 0;
const grants = new Map();
parentPort.on('message', (m) => { if (m.type === 'locked') grants.get(m.id)(); });
const lock = () => new Promise((resolve) => { const id = next++; grants.set(id, resolve); parentPort.postMessage({ type: 'lock', id }); });
(async () => {
  const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
  for (let chunk = 0; chunk < 20; chunk++) {
    const id = next;
    if (workerData.leased) await lock();
    db.transaction(() => { for (let i = 0; i < 10000; i++) insert.run(chunk * 10000 + i, i); }).immediate();
    if (workerData.leased) parentPort.postMessage({ type: 'unlock', id });
    await new Promise((r) => setImmediate(r));
  }
  parentPort.postMessage({ type: 'done' });
})().catch((err) => parentPort.postMessage({ type: 'failed', message: String(err) }));
`;

test('while another connection writes under a lease, this side never waits inside SQLite: no SQLITE_BUSY, no blocked event loop', async (t) => {
  const { db, path } = tempDb(t);
  const writer = new Writer(db);
  const leases = new Map<number, () => void>();
  const worker = new Worker(BORROWER, { eval: true, workerData: { path, leased: true } });
  t.after(() => worker.terminate());
  const borrowerDone = new Promise<void>((resolve, reject) => {
    worker.on('error', reject);
    worker.on('message', (m: { type: string; id: number }) => {
      if (m.type === 'lock') {
        void writer.lease().then((release) => {
          leases.set(m.id, release);
          worker.postMessage({ type: 'locked', id: m.id });
        });
      } else if (m.type === 'unlock') {
        leases.get(m.id)!();
      } else if (m.type === 'done') resolve();
      else reject(new Error(`the borrower failed: ${(m as unknown as { message: string }).message}`));
    });
  });
  // The longest the event loop went without running a 1 ms timer: a write stuck in SQLite's busy handler shows here.
  let last = performance.now();
  let longest = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  let failures = 0;
  let done = 0;
  // Read-then-write transactions: they fail at once with SQLITE_BUSY(_SNAPSHOT) when another connection writes in between.
  for (let i = 0; i < 400 && (i < 200 || done < 200); i++) {
    try {
      await writer.write(() => {
        const n = db.prepare('SELECT count(*) FROM t').pluck().get() as number;
        db.prepare('INSERT INTO t (k, v) VALUES (?, ?)').run(1_000_000 + i, n);
      });
      done++;
    } catch {
      failures++;
    }
    await sleep(1);
  }
  await borrowerDone;
  clearInterval(ticker);
  assert.equal(failures, 0);
  assert.ok(longest < 40, `the event loop was blocked for ${longest.toFixed(1)} ms`);
  assert.equal(db.prepare('SELECT count(*) FROM t WHERE k < 1000000').pluck().get(), 200_000);
});

test('a lease holds this side\'s writes until it is given back', async (t) => {
  const { db } = tempDb(t);
  const writer = new Writer(db);
  const release = await writer.lease();
  let wrote = false;
  const pending = writer.write(() => {
    wrote = true;
  });
  await sleep(20);
  assert.equal(wrote, false);
  release();
  await pending;
  assert.equal(wrote, true);
});

test('pauseLeases waits for the lease lent now, holds new leases back, and lets this connection write meanwhile', async (t) => {
  const { db } = tempDb(t);
  const writer = new Writer(db);
  const events: string[] = [];
  const lent = await writer.lease();
  const pausing = writer.pauseLeases().then((resume) => {
    events.push('paused');
    return resume;
  });
  await sleep(20);
  assert.equal(events.length, 0, 'the pause waits for the lease already lent');
  lent();
  const resume = await pausing;
  const next = writer.lease().then((release) => {
    events.push('leased');
    release();
  });
  await writer.write(() => db.prepare('INSERT INTO t (k, v) VALUES (7, 7)').run());
  events.push('wrote');
  await sleep(20);
  assert.deepEqual(events, ['paused', 'wrote'], 'own writes go on; the new lease waits');
  resume();
  await next;
  assert.deepEqual(events, ['paused', 'wrote', 'leased']);
});
