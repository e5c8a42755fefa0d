import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';

/**
 * A reference model for the fuzzer: sequences of valid operations (upserts, deletes by id and by
 * `where`, link puts and deletes) on a small collection of its own, applied to a plain in-memory
 * model and to the server; after each operation its answer, and after each sequence the whole
 * collection (count, points with payloads and vectors, links, exact top-k with and without a
 * filter), must agree with the model. Fuzzed invalid requests run in between and must change nothing.
 */
export const MODEL_COLLECTION = 'mdl-x9';
const DIM = 2;
const IDS = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7'];

type Vec = [number, number];
interface Point {
  vector: Vec;
  payload: { g: number } | null;
}
type Op =
  | { op: 'upsert'; points: { id: string; vector: Vec; payload: { g: number } | null }[] }
  | { op: 'delete'; ids: string[] }
  | { op: 'deleteWhere'; g: number }
  | { op: 'link'; links: { from: string; to: string; type: string; weight: number }[] }
  | { op: 'unlink'; links: { from: string; to: string; type: string }[] };

const id = fc.constantFrom(...IDS);
const coord = fc.integer({ min: -5, max: 5 });
const type = fc.constantFrom('next', 'cites');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant('upsert' as const),
      points: fc.uniqueArray(fc.record({ id, vector: fc.tuple(coord, coord), payload: fc.option(fc.record({ g: fc.integer({ min: 0, max: 2 }) }), { nil: null }) }), { minLength: 1, maxLength: 4, selector: (p) => p.id }),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ op: fc.constant('delete' as const), ids: fc.uniqueArray(id, { minLength: 1, maxLength: 3 }) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('deleteWhere' as const), g: fc.integer({ min: 0, max: 2 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('link' as const), links: fc.uniqueArray(fc.record({ from: id, to: id, type, weight: fc.constantFrom(0.25, 0.5, 1) }), { minLength: 1, maxLength: 3, selector: (l) => `${l.from}>${l.to}>${l.type}` }) }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('unlink' as const), links: fc.uniqueArray(fc.record({ from: id, to: id, type }), { minLength: 1, maxLength: 3, selector: (l) => `${l.from}>${l.to}>${l.type}` }) }), weight: 1 },
);
/** A sequence of valid operations. */
export const opSequence = fc.array(opArb, { minLength: 1, maxLength: 10 });

export class ReferenceModel {
  readonly points = new Map<string, Point>();
  /** `from>to>type` → weight. */
  readonly links = new Map<string, number>();

  #dropLinksOf(ids: Set<string>): void {
    for (const key of [...this.links.keys()]) {
      const [from, to] = key.split('>');
      if (ids.has(from) || ids.has(to)) this.links.delete(key);
    }
  }

  /** Applies `op`; returns the answer the server must give. */
  apply(op: Op): { status: number; body: Record<string, unknown> } {
    switch (op.op) {
      case 'upsert':
        for (const p of op.points) this.points.set(p.id, { vector: p.vector, payload: p.payload });
        return { status: 200, body: { upserted: op.points.length } };
      case 'delete': {
        const gone = new Set(op.ids.filter((i) => this.points.has(i)));
        for (const i of gone) this.points.delete(i);
        this.#dropLinksOf(gone);
        return { status: 200, body: { deleted: gone.size } };
      }
      case 'deleteWhere': {
        const gone = new Set([...this.points].filter(([, p]) => p.payload?.g === op.g).map(([i]) => i));
        for (const i of gone) this.points.delete(i);
        this.#dropLinksOf(gone);
        return { status: 200, body: { deleted: gone.size } };
      }
      case 'link': {
        const missing = op.links.flatMap((l) => [l.from, l.to]).find((i) => !this.points.has(i));
        if (missing !== undefined) return { status: 404, body: { code: 'VDB_ERR_POINT_NOT_FOUND' } };
        for (const l of op.links) this.links.set(`${l.from}>${l.to}>${l.type}`, l.weight);
        return { status: 200, body: { linked: op.links.length } };
      }
      case 'unlink': {
        let deleted = 0;
        for (const l of op.links) if (this.links.delete(`${l.from}>${l.to}>${l.type}`)) deleted++;
        return { status: 200, body: { deleted } };
      }
    }
  }
}

function request(op: Op): { method: 'PUT' | 'POST'; url: string; payload: unknown } {
  const base = `/v1/collections/${MODEL_COLLECTION}`;
  switch (op.op) {
    case 'upsert':
      return { method: 'PUT', url: `${base}/points`, payload: { points: op.points.map((p) => ({ id: p.id, vector: p.vector, ...(p.payload ? { payload: p.payload } : {}) })) } };
    case 'delete':
      return { method: 'POST', url: `${base}/points/delete`, payload: { ids: op.ids } };
    case 'deleteWhere':
      return { method: 'POST', url: `${base}/points/delete`, payload: { where: { g: op.g } } };
    case 'link':
      return { method: 'PUT', url: `${base}/links`, payload: { links: op.links } };
    case 'unlink':
      return { method: 'POST', url: `${base}/links/delete`, payload: { links: op.links } };
  }
}

