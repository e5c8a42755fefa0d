import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../../../../storage/db.ts';
import { UploadThread } from '../../../../server/engine/upload.ts';
import { Writer } from '../../../../server/engine/writer.ts';

function setup(t: { after: (fn: () => void | Promise<void>) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-upload-'));
  const dbPath = join(dir, 'vicinity.db');
  const db = openDatabase({ path: dbPath, synchronous: 'NORMAL' });
  const writer = new Writer(db);
  const errors: string[] = [];
  const log = { info: () => undefined, warn: () => undefined, error: (_: object, msg: string) => void errors.push(msg) };
  const thread = new UploadThread({ dbPath, maxLabel: 2 ** 32 - 2 }, writer, log);
  t.after(async () => {
    await thread.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { db, writer, thread, errors };
}

test('work that starts while the lingering thread is being destroyed runs on a new thread: the old thread\'s end fails none of it', async (t) => {
  const { writer, thread } = setup(t);
  await thread.purge('warm'); // the thread is up
  // The linger timer's close, then a purge before the old thread is gone: it starts a new thread.
  const [closed, purged] = await Promise.allSettled([thread.close(), thread.purge('after-close')]);
  assert.equal(closed.status, 'fulfilled');
  assert.deepEqual(purged, { status: 'fulfilled', value: undefined });
  // The write lock is free again (not released early or twice): a write goes through at once.
  await writer.write(() => undefined);
});
