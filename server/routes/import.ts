import { mayTouch } from '../auth/auth.ts';
import type { FastifyInstance } from 'fastify';
import { collectionParams } from '../schemas/index.ts';
import type { Engine } from '../engine/engine.ts';
import { ServerErrors } from '../errors.ts';
import { BUILD_ORDER_PATTERN, type BuildOrderSetting } from '../../index/build-order.ts';
import { IMPORT_FORMATS, type ImportFormat } from '../import/records.ts';

/** Content types that name a format when `?format=` is absent (`format` wins when both are given). */
const FORMAT_BY_TYPE: Record<string, ImportFormat> = {
  'application/x-npy': 'npy',
  'application/x-fvecs': 'fvecs',
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
  'application/jsonl': 'ndjson',
  'application/msgpack': 'msgpack',
  'application/x-msgpack': 'msgpack',
  'application/vnd.msgpack': 'msgpack',
};

const importQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    format: { type: 'string', enum: IMPORT_FORMATS },
    id_offset: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    build_order: { type: 'string', pattern: BUILD_ORDER_PATTERN },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295 },
  },
} as const;

const jobParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

type ImportQuery = { format?: ImportFormat; id_offset?: number; build_order?: BuildOrderSetting; seed?: number };

function formatOf(query: ImportQuery, contentType: string | undefined): ImportFormat {
  if (query.format) return query.format;
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  const format = FORMAT_BY_TYPE[type];
  if (format) return format;
  throw new ServerErrors.RequestInvalid(
    `give the body's format as ?format=${IMPORT_FORMATS.join('|')} (or a Content-Type of ${Object.keys(FORMAT_BY_TYPE).join(', ')})` +
      (type ? `; Content-Type '${type}' does not name one` : ''),
  );
}

/**
 * `POST /v1/collections/{name}/import` streams its body to the parsers itself: in this scope the
 * body parsers are replaced by one that leaves the body unread (and so unbound by `bodyLimit`;
 * the import caps apply instead). Jobs: `GET /v1/jobs`, `GET` and `DELETE /v1/jobs/{id}`.
 */
export function importRoutes(app: FastifyInstance, engine: Engine): void {
  void app.register((scope, _options, done) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, next) => next(null));
    scope.post<{ Params: { name: string }; Querystring: ImportQuery }>(
      '/v1/collections/:name/import',
      { schema: { params: collectionParams, querystring: importQuery } },
      async (request, reply) => {
        const length = Number(request.headers['content-length']);
        try {
          const accepted = await engine.jobs.receive(
            request.params.name,
            {
              format: formatOf(request.query, request.headers['content-type']),
              idOffset: request.query.id_offset ?? 0,
              order: request.query.build_order,
              seed: request.query.seed,
              contentLength: Number.isSafeInteger(length) && length >= 0 ? length : null,
            },
            request.raw,
          );
          return await reply.code(202).send(accepted);
        } catch (err) {
          // The rest of the body is unread: discard it as it arrives, so the client, still sending,
          // gets to read the answer (closing the connection instead makes its write fail first).
          // A client that went quiet is not sending: its connection closes after the answer.
          request.raw.resume();
          if ((err as { code?: unknown }).code === 'VDB_ERR_IMPORT_TIMEOUT') void reply.header('connection', 'close');
          throw err;
        }
      },
    );
    done();
  });

  app.get<{ Querystring: { limit?: number } }>(
    '/v1/jobs',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 1000 } } } } },
    (request) => ({ jobs: engine.jobs.list(request.query.limit ?? 100).filter((job) => mayTouch(request, job.collection)) }),
  );
  app.get<{ Params: { id: string } }>('/v1/jobs/:id', { schema: { params: jobParams } }, (request) => {
    const job = engine.jobs.get(request.params.id);
    if (!mayTouch(request, job.collection)) throw new ServerErrors.Forbidden(`key '${request.apiKey!.name}' may not see jobs of collection '${job.collection}'`);
    return job;
  });
  app.delete<{ Params: { id: string } }>('/v1/jobs/:id', { schema: { params: jobParams } }, (request) => {
    const { collection } = engine.jobs.get(request.params.id);
    if (!mayTouch(request, collection)) throw new ServerErrors.Forbidden(`key '${request.apiKey!.name}' may not cancel jobs of collection '${collection}'`);
    return engine.jobs.cancel(request.params.id);
  });
}
