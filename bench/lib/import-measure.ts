import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cliImport, createImportCollection, summaryNumber, uploadFile, waitForJob, type ImportOrder, type Job, type PhaseMark } from './import-client.ts';
import type { ImportFile } from './import-files.ts';
import type { HnswParams } from './raw-hnsw.ts';
import { HttpClient, type ServerProcess } from './server.ts';
import { procPeakRssBytes, procRssBytes, startCpuMeter } from './stats.ts';

/** The process and its descendants (the server's build process), from /proc. */
function processTree(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pids[i]}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        for (const child of readFileSync(`/proc/${pids[i]}/task/${tid}/children`, 'utf8').split(' ')) if (child.trim()) pids.push(Number(child));
      } catch {
        // the task ended meanwhile
      }
    }
  }
  return pids;
}

/**
 * Polls the resident memory of a process and its children together (the server builds imports in
 * a child process); the kernel's high-water mark (VmHWM) of the server covers what falls between
 * polls for the server itself. `hwmBytes` is the larger of the two.
 */
export class RssSampler {
  #max = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs: number,
  ) {
    this.#poll();
    this.#timer = setInterval(() => this.#poll(), intervalMs);
  }

  #poll(): void {
    const total = processTree(this.pid).reduce((sum, pid) => sum + (procRssBytes(pid) ?? 0), 0);
    this.#max = Math.max(this.#max, total);
  }

  /** The largest polled RSS of the process tree, and the larger of that and the server's VmHWM, in bytes. */
  stop(): { polledPeakBytes: number; hwmBytes: number | null } {
    clearInterval(this.#timer);
    this.#poll();
    const hwm = procPeakRssBytes(this.pid);
    return { polledPeakBytes: this.#max, hwmBytes: hwm === null ? null : Math.max(hwm, this.#max) };
  }
}

export interface DataDirBytes {
  /** vicinity.db, and its -wal and -shm files. */
  sqlite: number;
  wal: number;
  /** Everything under indexes/ (the snapshot files). */
  snapshots: number;
}

function treeBytes(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, name) => sum + treeBytes(join(path, name)), 0);
}

/**
 * The data directory's sizes once the server has removed the job's staged rows and given their pages
 * back (in the background after the job ends): when the SQLite files stopped changing for 2 s (at most 120 s).
 */
async function settledDataDirBytes(dir: string): Promise<DataDirBytes> {
  let last = dataDirBytes(dir);
  let still = 0;
  for (let waited = 0; waited < 120_000 && still < 2000; waited += 250) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = dataDirBytes(dir);
    still = now.sqlite !== last.sqlite ? 0 : still + 250;
    last = now;
  }
  return last;
}

/** Sizes of the server's data directory: the SQLite database (with WAL) and the index snapshots. */
export function dataDirBytes(dir: string): DataDirBytes {
  const db = join(dir, 'vicinity.db');
  return {
    sqlite: treeBytes(db) + treeBytes(`${db}-wal`) + treeBytes(`${db}-shm`),
    wal: treeBytes(`${db}-wal`),
    snapshots: treeBytes(join(dir, 'indexes')),
  };
}

/** What `GET /v1/collections/{name}` says after the import. */
export interface CollectionAfter {
  count: number;
  replicas: number | null;
  perReplicaBytes: number | null;
  indexesBytes: number | null;
  sharedVectorsBytes: number | null;
}

interface CollectionInfo {
  count: number;
  stats?: { replicas?: number; memory_bytes?: { per_replica?: number; indexes?: number; shared_vectors?: number } };
}

export async function collectionAfter(client: HttpClient, name: string): Promise<CollectionAfter> {
  const info = await client.json<CollectionInfo>('GET', `/v1/collections/${name}`, undefined);
  const memory = info.stats?.memory_bytes;
  return {
    count: info.count,
    replicas: info.stats?.replicas ?? null,
    perReplicaBytes: memory?.per_replica ?? null,
    indexesBytes: memory?.indexes ?? null,
    sharedVectorsBytes: memory?.shared_vectors ?? null,
  };
}

