import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { PointRow, PointsRepo } from '../../storage/points.ts';
import { parseWhere } from '../../storage/where.ts';
import type { ScrollRequest } from '../schemas/index.ts';
import type { CollectionState } from './collection-state.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { SCAN_PAGE } from './matches.ts';

/** Pages of SQLite a filtered scroll the payload index cannot answer reads per request. */
const SCROLL_SCAN_PAGES = 8;

/** A point as the API shows it: its vector decoded (normalised under cosine with a compressed codec). */
export interface StoredPoint {
  id: string;
  label: number;
  payload: string | null;
  vector: Float32Array | null;
}

export function decoded(state: CollectionState, row: PointRow, withVector: boolean): StoredPoint {
  return { ...row, vector: withVector && row.vector ? state.decode(row.vector) : null };
}

/**
 * A page of points in label order. A filter is answered by the payload index; one it cannot answer
 * reads at most SCROLL_SCAN_PAGES pages of SQLite per request, so a page may hold fewer than
 * `limit` points with a cursor to go on from.
 */
export async function scrollPoints(state: CollectionState, points: PointsRepo, request: ScrollRequest): Promise<{ points: StoredPoint[]; next_cursor: string | null }> {
  const id = state.record.id;
  const limit = request.limit ?? 100;
  const withVector = request.with_vector ?? false;
  const after = request.cursor ? decodeCursor(request.cursor) : -1;
  const where = request.where && Object.keys(request.where).length > 0 ? parseWhere(request.where) : undefined;
  const page = (rows: PointRow[], more: boolean, last: number | null = null) => ({
    points: rows.map((row) => decoded(state, row, true)),
    next_cursor: more ? encodeCursor(rows.length > 0 ? rows[rows.length - 1].label : last!) : null,
  });
  if (!where) {
    const rows = points.scroll(id, { limit: limit + 1, afterLabel: after, withVector });
    return page(rows.slice(0, limit), rows.length > limit);
  }
  const evaluated = state.current ? state.payloads.evaluate(where) : null;
  if (evaluated) {
    const labels = evaluated.bitmap.labelsAfter(after, limit + 1);
    const rows = points.getByLabels(id, labels.slice(0, limit), withVector).sort((a, b) => a.label - b.label);
    return page(rows, labels.length > limit);
  }
  const labels: number[] = [];
  let last: number | null = after;
  for (let pages = 0; labels.length <= limit && last !== null && pages < SCROLL_SCAN_PAGES; pages++) {
    if (pages > 0) await yieldToLoop();
    const scanned = points.matchingLabels(id, where, last, SCAN_PAGE);
    labels.push(...scanned.labels);
    last = scanned.last;
  }
  const rows = points.getByLabels(id, labels.slice(0, limit), withVector).sort((a, b) => a.label - b.label);
  if (labels.length > limit) return page(rows, true);
  return page(rows, last !== null, last);
}
