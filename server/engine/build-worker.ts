import { setPriority } from 'node:os';
import { workerData } from 'node:worker_threads';
import { BuildState, type BuildReply, type BuildTask } from './build-state.ts';
import type { ReplicaData } from './protocol.ts';

// Searches come first: on Linux the nice value is per thread, so this lowers the build thread
// alone, and a replica or the main thread that wakes up preempts it at once.
const BUILD_NICE = 19;
try {
  setPriority(BUILD_NICE);
} catch {
  // Not permitted here: the build runs at normal priority.
}

const state = new BuildState(workerData as ReplicaData);

/** Piscina entry of the build worker: one thread, tasks one at a time. */
export default function run(task: BuildTask): Promise<BuildReply> {
  return state.run(task);
}
