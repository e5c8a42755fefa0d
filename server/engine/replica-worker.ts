import { workerData } from 'node:worker_threads';
import type { ReplicaData, ReplicaTask } from './protocol.ts';
import { ReplicaState } from './replica-state.ts';

const data = workerData as ReplicaData;
const state = new ReplicaState(data);
/** Seconds this replica had a task in hand, added up over its workers (the buffer outlives them). */
const busy = data.busy ? new Float64Array(data.busy) : null;
let inHand = 0;
let since = 0;

/** Worker entry of one replica (a piscina pool of one thread): decode, call the index, return. */
export default async function run(task: ReplicaTask): Promise<unknown> {
  if (inHand++ === 0) since = performance.now();
  try {
    return await state.run(task);
  } finally {
    if (--inHand === 0 && busy) busy[0] += (performance.now() - since) / 1000;
  }
}
