/**
 * Shared pieces of `bench/soak.ts`: the tally each scenario keeps (operations, failures by kind and by
 * status+code, example bodies), requests that count unexpected answers, seeded vectors as NDJSON, and
 * job polling. Only the public HTTP API is used, so the soak runs against any checkout of the server.
 */
import type { HttpClient } from './server.ts';

/** One variant's figures, as printed and written to JSON. */
export interface ScenarioResult {
  scenario: string;
  variant: string;
  rounds: number;
  operations: number;
  failures: number;
  /** failures / operations (0 when there were none). */
  rate: number;
  /** Unexpected answers to the requests that set a round up (not in `operations`). */
  otherFailures: number;
  seconds: number;
  /** Per operation kind: how many were sent and how many answered unexpectedly. */
  byKind: { kind: string; operations: number; failures: number }[];
  /** `kind: status code` (or a named wrong result) → count. */
  errors: Record<string, number>;
  /** One body per distinct error, trimmed. */
  examples: string[];
  /** Things measured beside the failures (window hits, phases seen at a kill, excess labels…). */
  counters: Record<string, number>;
  notes: string[];
}

const MAX_EXAMPLES = 8;

/** Operations and failures of one scenario variant. */
export class Tally {
  rounds = 0;
  readonly #kinds = new Map<string, { operations: number; failures: number }>();
  readonly #errors = new Map<string, number>();
  readonly #examples: string[] = [];
  readonly counters: Record<string, number> = {};
  readonly notes: string[] = [];
  readonly #started = performance.now();

  /** `primary`: the kinds that make up `operations` (default every kind); the rest only set rounds up. */
  constructor(
    readonly scenario: string,
    readonly variant: string,
    readonly primary?: string[],
  ) {}

