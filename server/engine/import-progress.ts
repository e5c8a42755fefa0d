import type { JobError, JobRecord, JobState } from '../../storage/jobs.ts';
import type { BuildProgress } from './build-state.ts';

export type Phase = 'staging' | 'queued' | 'building' | 'committing' | 'loading';

/** What the main thread knows of a job in progress (the table has its state at each change). */
export interface LiveJob {
  phase: Phase;
  /** When the phase began (ms). */
  since: number;
  processed: number;
  total: number | null;
  /** The build's progress: records built (reported by the build process) and the control flags. */
  progress: BuildProgress;
  cancel: boolean;
  /** The build started while the body was still arriving (it follows the upload). */
  building: boolean;
  /** Settles when the whole body is staged (rejects when it fails or is cancelled). */
  received: Deferred;
  /** Why the upload failed, for the build to record. */
  error?: unknown;
  /** Seconds spent in each phase so far. */
  seconds: Partial<Record<Phase, number>>;
  /** Settles when the job's build has finished, one way or the other. */
  settled?: Promise<void>;
}

/** A promise with its settle functions outside (Promise.withResolvers needs Node 22). */
export interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export function deferred(): Deferred {
  const d = {} as Deferred;
  d.promise = new Promise<void>((resolve, reject) => Object.assign(d, { resolve, reject }));
  return d;
}

/** Moves a job to its next phase, recording how long the last one took. */
export function enterPhase(live: LiveJob, phase: Phase, change: Partial<Pick<LiveJob, 'processed' | 'total'>> = {}): void {
  const now = Date.now();
  live.seconds[live.phase] = (now - live.since) / 1000;
  Object.assign(live, { phase, since: now, ...change });
}

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

export function jobView(job: JobRecord, live: LiveJob | undefined): JobView {
  const now = Date.now();
  const end = job.finishedAt ?? now;
  const view: JobView = {
    ...job.detail,
    id: job.id,
    kind: job.kind,
    collection: job.collection,
    state: job.state,
    phase: live?.phase ?? null,
    processed: job.processed,
    total: job.total,
    rate: 0,
    eta_s: null,
    created_at: new Date(job.createdAt).toISOString(),
    finished_at: job.finishedAt === null ? null : new Date(job.finishedAt).toISOString(),
    seconds: Math.round(end - job.createdAt) / 1000,
  };
  if (job.error) view.error = job.error;
  if (live) {
    view.phase_seconds = { ...live.seconds };
    const processed = live.phase === 'building' ? live.progress.processed : live.processed;
    const seconds = (now - live.since) / 1000;
    view.processed = processed;
    view.total = live.total;
    view.rate = seconds > 0 ? Math.round(processed / seconds) : 0;
    view.eta_s = live.total !== null && view.rate > 0 ? Math.ceil((live.total - processed) / view.rate) : null;
    if (live.phase === 'queued') view.eta_s = null;
  } else if (job.state === 'done') {
    view.rate = view.seconds > 0 ? Math.round(job.processed / view.seconds) : 0;
    view.eta_s = 0;
  }
  return view;
}