/** One import into a collection of a running server, measured from the start of the command to the job's `done`. */
export interface ImportMeasure {
  via: 'cli' | 'http';
  format: ImportFile['format'];
  collection: string;
  records: number;
  fileBytes: number;
  seconds: number;
  rate: number;
  /** Start to the 202 (HTTP), or the CLI summary's upload time when it reports one. */
  uploadS: number | null;
  jobId: string | null;
  job: Job | null;
  /** (state, phase) as first seen by polling (HTTP), or after the CLI exited. */
  phases: PhaseMark[];
  cliSummary: Record<string, unknown> | null;
  /** Server RSS: before the import, polled peak, VmHWM (peak since the server started), after. */
  rss: { beforeBytes: number | null; polledPeakBytes: number; hwmBytes: number | null; afterBytes: number | null };
  /** Server CPU seconds during the import, and other processes' (this bench and the CLI included). */
  serverCpuS: number | null;
  otherCpuS: number | null;
  disk: DataDirBytes;
  after: CollectionAfter;
}

export interface ImportSettings {
  hnsw: HnswParams;
  /** The collection's `storage` config (default float32). */
  storage?: object;
  buildOrder: ImportOrder;
  pollMs: number;
  rssPollMs: number;
  jobTimeoutS: number;
}

type Outcome = Pick<ImportMeasure, 'uploadS' | 'jobId' | 'job' | 'phases' | 'cliSummary'>;

/** The import itself: PUT, streamed POST and job polling over HTTP, or one CLI command. */
async function importOnce(root: string, server: ServerProcess, client: HttpClient, name: string, file: ImportFile, via: 'cli' | 'http', s: ImportSettings, started: number): Promise<Outcome> {
  if (via === 'http') {
    await createImportCollection(client, name, file.dim, s.hnsw.m, s.hnsw.efConstruction, s.storage);
    const accepted = await uploadFile(server.port, name, file, { idOffset: 0, buildOrder: s.buildOrder, seed: s.hnsw.seed });
    const marks: PhaseMark[] = [
      { state: 'uploading', phase: null, atS: 0 },
      { state: 'accepted', phase: null, atS: accepted.uploadS },
    ];
    const { job } = await waitForJob(client, accepted.jobId, started, s.pollMs, s.jobTimeoutS, marks);
    return { uploadS: accepted.uploadS, jobId: accepted.jobId, job, phases: marks, cliSummary: null };
  }
  const run = await cliImport(root, server.port, name, file, s.buildOrder);
  const id = run.summary?.job_id ?? run.summary?.jobId;
  const outcome: Outcome = {
    uploadS: summaryNumber(run.summary, ['upload_s', 'upload_seconds', 'uploadSeconds']),
    jobId: typeof id === 'string' || typeof id === 'number' ? String(id) : null,
    job: null,
    phases: [],
    cliSummary: run.summary,
  };
  if (outcome.jobId !== null) {
    // The CLI exits on `done`; the job as the server keeps it afterwards.
    outcome.job = await client.json<Job>('GET', `/v1/jobs/${outcome.jobId}`, undefined);
    outcome.phases.push({ state: outcome.job.state, phase: typeof outcome.job.phase === 'string' ? outcome.job.phase : null, atS: run.seconds });
  }
  return outcome;
}

/**
 * Imports `file` into a new collection `name` on `server`, through the CLI or over HTTP, sampling the
 * server's RSS and CPU meanwhile; then reads the collection and the data directory.
 */
export async function measureImport(root: string, server: ServerProcess, name: string, file: ImportFile, via: 'cli' | 'http', s: ImportSettings): Promise<ImportMeasure> {
  const client = new HttpClient(server.port);
  try {
    const beforeBytes = procRssBytes(server.pid);
    const sampler = new RssSampler(server.pid, s.rssPollMs);
    const meter = startCpuMeter([server.pid]);
    const started = performance.now();
    let outcome: Outcome;
    try {
      outcome = await importOnce(root, server, client, name, file, via, s, started);
    } catch (err) {
      sampler.stop();
      throw err;
    }
    const seconds = (performance.now() - started) / 1000;
    const rss = sampler.stop();
    const cpu = meter();
    if (outcome.job !== null && outcome.job.state !== 'done') {
      throw new Error(`import job ${outcome.jobId} ended ${outcome.job.state}: ${JSON.stringify(outcome.job.error ?? outcome.job).slice(0, 500)}`);
    }
    return {
      via,
      format: file.format,
      collection: name,
      records: file.records,
      fileBytes: file.bytes,
      seconds,
      rate: file.records / seconds,
      ...outcome,
      rss: { beforeBytes, ...rss, afterBytes: procRssBytes(server.pid) },
      serverCpuS: cpu.pidsCpuS[0],
      otherCpuS: cpu.otherCpuS,
      disk: await settledDataDirBytes(server.dataDir),
      after: await collectionAfter(client, name),
    };
  } finally {
    client.close();
  }
}
