/**
 * Assembles the WebAssembly module of `simd.ts` (binary format 1.0 with the SIMD proposal's
 * v128 instructions): two functions of (a, base, n, dim, out), all offsets in bytes, that for each
 * of `n` rows of `dim` float32 values from `base` store one float32 at `out + 4i`:
 *
 *   dots: Σ_j a[j] · row_i[j]        l2s: Σ_j (a[j] − row_i[j])²
 *
 * j steps by 4 (v128.load of both, f32x4.mul or f32x4.sub then mul, f32x4.add into one
 * accumulator), the four lanes are summed, then a scalar loop takes the last dim mod 4 values.
 */

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    const b = n & 0x7f;
    n >>>= 7;
    out.push(n ? b | 0x80 : b);
  } while (n);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
};
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, payload: number[]): number[] => [id, ...uleb(payload.length), ...payload];
const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s)];

// Instructions.
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const tee = (i: number) => [0x22, ...uleb(i)];
const i32 = (v: number) => [0x41, ...sleb(v)];
const [ADD, AND, GE_U, SHL] = [[0x6a], [0x71], [0x4f], [0x74]];
const [BLOCK, LOOP, END] = [[0x02, 0x40], [0x03, 0x40], [0x0b]];
const br = (depth: number) => [0x0c, depth];
const brIf = (depth: number) => [0x0d, depth];
const [F32_LOAD, F32_STORE, F32_ADD, F32_SUB, F32_MUL] = [[0x2a, 2, 0], [0x38, 2, 0], [0x92], [0x93], [0x94]];
const V128_LOAD = [0xfd, 0x00, 2, 0];
const V128_ZERO = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
const [F32X4_ADD, F32X4_SUB, F32X4_MUL] = [[0xfd, 0xe4, 0x01], [0xfd, 0xe5, 0x01], [0xfd, 0xe6, 0x01]];
const lane = (l: number) => [0xfd, 0x1f, l];

// Parameters, then locals (4 × i32, 2 × v128, 2 × f32).
const [A, BASE, N, DIM, OUT, I, J, ROW, END4, ACC, D, S, T] = Array.from({ length: 13 }, (_, i) => i);
/** p + 4·idx */
const at = (p: number, idx: number) => [...get(p), ...get(idx), ...i32(2), ...SHL, ...ADD];

function body(l2: boolean): number[] {
  const vectorStep = l2
    ? [...get(ACC), ...at(A, J), ...V128_LOAD, ...at(ROW, J), ...V128_LOAD, ...F32X4_SUB, ...tee(D), ...get(D), ...F32X4_MUL, ...F32X4_ADD, ...set(ACC)]
    : [...get(ACC), ...at(A, J), ...V128_LOAD, ...at(ROW, J), ...V128_LOAD, ...F32X4_MUL, ...F32X4_ADD, ...set(ACC)];
  const scalarStep = l2
    ? [...get(S), ...at(A, J), ...F32_LOAD, ...at(ROW, J), ...F32_LOAD, ...F32_SUB, ...tee(T), ...get(T), ...F32_MUL, ...F32_ADD, ...set(S)]
    : [...get(S), ...at(A, J), ...F32_LOAD, ...at(ROW, J), ...F32_LOAD, ...F32_MUL, ...F32_ADD, ...set(S)];
  const code = [
    ...get(DIM), ...i32(-4), ...AND, ...set(END4),
    ...i32(0), ...set(I), ...get(BASE), ...set(ROW),
    ...BLOCK, ...LOOP,
    ...get(I), ...get(N), ...GE_U, ...brIf(1),
    ...V128_ZERO, ...set(ACC), ...i32(0), ...set(J),
    ...BLOCK, ...LOOP, ...get(J), ...get(END4), ...GE_U, ...brIf(1), ...vectorStep, ...get(J), ...i32(4), ...ADD, ...set(J), ...br(0), ...END, ...END,
    ...get(ACC), ...lane(0), ...get(ACC), ...lane(1), ...F32_ADD, ...get(ACC), ...lane(2), ...get(ACC), ...lane(3), ...F32_ADD, ...F32_ADD, ...set(S),
    ...BLOCK, ...LOOP, ...get(J), ...get(DIM), ...GE_U, ...brIf(1), ...scalarStep, ...get(J), ...i32(1), ...ADD, ...set(J), ...br(0), ...END, ...END,
    ...at(OUT, I), ...get(S), ...F32_STORE,
    ...get(ROW), ...get(DIM), ...i32(2), ...SHL, ...ADD, ...set(ROW),
    ...get(I), ...i32(1), ...ADD, ...set(I), ...br(0),
    ...END, ...END,
  ];
  const fn = [...vec([[...uleb(4), 0x7f], [...uleb(2), 0x7b], [...uleb(2), 0x7d]]), ...code, ...END];
  return [...uleb(fn.length), ...fn];
}

/** The module's bytes: memory (1 page, growable) exported as `memory`, functions `dots` and `l2s`. */
export function simdModule(): Uint8Array {
  const signature = [0x60, ...vec(new Array<number[]>(5).fill([0x7f])), ...vec([])];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([signature])),
    ...section(3, vec([uleb(0), uleb(0)])),
    ...section(5, vec([[0x00, ...uleb(1)]])),
    ...section(7, vec([[...name('memory'), 0x02, 0], [...name('dots'), 0x00, 0], [...name('l2s'), 0x00, 1]])),
    ...section(10, vec([body(false), body(true)])),
  ]);
}
