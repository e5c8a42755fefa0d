import { workerData } from 'node:worker_threads';
import { BuildState, type BuildReply, type BuildTask } from './build-state.ts';
import type { ReplicaData } from './protocol.ts';

const state = new BuildState(workerData as ReplicaData);

/** Piscina entry of the build worker: one thread, tasks one at a time. */
export default function run(task: BuildTask): Promise<BuildReply> {
  return state.run(task);
}
