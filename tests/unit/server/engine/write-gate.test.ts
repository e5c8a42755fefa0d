import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WriteGate } from '../../../../server/engine/write-gate.ts';

test('writes wait while the gate is held, and go ahead in order after it opens', async () => {
  const gate = new WriteGate();
  const log: string[] = [];
  let release!: () => void;
  const held = gate.hold(async () => {
    log.push('hold');
    await new Promise<void>((resolve) => (release = resolve));
    log.push('release');
  });
  await sleep(1);
  const writes = [1, 2].map(async (i) => {
    await gate.pass();
    log.push(`write ${i}`);
  });
  await sleep(5);
  assert.deepEqual(log, ['hold']);
  release();
  await Promise.all([held, ...writes]);
  assert.deepEqual(log, ['hold', 'release', 'write 1', 'write 2']);
});

test('the gate opens again when the held work fails', async () => {
  const gate = new WriteGate();
  await assert.rejects(gate.hold(() => Promise.reject(new Error('commit failed'))), /commit failed/);
  await gate.pass();
});
