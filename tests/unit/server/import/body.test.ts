import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { uploadChunks } from '../../../../server/import/body.ts';

async function collect(source: AsyncIterable<Uint8Array>): Promise<string> {
  let text = '';
  for await (const chunk of source) text += Buffer.from(chunk).toString();
  return text;
}

test('chunks arrive in order until the body ends', async () => {
  const stream = new PassThrough();
  const read = collect(uploadChunks(stream, { signal: new AbortController().signal, idleMs: 1000 }));
  stream.write('ab');
  await sleep(5);
  stream.write('cd');
  stream.end('e');
  assert.equal(await read, 'abcde');
});

test('an abort ends a read that waits for more at once, with its reason', async () => {
  const stream = new PassThrough();
  const abort = new AbortController();
  const read = collect(uploadChunks(stream, { signal: abort.signal, idleMs: 60_000 }));
  stream.write('partial');
  await sleep(10);
  const started = Date.now();
  abort.abort(Object.assign(new Error('cancelled'), { code: 'VDB_ERR_JOB_CANCELLED' }));
  await assert.rejects(read, { code: 'VDB_ERR_JOB_CANCELLED' });
  assert.ok(Date.now() - started < 100);
  assert.equal(stream.listenerCount('data'), 0, 'the stream is left to the caller');
});

test('a client that goes quiet fails the read with VDB_ERR_IMPORT_TIMEOUT; one that hangs up with a format error', async () => {
  const quiet = new PassThrough();
  const read = collect(uploadChunks(quiet, { signal: new AbortController().signal, idleMs: 50 }));
  quiet.write('x');
  await assert.rejects(read, { code: 'VDB_ERR_IMPORT_TIMEOUT', statusCode: 408 });

  const gone = new PassThrough();
  const cut = collect(uploadChunks(gone, { signal: new AbortController().signal, idleMs: 1000 }));
  gone.write('x');
  await sleep(5);
  gone.destroy();
  await assert.rejects(cut, { code: 'VDB_ERR_IMPORT_FORMAT', message: /closed before the body was complete/ });
});
