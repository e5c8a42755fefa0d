import { StorageErrors } from '../../storage/errors.ts';

/** Scroll cursors are opaque to clients: the last label returned, base64url-encoded. */
export function encodeCursor(label: number): string {
  return Buffer.from(`l${label}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const label = Number(text.slice(1));
  if (!/^l\d{1,10}$/.test(text) || !Number.isSafeInteger(label)) {
    throw new StorageErrors.Cursor('cursor is not one this server returned: pass next_cursor unchanged, or omit it to start over');
  }
  return label;
}
