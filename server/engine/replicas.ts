import { Piscina } from 'piscina';
import { ServerErrors } from '../errors.ts';
import type { Logger } from './logger.ts';
import type { ApplyTask, ReplicaData, ReplicaTask } from './protocol.ts';

const WORKER = new URL('./replica-worker.ts', import.meta.url).href;

/** One replica: a piscina pool of exactly one thread, so tasks run one at a time in the order sent. */
class Replica {
  readonly id: number;
  readonly #pool: Piscina<ReplicaTask, unknown>;
  /** Tasks sent and not yet settled: writes and reads alike. */
  pending = 0;
  /** Reads among them: the queue the overload limit applies to. */
  reads = 0;
  /** Points sent in writes the worker has not queued yet (or held in the outbox). */
  #sending = 0;
  /**
   * Writes committed while one message of writes is on its way: sent together once it has arrived
   * (or before any other task), so a burst of small commits costs a few messages, not one each, and
   * a search sent after them does not queue behind thousands.
   */
  #outbox: ApplyTask[] = [];
  #outboxSent: Promise<unknown> | null = null;
  #outboxSettle: ((err: Error | null) => void) | null = null;
  #writesInFlight = 0;
  /** Loading a new index: reads go elsewhere while another replica can take them. */
  loading = false;
  /** Workers started after the first (one died or was ended after a failed write). */
  restarts = 0;
  readonly #busy = new SharedArrayBuffer(8);
  /** Points the worker queued and its index does not have yet (it keeps the count). */
  readonly #queued = new Int32Array(new SharedArrayBuffer(4));

  constructor(id: number, data: ReplicaData) {
    this.id = id;
    let started = 0;
    this.#pool = new Piscina({
      filename: WORKER,
      name: 'default',
      minThreads: 1,
      maxThreads: 1,
      // Up to four in the worker: the next task is there when one ends (the worker runs them in order).
      concurrentTasksPerWorker: 4,
      // Tasks must run in the order sent (writes in sequence order, reads after the writes before them);
      // without this piscina sends a task it could not place to the back of the queue.
      stricterFIFO: true,
      idleTimeout: 2 ** 31 - 1,
      // Between tasks the worker's event loop must keep turning: it moves pending writes into the
      // index then ('sync' would block the thread in Atomics.wait until the next task).
      atomics: 'async',
      workerData: { ...data, busy: this.#busy, backlog: this.#queued.buffer },
    });
    this.#pool.on('workerCreate', () => {
      if (started++ > 0) this.restarts++;
    });
  }

  /** Seconds its workers' event loops were busy, summed over restarts. */
  get busySeconds(): number {
    return new Float64Array(this.#busy)[0];
  }

  /** Points written and not yet in this replica's index. */
  get backlog(): number {
    return this.#sending + Math.max(0, Atomics.load(this.#queued, 0));
  }

  /** Resolves once at most `limit` points written are not in the index. */
  async backlogAtMost(limit: number): Promise<void> {
    while (this.backlog > limit) {
      // Writes still on their way: a no-op sent now arrives after them, when the worker has queued them.
      if (this.#sending > 0) await this.run({ op: 'barrier' }).catch(() => undefined);
      else {
        const queued = Atomics.load(this.#queued, 0);
        // The worker notifies as its index takes writes; the timeout re-checks should it die.
        if (queued > limit) await Atomics.waitAsync(this.#queued, 0, queued, 100).value;
      }
    }
  }

  run<T>(task: ReplicaTask, read = false): Promise<T> {
    if (task.op === 'apply') return this.#write(task) as Promise<T>;
    this.#flush();
    return this.#send(task, read, 0);
  }

  /** Queues one commit's writes in the outbox; sent at once unless a message of writes is on its way. */
  #write(task: ApplyTask): Promise<unknown> {
    this.#sending += task.labels.length;
    this.#outbox.push(task);
    // The first write of a message reports its failure (once: the replica is restarted once).
    const first = this.#outboxSent === null;
    this.#outboxSent ??= new Promise((resolve, reject) => {
      this.#outboxSettle = (err) => (err === null ? resolve(null) : reject(err));
    });
    const sent = first ? this.#outboxSent : this.#outboxSent.catch(() => null);
    if (this.#writesInFlight === 0) this.#flush();
    return sent;
  }

  #flush(): void {
    if (this.#outbox.length === 0) return;
    const tasks = this.#outbox;
    const settle = this.#outboxSettle!;
    this.#outbox = [];
    this.#outboxSent = null;
    this.#outboxSettle = null;
    this.#writesInFlight++;
    // Counted since #write queued them; #send gives the count back once the worker has them.
    this.#send(tasks.length === 1 ? tasks[0] : { op: 'applies', tasks }, false, tasks.reduce((n, t) => n + t.labels.length, 0)).then(
      () => settle(null),
      (err: unknown) => settle(err instanceof Error ? err : new Error('replica write failed')),
    ).finally(() => {
      this.#writesInFlight--;
      this.#flush();
    });
  }

  /** Sends a task; `points` of writes counted in #sending stop counting once it is settled. */
  #send<T>(task: ReplicaTask, read: boolean, points: number): Promise<T> {
    this.pending++;
    if (read) this.reads++;
    return (this.#pool.run(task) as Promise<T>).finally(() => {
      this.pending--;
      this.#sending -= points;
      if (read) this.reads--;
    });
  }

  async close(): Promise<void> {
    // Its pending writes are durable in SQLite: the next start catches up on them.
    await this.run({ op: 'stop' }).catch(() => undefined);
    await this.#pool.close();
  }
}

