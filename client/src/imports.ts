import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { Readable } from 'node:stream';
import type { BuildOrder, ImportFormat } from './types.ts';

export interface ImportOptions {
  /** The body's format; importFile infers it from the extension when left out. */
  format?: ImportFormat;
  /** `.npy` and `.fvecs`: row r gets the id `idOffset + r`. */
  idOffset?: number;
  buildOrder?: BuildOrder;
  seed?: number;
  /** Called as bytes are handed to the connection, with the body's size when known. */
  onProgress?: (bytesSent: number, totalBytes: number | null) => void;
  signal?: AbortSignal;
}

export interface StreamImportOptions extends ImportOptions {
  format: ImportFormat;
  /** The body's size in bytes, sent as Content-Length (and the progress total). */
  size?: number;
}

/** The import format a file's extension (lower-cased) names. */
export const IMPORT_EXTENSIONS: Readonly<Record<string, ImportFormat>> = {
  '.npy': 'npy',
  '.fvecs': 'fvecs',
  '.ndjson': 'ndjson',
  '.jsonl': 'ndjson',
  '.msgpack': 'msgpack',
  '.mpk': 'msgpack',
};

/** The import route's query string. */
export function importQuery(options: ImportOptions & { format: ImportFormat }): string {
  const params = new URLSearchParams({ format: options.format });
  if (options.idOffset !== undefined) params.set('id_offset', String(options.idOffset));
  if (options.buildOrder !== undefined) params.set('build_order', options.buildOrder);
  if (options.seed !== undefined) params.set('seed', String(options.seed));
  return params.toString();
}

export function formatOfPath(path: string, given: ImportFormat | undefined): ImportFormat {
  if (given !== undefined) return given;
  const format = IMPORT_EXTENSIONS[extname(path).toLowerCase()];
  if (format === undefined) {
    throw new TypeError(`cannot tell the format of '${path}' from its extension: give options.format (${Object.values(IMPORT_EXTENSIONS).filter((f, i, a) => a.indexOf(f) === i).join(', ')})`);
  }
  return format;
}

/** A file's stream and size; a missing path or a directory fails here, before any request. */
export async function openFile(path: string): Promise<{ stream: Readable; size: number }> {
  // Opened here, not by the stream: a stream destroyed before its own deferred open would still
  // open the file later and report that open's failure as an uncaught error.
  const handle = await open(path, 'r');
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new TypeError(`cannot import '${path}': it is not a file`);
    return { stream: handle.createReadStream({ highWaterMark: 1 << 20 }), size: info.size };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Passes the chunks on and reports the running byte count as each is handed over. */
export function counted(source: Readable | AsyncIterable<Uint8Array>, total: number | null, onProgress?: ImportOptions['onProgress']): Readable {
  if (!onProgress) return source instanceof Readable ? source : Readable.from(source, { objectMode: false });
  let sent = 0;
  async function* count(): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
      yield bytes;
      sent += bytes.length;
      onProgress!(sent, total);
    }
  }
  return Readable.from(count(), { objectMode: false });
}

/** Rows per chunk of an `.npy` body made from a Float32Array (about 1 MiB). */
function rowsPerChunk(dimension: number): number {
  return Math.max(1, Math.floor((1 << 20) / (dimension * 4)));
}

/**
 * A Float32Array of `n × dimension` values as an `.npy` file (version 1.0, little-endian float32,
 * C order): the header, then the rows in chunks of about 1 MiB. Returns the body's size too.
 */
export function npyBody(vectors: Float32Array, dimension: number): { chunks: Iterable<Uint8Array>; size: number } {
  if (!(vectors instanceof Float32Array)) throw new TypeError('vectors must be a Float32Array');
  if (!Number.isSafeInteger(dimension) || dimension < 1) throw new TypeError(`dimension must be a positive integer, got ${String(dimension)}`);
  if (vectors.length === 0 || vectors.length % dimension !== 0) {
    throw new TypeError(`vectors has ${vectors.length} values: that is not a positive multiple of the dimension ${dimension}`);
  }
  const rows = vectors.length / dimension;
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${dimension}), }`;
  // Magic (6) + version (2) + header length (2) + dict + padding + '\n', a multiple of 64 bytes.
  const unpadded = 10 + dict.length + 1;
  const headerText = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const header = Buffer.alloc(10 + headerText.length);
  header.write('\x93NUMPY', 0, 'latin1');
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(headerText.length, 8);
  header.write(headerText, 10, 'latin1');
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const step = rowsPerChunk(dimension) * dimension;
  function* chunks(): Generator<Uint8Array> {
    yield header;
    for (let start = 0; start < vectors.length; start += step) {
      const part = vectors.subarray(start, Math.min(start + step, vectors.length));
      if (littleEndian) {
        yield new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
        continue;
      }
      const bytes = Buffer.alloc(part.byteLength);
      for (let i = 0; i < part.length; i++) bytes.writeFloatLE(part[i], i * 4);
      yield bytes;
    }
  }
  return { chunks: { [Symbol.iterator]: chunks }, size: header.length + vectors.byteLength };
}
