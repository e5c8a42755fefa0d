import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../server/app.ts';
import { loadConfig, type Config } from '../../server/config.ts';

export interface TestServer {
  app: FastifyInstance;
  url: string;
  dataDir: string;
  config: Readonly<Config>;
  /** Closes the server (snapshots are written), runs `between`, and starts a new one on the same data directory. */
  restart(between?: () => void, waitForReady?: boolean): Promise<TestServer>;
}

export interface Answer {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- untyped JSON, checked field by field
}

/** Starts the real server on port 0 with a temporary data directory, closed and removed after the test. */
export async function startServer(t: TestContext, overrides: Partial<Config> = {}, waitForReady = true): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-test-'));
  let current: FastifyInstance | null = null;
  t.after(async () => {
    await current?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const config = Object.freeze({ ...loadConfig({ VICINITY_LOG_LEVEL: 'silent', VICINITY_PORT: '0' }), dataDir: dir, ...overrides });
  const open = async (waitForReady: boolean): Promise<TestServer> => {
    const app = buildApp(config);
    current = app;
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    if (waitForReady) await waitReady({ url: `http://127.0.0.1:${address.port}` });
    return {
      app,
      url: `http://127.0.0.1:${address.port}`,
      dataDir: dir,
      config,
      restart: async (between?: () => void, wait = waitForReady) => {
        await app.close();
        current = null;
        between?.();
        return open(wait);
      },
    };
  };
  return open(waitForReady);
}

/** One HTTP request with a JSON body (or a raw body with its own content type). */
export async function call(
  server: { url: string },
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const raw = body instanceof Uint8Array || typeof body === 'string';
  const res = await fetch(server.url + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : raw ? (body) : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Waits until /readyz answers 200. */
export async function waitReady(server: { url: string }, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const res = await fetch(server.url + '/readyz').catch(() => null);
    if (res?.status === 200) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('server not ready in time');
}

/** Polls a job until it is done, failed or cancelled. */
export async function finished(server: { url: string }, jobId: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const job = await call(server, 'GET', `/v1/jobs/${jobId}`);
    if (job.status !== 200) throw new Error(`GET /v1/jobs/${jobId} answered ${job.status}`);
    if (['done', 'failed', 'cancelled'].includes(job.body.state as string)) return job.body as Record<string, unknown>;
    if (Date.now() > end) throw new Error(`job ${jobId} still ${job.body.state} after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Resolves once every replica's index holds every acknowledged write (searches never wait for this; some tests do). */
export async function indexed(server: TestServer, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (server.app.engine.gauges.indexBacklog > 0) {
    if (Date.now() > deadline) throw new Error(`the replicas still lack ${server.app.engine.gauges.indexBacklog} points after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
