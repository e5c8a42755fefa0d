import type { Db } from './db.ts';
import { nextSeq } from './db.ts';
import { StorageErrors } from './errors.ts';
import { Labels } from './labels.ts';
import { LinksRepo } from './links.ts';

/** One record to stage: id already normalised, vector encoded, payload as JSON text. */
export interface StagedWrite {
  row: number;
  id: string;
  vector: Uint8Array;
  payload: string | null;
  /** JSON text of `[{to, type, weight}]`, or null. */
  links?: string | null;
}

export interface StagedRow {
  row: number;
  label: number;
  vector: Buffer;
  payload: string | null;
}

/** What an import's commit did. */
export interface ImportCommit {
  seq: number;
  /** Records made visible. */
  records: number;
}

/**
 * Import staging: records wait in `import_rows`, invisible, until one transaction copies them into
 * `points` with one sequence number. Each staged record holds its id's label already (storage/labels.ts:
 * the point's, another staged record's, or a free one), so the index can be built before the commit
 * and the commit never moves a point to another label.
 */
export class StagingRepo {
  readonly #db: Db;
  readonly #labels: Labels;
  readonly #staged;
  readonly #restage;
  readonly #insert;
  readonly #rowsAfter;
  readonly #rowsByKeys;
  readonly #purge;
  readonly #rewrite;

