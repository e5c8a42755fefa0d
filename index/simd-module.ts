/**
 * Assembles the WebAssembly module of `simd.ts` (binary format 1.0 with the SIMD proposal's
 * v128 instructions). All offsets are in bytes.
 *
 * dots and l2s, (a, base, n, dim, out): for each of `n` rows of `dim` float32 values from `base`,
 * one float32 at `out + 4i`:
 *
 *   dots: Σ_j a[j] · row_i[j]        l2s: Σ_j (a[j] − row_i[j])²
 *
 * Four rows at a time share each load of `a` and keep four independent accumulators (one
 * accumulator's add latency bounded the loop), then single rows for the last n mod 4. j steps by
 * 4 (v128.load, f32x4.mul or f32x4.sub then mul, f32x4.add), the lanes are summed, then a scalar
 * loop takes the last dim mod 4 values.
 *
 * The coded kernels score `q` against rows of stored codes without decoding them to memory first,
 * (q, shift, scale, base, n, dim, out): `q`, `shift` and `scale` hold `dim` float32 values and each
 * row `dim` codes, `dim` a multiple of 16 (8-bit codes) or 8 (16-bit), padded with zeros. A code c
 * stands for shift[j] + scale[j] · value(c):
 *
 *   l2s_<format>: out[i] = Σ_j (q[j] − x_ij)²        dotnorms_<format>: out[2i] = Σ_j q[j] · x_ij, out[2i + 1] = Σ_j x_ij²
 *
 * value(c) is widened in registers: int8 sign-extended and converted; a float format's magnitude
 * bits shifted into a float32's exponent and mantissa with the bias difference added to the
 * exponent, the sign bit moved to bit 31, and the subnormal codes (exponent 0) taken as
 * magnitude · 2^(1 − bias − mantissa bits) instead, so no float32 subnormal is ever formed (x86
 * multiplies them slowly). The codes of infinities and NaN (never stored: encoding saturates) read
 * as large finite values.
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
const [ADD, MUL, AND, GE_U, GT_U, SHL] = [[0x6a], [0x6c], [0x71], [0x4f], [0x4b], [0x74]];
const [BLOCK, LOOP, END] = [[0x02, 0x40], [0x03, 0x40], [0x0b]];
const br = (depth: number) => [0x0c, depth];
const brIf = (depth: number) => [0x0d, depth];
const F32_LOAD = [0x2a, 2, 0];
const f32Store = (offset: number) => [0x38, 2, ...uleb(offset)];
const [F32_ADD, F32_SUB, F32_MUL] = [[0x92], [0x93], [0x94]];
const simd = (op: number) => [0xfd, ...uleb(op)];
/** v128.load at `offset` past the address on the stack (alignment hint 1: rows of codes start anywhere). */
const v128Load = (offset = 0) => [...simd(0x00), 0, ...uleb(offset)];
const bytes4 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const i32x4Const = (v: number) => [...simd(0x0c), ...bytes4(v), ...bytes4(v), ...bytes4(v), ...bytes4(v)];
const f32Bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0];
const f32x4Const = (x: number) => i32x4Const(f32Bits(x));
const V128_ZERO = i32x4Const(0);
const [V128_AND, V128_OR, V128_BITSELECT] = [simd(0x4e), simd(0x50), simd(0x52)];
const I32X4_LT_S = simd(0x39);
const [I16X8_EXTEND_LOW_I8X16_S, I16X8_EXTEND_HIGH_I8X16_S] = [simd(0x87), simd(0x88)];
const [I32X4_EXTEND_LOW_I16X8_S, I32X4_EXTEND_HIGH_I16X8_S] = [simd(0xa7), simd(0xa8)];
const [I32X4_SHL, I32X4_ADD] = [simd(0xab), simd(0xae)];
const [F32X4_ADD, F32X4_SUB, F32X4_MUL] = [simd(0xe4), simd(0xe5), simd(0xe6)];
const F32X4_CONVERT_I32X4_S = simd(0xfa);
const lane = (l: number) => [...simd(0x1f), l];
/** p + 4·idx */
const at = (p: number, idx: number) => [...get(p), ...get(idx), ...i32(2), ...SHL, ...ADD];
/** The four lanes of v128 local `v` summed: (l0 + l1) + (l2 + l3). */
const lanes = (v: number) => [...get(v), ...lane(0), ...get(v), ...lane(1), ...F32_ADD, ...get(v), ...lane(2), ...get(v), ...lane(3), ...F32_ADD, ...F32_ADD];
const fn = (locals: number[][], code: number[]): number[] => {
  const body = [...vec(locals), ...code, ...END];
  return [...uleb(body.length), ...body];
};
const [I32, V128, F32] = [0x7f, 0x7b, 0x7d];

