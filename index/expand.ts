/**
 * Multi-hop graph expansion of a candidate pool (arXiv 2507.19715): from seed points, follow k-NN
 * overlay edges and user links for up to `hops` hops. Breadth first, so each point is reached at its
 * smallest hop. A point reached through a link carries weight · decay^hop · strength(seed) as a
 * relevance bonus, where `seed` is the seed its path started from (its similarity to the query, so
 * the links of the best results count most); the best over the ways it was reached at that hop.
 */

/** An edge out of a point: an overlay neighbour (in the overlay's order, nearest first) or a link. */
export type Edge = { kind: 'knn'; to: number } | { kind: 'link'; to: number; type: string; weight: number };

export interface ExpandOptions {
  hops: number;
  /** Edges followed per point and per kind: the nearest overlay neighbours, the heaviest links. */
  fanout: number;
  decay: number;
  /** What a link bonus is scaled by for paths from this seed (default 1). */
  strength?: (seed: number) => number;
  /** At most this many points are reached (default: no limit); the walk stops there. */
  limit?: number;
}

export interface Reached {
  label: number;
  hop: number;
  /** How it was first reached, and from which point. */
  source: 'knn' | 'link';
  from: number;
  /** The seed its path started from. */
  seed: number;
  linkType: string | null;
  bonus: number;
}

/**
 * Every point within `hops` hops of the seeds (the seeds excluded) that `passable` lets through,
 * by the first `fanout` edges of each kind of each point on the way. `edgesOf` gives the edges of
 * a whole frontier at once (one read per hop and kind).
 */
export function expand(
  seeds: readonly number[], options: ExpandOptions, edgesOf: (frontier: readonly number[]) => Map<number, Edge[]>, passable: (label: number) => boolean,
): Map<number, Reached> {
  const reached = new Map<number, Reached>();
  const seen = new Set<number>(seeds);
  const strength = options.strength ?? (() => 1);
  const seedOf = (node: number): number => reached.get(node)?.seed ?? node;
  const limit = options.limit ?? Infinity;
  let frontier = [...new Set(seeds)];
  for (let hop = 1; hop <= options.hops && frontier.length > 0; hop++) {
    const edges = edgesOf(frontier);
    const next: number[] = [];
    for (const node of frontier) {
      for (const edge of followed(edges.get(node) ?? [], options.fanout)) {
        if (!passable(edge.to)) continue;
        const seed = seedOf(node);
        const bonus = edge.kind === 'link' ? edge.weight * options.decay ** hop * strength(seed) : 0;
        const linkType = edge.kind === 'link' ? edge.type : null;
        const known = reached.get(edge.to);
        if (known) {
          if (known.hop === hop && bonus > known.bonus) Object.assign(known, { bonus, source: edge.kind, from: node, seed, linkType });
          continue;
        }
        if (seen.has(edge.to)) continue; // a seed
        if (reached.size >= limit) return reached;
        seen.add(edge.to);
        reached.set(edge.to, { label: edge.to, hop, source: edge.kind, from: node, seed, linkType, bonus });
        next.push(edge.to);
      }
    }
    frontier = next;
  }
  return reached;
}

/** The first `fanout` overlay neighbours as given, and the `fanout` heaviest links (ties by type, then label). */
export function followed(edges: readonly Edge[], fanout: number): Edge[] {
  const knn = edges.filter((e) => e.kind === 'knn').slice(0, fanout);
  const links = edges
    .filter((e): e is Extract<Edge, { kind: 'link' }> => e.kind === 'link')
    .sort((a, b) => b.weight - a.weight || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0) || a.to - b.to)
    .slice(0, fanout);
  return [...knn, ...links];
}
