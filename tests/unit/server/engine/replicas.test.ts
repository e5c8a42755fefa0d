import assert from 'node:assert/strict';
import { test } from 'node:test';
import { leastBusy } from '../../../../server/engine/replicas.ts';

const r = (id: number, pending: number, reads: number, loading = false) => ({ id, pending, reads, loading });

test('a read goes to the replica with the fewest tasks, past ones loading, rotating on ties', () => {
  assert.equal(leastBusy([r(0, 5, 5), r(1, 2, 2)], 0, 64)?.id, 1);
  assert.equal(leastBusy([r(0, 1, 1, true), r(1, 9, 9)], 0, 64)?.id, 1, 'a loading replica only when no other');
  assert.equal(leastBusy([r(0, 3, 3), r(1, 3, 3)], 0, 64)?.id, 0);
  assert.equal(leastBusy([r(0, 3, 3), r(1, 3, 3)], 1, 64)?.id, 1);
});

test('a replica whose read queue is full is passed over even when its whole queue is the shortest; null when all are full', () => {
  // Replica 0: 64 reads queued; replica 1: 10 reads behind 60 writes. The read goes to 1, not a 503.
  assert.equal(leastBusy([r(0, 64, 64), r(1, 70, 10)], 0, 64)?.id, 1);
  assert.equal(leastBusy([r(0, 64, 64), r(1, 70, 64)], 0, 64), null);
});
