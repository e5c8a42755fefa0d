import type { Db } from './db.ts';

/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
 * Append only: a released migration is never edited.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
  INSERT INTO meta (key, value) VALUES ('seq', 0);

  CREATE TABLE collections (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    config      TEXT NOT NULL,
    next_label  INTEGER NOT NULL DEFAULT 0,
    live_count  INTEGER NOT NULL DEFAULT 0,
    deleted_count INTEGER NOT NULL DEFAULT 0,
    created_seq INTEGER NOT NULL,
    dropped     INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE UNIQUE INDEX collections_live_name ON collections (name) WHERE dropped = 0;

  -- One row per point id ever used in a collection. A delete keeps the row as a tombstone
  -- (deleted = 1, no vector or payload) so the id keeps its label and indexes can absorb it.
  CREATE TABLE points (
    collection_id INTEGER NOT NULL,
    id       TEXT NOT NULL,
    label    INTEGER NOT NULL,
    vector   BLOB,
    payload  TEXT,
    seq      INTEGER NOT NULL,
    deleted  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (collection_id, id)
  ) STRICT;
  CREATE UNIQUE INDEX points_label ON points (collection_id, label);
  CREATE INDEX points_seq ON points (collection_id, seq, label);
  `,
  `
  -- Background work (imports; later rebuilds). A job that was not finished when the process
  -- stopped is failed at the next start; \`committed_seq\` marks an import whose points committed.
  CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    collection_id INTEGER NOT NULL,
    collection    TEXT NOT NULL,
    state         TEXT NOT NULL,
    detail        TEXT NOT NULL,
    total         INTEGER,
    processed     INTEGER NOT NULL DEFAULT 0,
    committed_seq INTEGER,
    error         TEXT,
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER
  ) STRICT;

  -- Records of an import, invisible until one commit copies them into points. \`label\` is the
  -- point's existing label, or one reserved from the collection's next_label while staging.
  CREATE TABLE import_rows (
    job_id  TEXT NOT NULL,
    row     INTEGER NOT NULL,
    id      TEXT NOT NULL,
    label   INTEGER NOT NULL,
    vector  BLOB NOT NULL,
    payload TEXT,
    PRIMARY KEY (job_id, row)
  ) STRICT;
  CREATE UNIQUE INDEX import_rows_id ON import_rows (job_id, id);
  `,
  `
  -- What a compressed collection fitted on its data (arXiv 2505.00105): the float8 codec's params,
  -- fitted once, and PCA, which a rebuild may refit (\`pca_version\` counts the fits).
  CREATE TABLE models (
    collection_id INTEGER PRIMARY KEY,
    codec         BLOB,
    pca           BLOB,
    pca_version   INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  `,
  `
  -- What a rebuild's k-NN pass found (arXiv 2405.17813, arXiv 2507.19715): each point's LID and nearest labels.
  -- Derived data: replaced by the next pass, stale for points written since.
  CREATE TABLE knn (
    collection_id INTEGER NOT NULL,
    label         INTEGER NOT NULL,
    lid           REAL,
    neighbours    BLOB NOT NULL,
    PRIMARY KEY (collection_id, label)
  ) STRICT;
  -- The LID distribution of those rows, as JSON, written with them.
  CREATE TABLE knn_summary (collection_id INTEGER PRIMARY KEY, summary TEXT NOT NULL) STRICT;
  `,
  `
  -- Labels are held by ids, whether stored or staged (storage/labels.ts): staged records say their
  -- collection, so an upsert or another import of the same id finds the label; labels of purged
  -- points and of staged records never committed are free, and handed out again first.
  ALTER TABLE import_rows ADD COLUMN collection_id INTEGER NOT NULL DEFAULT 0;
  UPDATE import_rows SET collection_id = coalesce((SELECT collection_id FROM jobs WHERE jobs.id = import_rows.job_id), 0);
  CREATE INDEX import_rows_collection_id ON import_rows (collection_id, id);
  CREATE INDEX import_rows_collection_label ON import_rows (collection_id, label);
  CREATE TABLE free_labels (
    collection_id INTEGER NOT NULL,
    label         INTEGER NOT NULL,
    PRIMARY KEY (collection_id, label)
  ) STRICT, WITHOUT ROWID;
  `,
  `
  -- Links between live points, by label (storage/links.ts): deleted with either end.
  CREATE TABLE links (
    collection_id INTEGER NOT NULL,
    src           INTEGER NOT NULL,
    dst           INTEGER NOT NULL,
    type          TEXT NOT NULL,
    weight        REAL NOT NULL,
    seq           INTEGER NOT NULL,
    PRIMARY KEY (collection_id, src, type, dst)
  ) STRICT;
  CREATE INDEX links_in ON links (collection_id, dst, type, src);
  `,
  `
  -- The k-NN overlay: an entry holds for the point version of sequence \`seq\` (-1: not trusted, as
  -- an import's pass, which saw only the imported points); the filler resumes after (seq, label).
  ALTER TABLE knn ADD COLUMN seq INTEGER NOT NULL DEFAULT -1;
  CREATE TABLE overlay (collection_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, label INTEGER NOT NULL) STRICT;
  `,
  `
  -- A staged record's links, as JSON text of [{to, type, weight}]: written with the import's commit.
  ALTER TABLE import_rows ADD COLUMN links TEXT;
  `,
];

export function migrate(db: Db): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
