import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { normaliseConfig } from '../../../../server/engine/collection-config.ts';
import { ReplicaState } from '../../../../server/engine/replica-state.ts';
import type { SearchReply } from '../../../../server/engine/protocol.ts';
import { Writer } from '../../../../server/engine/writer.ts';
import { CollectionsRepo } from '../../../../storage/collections.ts';
import { openDatabase } from '../../../../storage/db.ts';
import { PointsRepo } from '../../../../storage/points.ts';
import { randomVectors } from '../../../helpers/random.ts';

const DIM = 64;

test('searches run while a snapshot is written, unless a write sent before them waits behind it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-replica-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dbPath = join(dir, 'vicinity.db');
  const db = openDatabase({ path: dbPath, synchronous: 'NORMAL' });
  t.after(() => db.close());
  const writer = new Writer(db);
  const config = normaliseConfig({ dimension: DIM, metric: 'l2' });
  const vectors = randomVectors(20_000, DIM, 9);
  const { id } = await writer.write(() => new CollectionsRepo(db).create('c', config));
  const points = new PointsRepo(db);
  for (let at = 0; at < vectors.length; at += 5000) {
    await writer.write(() => points.upsert(id, vectors.slice(at, at + 5000).map((v, i) => ({ id: `p${at + i}`, vector: Buffer.from(new Float32Array(v).buffer), payload: null }))));
  }
  const replica = new ReplicaState({ dbPath, snapshotDir: join(dir, 'indexes'), engine: 'stock', maxLinksPerPoint: 1024, maxPointsPerCollection: 1e9 });
  await replica.init();
  const search = (vector: number[]) => ({ op: 'search' as const, collectionId: id, store: null, searches: [{ query: new Float32Array(vector), k: 1, ef: 64, filter: null, candidates: 1, rescore: false }] });

  const order: string[] = [];
  const snapshot = replica.run({ op: 'snapshot', collectionId: id, seq: 1 }).then(() => order.push('snapshot'));
  await new Promise((resolve) => setImmediate(resolve)); // the snapshot is writing
  const read = replica.run(search(vectors[7])).then((r) => {
    order.push('search');
    return r as SearchReply[];
  });
  const [found] = await read;
  assert.equal(found.labels[0], 7);
  // A write sent now waits for the snapshot, and so does a search sent after it: it must see the write.
  const moved = randomVectors(1, DIM, 10)[0];
  const apply = replica.run({ op: 'apply', collectionId: id, seq: 10 ** 6, labels: Uint32Array.of(7), deleted: Uint8Array.of(0), vectors: new Float32Array(moved) }).then(() => order.push('apply'));
  const after = replica.run(search(moved)).then((r) => {
    order.push('search after the write');
    return r as SearchReply[];
  });
  const [again] = await after;
  await Promise.all([snapshot, apply]);
  assert.equal(again.labels[0], 7);
  assert.deepEqual(order, ['search', 'snapshot', 'apply', 'search after the write']);
});
