/**
 * The data of `bench/load.ts`: seeded clustered vectors (datasets.ts's Gaussian mixture), ~1 KiB
 * payloads of words, the pre-encoded request bodies of the four operations of the mix, and the fixed
 * 100-slot schedule that decides which operation each of wrk's requests is. Every body is written
 * before the load starts, so the load generators only send bytes.
 *
 * Deletes and upserts balance by construction: every id a delete body removes is put back by a later
 * upsert body (see `mixOps`), and every other upserted id is one of the loaded ids, so the collection
 * never grows past the loaded count and only shrinks by the deletes whose re-insert is still to come.
 */
import { prng } from '../../index/build-order.ts';
import { gaussianMixture, row, type Dataset, type VectorSet } from './datasets.ts';
import { JSON_TYPE, type BodySet } from './load.ts';

/** Distinct values of `group`: a filter on one matches ~1 % of the points. */
export const GROUPS = 100;
const SOURCES = Array.from({ length: 20 }, (_, i) => `source-${String(i).padStart(2, '0')}`);
const WORDS = (
  'vector search index graph neighbour distance cluster payload filter query replica snapshot ' +
  'durable commit label shard memory latency throughput cosine euclidean layer entry point ' +
  'candidate heap worker thread event loop request answer schema record segment buffer ' +
  'stream import export optimize rebuild tombstone sample window ratio budget'
).split(' ');
const TEXT_CHARS = 1000;
const CLUSTERS = 100;

/** A type, not an interface, so that it is a `Record<string, unknown>` for uploadPoints. */
export type Payload = {
  text: string;
  source: string;
  group: number;
  n: number;
};

/** Payloads drawn from one seeded stream: ~1,000 characters of words, a source, a group 0…99 and `n`. */
export function payloadStream(seed: number): (n: number) => Payload {
  const random = prng(seed);
  const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)];
  return (n) => {
    const words: string[] = [];
    let length = -1;
    while (length < TEXT_CHARS) {
      const word = pick(WORDS);
      words.push(word);
      length += word.length + 1;
    }
    return { text: words.join(' ').slice(0, TEXT_CHARS), source: pick(SOURCES), group: Math.floor(random() * GROUPS), n };
  };
}

export type OpName = 'search' | 'filtered' | 'upsert' | 'delete';

/** The mix, in percent of requests, and so the slots of each operation in the 100-slot schedule. */
export const MIX: { name: OpName; weight: number }[] = [
  { name: 'search', weight: 70 },
  { name: 'filtered', weight: 10 },
  { name: 'upsert', weight: 15 },
  { name: 'delete', weight: 5 },
];
const SLOTS = 100;
/** Upserts per delete in the schedule (15 / 5): upsert body 3j…3j+2 pairs with delete body j. */
const UPSERTS_PER_DELETE = 3;
/** Deletes per 100-slot round of the schedule. */
const DELETES_PER_ROUND = 5;
/**
 * Delete body j's ids are put back by the upserts of delete body j + LAG's turn: two whole rounds
 * (200 requests, more than wrk has in flight) later, so the re-insert is always sent after the delete.
 */
const LAG = 2 * DELETES_PER_ROUND;
/** The fewest `--bodies`: the deletes' cycle (a third of it) must be longer than LAG. */
export const MIN_BODIES = UPSERTS_PER_DELETE * 2 * LAG;

/** Upserts carry 1…10 points. */
const MAX_UPSERT = 10;
/** Deletes carry 1…5 ids. */
const MAX_DELETE = 5;

export interface MixSizes {
  points: number;
  dim: number;
  /** Bodies of each search operation, and about that many upserts (a multiple of 3) and a third as many deletes. */
  bodies: number;
  seed: number;
}

/** Body counts per operation, for wrk and (the same numbers) for the probes. */
export function bodyCounts(bodies: number): Record<OpName, number> {
  const deletes = Math.ceil(bodies / UPSERTS_PER_DELETE);
  return { search: bodies, filtered: bodies, upsert: UPSERTS_PER_DELETE * deletes, delete: deletes };
}

export interface MixData {
  /** The points to load (`train`, ids 0…points−1) and the search vectors (`queries`), fresh draws of the same mixture. */
  dataset: Dataset;
  payload: (n: number) => Payload;
  /** Vectors of the upserts under load (wrk's and the probes'): more fresh draws. */
  upsertVectors: VectorSet;
}

export function mixData(s: MixSizes): MixData {
  const draw = gaussianMixture(s.dim, CLUSTERS, s.seed);
  const train = draw(s.points);
  const queries = draw(2 * s.bodies);
  const upsertVectors = draw(2 * bodyCounts(s.bodies).upsert * MAX_UPSERT);
  return {
    dataset: {
      name: `synthetic-${s.dim}d-${CLUSTERS}clusters-seed${s.seed}`,
      // The data set's own label (the type allows no other); the collection's metric is chosen separately.
      metric: 'l2',
      train,
      queries,
      source: `seeded PRNG (mulberry32, seed ${s.seed}): ${CLUSTERS} Gaussian clusters in ${s.dim} dimensions, payloads of ~${TEXT_CHARS} characters of words`,
    },
    payload: payloadStream(s.seed + 1),
    upsertVectors,
  };
}

/**
 * The 100-slot schedule wrk repeats: 70 search, 10 filtered, 15 upsert and 5 delete slots, shuffled
 * once (Fisher–Yates, seeded) so the operations interleave.
 */
