import type { Db } from './db.ts';

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
export const FINISHED: readonly JobState[] = ['done', 'failed', 'cancelled'];

export interface JobError {
  code: string;
  message: string;
}

/** A job as stored. `detail` holds the kind's own fields (an import's format, order, bytes…). */
export interface JobRecord {
  id: string;
  kind: 'import' | 'optimize';
  collectionId: number;
  collection: string;
  state: JobState;
  detail: Record<string, unknown>;
  total: number | null;
  processed: number;
  /** The sequence of an import's commit, once its points are in: it then survives a crash. */
  committedSeq: number | null;
  error: JobError | null;
  createdAt: number;
  finishedAt: number | null;
}

interface Row {
  id: string;
  kind: 'import' | 'optimize';
  collection_id: number;
  collection: string;
  state: JobState;
  detail: string;
  total: number | null;
  processed: number;
  committed_seq: number | null;
  error: string | null;
  created_at: number;
  finished_at: number | null;
}

function toRecord(row: Row): JobRecord {
  return {
    id: row.id,
    kind: row.kind,
    collectionId: row.collection_id,
    collection: row.collection,
    state: row.state,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
    total: row.total,
    processed: row.processed,
    committedSeq: row.committed_seq,
    error: row.error === null ? null : (JSON.parse(row.error) as JobError),
    createdAt: row.created_at,
    finishedAt: row.finished_at,
  };
}

/** The jobs table: one row per job, written at each change of state (progress lives in memory). */
export class JobsRepo {
  readonly #db: Db;
  readonly #get;
  readonly #update;

  constructor(db: Db) {
    this.#db = db;
    this.#get = db.prepare<[string], Row>('SELECT * FROM jobs WHERE id = ?');
    this.#update = db.prepare<[JobState, number | null, number, string, string | null, number | null, string]>(
      'UPDATE jobs SET state = ?, total = ?, processed = ?, detail = ?, error = ?, finished_at = ? WHERE id = ?',
    );
  }

  create(job: Pick<JobRecord, 'id' | 'kind' | 'collectionId' | 'collection' | 'detail'> & { state?: JobState; createdAt?: number }): JobRecord {
    this.#db
      .prepare(
        `INSERT INTO jobs (id, kind, collection_id, collection, state, detail, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(job.id, job.kind, job.collectionId, job.collection, job.state ?? 'running', JSON.stringify(job.detail), job.createdAt ?? Date.now());
    return this.get(job.id)!;
  }

  get(id: string): JobRecord | undefined {
    const row = this.#get.get(id);
    return row && toRecord(row);
  }

  /** The newest jobs first. */
  list(limit: number): JobRecord[] {
    return this.#db.prepare<[number], Row>('SELECT * FROM jobs ORDER BY created_at DESC, id LIMIT ?').all(limit).map(toRecord);
  }

  /** Records a state (and progress); finished states also stamp `finished_at`. */
  update(id: string, change: { state?: JobState; total?: number | null; processed?: number; detail?: Record<string, unknown>; error?: JobError }): void {
    const job = this.get(id);
    if (!job) return;
    const state = change.state ?? job.state;
    this.#update.run(
        state,
        change.total === undefined ? job.total : change.total,
        change.processed ?? job.processed,
        JSON.stringify(change.detail ?? job.detail),
        change.error ? JSON.stringify(change.error) : job.error && JSON.stringify(job.error),
        FINISHED.includes(state) ? Date.now() : null,
        id,
      );
  }

  /**
   * Deletes finished jobs that finished before `before` (ms since the epoch) or are beyond the
   * newest `keep` finished ones. Returns how many went.
   */
  prune(before: number, keep: number): number {
    return this.#db
      .prepare<[number, number]>(
        `DELETE FROM jobs WHERE finished_at IS NOT NULL AND (finished_at < ? OR id NOT IN (
           SELECT id FROM jobs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, id LIMIT ?))`,
      )
      .run(before, keep).changes;
  }

  /**
   * At start-up: jobs left unfinished by the previous process. An import that committed is done
   * (its points are durable and the indexes catch up from SQLite); any other is failed.
   */
  settleInterrupted(): { done: string[]; failed: string[] } {
    const open = this.#db
      .prepare<[], Row>(`SELECT * FROM jobs WHERE state IN ('queued', 'running')`)
      .all()
      .map(toRecord);
    const result = { done: [] as string[], failed: [] as string[] };
    for (const job of open) {
      if (job.committedSeq !== null) {
        this.update(job.id, { state: 'done' });
        result.done.push(job.id);
      } else {
        this.update(job.id, {
          state: 'failed',
          error: { code: 'VDB_ERR_JOB_INTERRUPTED', message: 'the server stopped before the job finished; nothing of it was kept' },
        });
        result.failed.push(job.id);
      }
    }
    return result;
  }
}
