import createError from '@fastify/error';

/** Errors of the index layer. Codes are never reused once retired. */
export const IndexErrors = {
  VectorDimension: createError('VDB_ERR_VECTOR_DIMENSION', '%s', 422),
  VectorNotFinite: createError('VDB_ERR_VECTOR_NOT_FINITE', '%s', 422),
  VectorRange: createError('VDB_ERR_VECTOR_RANGE', '%s', 422),
  VectorZero: createError('VDB_ERR_VECTOR_ZERO', '%s', 422),
  VectorEncoding: createError('VDB_ERR_VECTOR_ENCODING', '%s', 400),
  Options: createError('VDB_ERR_INDEX_OPTIONS', '%s', 500),
  Label: createError('VDB_ERR_INDEX_LABEL', '%s', 500),
  Full: createError('VDB_ERR_INDEX_FULL', '%s', 507),
  SnapshotInvalid: createError('VDB_ERR_INDEX_SNAPSHOT_INVALID', '%s', 500),
} as const;

/** `value` when it is an integer from `min` to `max`; else VDB_ERR_INDEX_OPTIONS naming `options.<name>`. */
export function checkIntOption(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new IndexErrors.Options(`options.${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}
