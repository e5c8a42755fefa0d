import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A port that was free a moment ago (the server binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** A keep-alive `node:http` client for one host:port; `maxSockets` bounds its connections. */
export class HttpClient {
  readonly agent: http.Agent;

  constructor(
    readonly port: number,
    maxSockets = 1,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  request(method: string, path: string, body?: string | Buffer, contentType = 'application/json'): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = {};
      if (body !== undefined) {
        headers['content-type'] = contentType;
        headers['content-length'] = Buffer.byteLength(body);
      }
      const req = http.request({ host: '127.0.0.1', port: this.port, method, path, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Sends JSON and parses the answer, throwing with the server's message unless the status is expected. */
  async json<T>(method: string, path: string, body: unknown, expect: number[] = [200]): Promise<T> {
    const answer = await this.request(method, path, body === undefined ? undefined : JSON.stringify(body));
    if (!expect.includes(answer.status)) {
      throw new Error(`${method} ${path} answered ${answer.status}: ${answer.body.slice(0, 500)}`);
    }
    return JSON.parse(answer.body) as T;
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface ServerOptions {
  /** Repository root: the server runs as `node --import tsx server/main.ts` there. */
  cwd: string;
  /** Another entry file than `server/main.ts`, relative to `cwd`: a stand-in that takes the same settings and answers /readyz. */
  entry?: string;
  logLevel: string;
  /** More `VICINITY_*` settings for the server. */
  env: Record<string, string>;
  readyTimeoutMs: number;
}

/** A Vicinity server in a child process with a fresh data directory, removed again by stop(). */
export class ServerProcess {
  private output = '';
  private exited: { code: number | null; signal: string | null } | null = null;
  private readonly exit: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly dataDir: string,
  ) {
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = { code, signal };
        resolve();
      });
    });
  }

  static async start(opts: ServerOptions): Promise<ServerProcess> {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'vicinity-bench-'));
    const env: NodeJS.ProcessEnv = {};
    // Only the variables meant for it: the server refuses unknown VICINITY_* settings.
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('VICINITY_')) env[key] = value;
    Object.assign(env, opts.env, { VICINITY_PORT: String(port), VICINITY_DATA_DIR: dataDir, VICINITY_LOG_LEVEL: opts.logLevel });
    const child = spawn(process.execPath, ['--import', 'tsx', opts.entry ?? 'server/main.ts'], {
      cwd: opts.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new ServerProcess(child, port, dataDir);
    try {
      await server.waitReady(opts.readyTimeoutMs);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Throws with the server's last output when it has exited on its own. */
  assertAlive(): void {
    if (this.exited !== null) {
      const { code, signal } = this.exited;
      // main.ts exits 0 only from its SIGINT/SIGTERM handler, and this bench sends neither before stop().
      const hint = code === 0 ? ' — exit 0 is its graceful SIGINT/SIGTERM path: another process signalled it' : '';
      throw new Error(`server exited on its own (code ${code}, signal ${signal})${hint}; its last output:\n${this.output.slice(-4000)}`);
    }
  }

  /** The last 20 kB the server printed, for error reports. */
  get log(): string {
    return this.output;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const client = new HttpClient(this.port);
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    try {
      while (Date.now() < deadline) {
        if (this.exited !== null) {
          throw new Error(`server exited (code ${this.exited.code}, signal ${this.exited.signal}) before /readyz:\n${this.output}`);
        }
        try {
          const answer = await client.request('GET', '/readyz');
          if (answer.status === 200) return;
          last = `${answer.status} ${answer.body.slice(0, 200)}`;
        } catch (err) {
          last = (err as Error).message;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`server not ready within ${timeoutMs} ms (last /readyz: ${last}):\n${this.output}`);
    } finally {
      client.close();
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; removes the data directory. Returns the shutdown time in ms. */
  async stop(graceMs = 30_000): Promise<{ ms: number; code: number | null; signal: string | null; early: boolean }> {
    const started = performance.now();
    const early = this.exited !== null;
    if (!early) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.exit;
      clearTimeout(timer);
    }
    rmSync(this.dataDir, { recursive: true, force: true });
    return { ms: performance.now() - started, code: this.exited?.code ?? null, signal: this.exited?.signal ?? null, early };
  }
}

export interface ServerRun {
  startMs: number;
  /** SIGTERM → exit; null when it never started. */
  stopMs: number | null;
  /** The exit code after SIGTERM; null when killed by a signal, undefined when never started. */
  exitCode?: number | null;
  /** Why the run failed (the server's or the bench's error), or null. */
  failure: string | null;
}

/**
 * Starts a server, runs `body` against it and stops it. A failure — of the start, of `body`, or the
 * server exiting on its own — is returned, not thrown, with the server's last output on stderr.
 * SIGINT/SIGTERM kill the server, run `cleanup` and exit 130.
 */
export async function withServer(opts: ServerOptions, cleanup: () => void, body: (server: ServerProcess) => Promise<void>): Promise<ServerRun> {
  const run: ServerRun = { startMs: NaN, stopMs: null, failure: null };
  let server: ServerProcess | null = null;
  const interrupted = (): void => {
    server?.child.kill('SIGKILL');
    if (server !== null) rmSync(server.dataDir, { recursive: true, force: true });
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const t0 = performance.now();
    server = await ServerProcess.start(opts);
    run.startMs = performance.now() - t0;
    await body(server);
  } catch (err) {
    run.failure = (err as Error).message;
    if (server !== null) console.error(`--- server output (tail) ---\n${server.log.slice(-4000)}`);
  } finally {
    if (server !== null) {
      const stopped = await server.stop();
      run.stopMs = stopped.ms;
      run.exitCode = stopped.code;
      if (stopped.early && run.failure === null) {
        run.failure = `server exited on its own before SIGTERM (code ${stopped.code}, signal ${stopped.signal})`;
        console.error(`--- server output (tail) ---\n${server.log.slice(-4000)}`);
      }
    }
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
  }
  return run;
}