/** dots (l2 false) or l2s (l2 true). */
function floatRows(l2: boolean): number[] {
  // Parameters, then locals: 9 × i32, 6 × v128, 3 × f32.
  const [A, BASE, N, DIM, OUT, I, J, ROW, END4, STRIDE, R1, R2, R3, P, AV, ACC, A1, A2, A3, D, S, T, X] = Array.from({ length: 23 }, (_, i) => i);
  const rows = [ROW, R1, R2, R3];
  const accs = [ACC, A1, A2, A3];
  /** acc += f(av, v128 at address on stack) */
  const vectorStep = (acc: number, address: number[]) =>
    l2
      ? [...get(acc), ...get(AV), ...address, ...v128Load(), ...F32X4_SUB, ...tee(D), ...get(D), ...F32X4_MUL, ...F32X4_ADD, ...set(acc)]
      : [...get(acc), ...get(AV), ...address, ...v128Load(), ...F32X4_MUL, ...F32X4_ADD, ...set(acc)];
  const scalarStep = (row: number) =>
    l2
      ? [...get(S), ...get(X), ...at(row, J), ...F32_LOAD, ...F32_SUB, ...tee(T), ...get(T), ...F32_MUL, ...F32_ADD, ...set(S)]
      : [...get(S), ...get(X), ...at(row, J), ...F32_LOAD, ...F32_MUL, ...F32_ADD, ...set(S)];
  /** The lanes of `acc` summed, the scalar tail of `row` added, stored at out[i + r]. */
  const finish = (r: number) => [
    ...lanes(accs[r]), ...set(S), ...get(END4), ...set(J),
    ...BLOCK, ...LOOP, ...get(J), ...get(DIM), ...GE_U, ...brIf(1), ...at(A, J), ...F32_LOAD, ...set(X), ...scalarStep(rows[r]), ...get(J), ...i32(1), ...ADD, ...set(J), ...br(0), ...END, ...END,
    ...at(OUT, I), ...get(S), ...f32Store(4 * r),
  ];
  const vectorLoop = (count: number) => [
    ...i32(0), ...set(J),
    ...BLOCK, ...LOOP, ...get(J), ...get(END4), ...GE_U, ...brIf(1),
    ...get(J), ...i32(2), ...SHL, ...set(P), ...get(A), ...get(P), ...ADD, ...v128Load(), ...set(AV),
    ...rows.slice(0, count).flatMap((row, r) => vectorStep(accs[r], [...get(row), ...get(P), ...ADD])),
    ...get(J), ...i32(4), ...ADD, ...set(J), ...br(0), ...END, ...END,
  ];
  const code = [
    ...get(DIM), ...i32(-4), ...AND, ...set(END4), ...get(DIM), ...i32(2), ...SHL, ...set(STRIDE),
    ...i32(0), ...set(I), ...get(BASE), ...set(ROW),
    // Four rows at a time while four are left.
    ...BLOCK, ...LOOP,
    ...get(I), ...i32(4), ...ADD, ...get(N), ...GT_U, ...brIf(1),
    ...get(ROW), ...get(STRIDE), ...ADD, ...set(R1), ...get(R1), ...get(STRIDE), ...ADD, ...set(R2), ...get(R2), ...get(STRIDE), ...ADD, ...set(R3),
    ...accs.flatMap((acc) => [...V128_ZERO, ...set(acc)]),
    ...vectorLoop(4),
    ...[0, 1, 2, 3].flatMap(finish),
    ...get(R3), ...get(STRIDE), ...ADD, ...set(ROW), ...get(I), ...i32(4), ...ADD, ...set(I), ...br(0),
    ...END, ...END,
    // Then one at a time.
    ...BLOCK, ...LOOP,
    ...get(I), ...get(N), ...GE_U, ...brIf(1),
    ...V128_ZERO, ...set(ACC),
    ...vectorLoop(1),
    ...finish(0),
    ...get(ROW), ...get(STRIDE), ...ADD, ...set(ROW), ...get(I), ...i32(1), ...ADD, ...set(I), ...br(0),
    ...END, ...END,
  ];
  return fn([[9, I32], [6, V128], [3, F32]], code);
}

