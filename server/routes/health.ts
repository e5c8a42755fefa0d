import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine/engine.ts';

export function healthRoutes(app: FastifyInstance, engine: Engine): void {
  app.get('/healthz', () => ({ status: 'ok' }));

  app.get('/readyz', (_request, reply) => {
    if (engine.ready) return { status: 'ready' };
    return reply
      .code(503)
      .header('retry-after', '1')
      .send({ statusCode: 503, code: 'VDB_ERR_NOT_READY', error: 'Service Unavailable', message: 'indexes are loading' });
  });
}
