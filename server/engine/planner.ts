import type { PointsRepo } from '../../storage/points.ts';
import type { WhereNode } from '../../storage/where.ts';
import type { CollectionState } from './collection-state.ts';
import { matchingLabels } from './matches.ts';
import type { SearchFilter } from './protocol.ts';

/** Below this share of live points passing `where`, matches are scored exactly (measured by hand: brute force beat the filtered graph walk below ~5 %). */
export const EXACT_SHARE = 0.05;
/** ... and at or below this many, whatever the share. */
export const EXACT_MAX = 2048;
const CACHED_PLANS = 64;

export type Plan =
  | { kind: 'all' }
  | { kind: 'none' }
  | { kind: 'filtered'; filter: SearchFilter; count: number; exact: boolean };

interface Cached {
  version: number;
  plan: Plan;
}

const cache = new WeakMap<CollectionState, Map<string, Cached>>();

/**
 * Decides how a filtered search runs: nothing passes → no search; few pass → exact scoring of
 * those labels; otherwise a graph walk with the bitmap as allow-list. The payload index answers
 * in memory; a filter it cannot answer exactly (values compared on long strings) is read from SQLite
 * a page at a time (matches.ts).
 */
export async function planSearch(collection: CollectionState, points: PointsRepo, where: WhereNode | null, key: string): Promise<Plan> {
  if (!where) return { kind: 'all' };
  let plans = cache.get(collection);
  if (!plans) cache.set(collection, (plans = new Map<string, Cached>()));
  const hit = plans.get(key);
  if (hit && hit.version === collection.version) return hit.plan;

  const { version } = collection;
  const { bitmap, count } = await matchingLabels(collection, points, where);
  let plan: Plan;
  if (count === 0) plan = { kind: 'none' };
  else if (count <= EXACT_MAX || count <= EXACT_SHARE * collection.payloads.size) {
    plan = { kind: 'filtered', filter: { labels: bitmap.toArray() }, count, exact: true };
  } else {
    plan = { kind: 'filtered', filter: { bitmap: bitmap.buffer, count }, count, exact: false };
  }
  if (plans.size >= CACHED_PLANS) plans.delete(plans.keys().next().value!);
  plans.set(key, { version, plan });
  return plan;
}
