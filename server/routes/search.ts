import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine/engine.ts';
import { batchBody, collectionParams, searchBody, type SearchRequest } from '../schemas/index.ts';

type Params = { name: string };

export function searchRoutes(app: FastifyInstance, engine: Engine, maxK: number): void {
  app.post<{ Params: Params; Body: SearchRequest }>(
    '/v1/collections/:name/search',
    { schema: { params: collectionParams, body: searchBody(maxK) } },
    async (request) => {
      const started = performance.now();
      const { results, quality } = await engine.search(request.params.name, request.body);
      return { results, ...(quality && { quality }), took_ms: round(performance.now() - started) };
    },
  );

  app.post<{ Params: Params; Body: { searches: SearchRequest[] } }>(
    '/v1/collections/:name/search/batch',
    { schema: { params: collectionParams, body: batchBody(maxK) } },
    async (request) => {
      const started = performance.now();
      const answers = await engine.searchBatch(request.params.name, request.body.searches);
      const results = answers.map((a) => a.results);
      const explained = answers.some((a) => a.quality);
      return { results, ...(explained && { quality: answers.map((a) => a.quality ?? null) }), took_ms: round(performance.now() - started) };
    },
  );
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
