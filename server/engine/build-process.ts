import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BuildControl, BuildData, BuildReply, BuildTask, FromBuild, ToBuild } from './build-state.ts';
import { LockLender } from './lent-lock.ts';
import type { Writer } from './writer.ts';

const CHILD = fileURLToPath(new URL('./build-child.ts', import.meta.url));
/** The build process loads TypeScript the way the server does. */
const TSX = import.meta.resolve('tsx');

/**
 * The server's side of the build process: tasks out, replies and progress back, over the IPC
 * channel, and the server's write lock lent for each of its transactions (given back when it ends,
 * even by a kill). One task runs at a time; ending the process gives all of its memory back at once.
 */
export class BuildProcess {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (reply: BuildReply) => void; reject: (err: Error) => void }>();
  /** The write lock, lent for each of the process's transactions. */
  readonly #leases: LockLender;
  readonly #exited: Promise<void>;
  #gone = false;
  #next = 0;

  constructor(data: BuildData, writer: Writer, onProgress: (jobId: string, processed: number, total: number | null) => void) {
    this.#leases = new LockLender(writer, 'build');
    this.#child = fork(CHILD, [], { execArgv: ['--import', TSX], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child.on('message', (message: FromBuild) => {
      switch (message.type) {
        case 'progress':
          return onProgress(message.jobId, message.processed, message.total);
        case 'lock':
          return this.#leases.lend(message.id, () => !this.#gone && this.#send({ type: 'locked', id: message.id }));
        case 'unlock':
          return this.#leases.returned(message.id);
        case 'reply':
          this.#pending.get(message.id)?.resolve(message.reply);
          this.#pending.delete(message.id);
      }
    });
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#gone = true;
        // A process killed inside a transaction never committed it; SQLite dropped its lock with it.
        this.#leases.returnAll();
        const err = new Error(`the build process exited (${signal ?? `code ${code}`})`);
        for (const { reject } of this.#pending.values()) reject(err);
        this.#pending.clear();
        resolve();
      });
    });
    this.#send({ type: 'init', data });
  }

  run(task: BuildTask): Promise<BuildReply> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (!this.#send({ type: 'task', id, task })) {
        this.#pending.delete(id);
        reject(new Error('the build process is not running'));
      }
    });
  }

  control(jobId: string, control: BuildControl): void {
    this.#send({ type: 'control', jobId, control });
  }

  /** Ends the process and waits until it is gone. */
  async destroy(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
    await this.#exited;
  }

  #send(message: ToBuild): boolean {
    if (!this.#child.connected) return false;
    this.#child.send(message);
    return true;
  }
}