export function mixSchedule(seed: number): OpName[] {
  const slots = MIX.flatMap((op) => Array.from({ length: (op.weight * SLOTS) / 100 }, () => op.name));
  const random = prng(seed);
  for (let i = slots.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [slots[i], slots[j]] = [slots[j], slots[i]];
  }
  return slots;
}

const vectorJson = (v: Float32Array): string => JSON.stringify(Array.from(v));

export interface MixOp {
  name: OpName;
  /** Its share of the mix, in percent (its slots in the schedule). */
  weight: number;
  path: string;
  /** The bodies wrk sends, in turn. */
  set: BodySet;
  /** The bodies the operation's probe sends, in turn (for writes: ids paired among themselves, not with wrk's). */
  probeSet: BodySet;
}

/**
 * The four operations with their bodies. Search bodies are shared by wrk and the probes. Writes:
 *
 * - wrk: D delete bodies of 1–5 distinct ids and 3·D upsert bodies of 1–10 points. The schedule sends
 *   exactly three upserts per delete, so when wrk sends delete body j it is about to send upsert body
 *   3j; the ids of delete body j are spread over upsert bodies 3(j+LAG)…3(j+LAG)+2, sent two rounds of
 *   the schedule later, whatever the rate. Cycling keeps the pairing (3·D upserts per D deletes).
 * - probes: as many delete and upsert bodies; upsert body k re-inserts delete body k−1's ids, and the
 *   two probes are run in lockstep by the caller (delete k waits for upsert k−2, upsert k for delete k−1).
 *
 * All other upserted points are loaded ids (updates, or an early re-insert of a deleted one), so the
 * collection never grows past the loaded count.
 */
export function mixOps(collection: string, data: MixData, s: MixSizes): MixOp[] {
  const random = prng(s.seed + 2);
  const base = `/v1/collections/${collection}`;
  const { queries } = data.dataset;
  const counts = bodyCounts(s.bodies);
  const search: string[] = [];
  const filtered: string[] = [];
  for (let i = 0; i < s.bodies; i++) {
    search.push(`{"vector":${vectorJson(row(queries, i))},"k":10}`);
    const group = Math.floor(random() * GROUPS);
    filtered.push(`{"vector":${vectorJson(row(queries, s.bodies + i))},"k":10,"where":{"group":${group}}}`);
  }
  const distinctIds = (size: number, taken: Set<number>): number[] => {
    const ids: number[] = [];
    while (ids.length < size && taken.size < s.points) {
      const id = Math.floor(random() * s.points);
      if (taken.has(id)) continue;
      taken.add(id);
      ids.push(id);
    }
    return ids;
  };
  const deleteIds = (n: number): number[][] => Array.from({ length: n }, () => distinctIds(1 + Math.floor(random() * MAX_DELETE), new Set()));
  let v = 0;
  const point = (id: number): string => `{"id":${id},"vector":${vectorJson(row(data.upsertVectors, v++ % data.upsertVectors.n))},"payload":${JSON.stringify(data.payload(id))}}`;
  /** An upsert of `reinsert` and enough other loaded ids to make 1–10 points. */
  const upsert = (reinsert: number[]): string => {
    const size = Math.max(reinsert.length, 1 + Math.floor(random() * MAX_UPSERT));
    const ids = [...reinsert, ...distinctIds(size - reinsert.length, new Set(reinsert))];
    return `{"points":[${ids.map(point).join(',')}]}`;
  };
  const json = (ids: number[]): string => `{"ids":[${ids.join(',')}]}`;

  const D = counts.delete;
  const wrkDeletes = deleteIds(D);
  const wrkUpserts = Array.from({ length: counts.upsert }, (_, u) => {
    const j = (Math.floor(u / UPSERTS_PER_DELETE) - LAG + D) % D;
    return upsert(wrkDeletes[j].filter((_, k) => k % UPSERTS_PER_DELETE === u % UPSERTS_PER_DELETE));
  });
  const probeDeletes = deleteIds(D);
  const probeUpserts = Array.from({ length: D }, (_, k) => upsert(probeDeletes[(k - 1 + D) % D]));

  const set = (name: string, method: 'POST' | 'PUT', bodies: string[]): BodySet => ({
    name,
    method,
    contentType: JSON_TYPE,
    bodies: bodies.map((b) => Buffer.from(b)),
  });
  const searchSet = set('load-search', 'POST', search);
  const filteredSet = set('load-filtered', 'POST', filtered);
  const weight = (name: OpName): number => MIX.find((op) => op.name === name)?.weight ?? NaN;
  return [
    { name: 'search', weight: weight('search'), path: `${base}/search`, set: searchSet, probeSet: searchSet },
    { name: 'filtered', weight: weight('filtered'), path: `${base}/search`, set: filteredSet, probeSet: filteredSet },
    {
      name: 'upsert',
      weight: weight('upsert'),
      path: `${base}/points`,
      set: set('load-upsert', 'PUT', wrkUpserts),
      probeSet: set('probe-upsert', 'PUT', probeUpserts),
    },
    {
      name: 'delete',
      weight: weight('delete'),
      path: `${base}/points/delete`,
      set: set('load-delete', 'POST', wrkDeletes.map(json)),
      probeSet: set('probe-delete', 'POST', probeDeletes.map(json)),
    },
  ];
}
