import type { Readable } from 'node:stream';
import { ImportErrors } from './errors.ts';

/** Chunks held before the stream is paused (the parser takes them one at a time). */
const HIGH_WATER_BYTES = 1 << 20;

export interface BodyOptions {
  /** Ends the read at once, with the signal's reason (a cancelled job). */
  signal: AbortSignal;
  /** Fails the read when the client sends nothing for this long (`VDB_ERR_IMPORT_TIMEOUT`). */
  idleMs: number;
}

/**
 * An upload's chunks as they arrive, ending early on a cancel or when the client goes quiet, so a
 * stalled upload can neither hang its job nor hold anything behind it. On an early end the stream is
 * left to the caller (which discards the rest, so the client can still read the answer).
 */
export async function* uploadChunks(stream: Readable, options: BodyOptions): AsyncGenerator<Uint8Array> {
  const { signal, idleMs } = options;
  const chunks: Buffer[] = [];
  let held = 0;
  let ended = false;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    held += chunk.length;
    if (held >= HIGH_WATER_BYTES) stream.pause();
    notify();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  const onError = (err: Error) => {
    failure ??= err;
    notify();
  };
  const onClose = () => {
    if (!ended) failure ??= new ImportErrors.Format('body: the connection closed before the body was complete');
    notify();
  };
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('error', onError);
  stream.on('close', onClose);
  signal.addEventListener('abort', notify);
  try {
    for (;;) {
      signal.throwIfAborted();
      const chunk = chunks.shift();
      if (chunk) {
        held -= chunk.length;
        if (held < HIGH_WATER_BYTES) stream.resume();
        yield chunk;
        continue;
      }
      // Set by the listeners above (TypeScript cannot see that and narrows it to null).
      const failed = failure as Error | null;
      if (failed) throw failed;
      if (ended) return;
      stream.resume();
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(() => {
          failure ??= new ImportErrors.Timeout(`body: nothing arrived for ${idleMs / 1000} s; the upload was dropped (VICINITY_IMPORT_IDLE_TIMEOUT_S)`);
          notify();
        }, idleMs);
      });
      clearTimeout(timer);
    }
  } finally {
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('error', onError);
    stream.off('close', onClose);
    signal.removeEventListener('abort', notify);
  }
}
