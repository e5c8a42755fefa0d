import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { BuildState, type FromBuild, type ToBuild } from './build-state.ts';
import { LockBorrower } from './lent-lock.ts';

const BUILD_NICE = 19;
const REPORT_MS = 200;

/**
 * Entry of the build process. Searches come first: every thread of this process runs at the
 * lowest priority (the nice value is per thread on Linux; threads started later inherit it).
 * A process rather than a worker thread, so the build's heap, GC and allocations stay out of the
 * server's. bench:import --sections latency did not show a clear p99 difference between the two:
 * with either, about half the 10 s build windows stay at 1.1–2.3× idle, the others burst to 5–17×.
 */
for (const tid of readdirSync('/proc/self/task', { withFileTypes: false })) {
  try {
    setPriority(Number(tid), BUILD_NICE);
  } catch {
    // not Linux, or not permitted: normal priority
  }
}

// A send that fails finds the server gone (EPIPE before 'disconnect' arrives): leave as on 'disconnect'.
const send = (message: FromBuild) => process.connected && process.send?.(message, (err: Error | null) => err && process.exit(0));
let state: BuildState | null = null;

// Every write borrows the server's write lock: asked for by id, given back with the same id.
const lock = new LockBorrower<Record<never, never>>(send);
const acquire = () => lock.acquire({});

process.on('message', (message: ToBuild) => {
  switch (message.type) {
    case 'init':
      state = new BuildState(message.data, acquire);
      return;
    case 'locked':
      lock.answered(message.id, true);
      return;
    case 'task':
      void state!.run(message.task).then((reply) => send({ type: 'reply', id: message.id, reply }));
      return;
    case 'control':
      state?.progress.get(message.jobId)?.apply(message.control);
  }
});

setInterval(() => {
  for (const [jobId, progress] of state?.progress ?? []) send({ type: 'progress', jobId, processed: progress.processed, total: progress.total });
}, REPORT_MS).unref();

// The server went away (even by SIGKILL): nothing here is worth keeping.
process.on('disconnect', () => process.exit(0));
