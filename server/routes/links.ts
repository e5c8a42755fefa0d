import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine/engine.ts';
import { collectionParams, pointParams } from '../schemas/index.ts';
import { linkDeleteBody, linkListQuery, linkPutBody, neighboursQuery, type LinkDeleteRequest, type LinkListQuery, type LinkPutRequest } from '../schemas/links.ts';

type Params = { name: string };

export function linkRoutes(app: FastifyInstance, engine: Engine): void {
  app.put<{ Params: Params; Body: LinkPutRequest }>(
    '/v1/collections/:name/links',
    { schema: { params: collectionParams, body: linkPutBody } },
    (request) => engine.links.put(request.params.name, request.body),
  );

  app.post<{ Params: Params; Body: LinkDeleteRequest }>(
    '/v1/collections/:name/links/delete',
    { schema: { params: collectionParams, body: linkDeleteBody } },
    (request) => engine.links.delete(request.params.name, request.body),
  );

  app.get<{ Params: Params & { id: string }; Querystring: { k?: number } }>(
    '/v1/collections/:name/points/:id/neighbours',
    { schema: { params: pointParams, querystring: neighboursQuery } },
    (request) => engine.neighbours(request.params.name, request.params.id, request.query.k),
  );

  app.get<{ Params: Params & { id: string }; Querystring: LinkListQuery }>(
    '/v1/collections/:name/points/:id/links',
    { schema: { params: pointParams, querystring: linkListQuery } },
    (request) => engine.links.list(request.params.name, request.params.id, request.query),
  );
}
