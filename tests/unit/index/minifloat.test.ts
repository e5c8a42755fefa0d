import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { E4M3, E5M2, FLOAT16, type MiniFloat } from '../../../index/minifloat.ts';

const FORMATS: MiniFloat[] = [E4M3, E5M2, FLOAT16];

test('every code decodes and re-encodes to itself (NaNs to the format NaN, infinities saturate)', () => {
  for (const f of FORMATS) {
    for (let code = 0; code < 2 ** f.bits; code++) {
      const value = f.decode(code);
      const { code: again, saturated } = f.encode(value);
      if (Number.isNaN(value)) assert.ok(Number.isNaN(f.decode(again)), `${f.name} ${code}`);
      else if (!Number.isFinite(value)) assert.ok(saturated && Math.abs(f.decode(again)) === f.max, `${f.name} ${code}`);
      else assert.equal(again, code, `${f.name} code ${code} (${value}) came back as ${again}`);
    }
  }
});

test('the formats have the specified ranges', () => {
  assert.equal(E4M3.max, 448);
  assert.equal(E4M3.decode(1), 2 ** -9);
  assert.equal(E4M3.decode(0x08), 2 ** -6);
  assert.ok(Number.isNaN(E4M3.decode(0x7f)) && Number.isNaN(E4M3.decode(0xff)));
  assert.equal(E5M2.max, 57344);
  assert.equal(E5M2.decode(1), 2 ** -16);
  assert.equal(E5M2.decode(0x04), 2 ** -14);
  assert.equal(E5M2.decode(0x7c), Infinity);
  assert.equal(FLOAT16.max, 65504);
  assert.equal(FLOAT16.decode(1), 2 ** -24);
});

test('ties round to even', () => {
  // E4M3 between 1 (mantissa 000) and 1.125 (001): 1.0625 goes down; 1.1875 between 1.125 and 1.25 goes up.
  assert.equal(E4M3.decode(E4M3.encode(1.0625).code), 1);
  assert.equal(E4M3.decode(E4M3.encode(1.1875).code), 1.25);
  assert.equal(E5M2.decode(E5M2.encode(1.125).code), 1);
  assert.equal(E5M2.decode(E5M2.encode(1.375).code), 1.5);
  assert.equal(FLOAT16.decode(FLOAT16.encode(1 + 2 ** -11).code), 1);
  assert.equal(FLOAT16.decode(FLOAT16.encode(1 + 3 * 2 ** -11).code), 1 + 2 ** -9);
  // A tie in the subnormals: half the smallest subnormal goes to zero (even), a bit more to the subnormal.
  assert.equal(E4M3.encode(2 ** -10).code, 0);
  assert.equal(E4M3.decode(E4M3.encode(2 ** -10 * 1.001).code), 2 ** -9);
  assert.equal(E4M3.encode(-(2 ** -12)).code, 0x80);
});

test('values beyond the range saturate and are counted; values that round to the maximum are not', () => {
  assert.deepEqual(E4M3.encode(464), { code: 0x7e, saturated: false }); // a tie between 448 and (no) 480: even is 448
  assert.deepEqual(E4M3.encode(465), { code: 0x7e, saturated: true });
  assert.deepEqual(E4M3.encode(-1e6), { code: 0xfe, saturated: true });
  assert.deepEqual(E5M2.encode(1e9), { code: 0x7b, saturated: true });
  assert.deepEqual(FLOAT16.encode(65519), { code: 0x7bff, saturated: false });
  assert.deepEqual(FLOAT16.encode(65520), { code: 0x7bff, saturated: true });
  assert.equal(E4M3.encode(NaN).code, 0x7f);
  const out = new Uint8Array(4);
  assert.equal(E4M3.encodeInto(Float32Array.from([1, 500, -600, 0.5]), out), 2);
  const back = new Float32Array(4);
  E4M3.decodeInto(out, back);
  assert.deepEqual([...back], [1, 448, -448, 0.5]);
});

test('decode(encode(x)) is within half an ulp of x across each range', () => {
  for (const f of FORMATS) {
    fc.assert(
      fc.property(fc.float({ min: -f.max, max: f.max, noNaN: true, noDefaultInfinity: true }), (x) => {
        const y = f.decode(f.encode(x).code);
        // The neighbouring codes of y bound the ulp there.
        const { code } = f.encode(y);
        const up = Math.abs(f.decode((code & ((1 << (f.bits - 1)) - 1)) + 1) - Math.abs(y));
        const down = Math.abs(y) - Math.abs(f.decode(Math.max(0, (code & ((1 << (f.bits - 1)) - 1)) - 1)));
        const ulp = Number.isFinite(up) && !Number.isNaN(up) ? Math.max(up, down) : down;
        return Math.abs(y - Math.fround(x)) <= ulp / 2 + 1e-30;
      }),
      { numRuns: 2000 },
    );
  }
});
