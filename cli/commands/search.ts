import { VicinityClient } from '../../client/src/index.ts';
import { EXIT, type Io } from '../io.ts';
import { UsageError } from '../options.ts';
import { searchTable } from '../summary.ts';
import type { SearchRequest } from '../../client/src/index.ts';

export interface SearchOptions {
  collection: string;
  vector?: number[];
  random?: boolean;
  k: number;
  ef?: number;
  where?: Record<string, unknown>;
  payload?: boolean;
  select?: Record<string, unknown>;
  expand?: Record<string, unknown>;
  explain?: boolean;
  url: string;
  apiKey?: string;
  json?: boolean;
}

/** `vicinity search`: one search, printed as a table or as the server's JSON answer. */
export async function runSearch(options: SearchOptions, io: Io): Promise<number> {
  if ((options.vector === undefined) === (options.random !== true)) {
    throw new UsageError('give exactly one of --vector JSON or --random');
  }
  const client = new VicinityClient(options.url, { apiKey: options.apiKey });
  const vector = options.vector ?? randomVector((await client.getCollection(options.collection)).dimension);
  const request: SearchRequest = { vector, k: options.k };
  if (options.ef !== undefined) request.ef = options.ef;
  if (options.where !== undefined) request.where = options.where;
  if (options.payload) request.with_payload = true;
  if (options.select !== undefined) request.select = options.select;
  if (options.expand !== undefined) request.expand = options.expand as unknown as SearchRequest['expand'];
  if (options.explain) request.explain = true;
  const answer = await client.search(options.collection, request);
  io.out.write(options.json ? JSON.stringify(answer) + '\n' : searchTable(answer, options.payload === true, options.explain === true));
  return EXIT.ok;
}

/** Uniform in [-1, 1) per component. */
export function randomVector(dimension: number): number[] {
  return Array.from({ length: dimension }, () => Math.random() * 2 - 1);
}
