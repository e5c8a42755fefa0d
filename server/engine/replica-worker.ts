import { workerData } from 'node:worker_threads';
import type { ReplicaData, ReplicaTask } from './protocol.ts';
import { ReplicaState } from './replica-state.ts';

const state = new ReplicaState(workerData as ReplicaData);

/** Worker entry of one replica (a piscina pool of one thread): decode, call the index, return. */
export default function run(task: ReplicaTask): Promise<unknown> {
  return state.run(task);
}
