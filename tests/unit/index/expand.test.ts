import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { expand, followed, type Edge } from '../../../index/expand.ts';

interface Graph {
  n: number;
  edges: Edge[][];
  seeds: number[];
  gone: Set<number>;
  hops: number;
  fanout: number;
}

const graphs = fc
  .integer({ min: 1, max: 30 })
  .chain((n) =>
    fc.record({
      n: fc.constant(n),
      edges: fc.array(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('knn' as const), to: fc.integer({ min: 0, max: n - 1 }) }),
            fc.record({
              kind: fc.constant('link' as const), to: fc.integer({ min: 0, max: n - 1 }),
              type: fc.constantFrom('next', 'cites'), weight: fc.integer({ min: 1, max: 4 }).map((w) => w / 4),
            }),
          ),
          { maxLength: 8 },
        ),
        { minLength: n, maxLength: n },
      ),
      seeds: fc.array(fc.integer({ min: 0, max: n - 1 }), { minLength: 1, maxLength: 4 }),
      gone: fc.array(fc.integer({ min: 0, max: n - 1 }), { maxLength: 5 }).map((xs) => new Set(xs)),
      hops: fc.integer({ min: 1, max: 3 }),
      fanout: fc.integer({ min: 1, max: 4 }),
    }),
  );

/** The oracle: hop distances by plain BFS over the followed edges of live points. */
function bfs(g: Graph): Map<number, number> {
  const dist = new Map<number, number>(g.seeds.map((s) => [s, 0]));
  let level = [...new Set(g.seeds)];
  for (let hop = 1; hop <= g.hops; hop++) {
    const next: number[] = [];
    for (const node of level) {
      for (const e of followed(g.edges[node], g.fanout)) {
        if (g.gone.has(e.to) || dist.has(e.to)) continue;
        dist.set(e.to, hop);
        next.push(e.to);
      }
    }
    level = next;
  }
  for (const s of g.seeds) dist.delete(s);
  return dist;
}

test('expansion reaches exactly the live points within hops of the seeds, each at its BFS distance', () => {
  fc.assert(
    fc.property(graphs, fc.constantFrom(0.5, 1), (g, decay) => {
      let reads = 0;
      const got = expand(g.seeds, { hops: g.hops, fanout: g.fanout, decay }, (frontier) => {
        reads++;
        return new Map(frontier.map((f) => [f, g.edges[f]]));
      }, (label) => !g.gone.has(label));
      const oracle = bfs(g);
      assert.deepEqual(new Map([...got].map(([label, r]) => [label, r.hop])), oracle);
      assert.ok(reads <= g.hops, 'one read per hop');
      for (const r of got.values()) {
        // The bonus: the best link into it from the previous level.
        const into = [...oracle.entries(), ...g.seeds.map((s) => [s, 0] as const)]
          .filter(([node, d]) => d === r.hop - 1 && !g.gone.has(node) || (d === 0 && g.seeds.includes(node)))
          .flatMap(([node]) => followed(g.edges[node], g.fanout).filter((e) => e.to === r.label && e.kind === 'link'));
        const best = Math.max(0, ...into.map((e) => (e.kind === 'link' ? e.weight * decay ** r.hop : 0)));
        assert.equal(r.bonus, best, `bonus of ${r.label}`);
        if (r.bonus > 0) assert.ok(r.source === 'link' && r.linkType !== null, 'a bonus comes from a link');
        assert.ok(followed(g.edges[r.from], g.fanout).some((e) => e.to === r.label), 'reached through an edge of `from`');
      }
    }),
    { numRuns: 300 },
  );
});

test('fanout follows the nearest overlay neighbours and the heaviest links, each kind on its own', () => {
  const edges: Edge[] = [
    { kind: 'knn', to: 1 }, { kind: 'knn', to: 2 }, { kind: 'knn', to: 3 },
    { kind: 'link', to: 4, type: 'next', weight: 0.2 }, { kind: 'link', to: 5, type: 'next', weight: 0.9 },
    { kind: 'link', to: 6, type: 'cites', weight: 0.9 },
  ];
  assert.deepEqual(followed(edges, 2).map((e) => e.to), [1, 2, 6, 5]);
});

test('a link bonus is scaled by the strength of the seed its path started from', () => {
  // 0 → 2 → 3 and 1 → 4 by links; 0 also reaches 5 through the overlay and 5 links to 6.
  const edges = new Map<number, Edge[]>([
    [0, [{ kind: 'link', to: 2, type: 'next', weight: 1 }, { kind: 'knn', to: 5 }]],
    [1, [{ kind: 'link', to: 4, type: 'next', weight: 1 }, { kind: 'link', to: 2, type: 'next', weight: 0.5 }]],
    [2, [{ kind: 'link', to: 3, type: 'next', weight: 0.5 }]],
    [5, [{ kind: 'link', to: 6, type: 'cites', weight: 1 }]],
  ]);
  const strength = (seed: number): number => (seed === 0 ? 0.8 : 0.4);
  const got = expand([0, 1], { hops: 2, fanout: 4, decay: 0.5, strength }, (f) => new Map(f.map((n) => [n, edges.get(n) ?? []])), () => true);
  const view = (label: number) => {
    const r = got.get(label)!;
    return [r.hop, r.source, r.from, r.seed, r.bonus];
  };
  assert.deepEqual(view(2), [1, 'link', 0, 0, 1 * 0.5 * 0.8], 'the stronger seed\'s link wins');
  assert.deepEqual(view(4), [1, 'link', 1, 1, 1 * 0.5 * 0.4]);
  assert.deepEqual(view(3), [2, 'link', 2, 0, 0.5 * 0.25 * 0.8]);
  assert.deepEqual(view(5), [1, 'knn', 0, 0, 0]);
  assert.deepEqual(view(6), [2, 'link', 5, 0, 1 * 0.25 * 0.8]);
});

test('a limit stops the walk once that many points are reached', () => {
  const edges = new Map<number, Edge[]>(Array.from({ length: 100 }, (_, i) => [i, Array.from({ length: 8 }, (_, j) => ({ kind: 'knn' as const, to: (i * 8 + j + 1) % 100 }))]));
  const got = expand([0], { hops: 3, fanout: 8, decay: 0.5, limit: 20 }, (f) => new Map(f.map((n) => [n, edges.get(n)!])), () => true);
  assert.equal(got.size, 20);
  assert.equal(expand([0], { hops: 3, fanout: 8, decay: 0.5 }, (f) => new Map(f.map((n) => [n, edges.get(n)!])), () => true).size, 99);
});
