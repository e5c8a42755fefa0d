import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { inferFormat, sniffDimension } from '../formats.ts';
import { VicinityClient, VicinityError } from '../../client/src/index.ts';
import { EXIT, reportError, type Io } from '../io.ts';
import { UsageError } from '../options.ts';
import { createProgress, type Progress } from '../progress.ts';
import { importSummaryJson, importSummaryText } from '../summary.ts';
import { FINISHED_STATES, type BuildOrder, type ImportFormat, type Job, type Metric } from '../../client/src/index.ts';

export interface ImportOptions {
  collection: string;
  create?: boolean;
  dimension?: number;
  metric?: Metric;
  format?: ImportFormat;
  idOffset?: number;
  buildOrder?: BuildOrder;
  seed?: number;
  url: string;
  apiKey?: string;
  progress: boolean;
  json?: boolean;
}

const POLL_MS = 300;

/** `vicinity import FILE`: streams the file to the server, then follows the build job to its end. */
export async function runImport(file: string, options: ImportOptions, io: Io): Promise<number> {
  const started = performance.now();
  const format = inferFormat(file, options.format);
  if (!options.create && (options.dimension !== undefined || options.metric !== undefined)) {
    throw new UsageError('--dimension and --metric only apply with --create');
  }
  const fileBytes = await fileSize(file);
  const client = new VicinityClient(options.url, { apiKey: options.apiKey });
  // Checked first: an upload refused early can end in a broken connection rather than an answer.
  if (options.create) await createCollection(client, file, format, options, io);
  else await client.getCollection(options.collection);

  const interrupt = new AbortController();
  const onSigint = (): void => {
    // A second Ctrl-C does not wait for the cancellation.
    if (interrupt.signal.aborted) process.exit(EXIT.interrupted);
    interrupt.abort();
  };
  process.on('SIGINT', onSigint);
  const uploadStarted = performance.now();
  const progress = createProgress({ bars: options.progress && io.errIsTTY, stream: io.err, fileBytes, intervalMs: 3000 });
  try {
    const accepted = await client
      .importStream(options.collection, createReadStream(file), {
        format,
        idOffset: options.idOffset,
        buildOrder: options.buildOrder,
        seed: options.seed,
        size: fileBytes,
        onProgress: (sent) => progress.upload(sent),
        signal: interrupt.signal,
      })
      .catch((err: unknown) => {
        if (!interrupt.signal.aborted) throw err;
        return null;
      });
    if (accepted === null) {
      progress.stop();
      io.err.write('interrupted: the upload was abandoned, nothing was imported\n');
      return EXIT.interrupted;
    }
    const uploadSeconds = (performance.now() - uploadStarted) / 1000;
    progress.uploadDone(accepted.records);

    const job = await follow(client, accepted.job_id, progress, interrupt.signal, POLL_MS, io);
    progress.stop();
    if (job === null) return cancel(client, accepted.job_id, io);
    const facts = { collection: options.collection, file, format, fileBytes, uploadSeconds, totalSeconds: (performance.now() - started) / 1000, job };
    io.out.write(options.json ? JSON.stringify(importSummaryJson(facts)) + '\n' : importSummaryText(facts));
    if (job.state === 'done') return EXIT.ok;
    io.err.write(job.error ? `error: ${job.error.code}: ${job.error.message}\n` : `error: job ${job.id} was ${job.state}\n`);
    return EXIT.failed;
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new Error(`cannot import '${file}': it is not a file`);
    return info.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`cannot import '${file}': no such file`);
    throw err;
  }
}

async function createCollection(client: VicinityClient, file: string, format: ImportFormat, options: ImportOptions, io: Io): Promise<void> {
  const dimension = options.dimension ?? (await sniffDimension(file, format));
  if (dimension === null) {
    throw new UsageError(`--create needs --dimension for ${format} files (only .npy and .fvecs headers give it)`);
  }
  const metric = options.metric ?? 'l2';
  const { created } = await client.createCollection(options.collection, { dimension, metric });
  const what = created ? 'created' : 'using the existing';
  io.err.write(`${what} collection '${options.collection}' (dimension ${dimension}, ${metric})\n`);
}

/** Polls the job until it finishes; null when Ctrl-C came first. */
async function follow(client: VicinityClient, id: string, progress: Progress, signal: AbortSignal, pollMs: number, io: Io): Promise<Job | null> {
  for (;;) {
    let job: Job;
    try {
      job = await client.getJob(id);
    } catch (err) {
      progress.stop();
      io.err.write(`(job ${id} continues on the server: see it with \`vicinity job ${id}\`)\n`);
      throw err;
    }
    if (signal.aborted) return null;
    progress.build(job);
    if (FINISHED_STATES.includes(job.state)) return job;
    try {
      await sleep(pollMs, undefined, { signal });
    } catch {
      return null;
    }
  }
}

async function cancel(client: VicinityClient, id: string, io: Io): Promise<number> {
  try {
    const job = await client.cancelJob(id);
    io.err.write(`interrupted: job ${job.id} ${job.state === 'cancelled' ? 'cancelled' : `is ${job.state}`}\n`);
  } catch (err) {
    if (err instanceof VicinityError && err.code === 'VDB_ERR_JOB_FINISHED') {
      io.err.write(`interrupted: ${err.message}: see it with \`vicinity job ${id}\`\n`);
    } else {
      reportError(io, err);
    }
  }
  return EXIT.interrupted;
}
