import { StorageErrors } from './errors.ts';

const MAX_ID_BYTES = 256;

/**
 * Normalises a user point id to its stored string: a string of 1–256 UTF-8 bytes, or a
 * non-negative safe integer stored as its decimal string (so 5 and "5" name the same point).
 */
export function normaliseId(id: unknown, field = 'id'): string {
  if (typeof id === 'number') {
    if (!Number.isSafeInteger(id) || id < 0) {
      throw new StorageErrors.PointId(
        `${field} ${String(id)} is not a valid id: use a non-negative safe integer (0 to 2^53 − 1) or a string`,
      );
    }
    return String(id);
  }
  if (typeof id === 'string') {
    if (!id.isWellFormed()) {
      throw new StorageErrors.PointId(`${field} contains a lone UTF-16 surrogate: ids must be valid Unicode`);
    }
    const bytes = Buffer.byteLength(id, 'utf8');
    if (bytes === 0 || bytes > MAX_ID_BYTES) {
      throw new StorageErrors.PointId(`${field} must be 1 to ${MAX_ID_BYTES} UTF-8 bytes long, got ${bytes}`);
    }
    return id;
  }
  throw new StorageErrors.PointId(`${field} must be a string or a non-negative integer, got ${id === null ? 'null' : typeof id}`);
}