/** A stored-code format as the coded kernels widen it. */
interface CodeFormat {
  name: string;
  /** Bytes per code: 1 or 2. */
  bytes: 1 | 2;
  /** Float formats: the magnitude's mask, the left shift that puts its mantissa under float32's, the exponent bias difference, and the mantissa bits. Null: int8. */
  float: { mask: number; shift: number; bias: number; mantissa: number } | null;
}

export const CODE_FORMATS: readonly CodeFormat[] = [
  { name: 'e4m3', bytes: 1, float: { mask: 0x7f, shift: 20, bias: 127 - 7, mantissa: 3 } },
  { name: 'e5m2', bytes: 1, float: { mask: 0x7f, shift: 21, bias: 127 - 15, mantissa: 2 } },
  { name: 'f16', bytes: 2, float: { mask: 0x7fff, shift: 13, bias: 127 - 15, mantissa: 10 } },
  { name: 'i8', bytes: 1, float: null },
];

/** l2s_<format> (l2 true) or dotnorms_<format>. */
function codedRows(format: CodeFormat, l2: boolean): number[] {
  // Parameters, then locals: 4 × i32, 15 × v128.
  const [Q, SHIFT, SCALE, BASE, N, DIM, OUT, I, J, ROW, P, C, WL, WH, W, X, M, T, A0, A1, A2, A3, B0, B1, B2, B3] = Array.from({ length: 26 }, (_, i) => i);
  const as = [A0, A1, A2, A3];
  const bs = [B0, B1, B2, B3];
  const groups = 16 / format.bytes / 4;
  /** The v128 of float array `p` for group g of this step. */
  const floats = (p: number, g: number) => [...get(p), ...get(P), ...ADD, ...v128Load(16 * g)];
  // The codes of group g as sign-extended i32 lanes.
  const widen = (g: number) =>
    format.bytes === 1
      ? [...get(g < 2 ? WL : WH), ...(g % 2 === 0 ? I32X4_EXTEND_LOW_I16X8_S : I32X4_EXTEND_HIGH_I16X8_S)]
      : [...get(C), ...(g === 0 ? I32X4_EXTEND_LOW_I16X8_S : I32X4_EXTEND_HIGH_I16X8_S)];
  const f = format.float;
  // value(c) as float32 lanes, from the widened codes in W.
  const value = f
    ? [
        ...get(W), ...i32x4Const(f.mask), ...V128_AND, ...set(M),
        ...get(M), ...F32X4_CONVERT_I32X4_S, ...f32x4Const(2 ** (1 - (127 - f.bias) - f.mantissa)), ...F32X4_MUL,
        ...get(M), ...i32(f.shift), ...I32X4_SHL, ...i32x4Const(f.bias << 23), ...I32X4_ADD,
        ...get(M), ...i32x4Const(1 << f.mantissa), ...I32X4_LT_S,
        ...V128_BITSELECT,
        ...get(W), ...i32x4Const(0x80000000), ...V128_AND, ...V128_OR,
      ]
    : [...get(W), ...F32X4_CONVERT_I32X4_S];
  const group = (g: number) => [
    ...widen(g), ...set(W),
    ...floats(SHIFT, g), ...floats(SCALE, g), ...value, ...F32X4_MUL, ...F32X4_ADD, ...set(X),
    ...(l2
      ? [...get(as[g]), ...floats(Q, g), ...get(X), ...F32X4_SUB, ...tee(T), ...get(T), ...F32X4_MUL, ...F32X4_ADD, ...set(as[g])]
      : [...get(as[g]), ...floats(Q, g), ...get(X), ...F32X4_MUL, ...F32X4_ADD, ...set(as[g]), ...get(bs[g]), ...get(X), ...get(X), ...F32X4_MUL, ...F32X4_ADD, ...set(bs[g])]),
  ];
  const sum = (v: number[]) => [...get(v[0]), ...get(v[1]), ...F32X4_ADD, ...get(v[2]), ...get(v[3]), ...F32X4_ADD, ...F32X4_ADD, ...set(v[0]), ...lanes(v[0])];
  const code = [
    ...i32(0), ...set(I), ...get(BASE), ...set(ROW),
    ...BLOCK, ...LOOP,
    ...get(I), ...get(N), ...GE_U, ...brIf(1),
    ...[...as, ...bs].flatMap((acc) => [...V128_ZERO, ...set(acc)]),
    ...i32(0), ...set(J),
    ...BLOCK, ...LOOP, ...get(J), ...get(DIM), ...GE_U, ...brIf(1),
    ...get(ROW), ...get(J), ...(format.bytes === 2 ? [...i32(1), ...SHL] : []), ...ADD, ...v128Load(), ...set(C),
    ...(format.bytes === 1 ? [...get(C), ...I16X8_EXTEND_LOW_I8X16_S, ...set(WL), ...get(C), ...I16X8_EXTEND_HIGH_I8X16_S, ...set(WH)] : []),
    ...get(J), ...i32(2), ...SHL, ...set(P),
    ...Array.from({ length: groups }, (_, g) => group(g)).flat(),
    ...get(J), ...i32(16 / format.bytes), ...ADD, ...set(J), ...br(0), ...END, ...END,
    ...(l2
      ? [...at(OUT, I), ...sum(as), ...f32Store(0)]
      : [...get(OUT), ...get(I), ...i32(3), ...SHL, ...ADD, ...sum(as), ...f32Store(0), ...get(OUT), ...get(I), ...i32(3), ...SHL, ...ADD, ...sum(bs), ...f32Store(4)]),
    ...get(ROW), ...get(DIM), ...i32(format.bytes), ...MUL, ...ADD, ...set(ROW),
    ...get(I), ...i32(1), ...ADD, ...set(I), ...br(0),
    ...END, ...END,
  ];
  return fn([[4, I32], [15, V128]], code);
}

/** The names the module exports its functions under, in order. */
export const KERNELS = ['dots', 'l2s', ...CODE_FORMATS.flatMap((f) => [`l2s_${f.name}`, `dotnorms_${f.name}`])];

/**
 * The module's bytes: memory (1 page, growable) exported as `memory`, and the functions of KERNELS:
 * the float32 ones of type 0 (5 × i32), the coded ones of type 1 (7 × i32).
 */
export function simdModule(): Uint8Array {
  const signature = (params: number) => [0x60, ...vec(new Array<number[]>(params).fill([I32])), ...vec([])];
  const bodies = [floatRows(false), floatRows(true), ...CODE_FORMATS.flatMap((f) => [codedRows(f, true), codedRows(f, false)])];
  const types = bodies.map((_, i) => uleb(i < 2 ? 0 : 1));
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([signature(5), signature(7)])),
    ...section(3, vec(types)),
    ...section(5, vec([[0x00, ...uleb(1)]])),
    ...section(7, vec([[...name('memory'), 0x02, 0], ...KERNELS.map((k, i) => [...name(k), 0x00, ...uleb(i)])])),
    ...section(10, vec(bodies)),
  ]);
}
