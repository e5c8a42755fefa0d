/**
 * Per-operation latency under the mixed load of `bench/load.ts`. wrk's one process cannot tell which
 * operation an answer belongs to, so beside it each operation has a low-rate probe: its own keep-alive
 * node:http connection, one request at a time (never two), at most one every `intervalMs` (a slow answer
 * delays the next instead of piling up), sending that operation's bodies in turn. It records each
 * request's latency (until the whole answer has arrived) and its status, whether non-2xx answers carried
 * Retry-After, and the first body of each kind of non-2xx answer.
 *
 * The upsert and delete probes are paired (`pairWrites`): upsert body k re-inserts delete body k−1's
 * ids, so delete k waits until upsert k−2 has been answered and upsert k until delete k−1 has; the two
 * run in lockstep and the ids they have deleted but not yet put back stay at a body or two.
 */
import http from 'node:http';
import type { BodySet } from './load.ts';
import type { OpName } from './load-mix-data.ts';
import { Samples } from './stats.ts';

export interface OpProbeResult {
  name: OpName;
  method: string;
  path: string;
  intervalMs: number;
  /** Requests answered (or failed at the socket). */
  requests: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Answers by HTTP status. */
  statuses: Record<string, number>;
  /** Non-2xx answers by `status code` (the body's `code`): how many, how many with Retry-After, the first body. */
  errorKinds: { status: number; code: string; count: number; withRetryAfter: number; example: string }[];
  /** Requests that got no answer: connection errors and answers slower than the timeout. */
  socketErrors: number;
  socketExample: string | null;
}

interface Answer {
  status: number;
  retryAfter: boolean;
  body: string;
}

const codeOf = (body: string): string => /"code"\s*:\s*"([^"]*)"/.exec(body)?.[1] ?? '';

export class OpProbe {
  /** Requests finished (answered or failed). */
  completed = 0;
  /** Awaited before request i is sent (the write probes' pairing); the probe's stop ends the wait. */
  before: ((i: number) => Promise<void>) | null = null;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private readonly samples = new Samples();
  private readonly statuses = new Map<number, number>();
  private readonly kinds = new Map<string, { status: number; code: string; count: number; withRetryAfter: number; example: string }>();
  private socketErrors = 0;
  private socketExample: string | null = null;
  private stopping = false;
  private stopped!: Promise<void>;
  private signalStop!: () => void;
  private waiters: { n: number; resolve: () => void }[] = [];
  private running: Promise<void> | null = null;
  private ended = false;
  private startedAt = 0;
  private endedAt = 0;

  constructor(
    private readonly port: number,
    readonly name: OpName,
    private readonly path: string,
    private readonly set: BodySet,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
  ) {
    this.stopped = new Promise<void>((resolve) => (this.signalStop = resolve));
  }

  /** Resolves once `n` requests have finished, or the probe has ended. */
  whenCompleted(n: number): Promise<void> {
    if (this.completed >= n || this.ended) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  start(): this {
    this.startedAt = performance.now();
    this.running = this.loop().finally(() => {
      this.endedAt = performance.now();
      this.ended = true;
      for (const w of this.waiters.splice(0)) w.resolve();
    });
    return this;
  }

  private send(body: Buffer): Promise<Answer | Error> {
    return new Promise((resolve) => {
      const headers = { 'content-type': this.set.contentType, 'content-length': String(body.length) };
      const req = http.request({ host: '127.0.0.1', port: this.port, method: this.set.method, path: this.path, headers, agent: this.agent }, (res) => {
        const status = res.statusCode ?? 0;
        const ok = status >= 200 && status < 300;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          if (!ok) chunks.push(chunk);
        });
        res.on('end', () => resolve({ status, retryAfter: res.headers['retry-after'] !== undefined, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => resolve(err));
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`no answer after ${this.timeoutMs} ms`)));
      req.on('error', (err) => resolve(err));
      req.end(body);
    });
  }

  private record(answer: Answer | Error): void {
    if (answer instanceof Error) {
      this.socketErrors++;
      this.socketExample ??= answer.message;
      return;
    }
    this.statuses.set(answer.status, (this.statuses.get(answer.status) ?? 0) + 1);
    if (answer.status >= 200 && answer.status < 300) return;
    const code = codeOf(answer.body);
    const key = `${answer.status} ${code}`;
    const kind = this.kinds.get(key) ?? { status: answer.status, code, count: 0, withRetryAfter: 0, example: answer.body.slice(0, 400) };
    kind.count++;
    if (answer.retryAfter) kind.withRetryAfter++;
    this.kinds.set(key, kind);
  }

  private async loop(): Promise<void> {
    const { bodies } = this.set;
    for (let i = 0; !this.stopping; i++) {
      if (this.before !== null) await Promise.race([this.before(i), this.stopped]);
      if (this.stopping) break;
      const t0 = performance.now();
      const answer = await this.send(bodies[i % bodies.length]);
      this.samples.push(performance.now() - t0);
      this.record(answer);
      this.completed++;
      this.waiters = this.waiters.filter((w) => (this.completed >= w.n ? (w.resolve(), false) : true));
      const wait = t0 + this.intervalMs - performance.now();
      if (wait > 0 && !this.stopping) {
        await Promise.race([new Promise<void>((resolve) => setTimeout(resolve, wait).unref()), this.stopped]);
      }
    }
  }

  /** Stops after the request in flight and returns what was measured. */
  async stop(): Promise<OpProbeResult> {
    this.stopping = true;
    this.signalStop();
    await this.running;
    this.agent.destroy();
    const [p50Ms, p99Ms, maxMs] = this.samples.percentiles(50, 99, 100);
    return {
      name: this.name,
      method: this.set.method,
      path: this.path,
      intervalMs: this.intervalMs,
      requests: this.samples.count,
      seconds: ((this.endedAt || performance.now()) - this.startedAt) / 1000,
      p50Ms,
      p99Ms,
      maxMs,
      statuses: Object.fromEntries([...this.statuses].map(([s, n]) => [String(s), n])),
      errorKinds: [...this.kinds.values()].sort((a, b) => b.count - a.count),
      socketErrors: this.socketErrors,
      socketExample: this.socketExample,
    };
  }
}

/**
 * Pairs the write probes: upsert body k re-inserts delete body k−1's ids (load-mix-data.ts), so upsert k
 * waits for delete k−1's answer and delete k for upsert k−2's.
 */
export function pairWrites(upsert: OpProbe, del: OpProbe): void {
  upsert.before = (k) => del.whenCompleted(k);
  del.before = (k) => upsert.whenCompleted(k - 1);
}

/** Stops all probes at once (a paired probe waiting on another must see both stop) and returns their results. */
export function stopAll(probes: OpProbe[]): Promise<OpProbeResult[]> {
  return Promise.all(probes.map((p) => p.stop()));
}
