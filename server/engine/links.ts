import { nextSeq, type Db } from '../../storage/db.ts';
import { StorageErrors } from '../../storage/errors.ts';
import { normaliseId } from '../../storage/ids.ts';
import type { LinkCursor, LinkRow, LinksRepo, LinkView } from '../../storage/links.ts';
import type { PointsRepo } from '../../storage/points.ts';
import type { Config } from '../config.ts';
import { ServerErrors } from '../errors.ts';
import type { LinkDeleteRequest, LinkListQuery, LinkPutRequest } from '../schemas/links.ts';
import type { CollectionState } from './collection-state.ts';
import type { Writer } from './writer.ts';

export interface LinksHost {
  config: Config;
  db: Db;
  writer: Writer;
  points: PointsRepo;
  links: LinksRepo;
  state(name: string): CollectionState;
  /** Inside a write: throws unless `state` is still the collection called `name`. */
  check(name: string, state: CollectionState): void;
}

export const DEFAULT_LINK_TYPE = 'related';
const DEFAULT_PAGE = 100;

/**
 * Knowledge links between points: each request is one transaction through the writer, so it is
 * atomic and durable when answered, and replicas (which read links from SQLite when they expand a
 * search) see it from then on.
 */
export class Links {
  readonly #host: LinksHost;

  constructor(host: LinksHost) {
    this.#host = host;
  }

  async put(name: string, request: LinkPutRequest): Promise<{ linked: number }> {
    const host = this.#host;
    const state = host.state(name);
    const wanted = request.links.reduce((n, l) => n + (l.both ? 2 : 1), 0);
    if (wanted > host.config.maxLinksPerRequest) {
      throw new ServerErrors.LinkLimit(
        `${wanted} links (reverse links of both: true included) exceed VICINITY_MAX_LINKS_PER_REQUEST (${host.config.maxLinksPerRequest}); send them in several requests`,
      );
    }
    const inputs = request.links.map((l, i) => ({
      from: normaliseId(l.from, `links[${i}].from`),
      to: normaliseId(l.to, `links[${i}].to`),
      type: l.type ?? DEFAULT_LINK_TYPE,
      weight: l.weight ?? 1,
      both: l.both ?? false,
    }));
    return host.writer.write(() => {
      this.#host.check(name, state);
      const id = state.record.id;
      const label = this.#labels(id);
      const rows: LinkRow[] = [];
      for (const l of inputs) {
        const src = label(l.from);
        const dst = label(l.to);
        rows.push({ src, dst, type: l.type, weight: l.weight });
        if (l.both) rows.push({ src: dst, dst: src, type: l.type, weight: l.weight });
      }
      host.links.put(id, rows, nextSeq(host.db));
      this.#checkLimits(state, rows);
      return { linked: rows.length };
    });
  }

  async delete(name: string, request: LinkDeleteRequest): Promise<{ deleted: number }> {
    const host = this.#host;
    const state = host.state(name);
    if ((request.ids === undefined) === (request.links === undefined)) {
      throw new ServerErrors.RequestInvalid('give either links or ids (not both)');
    }
    const ids = request.ids?.map((raw, i) => normaliseId(raw, `ids[${i}]`));
    const links = request.links?.map((l, i) => ({ from: normaliseId(l.from, `links[${i}].from`), to: normaliseId(l.to, `links[${i}].to`), type: l.type ?? null }));
    return host.writer.write(() => {
      this.#host.check(name, state);
      const id = state.record.id;
      const label = (pointId: string): number | null => host.points.liveLabel(id, pointId);
      nextSeq(host.db);
      if (ids) return { deleted: host.links.deleteTouching(id, ids.map(label).filter((l) => l !== null)) };
      const known = links!.flatMap((l) => {
        const src = label(l.from);
        const dst = label(l.to);
        return src === null || dst === null ? [] : [{ src, dst, type: l.type }];
      });
      return { deleted: host.links.delete(id, known) };
    });
  }

