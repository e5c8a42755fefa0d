import { readFileSync } from 'node:fs';

/**
 * The level of each label in an index file of hnswlib 0.8.0 (the format hnswlib-node's writeIndex
 * and the parallel builder write): the 96-byte header, every element's layer-0 block (its label at
 * `labelOffset`), then per element a u32 byte count of its upper-layer links, and the links.
 */
export function levelsByLabel(path: string): Map<number, number> {
  const bytes = readFileSync(path);
  const u64 = (at: number) => Number(bytes.readBigUInt64LE(at));
  const count = u64(16);
  const perElement = u64(24);
  const labelOffset = u64(32);
  const maxM = u64(56);
  const linksPerLevel = maxM * 4 + 4;
  const levels = new Map<number, number>();
  let at = 96 + count * perElement;
  for (let i = 0; i < count; i++) {
    const size = bytes.readUInt32LE(at);
    levels.set(u64(96 + i * perElement + labelOffset), size / linksPerLevel);
    at += 4 + size;
  }
  if (at !== bytes.length) throw new Error(`${path}: ${bytes.length - at} bytes after the last element`);
  return levels;
}
