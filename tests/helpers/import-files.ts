/** Builders of import bodies for tests: .npy and .fvecs files in memory. */

/** Writes a .npy file. `header` overrides the dict text; `shape` overrides the shape. */
export function npyBuffer(
  rows: readonly (readonly number[])[],
  o: { descr?: string; version?: 1 | 2 | 3; fortran?: boolean; shape?: string; header?: string; dimension?: number } = {},
): Buffer {
  const descr = o.descr ?? '<f4';
  const dimension = o.dimension ?? rows[0]?.length ?? 0;
  const shape = o.shape ?? `(${rows.length}, ${dimension})`;
  const version = o.version ?? 1;
  const dict = o.header ?? `{'descr': '${descr}', 'fortran_order': ${o.fortran ? 'True' : 'False'}, 'shape': ${shape}, }`;
  const lengthBytes = version === 1 ? 2 : 4;
  const unpadded = 8 + lengthBytes + Buffer.byteLength(dict) + 1;
  const text = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const preamble = Buffer.alloc(8 + lengthBytes);
  Buffer.from('\x93NUMPY', 'latin1').copy(preamble);
  preamble[6] = version;
  preamble[7] = 0;
  if (version === 1) preamble.writeUInt16LE(Buffer.byteLength(text), 8);
  else preamble.writeUInt32LE(Buffer.byteLength(text), 8);
  const width = /f8$/.test(descr) ? 8 : 4;
  const data = Buffer.alloc(rows.length * dimension * width);
  rows.forEach((row, r) =>
    row.forEach((v, c) => {
      const at = (r * dimension + c) * width;
      if (width === 8) data.writeDoubleLE(v, at);
      else data.writeFloatLE(v, at);
    }),
  );
  return Buffer.concat([preamble, Buffer.from(text, version === 3 ? 'utf8' : 'latin1'), data]);
}

/** Writes an .fvecs file; `dims` overrides each row's dimension field. */
export function fvecsBuffer(rows: readonly (readonly number[])[], dims?: readonly number[]): Buffer {
  const parts = rows.map((row, r) => {
    const b = Buffer.alloc(4 + 4 * row.length);
    b.writeInt32LE(dims?.[r] ?? row.length, 0);
    row.forEach((v, i) => b.writeFloatLE(v, 4 + 4 * i));
    return b;
  });
  return Buffer.concat(parts);
}

/** An async source of the chunks `chunks` makes, each taken only when asked for, as from a stream. */
