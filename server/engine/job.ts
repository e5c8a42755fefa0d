import type { JobError, JobRecord, JobState } from '../../storage/jobs.ts';

/**
 * Where a job is. An import stages its body (`staging`), waits for the build process (`queued`),
 * builds, commits and loads; an optimize starts `queued`. An import in body order may build while
 * it stages: its phase stays `staging` until the body is in, then goes straight to `building`.
 */
export type Phase = 'staging' | 'queued' | 'building' | 'committing' | 'loading';

/** The phases each phase may move to. Any phase before `committing` may also end failed or cancelled. */
const NEXT: Readonly<Record<Phase, readonly Phase[]>> = {
  staging: ['queued', 'building'],
  queued: ['building'],
  building: ['committing'],
  committing: ['loading'],
  loading: [],
};

/** The state `GET /v1/jobs/{id}` and the jobs table show for a phase. */
export function stateOf(phase: Phase): JobState {
  return phase === 'queued' ? 'queued' : 'running';
}

export interface Outcome {
  state: Extract<JobState, 'done' | 'failed' | 'cancelled'>;
  error?: JobError;
}

/**
 * A job in progress, on the main thread. Its phase only moves forward (`enter` refuses anything
 * else); `end` settles it once. Everything waiting on the job (its upload, the wait for its body)
 * stops through `signal`, which aborts when it ends.
 */
export class Job {
  readonly id: string;
  readonly kind: JobRecord['kind'];
  readonly collectionId: number;
  readonly collection: string;
  readonly detail: Record<string, unknown>;
  readonly createdAt = Date.now();
  #phase: Phase;
  #since = Date.now();
  readonly seconds: Partial<Record<Phase, number>> = {};
  /** Records staged so far, and how many the body holds once known. */
  staged = 0;
  total: number | null = null;
  /** Records the build has inserted (the build process reports it). */
  built = 0;
  lastStagedAt = Date.now();
  /** An import in body order whose build may follow the upload; false once it gave way to another job. */
  followable: boolean;
  /** Its build is following the upload now. */
  following = false;
  #received: boolean;
  #outcome: Outcome | null = null;
  readonly #abort = new AbortController();
  readonly #whenReceived: Promise<void>;
  #markReceived!: () => void;
  readonly #whenEnded: Promise<void>;
  #markEnded!: () => void;

  constructor(record: Pick<JobRecord, 'id' | 'kind' | 'collectionId' | 'collection' | 'detail'>, options: { followable: boolean }) {
    this.id = record.id;
    this.kind = record.kind;
    this.collectionId = record.collectionId;
    this.collection = record.collection;
    this.detail = record.detail;
    this.#received = record.kind !== 'import';
    this.#phase = record.kind === 'import' ? 'staging' : 'queued';
    this.followable = options.followable;
    this.#whenReceived = new Promise((resolve, reject) => {
      this.#markReceived = resolve;
      this.#abort.signal.addEventListener('abort', () => reject(this.#abort.signal.reason as Error));
    });
    this.#whenReceived.catch(() => undefined);
    if (this.#received) this.#markReceived();
    this.#whenEnded = new Promise((resolve) => (this.#markEnded = resolve));
  }

  get phase(): Phase {
    return this.#phase;
  }

  get state(): JobState {
    return this.#outcome?.state ?? stateOf(this.#phase);
  }

  /** When the current phase began (ms). */
  get since(): number {
    return this.#since;
  }

  /** The whole body is staged. */
  get received(): boolean {
    return this.#received;
  }

  get outcome(): Outcome | null {
    return this.#outcome;
  }

  /** Aborts when the job ends (done, failed or cancelled), with the error that ended it. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Past the commit a job can no longer be cancelled or fail: its points are durable. */
  get committed(): boolean {
    return this.#phase === 'committing' || this.#phase === 'loading';
  }

  enter(phase: Phase): void {
    if (this.#outcome) throw new Error(`job ${this.id} has ended; it cannot enter ${phase}`);
    if (!NEXT[this.#phase].includes(phase)) throw new Error(`job ${this.id} cannot go from ${this.#phase} to ${phase}`);
    const now = Date.now();
    this.seconds[this.#phase] = (now - this.#since) / 1000;
    this.#phase = phase;
    this.#since = now;
  }

  /** The body is all staged: the next phase is `building` if the build follows it, else `queued`. */
  receive(): void {
    this.#received = true;
    this.#markReceived();
    this.enter(this.following ? 'building' : 'queued');
  }

  /** Resolves once the body is all staged; rejects when the job ends first. */
  whenReceived(): Promise<void> {
    return this.#whenReceived;
  }

  /** Ends the job once; later calls return false. `err` aborts `signal`. */
  end(outcome: Outcome, err: unknown): boolean {
    if (this.#outcome) return false;
    this.seconds[this.#phase] = (Date.now() - this.#since) / 1000;
    this.#outcome = outcome;
    this.#abort.abort(err instanceof Error ? err : new Error(outcome.error?.message ?? outcome.state));
    return true;
  }

  /** Called by the owner once the outcome is stored and the job's leftovers are cleaned up. */
  settle(): void {
    this.#markEnded();
  }

  /** Resolves once the job has ended and its outcome is stored. */
  settled(): Promise<void> {
    return this.#whenEnded;
  }
}
