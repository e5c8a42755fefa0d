import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BuildControl, BuildReply, BuildTask, FromBuild, ToBuild } from './build-state.ts';
import type { ReplicaData } from './protocol.ts';

const CHILD = fileURLToPath(new URL('./build-child.ts', import.meta.url));
/** The build process loads TypeScript the way the server does. */
const TSX = import.meta.resolve('tsx');

/**
 * The server's side of the build process: tasks out, replies and progress back, over the IPC
 * channel. One task runs at a time; ending the process gives all of its memory back at once.
 */
export class BuildProcess {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (reply: BuildReply) => void; reject: (err: Error) => void }>();
  readonly #exited: Promise<void>;
  #next = 0;

  constructor(data: ReplicaData, onProgress: (jobId: string, processed: number) => void) {
    this.#child = fork(CHILD, [], { execArgv: ['--import', TSX], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child.on('message', (message: FromBuild) => {
      if (message.type === 'progress') return onProgress(message.jobId, message.processed);
      this.#pending.get(message.id)?.resolve(message.reply);
      this.#pending.delete(message.id);
    });
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
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
