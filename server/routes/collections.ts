import { mayTouch } from '../auth/auth.ts';
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine/engine.ts';
import { collectionBody, collectionParams, optimizeBody, type CollectionRequest, type OptimizeRequest } from '../schemas/index.ts';

type Params = { name: string };

export function collectionRoutes(app: FastifyInstance, engine: Engine): void {
  app.get('/v1/collections', async (request) => ({
    collections: (await engine.listCollections()).filter((c) => mayTouch(request, (c as { name: string }).name)),
  }));

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

  app.post<{ Params: Params; Body: OptimizeRequest | undefined }>(
    '/v1/collections/:name/optimize',
    {
      schema: { params: collectionParams, body: optimizeBody },
      // No body at all means the defaults.
      preValidation: (request, _reply, done) => {
        request.body ??= {};
        done();
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const job = await engine.jobs.optimize(request.params.name, { order: body.build_order, seed: body.seed, lidK: body.lid_k });
      return reply.code(202).send(job);
    },
  );

  app.delete<{ Params: Params }>('/v1/collections/:name', { schema: { params: collectionParams } }, async (request) => {
    await engine.dropCollection(request.params.name);
    return { dropped: request.params.name };
  });
}
