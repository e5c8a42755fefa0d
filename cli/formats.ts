import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { UsageError } from './options.ts';
import type { ImportFormat } from '../client/src/index.ts';
import { IMPORT_EXTENSIONS } from '../client/src/imports.ts';

export const FORMATS: readonly ImportFormat[] = ['npy', 'fvecs', 'ndjson', 'msgpack'];

/** The import format: `--format` when given, else the file's extension. */
export function inferFormat(file: string, format?: ImportFormat): ImportFormat {
  if (format !== undefined) return format;
  const ext = extname(file).toLowerCase();
  const inferred = IMPORT_EXTENSIONS[ext];
  if (inferred) return inferred;
  const known = Object.keys(IMPORT_EXTENSIONS).join(', ');
  throw new UsageError(
    `cannot tell the format of '${file}' from its extension${ext ? ` '${ext}'` : ''} (known: ${known}): pass --format ${FORMATS.join('|')}`,
  );
}

/** `.npy` preamble: magic (6), version (2), header length (2 in version 1, else 4). */
const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);
const NPY_MAX_HEADER = 65536;

/**
 * The vector dimension written in a file's header: the second axis of an `.npy` array's shape, or
 * the first row's int32 of an `.fvecs` file. Null for formats without one. Only the header is read;
 * the server checks the rest.
 */
export async function sniffDimension(file: string, format: ImportFormat): Promise<number | null> {
  if (format === 'fvecs') {
    const head = await readHead(file, 4);
    if (head.length < 4) throw new UsageError(`'${file}' is too short to be an .fvecs file`);
    const dimension = head.readInt32LE(0);
    if (dimension <= 0) throw new UsageError(`'${file}' starts with dimension ${dimension}: is it an .fvecs file?`);
    return dimension;
  }
  if (format === 'npy') return npyDimension(file, await readHead(file, 12 + NPY_MAX_HEADER));
  return null;
}

function npyDimension(file: string, head: Buffer): number {
  if (head.length < 10 || !head.subarray(0, 6).equals(NPY_MAGIC)) unreadable(file, 'it does not start with \\x93NUMPY');
  const version = head[6];
  if (version < 1 || version > 3) unreadable(file, `.npy version ${version} is not supported`);
  const start = version === 1 ? 10 : 12;
  if (head.length < start) unreadable(file, 'the header is truncated');
  const length = version === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  if (head.length < start + length) unreadable(file, 'the header is truncated');
  const text = head.subarray(start, start + length).toString(version === 3 ? 'utf8' : 'latin1');
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!shape) unreadable(file, "the header has no 'shape'");
  const axes = shape[1]
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s !== '');
  if (axes.length !== 2 || !axes.every((s) => /^\d+$/.test(s))) {
    unreadable(file, `shape (${shape[1].trim()}) is not 2-D (rows × dimension)`);
  }
  return Number(axes[1]);
}

function unreadable(file: string, why: string): never {
  throw new UsageError(`cannot read the dimension from '${file}': ${why}; pass --dimension`);
}

async function readHead(file: string, bytes: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
