import createError from '@fastify/error';
import { IndexErrors } from '../index/errors.ts';
import { StorageErrors } from '../storage/errors.ts';
import { ImportErrors } from './import/errors.ts';

/** Errors of the server layer. Codes are never reused once retired. */
export const ServerErrors = {
  RequestInvalid: createError('VDB_ERR_REQUEST_INVALID', '%s', 400),
  RequestMalformed: createError('VDB_ERR_REQUEST_MALFORMED', '%s', 400),
  RequestTooLarge: createError('VDB_ERR_REQUEST_TOO_LARGE', '%s', 413),
  MediaType: createError('VDB_ERR_REQUEST_MEDIA_TYPE', '%s', 415),
  RouteNotFound: createError('VDB_ERR_ROUTE_NOT_FOUND', '%s', 404),
  CollectionNotFound: createError('VDB_ERR_COLLECTION_NOT_FOUND', '%s', 404),
  CollectionExists: createError('VDB_ERR_COLLECTION_EXISTS', '%s', 409),
  CollectionConfig: createError('VDB_ERR_COLLECTION_CONFIG', '%s', 422),
  PointNotFound: createError('VDB_ERR_POINT_NOT_FOUND', '%s', 404),
  /** A payload nested too deep, or holding a value JSON cannot (MessagePack binary, NaN). */
  PayloadInvalid: createError('VDB_ERR_PAYLOAD_INVALID', '%s', 400),
  /** A point's payload past VICINITY_MAX_PAYLOAD_BYTES. */
  PayloadTooLarge: createError('VDB_ERR_PAYLOAD_TOO_LARGE', '%s', 413),
  /** An import past VICINITY_MAX_CONCURRENT_IMPORTS (with `Retry-After`). */
  ImportLimit: createError('VDB_ERR_IMPORT_LIMIT', '%s', 429),
  /** A new collection past VICINITY_MAX_COLLECTIONS. */
  CollectionLimit: createError('VDB_ERR_COLLECTION_LIMIT', '%s', 422),
  /** No API key, or one the server does not know (with `WWW-Authenticate: Bearer`). */
  Unauthenticated: createError('VDB_ERR_UNAUTHENTICATED', '%s', 401),
  /** The key's role or collections do not allow the call. */
  Forbidden: createError('VDB_ERR_FORBIDDEN', '%s', 403),
  /** A request body that had not all arrived after VICINITY_REQUEST_TIMEOUT_S. */
  RequestTimeout: createError('VDB_ERR_REQUEST_TIMEOUT', '%s', 408),
  NotReady: createError('VDB_ERR_NOT_READY', '%s', 503),
  Overloaded: createError('VDB_ERR_OVERLOADED', '%s', 503),
  Internal: createError('VDB_ERR_INTERNAL', '%s', 500),
  JobNotFound: createError('VDB_ERR_JOB_NOT_FOUND', '%s', 404),
  /** The collection keeps no k-NN overlay (graph.knn_k 0): no neighbours to list or expand through. */
  OverlayOff: createError('VDB_ERR_OVERLAY_OFF', '%s', 422),
  /** Links past a limit: per point and direction, or per request. */
  LinkLimit: createError('VDB_ERR_LINK_LIMIT', '%s', 422),
  /** The job already finished (done, failed or cancelled) or is past the point of cancelling. */
  JobFinished: createError('VDB_ERR_JOB_FINISHED', '%s', 409),
  /** Stored on a job cancelled by `DELETE /v1/jobs/{id}`. */
  JobCancelled: createError('VDB_ERR_JOB_CANCELLED', '%s', 409),
  /** A backup was asked for while one runs. */
  BackupRunning: createError('VDB_ERR_BACKUP_RUNNING', '%s', 409),
  BackupNotFound: createError('VDB_ERR_BACKUP_NOT_FOUND', '%s', 404),
  /** Stored on a job the server stopped in the middle of (it left nothing behind). */
  JobInterrupted: createError('VDB_ERR_JOB_INTERRUPTED', '%s', 500),
} as const;

type ErrorTable = Record<string, new (message: string) => Error & { code: string; statusCode?: number }>;

/** Every error code the server can answer with, and its HTTP status. */
export function errorCatalogue(): { code: string; status: number }[] {
  const tables: ErrorTable[] = [ServerErrors, StorageErrors, IndexErrors, ImportErrors];
  return tables.flatMap((table) =>
    Object.values(table).map((E) => {
      const e = new E('x');
      return { code: e.code, status: e.statusCode ?? 500 };
    }),
  );
}
