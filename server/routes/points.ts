import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine/engine.ts';
import type { StoredPoint } from '../engine/read-points.ts';
import {
  collectionParams,
  deleteBody,
  pointParams,
  pointQuery,
  scrollBody,
  upsertBody,
  type DeleteRequest,
  type ScrollRequest,
  type UpsertRequest,
} from '../schemas/index.ts';

type Params = { name: string };

/** A stored point as the API shows it: ids as strings, payload parsed, vector decoded when asked for. */
export function pointView(row: StoredPoint, withPayload = true): Record<string, unknown> {
  const view: Record<string, unknown> = { id: row.id };
  if (withPayload) view.payload = row.payload === null ? null : (JSON.parse(row.payload) as unknown);
  if (row.vector) view.vector = Array.from(row.vector);
  return view;
}

export function pointRoutes(app: FastifyInstance, engine: Engine): void {
  app.put<{ Params: Params; Body: UpsertRequest }>(
    '/v1/collections/:name/points',
    { schema: { params: collectionParams, body: upsertBody } },
    async (request) => {
      const answer = await engine.upsert(request.params.name, request.body);
      app.metrics?.written.inc({ op: 'upserted' }, answer.upserted);
      return answer;
    },
  );

  app.get<{ Params: Params & { id: string }; Querystring: { with_vector?: boolean; with_payload?: boolean } }>(
    '/v1/collections/:name/points/:id',
    { schema: { params: pointParams, querystring: pointQuery } },
    (request) => {
      const row = engine.getPoint(request.params.name, request.params.id, request.query.with_vector ?? false);
      return pointView(row, request.query.with_payload ?? true);
    },
  );

  app.post<{ Params: Params; Body: DeleteRequest }>(
    '/v1/collections/:name/points/delete',
    { schema: { params: collectionParams, body: deleteBody } },
    async (request) => {
      const answer = await engine.deletePoints(request.params.name, request.body);
      app.metrics?.written.inc({ op: 'deleted' }, answer.deleted);
      return answer;
    },
  );

  app.post<{ Params: Params; Body: ScrollRequest }>(
    '/v1/collections/:name/points/scroll',
    { schema: { params: collectionParams, body: scrollBody } },
    async (request) => {
      const page = await engine.scroll(request.params.name, request.body);
      const withPayload = request.body.with_payload ?? true;
      return { points: page.points.map((row) => pointView(row, withPayload)), next_cursor: page.next_cursor };
    },
  );
}
