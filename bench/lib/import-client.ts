import { spawn } from 'node:child_process';
import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ImportFile } from './import-files.ts';
import type { HttpClient } from './server.ts';

/** `GET /v1/jobs/{id}` as the import contract describes it; other fields are kept as they come. */
export interface Job {
  state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  phase?: string;
  processed?: number;
  total?: number;
  rate?: number;
  eta_s?: number;
  error?: unknown;
  records?: number;
  seconds?: number;
  [field: string]: unknown;
}

/** When a job was first seen in a state and phase, in seconds since the import command started. */
export interface PhaseMark {
  state: string;
  phase: string | null;
  atS: number;
}

const FINAL = new Set(['done', 'failed', 'cancelled']);

const CONTENT_TYPES: Record<ImportFile['format'], string> = { npy: 'application/octet-stream', ndjson: 'application/x-ndjson' };

/** An import's `build_order`; `default` sends none (the collection's, `auto` unless it was created with another). */
export type ImportOrder = 'default' | 'auto' | 'given' | 'random';

export interface ImportQuery {
  idOffset: number;
  buildOrder: ImportOrder;
  seed: number;
}

export interface Accepted {
  jobId: string;
  /** The 202 body's `records` and `bytes`. */
  records: number | null;
  bytes: number | null;
  /** From the first byte sent to the 202. */
  uploadS: number;
}

/** PUT /v1/collections/{name} with the HNSW parameters of the raw builds (and a storage config, if any). */
export async function createImportCollection(client: HttpClient, name: string, dimension: number, m: number, efConstruction: number, storage?: object): Promise<void> {
  const body = { dimension, metric: 'l2', hnsw: { m, ef_construction: efConstruction }, ...(storage ? { storage } : {}) };
  await client.json('PUT', `/v1/collections/${name}`, body, [200, 201]);
}

/**
 * Streams `file` to `POST /v1/collections/{name}/import` over a fresh `node:http` connection with its
 * Content-Length (the body is never held in memory); resolves on the 202 with the job id.
 */
export async function uploadFile(port: number, collection: string, file: ImportFile, q: ImportQuery): Promise<Accepted> {
  const order = q.buildOrder === 'default' ? '' : `&build_order=${q.buildOrder}`;
  const query = `format=${file.format}&id_offset=${q.idOffset}${order}&seed=${q.seed}`;
  const path = `/v1/collections/${collection}/import?${query}`;
  const started = performance.now();
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path,
        agent: false,
        headers: { 'content-type': CONTENT_TYPES[file.format], 'content-length': statSync(file.path).size },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // A server that answers early (an error) may close the socket mid-body: its answer is what counts.
    pipeline(createReadStream(file.path, { highWaterMark: 1 << 20 }), req).catch(() => undefined);
  });
  const { status, body } = await answer;
  const uploadS = (performance.now() - started) / 1000;
  if (status !== 202) throw new Error(`POST ${path} answered ${status}: ${body.slice(0, 500)}`);
  const accepted = JSON.parse(body) as { job_id?: unknown; records?: unknown; bytes?: unknown };
  const id = accepted.job_id;
  if (typeof id !== 'string' && typeof id !== 'number') throw new Error(`POST ${path} answered 202 without a job_id: ${body.slice(0, 500)}`);
  return {
    jobId: String(id),
    records: typeof accepted.records === 'number' ? accepted.records : null,
    bytes: typeof accepted.bytes === 'number' ? accepted.bytes : null,
    uploadS,
  };
}

/**
 * Polls `GET /v1/jobs/{id}` every `pollMs` until the job is done, failed or cancelled; records when
 * each (state, phase) was first seen, relative to `startedAt` (a performance.now() time).
 */
export async function waitForJob(client: HttpClient, jobId: string, startedAt: number, pollMs: number, timeoutS: number, marks: PhaseMark[] = []): Promise<{ job: Job; marks: PhaseMark[] }> {
  for (;;) {
    const job = await client.json<Job>('GET', `/v1/jobs/${jobId}`, undefined);
    const atS = (performance.now() - startedAt) / 1000;
    const phase = typeof job.phase === 'string' ? job.phase : null;
    const last = marks.at(-1);
    if (last === undefined || last.state !== job.state || last.phase !== phase) marks.push({ state: job.state, phase, atS });
    if (FINAL.has(job.state)) return { job, marks };
    if (atS > timeoutS) throw new Error(`job ${jobId} still ${job.state} (${phase ?? 'no phase'}) after ${timeoutS} s`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export interface CliRun {
  /** Spawn to exit. */
  seconds: number;
  code: number | null;
  /** The last line of its stdout that parses as a JSON object (`--json`), or null. */
  summary: Record<string, unknown> | null;
  stderrTail: string;
}

/**
 * `node bin/vicinity.mjs import FILE --collection NAME --create --dimension D --metric l2 [--build-order ORDER]
 * --url … --json` in `root`, timed from spawn to exit (the CLI exits once the job is done).
 */
export async function cliImport(root: string, port: number, collection: string, file: ImportFile, buildOrder: ImportOrder): Promise<CliRun> {
  const args = [
    join(root, 'bin', 'vicinity.mjs'), 'import', file.path, '--collection', collection, '--create', '--dimension', String(file.dim),
    '--metric', 'l2', '--format', file.format, ...(buildOrder === 'default' ? [] : ['--build-order', buildOrder]), '--url', `http://127.0.0.1:${port}`, '--json',
  ];
  const started = performance.now();
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  const seconds = (performance.now() - started) / 1000;
  let summary: Record<string, unknown> | null = null;
  for (const line of stdout.trim().split('\n').reverse()) {
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        summary = value as Record<string, unknown>;
        break;
      }
    } catch {
      // a progress or text line
    }
  }
  if (code !== 0) throw new Error(`vicinity import exited ${code}:\n${stderr}${stdout.slice(-2000)}`);
  return { seconds, code, summary, stderrTail: stderr.slice(-1000) };
}

/** The first of `keys` in the CLI's summary (or one level down) that holds a number; null when none does. */
export function summaryNumber(summary: Record<string, unknown> | null, keys: string[]): number | null {
  if (summary === null) return null;
  const levels = [summary, ...Object.values(summary).filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null)];
  for (const level of levels) {
    for (const key of keys) if (typeof level[key] === 'number') return level[key];
  }
  return null;
}
