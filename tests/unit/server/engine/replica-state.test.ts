import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { normaliseConfig } from '../../../../server/engine/collection-config.ts';
import { ReplicaState, searchCollection, type SearchTarget } from '../../../../server/engine/replica-state.ts';
import type { SearchReply } from '../../../../server/engine/protocol.ts';
import { Writer } from '../../../../server/engine/writer.ts';
import { CollectionsRepo } from '../../../../storage/collections.ts';
import { openDatabase } from '../../../../storage/db.ts';
import { PointsRepo } from '../../../../storage/points.ts';
import { HnswIndex } from '../../../../index/hnsw.ts';
import { loadHnswlib } from '../../../../index/native/load.ts';
import { VectorStore } from '../../../../index/vector-store.ts';
import { indexOptions } from '../../../../server/engine/load-index.ts';
import { CollectionModel, fitModel } from '../../../../server/engine/model.ts';
import { updatedModel } from '../../../../storage/models.ts';
import { prng, randomVectors } from '../../../helpers/random.ts';

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

const EMPTY_MODEL = { codec: null, pca: null, pcaVersion: 0 };

/** A PCA collection built the server's way in this thread: model fitted on the rows, stored codes, projected index. */
function pcaTarget(rows: Float32Array[], metric: 'l2' | 'cosine', codec: 'float32' | 'float8_e4m3' | 'int8', pca: number): SearchTarget {
  const d = rows[0].length;
  const config = normaliseConfig({ dimension: d, metric, storage: { codec, pca_dimension: pca } });
  const sample = new Float32Array(rows.length * d);
  rows.forEach((r, i) => sample.set(r, i * d));
  const unfitted = new CollectionModel(config, EMPTY_MODEL);
  const model = new CollectionModel(config, updatedModel(EMPTY_MODEL, fitModel(unfitted, sample, rows.length, { codec: true, pca: true })));
  const store = new VectorStore(d, metric, [], model.codec);
  const index = new HnswIndex({ ...indexOptions(model, loadHnswlib('auto').build), initialCapacity: rows.length });
  rows.forEach((r, label) => {
    const { bytes } = model.encode(r);
    store.setStored(label, bytes, (b) => model.decode(b));
    index.upsert(label, model.toIndex(model.decode(bytes)));
  });
  return { config, model, index, store };
}

test('a rescored PCA search returns what rescoring every candidate returns: the index distances bound the exact ones', () => {
  const random = prng(41);
  const d = 48;
  // Points near a 12-dimensional subspace, as PCA expects.
  const basis = Array.from({ length: 12 }, () => Float32Array.from({ length: d }, () => random() * 2 - 1));
  const rows = Array.from({ length: 1500 }, () => {
    const v = Float32Array.from({ length: d }, () => (random() - 0.5) * 0.3);
    for (const b of basis) {
      const w = random() * 4 - 2;
      for (let j = 0; j < d; j++) v[j] += w * b[j];
    }
    return v;
  });
  for (const metric of ['l2', 'cosine'] as const) {
    for (const codec of ['float32', 'float8_e4m3', 'int8'] as const) {
      const target = pcaTarget(rows, metric, codec, 16);
      let pruned = 0;
      for (let q = 0; q < 40; q++) {
        const query = rows[(q * 37) % rows.length].map((x) => x + (random() - 0.5) * 0.5);
        const search = { query, k: 10, ef: 64, filter: null, candidates: 40, rescore: true };
        const got = searchCollection(target, search);
        const candidates = target.index.search(target.model.toIndex(query), 40, { ef: 64 });
        const want = target.store!.topK(query, candidates.map((h) => h.label), 10);
        assert.deepEqual(got, want, `${metric} ${codec} query ${q}`);
        // The bound itself, candidate by candidate (cosine: the index's l2 between unit vectors is 2 · (1 − cos)).
        const exact = new Map(target.store!.topK(query, candidates.map((h) => h.label), 40).map((h) => [h.label, h.distance]));
        for (const h of candidates) {
          const bound = metric === 'cosine' ? h.distance / 2 : h.distance;
          assert.ok(bound <= exact.get(h.label)! * (1 + 1e-5) + 1e-6, `${metric} ${codec}: index ${bound} above exact ${exact.get(h.label)}`);
          if (bound > want[9].distance) pruned++;
        }
      }
      assert.ok(pruned > 0, `${metric} ${codec}: some candidates are past the bound`);
    }
  }
});
