import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { LabelBitmap } from '../../storage/label-bitmap.ts';
import type { PointsRepo } from '../../storage/points.ts';
import type { WhereNode } from '../../storage/where.ts';
import type { CollectionState } from './collection-state.ts';

/** Live points a filter scan reads from SQLite per step: a few milliseconds each. */
export const SCAN_PAGE = 2048;

/**
 * The live labels matching `where`: from the payload index, in memory; a filter it cannot answer
 * (values compared on long strings) is read from SQLite a page at a time, yielding to the event
 * loop between pages, so its cost grows with the collection without blocking searches.
 */
export async function matchingLabels(state: CollectionState, points: PointsRepo, where: WhereNode): Promise<{ bitmap: LabelBitmap; count: number }> {
  const evaluated = state.payloads.evaluate(where);
  if (evaluated) return evaluated;
  const labels: number[] = [];
  for (let after = -1; ; ) {
    const page = points.matchingLabels(state.record.id, where, after, SCAN_PAGE);
    labels.push(...page.labels);
    if (page.last === null) break;
    after = page.last;
    await yieldToLoop();
  }
  return { bitmap: LabelBitmap.fromLabels(labels, Math.max(state.vectors.capacity, (labels.at(-1) ?? 0) + 1)), count: labels.length };
}