export interface ReplicaOptions {
  count: number;
  /** Reads queued per replica before searches are refused with 503. */
  maxQueue: number;
  data: ReplicaData;
  log: Logger;
}

/**
 * Full copies of every index, one per worker. Writes go to every replica in commit order; a read
 * goes to the least busy one and, queued behind the writes sent before it, sees all of them.
 */
export class ReplicaSet {
  readonly #replicas: Replica[];
  readonly #maxQueue: number;
  readonly #log: Logger;
  #next = 0;

  constructor(options: ReplicaOptions) {
    if (!Number.isInteger(options.count) || options.count < 1) throw new RangeError('options.count must be a positive integer');
    this.#replicas = Array.from({ length: options.count }, (_, i) => new Replica(i, options.data));
    this.#maxQueue = options.maxQueue;
    this.#log = options.log;
  }

  get size(): number {
    return this.#replicas.length;
  }

  /** Loads every replica; resolves when all are current. */
  async init(): Promise<void> {
    await Promise.all(this.#replicas.map((r) => r.run({ op: 'init' })));
  }

  /** Sends a write (or a create/drop) to every replica. Never refused: it is already committed. */
  broadcast(task: ReplicaTask): void {
    for (const replica of this.#replicas) {
      replica.run(task).catch((err: unknown) => this.#failed(replica, task, err));
    }
  }

  /** Each replica's queue: tasks of any kind, and reads among them. */
  queues(): { pending: number; reads: number }[] {
    return this.#replicas.map((r) => ({ pending: r.pending, reads: r.reads }));
  }

  /** Each replica's busy seconds and worker restarts, since start-up. */
  activity(): { busySeconds: number; restarts: number }[] {
    return this.#replicas.map((r) => ({ busySeconds: r.busySeconds, restarts: r.restarts }));
  }

  /** Points written but not yet in every replica's index. */
  get backlog(): number {
    return Math.max(...this.#replicas.map((r) => r.backlog));
  }

  /**
   * Resolves once every replica's index is at most `limit` points behind the writes sent to it.
   * Searches do not wait for the index (they score pending writes exactly): this bounds that work
   * and the memory pending writes hold.
   */
  async whenBacklogAtMost(limit: number): Promise<void> {
    for (const replica of this.#replicas) await replica.backlogAtMost(limit);
  }

  /** Runs a read on the least busy replica; 503 when every queue is full. A dead worker's read is retried once. */
  async read<T>(task: ReplicaTask): Promise<T> {
    const replica = this.#leastBusy();
    try {
      return await replica.run<T>(task, true);
    } catch (err) {
      if (!isWorkerExit(err)) throw err;
      return this.#leastBusy().run<T>(task, true);
    }
  }

  /** Runs a task on one particular replica (snapshots are written by replica 0). */
  on<T>(id: number, task: ReplicaTask): Promise<T> {
    return this.#replicas[id].run<T>(task);
  }

  /** Runs a long task (loading an index) on one replica, steering reads to the others meanwhile. */
  async offline<T>(id: number, task: ReplicaTask): Promise<T> {
    const replica = this.#replicas[id];
    replica.loading = true;
    try {
      return await replica.run<T>(task);
    } finally {
      replica.loading = false;
    }
  }

  /**
   * Index stats of the collection from one replica (they hold the same index): one that is not
   * loading, so the answer does not wait behind a reload.
   */
  stats<T>(task: ReplicaTask): Promise<T> {
    return (this.#replicas.find((r) => !r.loading) ?? this.#replicas[0]).run<T>(task);
  }

  /** Runs a task on every replica and collects the answers. */
  all<T>(task: ReplicaTask): Promise<T[]> {
    return Promise.all(this.#replicas.map((r) => r.run<T>(task)));
  }

  #leastBusy(): Replica {
    const best = leastBusy(this.#replicas, this.#next++, this.#maxQueue);
    if (!best) throw new ServerErrors.Overloaded(`all ${this.#replicas.length} search replicas have ${this.#maxQueue} searches queued; retry shortly`);
    return best;
  }

  #failed(replica: Replica, task: ReplicaTask, err: unknown): void {
    if (isWorkerExit(err)) return; // its replacement reloads from snapshots and SQLite
    // The replica may hold a partial write: restart it, so it reloads the committed state.
    this.#log.error({ err, replica: replica.id, op: task.op }, 'replica write failed; restarting the replica');
    replica.run({ op: 'exit' }).catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all(this.#replicas.map((r) => r.close()));
  }
}

function isWorkerExit(err: unknown): boolean {
  return err instanceof Error && /worker exited|terminated|exit code/i.test(err.message);
}

/**
 * The replica a read goes to: among those with fewer than `maxQueue` reads queued, one not loading,
 * then the one with the fewest tasks of any kind, starting the round at `start` so ties rotate.
 * Null when every read queue is full. (A replica with a full read queue is passed over even when its
 * whole queue is shorter: its writes done, it would still hold `maxQueue` reads.)
 */
export function leastBusy<R extends { loading: boolean; pending: number; reads: number }>(replicas: readonly R[], start: number, maxQueue: number): R | null {
  let best: R | null = null;
  for (let i = 0; i < replicas.length; i++) {
    const r = replicas[(start + i) % replicas.length];
    if (r.reads >= maxQueue) continue;
    if (best === null || (best.loading && !r.loading) || (r.loading === best.loading && r.pending < best.pending)) best = r;
  }
  return best;
}
