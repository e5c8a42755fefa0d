import type { FastifyInstance } from 'fastify';
import type { Backups } from '../backups/backups.ts';

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[0-9A-Za-z-]{1,64}$' } },
} as const;

/** `POST /v1/backups` starts one (202), `GET /v1/backups` lists them, `GET /v1/backups/{id}` follows one. Admin keys only (policy.ts). */
export function backupRoutes(app: FastifyInstance, backups: Backups): void {
  app.post('/v1/backups', (_request, reply) => reply.code(202).send(backups.start()));
  app.get('/v1/backups', async () => ({ backups: await backups.list() }));
  app.get<{ Params: { id: string } }>('/v1/backups/:id', { schema: { params: idParams } }, (request) => backups.get(request.params.id));
}
