import createError from '@fastify/error';

/**
 * Errors of bulk imports. Codes are never reused once retired. Vector and id rule violations keep
 * the codes of `toVector` (`VDB_ERR_VECTOR_*`, 422) and `normaliseId` (`VDB_ERR_POINT_ID`, 400).
 */
export const ImportErrors = {
  /** The body is not valid in the chosen format; the message names the place (`line 3: …`). */
  Format: createError('VDB_ERR_IMPORT_FORMAT', '%s', 400),
  /** The body passes a byte, record or line cap. */
  TooLarge: createError('VDB_ERR_IMPORT_TOO_LARGE', '%s', 413),
  /** The client sent nothing for `VICINITY_IMPORT_IDLE_TIMEOUT_S` in the middle of a body. */
  Timeout: createError('VDB_ERR_IMPORT_TIMEOUT', '%s', 408),
  /** The import's options (format, id offset, caps, batch size) are invalid. */
  Options: createError('VDB_ERR_IMPORT_OPTIONS', '%s', 400),
} as const;
