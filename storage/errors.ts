import createError from '@fastify/error';

/** Errors of the storage layer. Codes are never reused once retired. */
export const StorageErrors = {
  WhereInvalid: createError('VDB_ERR_WHERE_INVALID', '%s', 400),
  PointId: createError('VDB_ERR_POINT_ID', '%s', 400),
  Cursor: createError('VDB_ERR_CURSOR_INVALID', '%s', 400),
  LabelsExhausted: createError('VDB_ERR_LABELS_EXHAUSTED', '%s', 422),
  Options: createError('VDB_ERR_STORAGE_OPTIONS', '%s', 500),
  /** At start-up: the SQLite file is damaged or not a database; the server does not start. */
  Corrupt: createError('VDB_ERR_STORAGE_CORRUPT', '%s', 500),
  /** The disk holding the data directory is full (SQLITE_FULL): the write was not made; reads go on. */
  Full: createError('VDB_ERR_STORAGE_FULL', '%s', 507),
  /** An imported record links to an id that neither the import nor the collection holds, or past a link limit. */
  ImportLink: createError('VDB_ERR_IMPORT_LINK', '%s', 422),
  /** A write that would take a collection past its live-point limit (VICINITY_MAX_POINTS_PER_COLLECTION). */
  PointLimit: createError('VDB_ERR_POINT_LIMIT', '%s', 422),
  /** The collection an operation was working on was dropped meanwhile. */
  Gone: createError('VDB_ERR_COLLECTION_GONE', '%s', 409),
} as const;
