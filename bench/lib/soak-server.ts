/**
 * The soak's server: `node --import tsx server/main.ts` run from any checkout (`--server-dir`), on a
 * port picked beforehand, with a data directory that outlives restarts (SIGTERM or SIGKILL, then the
 * same directory again). Error lines the server logs are counted across restarts: they name the
 * causes that 500 answers leave out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, HttpClient } from './server.ts';
import { sleep } from './soak-common.ts';

export interface ServerSpec {
  /** The checkout whose `server/main.ts` runs. */
  dir: string;
  /** `VICINITY_*` settings beside port, data directory and log level. */
  env: Record<string, string>;
  readyTimeoutMs: number;
}

/** Error-level lines (pino level ≥ 50) the server printed, by message. */
export class ServerLog {
  readonly errors = new Map<string, number>();
  tail = '';

  take(chunk: string): void {
    this.tail = (this.tail + chunk).slice(-20_000);
    for (const line of chunk.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
        if ((entry.level ?? 0) < 50) continue;
        const key = `${entry.msg ?? ''}${entry.err?.message ? `: ${entry.err.message.split('\n')[0].slice(0, 160)}` : ''}`;
        this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
      } catch {
        // a partial line across chunks: not counted
      }
    }
  }

  /** The counts since `before` (a copy taken earlier), for one scenario. */
  since(before: Map<string, number>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, n] of this.errors) if (n > (before.get(key) ?? 0)) out[key] = n - (before.get(key) ?? 0);
    return out;
  }
}

export class SoakServer {
  readonly client: HttpClient;
  #exited = false;
  readonly #exit: Promise<void>;

  private constructor(
    readonly spec: ServerSpec,
    readonly child: ChildProcess,
    readonly port: number,
    readonly dataDir: string,
    readonly log: ServerLog,
  ) {
    this.client = new HttpClient(port, 16);
    const take = (chunk: Buffer) => log.take(chunk.toString('utf8'));
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
    this.#exit = new Promise((resolve) => child.once('exit', () => ((this.#exited = true), resolve())));
  }

  /** Starts a server on `dataDir` (a fresh temporary one when absent) and waits for /readyz. */
  static async start(spec: ServerSpec, log = new ServerLog(), dataDir?: string): Promise<SoakServer> {
    const port = await freePort();
    const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'vicinity-soak-'));
    const env: NodeJS.ProcessEnv = {};
    // The server refuses unknown VICINITY_* variables: only the ones meant for it.
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('VICINITY_')) env[key] = value;
    Object.assign(env, spec.env, { VICINITY_PORT: String(port), VICINITY_DATA_DIR: dir, VICINITY_LOG_LEVEL: 'warn' });
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], { cwd: spec.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new SoakServer(spec, child, port, dir, log);
    try {
      await server.#waitReady();
    } catch (err) {
      await server.stop('SIGKILL');
      if (dataDir === undefined) rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return server;
  }

  get alive(): boolean {
    return !this.#exited;
  }

  async #waitReady(): Promise<void> {
    const deadline = Date.now() + this.spec.readyTimeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (this.#exited) throw new Error(`server exited before /readyz; its last output:\n${this.log.tail.slice(-3000)}`);
      try {
        const answer = await this.client.request('GET', '/readyz');
        if (answer.status === 200) return;
        last = `${answer.status} ${answer.body.slice(0, 200)}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(50);
    }
    throw new Error(`server not ready within ${this.spec.readyTimeoutMs} ms (last /readyz: ${last}); its last output:\n${this.log.tail.slice(-3000)}`);
  }

  /** Sends `signal` (SIGTERM: SIGKILL after 60 s) and waits for the exit; the data directory stays. */
  async stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    this.client.close();
    if (this.#exited) return;
    this.child.kill(signal);
    const timer = signal === 'SIGTERM' ? setTimeout(() => this.child.kill('SIGKILL'), 60_000) : undefined;
    await this.#exit;
    clearTimeout(timer);
  }

  /** Stops this server with `signal` and starts another on the same data directory (and log). */
  async restart(signal: 'SIGTERM' | 'SIGKILL', spec: ServerSpec = this.spec): Promise<SoakServer> {
    await this.stop(signal);
    return SoakServer.start(spec, this.log, this.dataDir);
  }

  /** SIGTERM and remove the data directory. */
  async dispose(): Promise<void> {
    await this.stop('SIGTERM');
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** The servers alive right now, to kill on Ctrl-C. */
export const running = new Set<SoakServer>();

/**
 * On SIGINT or SIGTERM: kills the running servers, removes their data directories, runs `cleanup` and
 * exits 130. Returns what takes the handlers off again.
 */
export function killOnInterrupt(cleanup: () => void): () => void {
  const interrupted = (): void => {
    for (const server of running) {
      server.child.kill('SIGKILL');
      rmSync(server.dataDir, { recursive: true, force: true });
    }
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  return () => {
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
  };
}

/** Runs `body` with a fresh server (its data directory removed afterwards, whichever server `body` ends with). */
export async function withSoakServer<T>(spec: ServerSpec, log: ServerLog, body: (first: SoakServer, track: (s: SoakServer) => SoakServer) => Promise<T>): Promise<T> {
  let current = await SoakServer.start(spec, log);
  running.add(current);
  const track = (s: SoakServer): SoakServer => {
    running.delete(current);
    running.add(s);
    current = s;
    return s;
  };
  try {
    return await body(current, track);
  } finally {
    running.delete(current);
    await current.dispose();
  }
}

/** What every scenario gets from the command line. */
export interface SoakContext {
  spec: ServerSpec;
  log: ServerLog;
  smoke: boolean;
  seed: number;
  /** True while round `r` (0-based) should run: under the round count and before the scenario's deadline. */
  more: (r: number) => boolean;
  /** A progress line on stderr. */
  say: (line: string) => void;
}
