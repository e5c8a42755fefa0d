/**
 * The data of `bench/rag.ts`: each point's payload (~1 KiB of words and a few fields, the shape a RAG
 * application stores beside a chunk's embedding), the 1 % filter, and the request bodies of the four
 * search modes, every one written before the load starts so wrk only sends bytes.
 */
import type { Dataset } from './datasets.ts';
import type { FilterCase } from './filters.ts';
import type { BodySet } from './load.ts';
import { payloadStream } from './load-mix-data.ts';
import { jsonSearches, msgpackSearches } from './replicas-http.ts';

/** Point `row` comes from `source-<row % SOURCES>`: one source is 1 % of the points. */
const SOURCES = 100;
const FILTER_SOURCE = 7;

const sourceOf = (row: number): string => `source-${String(row % SOURCES).padStart(2, '0')}`;

/** A type, not an interface, so that it is a `Record<string, unknown>` for uploadPoints. */
export type RagPayload = {
  text: string;
  label: number;
  source: string;
  n: number;
  tags: string[];
};

/**
 * Payloads in row order (the words come from one seeded stream, so rows must be asked for in turn, as
 * uploadPoints does): ~1,000 characters of text, the point's class, its source, its row and two tags.
 */
export function ragPayloads(labels: Uint8Array, seed: number): (row: number) => RagPayload {
  const words = payloadStream(seed);
  return (row) => ({
    text: words(row).text,
    label: labels[row],
    source: sourceOf(row),
    n: row,
    tags: [`class-${labels[row]}`, row % 2 === 0 ? 'even' : 'odd'],
  });
}

/** Equality on one source: 1 % of the points, as a RAG application narrows a search to one document set. */
export const ONE_PERCENT: FilterCase = {
  name: `source-eq-${FILTER_SOURCE}`,
  label: '1 %',
  share: 1 / SOURCES,
  where: `{"source":"${sourceOf(FILTER_SOURCE)}"}`,
  passes: (row) => row % SOURCES === FILTER_SOURCE,
};

export const MODES = ['default', 'no-payload', 'msgpack', 'filtered'] as const;
export type ModeName = (typeof MODES)[number];

export interface Mode {
  name: ModeName;
  /** What the body holds, for the report. */
  request: string;
  set: BodySet;
  /** The filter the answers must pass (the filtered mode only). */
  filter: FilterCase | null;
}

/** The four modes' bodies over every query of `dataset`, at `ef` (the only field beside vector and k the default request pins). */
export function ragModes(dataset: Dataset, k: number, ef: number): Mode[] {
  const withPayload = { withPayload: true };
  const where = { ...withPayload, where: ONE_PERCENT.where };
  return [
    { name: 'default', request: `JSON {vector, k: ${k}, ef: ${ef}}, payloads returned`, set: jsonSearches(`rag-default-ef${ef}`, dataset, k, ef, withPayload), filter: null },
    {
      name: 'no-payload',
      request: `JSON {vector, k: ${k}, ef: ${ef}, with_payload: false}`,
      set: jsonSearches(`rag-no-payload-ef${ef}`, dataset, k, ef, { withPayload: false }),
      filter: null,
    },
    {
      name: 'msgpack',
      request: `MessagePack {vector: float32 (moreTypes), k: ${k}, ef: ${ef}}, payloads returned (JSON answer)`,
      set: msgpackSearches(`rag-msgpack-ef${ef}`, dataset, k, ef, withPayload),
      filter: null,
    },
    {
      name: 'filtered',
      request: `JSON {vector, k: ${k}, ef: ${ef}, where: ${ONE_PERCENT.where}}, payloads returned`,
      set: jsonSearches(`rag-filtered-ef${ef}`, dataset, k, ef, where),
      filter: ONE_PERCENT,
    },
  ];
}
