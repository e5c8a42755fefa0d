import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine/engine.ts';
import { collectionBody, collectionParams, type CollectionRequest } from '../schemas/index.ts';

type Params = { name: string };

export function collectionRoutes(app: FastifyInstance, engine: Engine): void {
  app.get('/v1/collections', async () => ({ collections: await engine.listCollections() }));

  app.put<{ Params: Params; Body: CollectionRequest }>(
    '/v1/collections/:name',
    { schema: { params: collectionParams, body: collectionBody } },
    async (request, reply) => {
      const { created, collection } = await engine.createCollection(request.params.name, request.body);
      return reply.code(created ? 201 : 200).send(collection);
    },
  );

  app.get<{ Params: Params }>('/v1/collections/:name', { schema: { params: collectionParams } }, (request) =>
    engine.describe(request.params.name),
  );

  app.delete<{ Params: Params }>('/v1/collections/:name', { schema: { params: collectionParams } }, async (request) => {
    await engine.dropCollection(request.params.name);
    return { dropped: request.params.name };
  });
}