export async function createModelCollection(app: FastifyInstance): Promise<void> {
  const res = await app.inject({ method: 'PUT', url: `/v1/collections/${MODEL_COLLECTION}`, payload: { dimension: DIM, metric: 'l2' } });
  if (res.statusCode !== 201 && res.statusCode !== 200) throw new Error(`creating the model's collection answered ${res.statusCode}: ${res.body}`);
}

/** Runs one operation on the server and the model; a disagreement, or null. */
export async function runOp(app: FastifyInstance, model: ReferenceModel, op: Op): Promise<string | null> {
  const { method, url, payload } = request(op);
  const res = await app.inject({ method, url, payload: payload as Record<string, unknown> });
  const want = model.apply(op);
  const got = res.json<Record<string, unknown>>();
  if (res.statusCode !== want.status) return `${method} ${url} ${JSON.stringify(payload)} → ${res.statusCode} ${res.body.slice(0, 200)}, the model says ${want.status}`;
  for (const [key, value] of Object.entries(want.body)) {
    if (got[key] !== value) return `${method} ${url} ${JSON.stringify(payload)} → ${key} ${JSON.stringify(got[key])}, the model says ${JSON.stringify(value)}`;
  }
  return null;
}

const dist = (a: Vec, b: Vec) => (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2;

/** Compares the whole collection with the model; the first disagreement, or null. */
export async function compareAll(app: FastifyInstance, model: ReferenceModel): Promise<string | null> {
  const base = `/v1/collections/${MODEL_COLLECTION}`;
  const info = (await app.inject({ method: 'GET', url: base })).json<{ count: number }>();
  if (info.count !== model.points.size) return `count ${info.count}, the model has ${model.points.size}`;
  const scroll = (await app.inject({ method: 'POST', url: `${base}/points/scroll`, payload: { limit: 100, with_vector: true } })).json<{
    points: { id: string; payload: unknown; vector: number[] }[];
  }>();
  const listed = new Map(scroll.points.map((p) => [p.id, p]));
  for (const [i, p] of model.points) {
    const got = listed.get(i);
    if (!got) return `${i} is missing`;
    if (JSON.stringify(got.vector) !== JSON.stringify(p.vector)) return `${i} has vector ${JSON.stringify(got.vector)}, the model ${JSON.stringify(p.vector)}`;
    if (JSON.stringify(got.payload ?? null) !== JSON.stringify(p.payload)) return `${i} has payload ${JSON.stringify(got.payload)}, the model ${JSON.stringify(p.payload)}`;
  }
  if (listed.size !== model.points.size) return `scroll lists ${listed.size} points, the model has ${model.points.size}`;
  for (const i of IDS) {
    const res = await app.inject({ method: 'GET', url: `${base}/points/${i}/links?direction=out&limit=100` });
    if (!model.points.has(i)) {
      if (res.statusCode !== 404) return `links of deleted ${i} answered ${res.statusCode}`;
      continue;
    }
    const got = res.json<{ links: { from: string; to: string; type: string; weight: number }[] }>().links.map((l) => `${l.from}>${l.to}>${l.type}=${l.weight}`).sort();
    const want = [...model.links].filter(([key]) => key.startsWith(`${i}>`)).map(([key, w]) => `${key}=${w}`).sort();
    if (JSON.stringify(got) !== JSON.stringify(want)) return `links of ${i}: ${JSON.stringify(got)}, the model ${JSON.stringify(want)}`;
  }
  // Exact top-k distances, plain and filtered (a tiny collection: HNSW must be exact here).
  if (model.points.size > 0) {
    for (const where of [undefined, { g: 1 }]) {
      const query: Vec = [1, -2];
      const res = (await app.inject({ method: 'POST', url: `${base}/search`, payload: { vector: query, k: 8, ef: 64, with_payload: false, ...(where ? { where } : {}) } })).json<{
        results: { id: string; distance: number }[];
      }>();
      const want = [...model.points].filter(([, p]) => !where || p.payload?.g === where.g).map(([, p]) => dist(p.vector, query)).sort((a, b) => a - b);
      const got = res.results.map((h) => h.distance);
      if (JSON.stringify(got) !== JSON.stringify(want)) return `search${where ? ' where g = 1' : ''}: distances ${JSON.stringify(got)}, the model ${JSON.stringify(want)}`;
    }
  }
  return null;
}
