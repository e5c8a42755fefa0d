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
