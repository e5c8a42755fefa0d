import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LabelBitmap, popcount } from '../../../storage/label-bitmap.ts';

const sorted = (labels: Iterable<number>): number[] => [...labels].sort((a, b) => a - b);

describe('LabelBitmap', () => {
  it('rounds the capacity up to whole words and refuses impossible ones', () => {
    assert.equal(new LabelBitmap(0).capacity, 0);
    assert.equal(new LabelBitmap(1).capacity, 32);
    assert.equal(new LabelBitmap(64).capacity, 64);
    assert.equal(new LabelBitmap(65).words.length, 3);
    assert.throws(() => new LabelBitmap(-1), RangeError);
    assert.throws(() => new LabelBitmap(1.5), RangeError);
    assert.throws(() => new LabelBitmap(2 ** 32 + 1), RangeError);
    assert.throws(() => new LabelBitmap(new ArrayBuffer(6)), /multiple of 4/);
  });

  it('answers has() with false outside the bitmap and never throws', () => {
    const bitmap = LabelBitmap.fromLabels([0, 31, 63], 64);
    for (const label of [-1, 64, 65, 2 ** 32, 2 ** 53, 0.5, 31.5, NaN, Infinity, -Infinity]) {
      assert.equal(bitmap.has(label), false, String(label));
    }
    assert.ok(bitmap.has(0) && bitmap.has(31) && bitmap.has(63));
    assert.equal(new LabelBitmap(0).has(0), false);
    assert.equal(bitmap.delete(64), false);
    assert.equal(bitmap.delete(-1), false);
    assert.throws(() => bitmap.add(64), RangeError);
    assert.throws(() => bitmap.add(-1), RangeError);
    assert.throws(() => bitmap.add(1.5), RangeError);
  });

  it('works over a SharedArrayBuffer in place, visible through another view and a worker-style copy of the handle', () => {
    const buffer = new SharedArrayBuffer(16);
    const bitmap = new LabelBitmap(buffer);
    assert.equal(bitmap.capacity, 128);
    assert.equal(bitmap.buffer, buffer);
    bitmap.add(5).add(100);
    const other = new LabelBitmap(buffer); // what a worker builds from the buffer it was sent
    assert.deepEqual([...other], [5, 100]);
    other.delete(5);
    assert.equal(bitmap.has(5), false);
    assert.equal(new Uint32Array(buffer)[3], 1 << 4);
    assert.ok(bitmap.clone().buffer instanceof SharedArrayBuffer);
    assert.ok(new LabelBitmap(10, { shared: true }).buffer instanceof SharedArrayBuffer);
    assert.ok(!(new LabelBitmap(10).buffer instanceof SharedArrayBuffer));
    const words = new Uint32Array([0b101]);
    assert.equal(new LabelBitmap(words).words, words);
  });

  it('counts bits in edge words: empty, full, sign bit, alternating', () => {
    for (const [word, bits] of [
      [0, 0],
      [1, 1],
      [0x80000000, 1],
      [0xffffffff, 32],
      [0x7fffffff, 31],
      [0xaaaaaaaa, 16],
      [0x55555555, 16],
      [0x80000001, 2],
    ] as const) {
      assert.equal(popcount(word), bits, word.toString(16));
      assert.equal(new LabelBitmap(new Uint32Array([word, word])).count(), 2 * bits);
    }
    const full = LabelBitmap.fromLabels(Array.from({ length: 96 }, (_, i) => i), 96);
    assert.equal(full.count(), 96);
    assert.equal(full.toArray().length, 96);
    assert.deepEqual([...LabelBitmap.fromLabels([31, 32, 63, 64], 96)], [31, 32, 63, 64]);
  });

  it('handles bit 31 of a word (the int32 sign bit) in every operation', () => {
    const bitmap = new LabelBitmap(new ArrayBuffer(8));
    bitmap.add(31).add(63);
    assert.equal(bitmap.words[0], 0x80000000);
    assert.deepEqual([...bitmap.toArray()], [31, 63]);
    assert.equal(bitmap.count(), 2);
    assert.deepEqual([...bitmap.clone().andNot(LabelBitmap.fromLabels([63], 64))], [31]);
    assert.deepEqual([...bitmap.clone().and(LabelBitmap.fromLabels([31, 62], 64))], [31]);
    assert.ok(bitmap.delete(31));
    assert.deepEqual([...bitmap], [63]);
  });

  it('or() refuses labels beyond its capacity and changes nothing then', () => {
    const small = LabelBitmap.fromLabels([1], 32);
    assert.throws(() => small.or(LabelBitmap.fromLabels([2, 40], 64)), /label 40 is beyond/);
    assert.deepEqual([...small], [1]);
    small.or(LabelBitmap.fromLabels([3], 96)); // longer but empty beyond: fine
    assert.deepEqual([...small], [1, 3]);
  });

  it('agrees with a Set on add/delete/has/and/or/andNot/clone/iteration for any labels and capacities', () => {
    const labels = (max: number) => fc.uniqueArray(fc.integer({ min: 0, max }), { maxLength: 60 });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 200 }),
        labels(199),
        labels(199),
        labels(199),
        (capA, capB, rawA, rawB, removed) => {
          const inA = rawA.filter((l) => l < capA);
          const inB = rawB.filter((l) => l < capB);
          const a = LabelBitmap.fromLabels(inA, capA);
          const b = LabelBitmap.fromLabels(inB, capB);
          const setA = new Set(inA);
          const setB = new Set(inB);
          for (const label of removed) assert.equal(a.delete(label), setA.delete(label));
          assert.equal(a.count(), setA.size);
          for (let label = -1; label <= 201; label++) assert.equal(a.has(label), setA.has(label));
          assert.deepEqual([...a], sorted(setA));
          const visited: number[] = [];
          a.forEach((label) => visited.push(label));
          assert.deepEqual(visited, sorted(setA));
          assert.deepEqual([...a.toArray()], sorted(setA));

          const and = a.clone().and(b);
          assert.deepEqual([...and], sorted([...setA].filter((l) => setB.has(l))));
          const andNot = a.clone().andNot(b);
          assert.deepEqual([...andNot], sorted([...setA].filter((l) => !setB.has(l))));
          const union = sorted(new Set([...setA, ...setB]));
          if (union.every((l) => l < a.capacity)) assert.deepEqual([...a.clone().or(b)], union);
          else assert.throws(() => a.clone().or(b), RangeError);
          assert.equal(a.clone().and(b).count(), and.count());
          assert.deepEqual([...a], sorted(setA), 'clones are independent');
        },
      ),
      { numRuns: 300 },
    );
  });
});