  constructor(db: Db, options: { maxLabel?: number } = {}) {
    this.#db = db;
    this.#labels = new Labels(db, options);
    this.#staged = db.prepare<[string, string], number>('SELECT label FROM import_rows WHERE job_id = ? AND id = ?').pluck();
    this.#restage = db.prepare<[number, Uint8Array, string | null, string | null, string, string]>(
      'UPDATE import_rows SET row = ?, vector = ?, payload = ?, links = ? WHERE job_id = ? AND id = ?',
    );
    this.#insert = db.prepare<[string, number, number, string, number, Uint8Array, string | null, string | null]>(
      'INSERT INTO import_rows (job_id, collection_id, row, id, label, vector, payload, links) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#rewrite = db.prepare<[Uint8Array, string, number]>('UPDATE import_rows SET vector = ? WHERE job_id = ? AND row = ?');
    this.#rowsAfter = db.prepare<[string, number, number], StagedRow>(
      'SELECT row, label, vector, payload FROM import_rows WHERE job_id = ? AND row > ? ORDER BY row LIMIT ?',
    );
    this.#rowsByKeys = db.prepare<[string, string], StagedRow>(
      'SELECT row, label, vector, payload FROM import_rows WHERE job_id = ? AND row IN (SELECT value FROM json_each(?))',
    );
    this.#purge = db.prepare<[string, number], { collection_id: number; label: number }>(
      'DELETE FROM import_rows WHERE rowid IN (SELECT rowid FROM import_rows WHERE job_id = ? LIMIT ?) RETURNING collection_id, label',
    );
  }

  /**
   * Stages a batch in one transaction. A repeated id (only possible when `dedupe`) keeps its first
   * label and takes the last record's vector, payload and row.
   */
  stage(jobId: string, collectionId: number, writes: readonly StagedWrite[], dedupe: boolean): void {
    this.#db.transaction(() => {
      const labels = this.#labels.allocator(collectionId);
      for (const w of writes) {
        if (dedupe && this.#staged.get(jobId, w.id) !== undefined) {
          this.#restage.run(w.row, w.vector, w.payload, w.links ?? null, jobId, w.id);
          continue;
        }
        this.#insert.run(jobId, collectionId, w.row, w.id, labels.labelFor(w.id), w.vector, w.payload, w.links ?? null);
      }
      labels.done();
    })();
  }

  count(jobId: string): number {
    return this.#db.prepare<[string], number>('SELECT count(*) FROM import_rows WHERE job_id = ?').pluck().get(jobId)!;
  }

  /** Up to `limit` staged rows after the key `afterRow`, in body order. */
  rowsAfter(jobId: string, afterRow: number, limit: number): StagedRow[] {
    return this.#rowsAfter.all(jobId, afterRow, limit);
  }

  /** The staged rows' keys in body order. */
  rowKeys(jobId: string): number[] {
    return this.#db.prepare<[string], number>('SELECT row FROM import_rows WHERE job_id = ? ORDER BY row').pluck().all(jobId);
  }

  /** Staged rows with the given keys, in the order of `rows`. */
  rowsByKeys(jobId: string, rows: readonly number[]): StagedRow[] {
    const found = this.#rowsByKeys.all(jobId, JSON.stringify(rows));
    const byRow = new Map(found.map((r) => [r.row, r]));
    return rows.map((r) => byRow.get(r)!).filter(Boolean);
  }

  /**
   * Rewrites the staged vectors not `bytes` long with `reencode(old)` (the collection's codec was
   * fitted after they were staged), up to `limit` rows after the key `afterRow`. Returns the last
   * row key seen, or null when no rows are left: call again with it, a write each.
   */
  reencode(jobId: string, afterRow: number, bytes: number, reencode: (old: Buffer) => Uint8Array, limit = 512): number | null {
    const rows = this.rowsAfter(jobId, afterRow, limit);
    for (const r of rows) if (r.vector.byteLength !== bytes) this.#rewrite.run(reencode(r.vector), jobId, r.row);
    return rows.length === limit ? rows[rows.length - 1].row : null;
  }

  /**
   * Makes the staged records visible in one transaction with one sequence number: new ids are
   * inserted, known ids (live or deleted) replaced, the counts and the job's `committed_seq` set.
   * Fails if the collection was dropped meanwhile. `before` runs first inside the transaction
   * (a model fitted by the import is installed there, with the rows it re-encodes).
   */
  commit(jobId: string, collectionId: number, before?: () => void, limits: { maxLinksPerPoint?: number; maxPoints?: number } = {}): ImportCommit {
    const { maxLinksPerPoint = 1024, maxPoints = Number.MAX_SAFE_INTEGER } = limits;
    const db = this.#db;
    return db.transaction((): ImportCommit => {
      const live = db.prepare<[number], number>('SELECT count(*) FROM collections WHERE id = ? AND dropped = 0').pluck().get(collectionId);
      if (!live) throw new StorageErrors.Gone('the collection was dropped during the import');
      const joined = `FROM import_rows s JOIN points p ON p.collection_id = s.collection_id AND p.id = s.id WHERE s.job_id = ?`;
      const known = db
        .prepare<[string], { live: number; deleted: number; moved: number }>(
          `SELECT count(*) FILTER (WHERE p.deleted = 0) AS live, count(*) FILTER (WHERE p.deleted = 1) AS deleted,
                  count(*) FILTER (WHERE p.label != s.label) AS moved ${joined}`,
        )
        .get(jobId)!;
      // Labels are held per id (storage/labels.ts), so a staged record always has its point's label.
      if (known.moved > 0) throw new Error(`import ${jobId}: ${known.moved} staged records hold another label than their points`);
      const records = this.count(jobId);
      before?.();
      const seq = nextSeq(db);
      db.prepare(
        `INSERT INTO points (collection_id, id, label, vector, payload, seq, deleted)
         SELECT ?, id, label, vector, payload, ?, 0 FROM import_rows WHERE job_id = ?
         ON CONFLICT (collection_id, id) DO UPDATE
           SET vector = excluded.vector, payload = excluded.payload, seq = excluded.seq, deleted = 0`,
      ).run(collectionId, seq, jobId);
      const added = records - known.live - known.deleted;
      db.prepare('UPDATE collections SET live_count = live_count + ?, deleted_count = deleted_count - ? WHERE id = ?').run(
        added + known.deleted,
        known.deleted,
        collectionId,
      );
      const after = db.prepare<[number], number>('SELECT live_count FROM collections WHERE id = ?').pluck().get(collectionId)!;
      if (after > maxPoints) {
        throw new StorageErrors.PointLimit(`the import would bring the collection to ${after} points, more than VICINITY_MAX_POINTS_PER_COLLECTION (${maxPoints}); nothing was imported`);
      }
      this.#commitLinks(jobId, collectionId, seq, maxLinksPerPoint);
      db.prepare('UPDATE jobs SET committed_seq = ? WHERE id = ?').run(seq, jobId);
      return { seq, records };
    })();
  }

  /**
   * Inside the commit, after the points: the staged records' links, whose targets must be points
   * now (imported or already there); a missing one, or a point past the link limit, fails the commit.
   */
  #commitLinks(jobId: string, collectionId: number, seq: number, maxLinksPerPoint: number): void {
    const db = this.#db;
    const rows = db.prepare<[string], { row: number; id: string; links: string }>(
      'SELECT row, id, links FROM import_rows WHERE job_id = ? AND links IS NOT NULL ORDER BY row',
    ).all(jobId);
    if (rows.length === 0) return;
    const labelOf = db.prepare<[number, string], number>('SELECT label FROM points WHERE collection_id = ? AND id = ? AND deleted = 0').pluck();
    const links = new LinksRepo(db);
    const touched = { out: new Set<number>(), in: new Set<number>() };
    for (const r of rows) {
      const src = labelOf.get(collectionId, r.id)!;
      const put = (JSON.parse(r.links) as { to: string; type: string; weight: number }[]).map((l) => {
        const dst = labelOf.get(collectionId, l.to);
        if (dst === undefined) {
          throw new StorageErrors.ImportLink(`record ${r.row} (id '${r.id}') links to '${l.to}', which neither the import nor the collection holds; nothing was imported`);
        }
        touched.in.add(dst);
        return { src, dst, type: l.type, weight: l.weight };
      });
      touched.out.add(src);
      links.put(collectionId, put, seq);
    }
    for (const direction of ['out', 'in'] as const) {
      for (const label of touched[direction]) {
        const n = links.count(collectionId, label, direction);
        if (n > maxLinksPerPoint) {
          const id = db.prepare<[number, number], string>('SELECT id FROM points WHERE collection_id = ? AND label = ?').pluck().get(collectionId, label);
          throw new StorageErrors.ImportLink(`point '${id}' would have ${n} ${direction === 'out' ? 'outgoing' : 'incoming'} links, more than ${maxLinksPerPoint}; nothing was imported`);
        }
      }
    }
  }

  /**
   * Deletes up to `limit` staged rows of a job; true when none are left. Labels they held that no
   * point or other staged record holds become free (none do after a commit).
   */
  purge(jobId: string, limit: number): boolean {
    return this.#db.transaction(() => {
      const rows = this.#purge.all(jobId, limit);
      for (const { collection_id, label } of rows) this.#labels.free(collection_id, [label]);
      return rows.length < limit;
    })();
  }

  /** Jobs that still have staged rows (left by a crash or a cancel), for clean-up. */
  jobsWithRows(): string[] {
    return this.#db.prepare<[], string>('SELECT DISTINCT job_id FROM import_rows').pluck().all();
  }
}
