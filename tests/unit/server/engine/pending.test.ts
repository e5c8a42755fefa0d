import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BruteForceIndex } from '../../../../index/brute-force.ts';
import type { Metric } from '../../../../index/vector-index.ts';
import { liveWithPending, PendingWrites, searchWithPending } from '../../../../server/engine/pending.ts';
import { prng } from '../../../helpers/random.ts';

const DIM = 16;

function vectors(n: number, seed: number): Float32Array[] {
  const random = prng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: DIM }, () => random() * 2 - 1));
}

/** Queues one write of `labels` (null: delete) as the replica does. */
function write(pending: PendingWrites, metric: Metric, seq: number, collectionId: number, writes: [number, Float32Array | null][]): void {
  const labels = Uint32Array.from(writes.map(([label]) => label));
  const deleted = Uint8Array.from(writes.map(([, v]) => (v ? 0 : 1)));
  pending.add(collectionId, metric, seq, labels, deleted, (i) => writes[i][1]!);
}

for (const metric of ['l2', 'ip', 'cosine'] as const) {
  test(`${metric}: the index with pending writes answers as an index holding every write (brute-force oracle)`, () => {
    const base = vectors(300, 1);
    const index = new BruteForceIndex({ dimension: DIM, metric });
    const oracle = new BruteForceIndex({ dimension: DIM, metric });
    base.forEach((v, label) => {
      index.upsert(label, v);
      oracle.upsert(label, v);
    });
    const pending = new PendingWrites();
    const moved = vectors(120, 2);
    const random = prng(3);
    let seq = 1;
    // Replacements, deletes, new labels, and labels written twice (the newest counts).
    for (let i = 0; i < 120; i++) {
      const label = i < 100 ? Math.floor(random() * 300) : 300 + (i % 10);
      const vector = i % 7 === 3 ? null : moved[i];
      write(pending, metric, seq++, 1, [[label, vector]]);
      if (vector) oracle.upsert(label, vector);
      else oracle.remove(label);
    }
    const view = pending.view(1)!;
    assert.ok(view);
    const even = (label: number) => label % 2 === 0;
    for (const query of vectors(40, 4)) {
      for (const filter of [undefined, even]) {
        const got = searchWithPending(view, (n, without) => index.search(query, n, { filter: without }), query, 10, filter);
        const want = oracle.search(query, 10, { filter });
        assert.deepEqual(got.map((h) => h.label), want.map((h) => h.label));
        got.forEach((h, i) => assert.ok(Math.abs(h.distance - want[i].distance) < 1e-5, `${h.distance} vs ${want[i].distance}`));
      }
    }
    for (let label = 0; label < 310; label++) {
      assert.equal(liveWithPending(view, (l) => index.has(l), label), oracle.has(label), `label ${label}`);
    }
    const delta = pending.liveDelta(1, (l) => index.has(l));
    assert.equal(index.size + delta.live, oracle.size);
  });
}

test('writes reach the index oldest first, a label written twice ends with its newest vector, and the view empties', () => {
  const pending = new PendingWrites();
  const [a, b, c] = vectors(3, 5);
  write(pending, 'l2', 1, 1, [[7, a], [8, b]]);
  write(pending, 'l2', 2, 2, [[7, c]]);
  write(pending, 'l2', 3, 1, [[7, c], [8, null]]);
  assert.equal(pending.size, 5);
  assert.equal(pending.count(1), 4);
  assert.equal(pending.appliedBefore(1), 0);
  assert.equal(pending.appliedBefore(2), 1);
  assert.equal(pending.view(1)!.latest.get(7)!.vector, c);
  assert.equal(pending.view(1)!.latest.get(8)!.vector, null);
  const applied: [number, number, Float32Array | null][] = [];
  // A zero budget still applies one write per call.
  assert.equal(pending.applyFor(0, (collection, label, vector) => applied.push([collection, label, vector])), 1);
  assert.deepEqual(applied, [[1, 7, a]]);
  assert.equal(pending.view(1)!.latest.get(7)!.vector, c, 'the newer write of 7 is still pending');
  assert.equal(pending.applyFor(1000, (collection, label, vector) => applied.push([collection, label, vector])), 4);
  assert.deepEqual(applied.slice(1), [[1, 8, b], [2, 7, c], [1, 7, c], [1, 8, null]]);
  assert.equal(pending.size, 0);
  assert.equal(pending.view(1), null);
  assert.equal(pending.view(2), null);
  assert.equal(pending.appliedBefore(1), null);
});

test('discard forgets a collection’s writes up to a sequence (a reload) or all of them (a drop), leaving the others', () => {
  const pending = new PendingWrites();
  const [a, b] = vectors(2, 6);
  write(pending, 'l2', 1, 1, [[1, a]]);
  write(pending, 'l2', 2, 2, [[1, b]]);
  write(pending, 'l2', 3, 1, [[2, b]]);
  write(pending, 'l2', 4, 1, [[1, b]]);
  assert.equal(pending.discard(1, 3), 2);
  assert.equal(pending.view(1)!.latest.size, 1);
  assert.equal(pending.view(1)!.latest.get(1)!.vector, b);
  assert.equal(pending.appliedBefore(1), 3);
  assert.equal(pending.discard(2), 1);
  assert.equal(pending.view(2), null);
  const applied: number[] = [];
  pending.applyFor(1000, (collection, label) => applied.push(collection * 100 + label));
  assert.deepEqual(applied, [101]);
});

test('a long queue is compacted as it drains, keeping its order', () => {
  const pending = new PendingWrites();
  const [v] = vectors(1, 7);
  for (let i = 0; i < 5000; i++) write(pending, 'l2', i + 1, 1, [[i, v]]);
  const seen: number[] = [];
  while (pending.size > 0) {
    pending.applyFor(0, (_, label) => seen.push(label));
    if (seen.length === 3000) write(pending, 'l2', 9999, 1, [[9999, v]]);
  }
  assert.equal(seen.length, 5001);
  assert.deepEqual(seen.slice(0, 5000), Array.from({ length: 5000 }, (_, i) => i));
  assert.equal(seen[5000], 9999);
});
