import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
const WATCH = new URL('../serve-watch.mjs', import.meta.url).href;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * `vicinity serve`: runs `server/main.ts` in a child `node --import tsx`, configured by the same
 * `VICINITY_*` variables. Not an in-process import: tsx's `register()` (how bin/vicinity.mjs loads
 * TypeScript) does not reach worker threads on Node 20, so the search replicas could not load.
 */
export async function runServe(): Promise<number> {
  const env = { ...process.env };
  // The client's own variable: the server refuses VICINITY_* settings it does not know.
  delete env.VICINITY_URL;
  // Its own process group, so a terminal's Ctrl-C reaches the server once (forwarded below), not twice.
  // The IPC channel is only watched: it closes when this process ends, however it ends.
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--import', WATCH, MAIN], {
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  child.channel?.unref();
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  // Forwarded each time: a second Ctrl-C stops the server without waiting for its snapshots.
  for (const signal of SIGNALS) process.on(signal, forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (err) => reject(new Error(`could not start the server: ${err.message}`)));
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
  } finally {
    for (const signal of SIGNALS) process.off(signal, forward);
  }
}
