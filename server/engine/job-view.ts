import type { JobError, JobRecord, JobState } from '../../storage/jobs.ts';
import type { Job, Phase } from './job.ts';

/** The job as `GET /v1/jobs/{id}` shows it. */
export interface JobView {
  id: string;
  kind: string;
  collection: string;
  state: JobState;
  phase: Phase | null;
  processed: number;
  total: number | null;
  /** Records per second in the current phase (over the whole job once finished). */
  rate: number;
  eta_s: number | null;
  error?: JobError;
  created_at: string;
  finished_at: string | null;
  seconds: number;
  [detail: string]: unknown;
}

/** A stored job, with the live one's phase and progress while it runs. */
export function jobView(record: JobRecord, live: Job | undefined): JobView {
  const now = Date.now();
  const end = record.finishedAt ?? now;
  const view: JobView = {
    ...record.detail,
    id: record.id,
    kind: record.kind,
    collection: record.collection,
    state: live?.state ?? record.state,
    phase: live?.phase ?? null,
    processed: record.processed,
    total: record.total,
    rate: 0,
    eta_s: null,
    created_at: new Date(record.createdAt).toISOString(),
    finished_at: record.finishedAt === null ? null : new Date(record.finishedAt).toISOString(),
    seconds: Math.round(end - record.createdAt) / 1000,
  };
  if (record.error) view.error = record.error;
  if (live && !live.outcome) {
    view.phase_seconds = { ...live.seconds };
    const processed = live.phase === 'building' ? live.built : live.staged;
    const seconds = (now - live.since) / 1000;
    view.processed = processed;
    view.total = live.total;
    view.rate = seconds > 0 ? Math.round(processed / seconds) : 0;
    if (live.following && live.phase === 'staging') view.built = live.built; // a build in body order keeps pace with its upload
    view.eta_s = live.phase !== 'queued' && live.total !== null && view.rate > 0 ? Math.ceil((live.total - processed) / view.rate) : null;
  } else if (record.state === 'done') {
    view.rate = view.seconds > 0 ? Math.round(record.processed / view.seconds) : 0;
    view.eta_s = 0;
  }
  return view;
}