  #kind(kind: string) {
    let k = this.#kinds.get(kind);
    if (k === undefined) this.#kinds.set(kind, (k = { operations: 0, failures: 0 }));
    return k;
  }

  /** One more operation of `kind` (answered as expected unless `fail` follows). */
  op(kind: string, n = 1): void {
    this.#kind(kind).operations += n;
  }

  /** The last operation of `kind` failed: `key` names how (e.g. `500 VDB_ERR_INTERNAL`), `example` shows it. */
  fail(kind: string, key: string, example: string, n = 1): void {
    this.#kind(kind).failures += n;
    const full = `${kind}: ${key}`;
    const seen = this.#errors.get(full) ?? 0;
    this.#errors.set(full, seen + n);
    if (seen === 0 && this.#examples.length < MAX_EXAMPLES) this.#examples.push(`${full} — ${example.replace(/\s+/g, ' ').slice(0, 300)}`);
  }

  count(name: string, n = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + n;
  }

  result(): ScenarioResult {
    const byKind = [...this.#kinds].map(([kind, k]) => ({ kind, ...k }));
    const main = byKind.filter((k) => this.primary === undefined || this.primary.includes(k.kind));
    const operations = main.reduce((s, k) => s + k.operations, 0);
    const failures = main.reduce((s, k) => s + k.failures, 0);
    const otherFailures = byKind.reduce((s, k) => s + k.failures, 0) - failures;
    return {
      scenario: this.scenario,
      variant: this.variant,
      rounds: this.rounds,
      operations,
      failures,
      rate: operations > 0 ? failures / operations : 0,
      otherFailures,
      seconds: Math.round((performance.now() - this.#started) / 100) / 10,
      byKind,
      errors: Object.fromEntries(this.#errors),
      examples: [...this.#examples],
      counters: { ...this.counters },
      notes: [...this.notes],
    };
  }
}

export interface Answer {
  status: number;
  body: string;
}

/** The `code` of an error body, or '' when it has none. */
export function errorCode(body: string): string {
  try {
    const parsed = JSON.parse(body) as { code?: unknown };
    return typeof parsed.code === 'string' ? parsed.code : '';
  } catch {
    return '';
  }
}

export interface CallOptions {
  /** Statuses that are not failures (default: any 2xx). */
  expect?: number[];
  contentType?: string;
  /** Network errors are not counted (the server is being killed on purpose). */
  quietNetwork?: boolean;
}

/**
 * One request counted in `tally` under `kind`: an unexpected status, or a network error, is a
 * failure keyed by status and code. Resolves with the answer (null after a network error).
 */
export async function call(client: HttpClient, tally: Tally, kind: string, method: string, path: string, body?: unknown, opts: CallOptions = {}): Promise<Answer | null> {
  tally.op(kind);
  const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body);
  let answer: Answer;
  try {
    answer = await client.request(method, path, payload, opts.contentType);
  } catch (err) {
    if (opts.quietNetwork) tally.op(kind, -1);
    else tally.fail(kind, `network ${(err as NodeJS.ErrnoException).code ?? 'error'}`, `${method} ${path}: ${(err as Error).message}`);
    return null;
  }
  const ok = opts.expect ? opts.expect.includes(answer.status) : answer.status >= 200 && answer.status < 300;
  if (!ok) tally.fail(kind, `${answer.status} ${errorCode(answer.body)}`.trim(), `${method} ${path.split('?')[0]} → ${answer.status} ${answer.body}`);
  return answer;
}

/** Parses a JSON answer body as T (no validation: the soak reads a few fields and checks them). */
export function parse<T>(answer: Answer | null): T | null {
  if (answer === null || answer.status < 200 || answer.status >= 300) return null;
  try {
    return JSON.parse(answer.body) as T;
  } catch {
    return null;
  }
}

/** A seeded generator, so a round's data is the same from run to run. */
export { prng as rng } from '../../index/build-order.ts';

/** A vector of `dim` values in [-1, 1), rounded to 4 decimals so its JSON text reads back exactly. */
export function vector(random: () => number, dim: number): number[] {
  return Array.from({ length: dim }, () => Math.round((random() * 2 - 1) * 1e4) / 1e4);
}

export interface PointSpec {
  id: string | number;
  vector: number[];
  payload?: Record<string, unknown>;
}

/** An NDJSON import body. */
export function ndjson(points: PointSpec[]): Buffer {
  return Buffer.from(points.map((p) => JSON.stringify(p)).join('\n') + '\n');
}

/** `count` points with ids `first…`, random vectors and `payload(i)`. */
export function points(random: () => number, first: number, count: number, dim: number, payload?: (i: number) => Record<string, unknown>): PointSpec[] {
  return Array.from({ length: count }, (_, i) => ({ id: first + i, vector: vector(random, dim), ...(payload ? { payload: payload(first + i) } : {}) }));
}

export const IMPORT_PATH = (name: string) => `/v1/collections/${name}/import?format=ndjson`;
export const NDJSON = 'application/x-ndjson';

export interface Job {
  id: string;
  state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  phase: string | null;
  error?: { code?: string; message?: string };
}

export const FINAL = new Set(['done', 'failed', 'cancelled']);
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** GET /v1/jobs/{id}; null on any error (the caller decides what a missing answer means). */
export async function getJob(client: HttpClient, id: string): Promise<Job | null> {
  try {
    const answer = await client.request('GET', `/v1/jobs/${id}`);
    return answer.status === 200 ? (JSON.parse(answer.body) as Job) : null;
  } catch {
    return null;
  }
}

/**
 * Polls a job every `pollMs` until it is final (or `stop(job)` says so, or the timeout passes);
 * resolves with the last job seen (null if it never answered).
 */
export async function waitJob(client: HttpClient, id: string, pollMs: number, timeoutMs: number, stop?: (job: Job) => boolean): Promise<Job | null> {
  const deadline = Date.now() + timeoutMs;
  let last: Job | null = null;
  while (Date.now() < deadline) {
    last = (await getJob(client, id)) ?? last;
    if (last !== null && (FINAL.has(last.state) || stop?.(last))) return last;
    await sleep(pollMs);
  }
  return last;
}

/** Waits until no job on the server is queued or running (a round's leftovers), up to `timeoutMs`. */
export async function settleJobs(client: HttpClient, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const answer = await client.request('GET', '/v1/jobs?limit=1000');
      const { jobs } = JSON.parse(answer.body) as { jobs: Job[] };
      if (jobs.every((j) => FINAL.has(j.state))) return true;
    } catch {
      // retried
    }
    await sleep(100);
  }
  return false;
}

/** A collection as `GET /v1/collections/{name}` shows the fields the soak reads. */
export interface CollectionInfo {
  count: number;
  deleted: number;
  stats: { index: { live?: number; deleted?: number; state?: string } };
}

/** Runs `body` in a loop until `running()` turns false; the loops of concurrent writers. */
export async function loop(running: () => boolean, body: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; running(); i++) await body(i);
}