  /** One page of a point's links: outgoing, incoming, or both (outgoing first). */
  list(name: string, pointId: string, query: LinkListQuery): { links: LinkView[]; next_cursor: string | null } {
    const host = this.#host;
    const state = host.state(name);
    const id = state.record.id;
    const point = normaliseId(pointId, 'id');
    const label = host.points.liveLabel(id, point);
    if (label === null) throw new ServerErrors.PointNotFound(`point '${point}' does not exist in collection '${name}'`);
    const direction = query.direction ?? 'out';
    const limit = query.limit ?? DEFAULT_PAGE;
    const type = query.type ?? null;
    const start: PageCursor = query.cursor ? decodeLinkCursor(query.cursor) : { direction: direction === 'in' ? 'in' : 'out', after: null };
    if (direction !== 'both' && start.direction !== direction) {
      throw new StorageErrors.Cursor(`this cursor pages ${start.direction === 'out' ? 'outgoing' : 'incoming'} links: send it with the direction it came from`);
    }
    let { direction: at, after } = start;
    const links: LinkView[] = [];
    const cursor = (c: PageCursor): { links: LinkView[]; next_cursor: string } => ({ links, next_cursor: encodeLinkCursor(c) });
    for (;;) {
      const room = limit - links.length;
      const rows = host.links.page(id, label, at, type, after, room + 1);
      for (const r of rows.slice(0, room)) links.push({ from: r.from, to: r.to, type: r.type, weight: r.weight });
      if (rows.length > room) return cursor({ direction: at, after: { type: rows[room - 1].type, label: rows[room - 1].label } });
      if (direction !== 'both' || at === 'in') return { links, next_cursor: null };
      at = 'in';
      after = null;
      if (links.length === limit) {
        return host.links.page(id, label, 'in', type, null, 1).length > 0 ? cursor({ direction: 'in', after: null }) : { links, next_cursor: null };
      }
    }
  }


  /** Resolves ids to live labels, or fails the whole request naming the first missing id. */
  #labels(collectionId: number): (id: string) => number {
    const cache = new Map<string, number>();
    return (id) => {
      let label = cache.get(id);
      if (label === undefined) {
        const found = this.#host.points.liveLabel(collectionId, id);
        if (found === null) throw new ServerErrors.PointNotFound(`point '${id}' does not exist: both ends of a link must be points of the collection; nothing was linked`);
        cache.set(id, (label = found));
      }
      return label;
    };
  }

  /** After the writes, inside the transaction: a point past the limit fails (and rolls back) the request. */
  #checkLimits(state: CollectionState, rows: LinkRow[]): void {
    const max = this.#host.config.maxLinksPerPoint;
    const seen = new Set<string>();
    for (const r of rows) {
      for (const [label, direction] of [[r.src, 'out'], [r.dst, 'in']] as const) {
        const key = `${direction}${label}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const n = this.#host.links.count(state.record.id, label, direction);
        if (n > max) {
          throw new ServerErrors.LinkLimit(
            `point '${state.ids[label]}' would have ${n} ${direction === 'out' ? 'outgoing' : 'incoming'} links, more than VICINITY_MAX_LINKS_PER_POINT (${max}); nothing was linked`,
          );
        }
      }
    }
  }
}

interface PageCursor {
  direction: 'out' | 'in';
  after: LinkCursor | null;
}

function encodeLinkCursor(c: PageCursor): string {
  return Buffer.from(JSON.stringify([c.direction, c.after?.type ?? '', c.after?.label ?? -1])).toString('base64url');
}

function decodeLinkCursor(cursor: string): PageCursor {
  try {
    const [direction, type, label] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if ((direction === 'out' || direction === 'in') && typeof type === 'string' && Number.isSafeInteger(label)) {
      return { direction, after: { type, label: label as number } };
    }
  } catch {
    // fall through
  }
  throw new StorageErrors.Cursor('cursor is not one this server returned: pass next_cursor unchanged, or omit it to start over');
}
