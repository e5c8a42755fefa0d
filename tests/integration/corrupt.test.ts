import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

function start(dataDir: string): Promise<{ code: number | null; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, VICINITY_PORT: '0', VICINITY_DATA_DIR: dataDir, VICINITY_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(timer);
    resolve({ code, err });
  }));
}

test('a data directory whose SQLite file is not a database stops the start, naming the file and what to do, and changes nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-corrupt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'vicinity.db');
  writeFileSync(file, 'this is not a database, but someone’s precious file'.repeat(100));
  const before = readFileSync(file);
  const { code, err } = await start(dir);
  assert.equal(code, 1);
  assert.match(err, new RegExp(`vicinity: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a usable SQLite database .*restore it .* from a backup, or move them aside`));
  assert.deepEqual(readFileSync(file), before, 'the file is left as it was');
});
