import { FINISHED_STATES, type ImportFormat, type Job, type SearchAnswer, type SearchHit } from '../client/src/index.ts';

const MiB = 1024 * 1024;
const count = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** What one `vicinity import` did, measured by the CLI, and the job's own figures. */
export interface ImportFacts {
  collection: string;
  file: string;
  format: ImportFormat;
  fileBytes: number;
  /** From the first byte sent until the server answered 202 (the body is staged). */
  uploadSeconds: number;
  /** From the command's start until the job was seen finished. */
  totalSeconds: number;
  job: Job;
}

/** The summary as one JSON-able object (`--json`); `vectors_per_second` is null unless the job is done. */
export function importSummaryJson(f: ImportFacts): Record<string, unknown> {
  return {
    collection: f.collection,
    file: f.file,
    format: f.format,
    job_id: f.job.id,
    state: f.job.state,
    records: f.job.records ?? 0,
    file_bytes: f.fileBytes,
    upload_seconds: round(f.uploadSeconds, 3),
    total_seconds: round(f.totalSeconds, 3),
    vectors_per_second: f.job.state === 'done' ? round(perSecond(f.job.records ?? 0, f.totalSeconds), 1) : null,
    job: f.job,
  };
}

/** The summary as text lines, for people. */
export function importSummaryText(f: ImportFacts): string {
  const { job } = f;
  const done = job.state === 'done';
  const records = `${count.format(job.records ?? 0)} records into '${f.collection}' (job ${job.id})`;
  const buildTime = job.seconds === undefined ? 'time not reported' : seconds(job.seconds);
  const lines = [
    done ? `imported ${records}` : `${job.state}: did not import ${records}`,
    `  file    ${f.file}: ${bytes(f.fileBytes)} (${count.format(f.fileBytes)} bytes), ${f.format}`,
    `  upload  ${seconds(f.uploadSeconds)} at ${mibPerSecond(f.fileBytes, f.uploadSeconds)}`,
    `  job     ${buildTime} on the server, ${count.format(job.rate)} records/s, build order ${job.build_order}`,
    done
      ? `  total   ${seconds(f.totalSeconds)} from start to done: ${count.format(perSecond(job.records ?? 0, f.totalSeconds))} vectors/s`
      : `  total   ${seconds(f.totalSeconds)} from start to ${job.state}`,
  ];
  return lines.join('\n') + '\n';
}

/** `vicinity job ID`: one field a line. */
export function jobText(job: Job): string {
  const progress = job.total === null ? `${count.format(job.processed)}` : `${count.format(job.processed)} / ${count.format(job.total)}`;
  const rows: [string, string][] = [
    ['job', `${job.id} (${job.kind} into '${job.collection}')`],
    ['state', job.phase ? `${job.state}, ${job.phase}` : job.state],
    ['progress', `${progress} at ${count.format(job.rate)} records/s${job.eta_s === null || FINISHED_STATES.includes(job.state) ? '' : `, eta ${eta(job.eta_s)}`}`],
    ['records', `${count.format(job.records ?? 0)} (${bytes(job.bytes ?? 0)}), build order ${job.build_order ?? '-'}`],
    ['created', job.created_at],
    ['finished', job.finished_at ?? '-'],
  ];
  if (job.seconds !== undefined) rows.push(['seconds', seconds(job.seconds)]);
  if (job.error) rows.push(['error', `${job.error.code}: ${job.error.message}`]);
  return rows.map(([k, v]) => `${k.padEnd(9)}${v}`).join('\n') + '\n';
}

/** Search results as a small table: rank, id, distance (and payload). */
export function searchTable(answer: SearchAnswer, withPayload: boolean, explain = false): string {
  if (answer.results.length === 0) return 'no results\n';
  const rows = answer.results.map((hit, i) => {
    const row = [String(i + 1), String(hit.id), hit.distance.toPrecision(6)];
    if (explain) row.push(source(hit.explain));
    if (withPayload) row.push(hit.payload === undefined ? '' : JSON.stringify(hit.payload));
    return row;
  });
  const head = ['#', 'id', 'distance', ...(explain ? ['source'] : []), ...(withPayload ? ['payload'] : [])];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: string[]): string => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ');
  const lines = [line(head), ...rows.map(line)];
  if (answer.took_ms !== undefined) lines.push(`${rows.length} results in ${answer.took_ms} ms`);
  const q = answer.quality;
  if (q) lines.push(`relevance ${q.relevance.toFixed(4)}, coverage ${q.coverage.toFixed(4)}, diversity ${q.diversity.toFixed(4)}`);
  return lines.join('\n') + '\n';
}

/** Where a result came from: `index`, or `link next from d1c2 (hop 1)`. */
function source(e: SearchHit['explain']): string {
  if (!e) return '';
  if (e.source === 'index') return 'index';
  return `${e.source}${e.link_type ? ` ${e.link_type}` : ''} from ${e.from ?? '?'} (hop ${e.hop})`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < MiB) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${(n / 1024 / MiB).toFixed(2)} GiB`;
}

export function seconds(s: number): string {
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 120) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
}

/** A remaining time: whole seconds, rounded up (the last second is not "0 s"). */
export function eta(s: number): string {
  const whole = Math.ceil(s);
  return whole < 120 ? `${whole} s` : `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
}

export function mibPerSecond(n: number, s: number): string {
  return `${(perSecond(n, s) / MiB).toFixed(1)} MiB/s`;
}

function perSecond(n: number, s: number): number {
  return s > 0 ? n / s : 0;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
