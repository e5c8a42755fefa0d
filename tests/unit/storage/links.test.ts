import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CollectionsRepo } from '../../../storage/collections.ts';
import { openDatabase } from '../../../storage/db.ts';
import { LinksRepo, type LinkCursor } from '../../../storage/links.ts';
import { PointsRepo } from '../../../storage/points.ts';

const CONFIG = { dimension: 2, metric: 'l2', hnsw: { m: 16, ef_construction: 200, ef_search: 64 }, storage: { codec: 'float32' }, build_order: 'given', graph: { knn_k: 16 } } as const;
const blob = Buffer.from(new Float32Array([1, 1]).buffer);
const TYPES = ['a', 'b', 'next'];

function setup(points = 8) {
  const db = openDatabase({ path: ':memory:', synchronous: 'NORMAL' });
  const collections = new CollectionsRepo(db);
  const { id: cid } = collections.create('c', CONFIG);
  const repo = new PointsRepo(db);
  repo.upsert(cid, Array.from({ length: points }, (_, i) => ({ id: `p${i}`, vector: blob, payload: null })));
  return { db, cid, collections, points: repo, links: new LinksRepo(db) };
}

test('pages of a point\'s links, in either direction and by type, hold exactly its links', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ src: fc.integer({ min: 0, max: 7 }), dst: fc.integer({ min: 0, max: 7 }), type: fc.constantFrom(...TYPES) }), { maxLength: 60 }),
      fc.integer({ min: 1, max: 5 }),
      (edges, limit) => {
        const { db, cid, links } = setup();
        db.transaction(() => links.put(cid, edges.map((e) => ({ ...e, weight: 1 })), 1))();
        const distinct = new Map(edges.map((e) => [`${e.src}>${e.dst}:${e.type}`, e]));
        for (let label = 0; label < 8; label++) {
          for (const direction of ['out', 'in'] as const) {
            for (const type of [null, 'next']) {
              const got: string[] = [];
              let after: LinkCursor | null = null;
              for (;;) {
                const page = links.page(cid, label, direction, type, after, limit);
                got.push(...page.map((l) => `${l.from.slice(1)}>${l.to.slice(1)}:${l.type}`));
                if (page.length < limit) break;
                after = { type: page[page.length - 1].type, label: page[page.length - 1].label };
              }
              const expected = [...distinct.values()]
                .filter((e) => (direction === 'out' ? e.src : e.dst) === label && (type === null || e.type === type))
                .map((e) => `${e.src}>${e.dst}:${e.type}`);
              assert.deepEqual(got.sort(), expected.sort());
              assert.equal(new Set(got).size, got.length, 'no link twice across pages');
            }
          }
          assert.equal(links.count(cid, label, 'out'), [...distinct.values()].filter((e) => e.src === label).length);
        }
      },
    ),
    { numRuns: 60 },
  );
});

test('a deleted point takes its links along; a dropped collection\'s links are purged with it', () => {
  const { db, cid, collections, points, links } = setup(4);
  db.transaction(() => links.put(cid, [{ src: 0, dst: 1, type: 'a', weight: 1 }, { src: 1, dst: 2, type: 'a', weight: 1 }, { src: 2, dst: 3, type: 'a', weight: 0.5 }], 1))();
  points.deleteIds(cid, ['p1']);
  assert.deepEqual(links.countsByType(cid), { a: 1 });
  assert.deepEqual(links.steps(cid, [2], 'out'), [{ from: 2, to: 3, type: 'a', weight: 0.5 }]);
  assert.deepEqual(links.steps(cid, [3], 'in'), [{ from: 3, to: 2, type: 'a', weight: 0.5 }]);
  collections.drop(cid);
  while (!collections.purgeDropped(cid, 1));
  assert.deepEqual(links.countsByType(cid), {});
});
