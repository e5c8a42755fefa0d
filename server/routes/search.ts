import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Engine } from '../engine/engine.ts';
import { PayloadJson, type SearchResult } from '../engine/search.ts';
import { wantsMsgpack } from '../plugins/body.ts';
import { batchBody, collectionParams, searchBody, type SearchRequest } from '../schemas/index.ts';

type Params = { name: string };

export function searchRoutes(app: FastifyInstance, engine: Engine, maxK: number): void {
  app.post<{ Params: Params; Body: SearchRequest }>(
    '/v1/collections/:name/search',
    { schema: { params: collectionParams, body: searchBody(maxK) } },
    async (request, reply) => {
      const started = performance.now();
      const { results, quality } = await engine.search(request.params.name, request.body);
      const tookMs = round(performance.now() - started);
      return answer(request, reply, [['results', results], ['quality', quality], ['took_ms', tookMs]]);
    },
  );

  app.post<{ Params: Params; Body: { searches: SearchRequest[] } }>(
    '/v1/collections/:name/search/batch',
    { schema: { params: collectionParams, body: batchBody(maxK) } },
    async (request, reply) => {
      const started = performance.now();
      const answers = await engine.searchBatch(request.params.name, request.body.searches);
      const results = answers.map((a) => a.results);
      const quality = answers.some((a) => a.quality) ? answers.map((a) => a.quality ?? null) : undefined;
      return answer(request, reply, [['results', results], ['quality', quality], ['took_ms', round(performance.now() - started)]]);
    },
  );
}

type Field = [string, unknown];

/**
 * A search answer's fields (undefined ones left out). As JSON it is written here, each payload's
 * stored text embedded as it is (no parse, no stringify: most of an answer's bytes); as
 * MessagePack the payloads are parsed into values.
 */
function answer(request: FastifyRequest, reply: FastifyReply, fields: Field[]): string | Record<string, unknown> {
  const present = fields.filter(([, value]) => value !== undefined);
  if (wantsMsgpack(request)) return Object.fromEntries(present.map(([key, value]) => [key, key === 'results' ? parsed(value) : value]));
  void reply.type('application/json; charset=utf-8');
  return `{${present.map(([key, value]) => `${JSON.stringify(key)}:${key === 'results' ? resultsJson(value) : JSON.stringify(value)}`).join(',')}}`;
}

/** Results (or a batch's lists of them) as JSON text. */
function resultsJson(value: unknown): string {
  const list = value as (SearchResult | SearchResult[])[];
  return `[${list.map((item) => (Array.isArray(item) ? resultsJson(item) : resultJson(item))).join(',')}]`;
}

function resultJson(result: SearchResult): string {
  const { payload, ...rest } = result;
  const text = JSON.stringify(rest);
  if (payload === undefined) return text;
  const payloadText = payload === null ? 'null' : payload.text;
  return `${text.slice(0, -1)},"payload":${payloadText}}`;
}

function parsed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(parsed);
  const result = value as SearchResult;
  return result.payload instanceof PayloadJson ? { ...result, payload: JSON.parse(result.payload.text) as unknown } : result;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
