import { closeSync, openSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { gaussianMixture, row, type VectorSet } from './datasets.ts';

/** A file written for an import: where, in which format, how many records and bytes. */
export interface ImportFile {
  path: string;
  format: 'npy' | 'ndjson';
  records: number;
  dim: number;
  bytes: number;
  /** Seconds the bench spent writing it. */
  writeS: number;
}

/** Rows generated per chunk: a 1M × 128 file is written 8,192 rows (4 MiB) at a time. */
const CHUNK_ROWS = 8192;

/**
 * The `.npy` v1.0 preamble and header of an `n × dim` little-endian float32 array in C order, padded
 * with spaces and a newline so the data starts on a 64-byte boundary, as numpy writes it.
 */
export function npyHeader(n: number, dim: number): Buffer {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${n}, ${dim}), }`;
  const unpadded = 10 + dict.length + 1;
  const padding = (64 - (unpadded % 64)) % 64;
  const text = `${dict}${' '.repeat(padding)}\n`;
  if (text.length > 0xffff) throw new Error(`.npy v1.0 header of ${text.length} bytes does not fit its uint16 length`);
  const head = Buffer.alloc(10);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  head.writeUInt16LE(text.length, 8);
  return Buffer.concat([head, Buffer.from(text, 'latin1')]);
}

/** Writes `n × dim` float32 rows to `path` as `.npy`, taking them chunk by chunk from `next(rows)`. */
export function writeNpy(path: string, n: number, dim: number, next: (rows: number) => Float32Array): ImportFile {
  // .npy '<f4' is little-endian; the raw bytes of a Float32Array are only that on a little-endian CPU.
  if (endianness() !== 'LE') throw new Error('writing .npy from Float32Array bytes needs a little-endian CPU');
  const started = performance.now();
  const fd = openSync(path, 'w');
  let bytes = 0;
  try {
    bytes += writeSync(fd, npyHeader(n, dim));
    for (let done = 0; done < n; ) {
      const rows = Math.min(CHUNK_ROWS, n - done);
      const chunk = next(rows);
      if (chunk.length !== rows * dim) throw new Error(`a chunk of ${rows} rows held ${chunk.length} values, expected ${rows * dim}`);
      bytes += writeSync(fd, new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      done += rows;
    }
  } finally {
    closeSync(fd);
  }
  return { path, format: 'npy', records: n, dim, bytes, writeS: (performance.now() - started) / 1000 };
}

/** The rows of a set in memory as `.npy`. */
export function writeSetNpy(path: string, set: VectorSet): ImportFile {
  let at = 0;
  return writeNpy(path, set.n, set.dim, (rows) => {
    const chunk = set.data.subarray(at * set.dim, (at + rows) * set.dim);
    at += rows;
    return chunk;
  });
}

/** `n` vectors of the seeded Gaussian mixture written as `.npy` a chunk at a time: memory stays at one chunk. */
export function writeMixtureNpy(path: string, n: number, dim: number, clusters: number, seed: number): ImportFile {
  const draw = gaussianMixture(dim, clusters, seed);
  return writeNpy(path, n, dim, (rows) => draw(rows).data);
}

/**
 * The rows of a set as NDJSON, `{"id":"<row>","vector":[…],"payload":{"row":<row>}}` per line: ids match
 * the `.npy` import's (`id_offset` 0 + row), so both are checked against the same ground truth.
 */
export function writeSetNdjson(path: string, set: VectorSet): ImportFile {
  const started = performance.now();
  const fd = openSync(path, 'w');
  let bytes = 0;
  try {
    for (let from = 0; from < set.n; from += CHUNK_ROWS) {
      const lines: string[] = [];
      for (let i = from; i < Math.min(set.n, from + CHUNK_ROWS); i++) {
        lines.push(`{"id":"${i}","vector":${JSON.stringify(Array.from(row(set, i)))},"payload":{"row":${i}}}\n`);
      }
      bytes += writeSync(fd, lines.join(''));
    }
  } finally {
    closeSync(fd);
  }
  return { path, format: 'ndjson', records: set.n, dim: set.dim, bytes, writeS: (performance.now() - started) / 1000 };
}
