import { Ajv, type ErrorObject } from 'ajv';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { ServerErrors } from '../errors.ts';

/** Bodies: strict (no coercion, no defaults, unknown fields refused). Query and params: coerced. */
const bodyAjv = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: false, removeAdditional: false, allowUnionTypes: true });
const partAjv = new Ajv({ allErrors: false, coerceTypes: true, useDefaults: true, removeAdditional: false, allowUnionTypes: true });

function location(part: string, instancePath: string): string {
  const steps = instancePath.split('/').slice(1);
  let out = part === 'body' ? '' : `${part}.`;
  for (const step of steps) out += /^\d+$/.test(step) ? `[${step}]` : out === '' || out.endsWith('.') ? step : `.${step}`;
  return out === '' || out.endsWith('.') ? out + (part === 'body' ? 'body' : '') : out;
}

/** One ajv error as a sentence that says what to change. */
export function validationMessage(part: string, error: ErrorObject): string {
  const where = location(part, error.instancePath) || part;
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties':
      return `${where} has an unknown field '${String(p.additionalProperty)}'`;
    case 'required':
      return `${where} is missing the required field '${String(p.missingProperty)}'`;
    case 'enum':
      return `${where} must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
      if (where === 'params.name') {
        return 'collection name must be 1–64 characters of letters, digits, _ or -, starting with a letter or digit';
      }
      return `${where} must match ${String(p.pattern)}`;
    default:
      return `${where} ${error.message ?? 'is invalid'}`;
  }
}

function send(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({ statusCode: status, code, error: STATUS_CODES[status] ?? 'Error', message });
}

/**
 * Errors the router raises before any hook or handler (Fastify's `frameworkErrors`): a path that is
 * not valid percent-encoded UTF-8 (found by fuzzing: it answered FST_ERR_BAD_URL without our code).
 */
export function frameworkError(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const bad = err.code === 'FST_ERR_BAD_URL';
  void send(reply, 400, 'VDB_ERR_REQUEST_MALFORMED', bad ? 'the path is not valid percent-encoded UTF-8' : err.message);
}

const FASTIFY_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'VDB_ERR_REQUEST_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'VDB_ERR_REQUEST_MEDIA_TYPE' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'VDB_ERR_REQUEST_MALFORMED' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'VDB_ERR_REQUEST_MALFORMED' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'VDB_ERR_REQUEST_MALFORMED' },
};

/** Validation compilers, the error handler and the 404 handler: every error answers with a VDB_ERR_ code. */
export function installErrors(app: FastifyInstance, bodyLimitBytes: number): void {
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : partAjv).compile(schema));

  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (err.validation) {
      return send(reply, 400, 'VDB_ERR_REQUEST_INVALID', validationMessage(err.validationContext ?? 'body', err.validation[0] as ErrorObject));
    }
    // 503 (not ready, overloaded) and 507 (disk full) are the server's own answers, not its faults.
    if (typeof err.code === 'string' && err.code.startsWith('VDB_ERR_') && err.statusCode && (err.statusCode < 500 || err.statusCode === 503 || err.statusCode === 507)) {
      if (err.statusCode === 503 || err.statusCode === 429) reply.header('retry-after', '1');
      return send(reply, err.statusCode, err.code, err.message);
    }
    const known = FASTIFY_CODES[err.code];
    if (known) {
      const message =
        known.status === 413
          ? `body is larger than the limit of ${bodyLimitBytes} bytes: send fewer points per request, or use import`
          : known.status === 415
            ? `content type '${request.headers['content-type'] ?? ''}' is not supported: send application/json or application/msgpack`
            : `body is malformed: ${err.message}`;
      return send(reply, known.status, known.code, message);
    }
    if (err instanceof SyntaxError || (err.statusCode === 400 && !err.code?.startsWith('VDB_ERR_'))) {
      return send(reply, 400, 'VDB_ERR_REQUEST_MALFORMED', `body is malformed: ${err.message}`);
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return send(reply, err.statusCode, 'VDB_ERR_REQUEST_MALFORMED', err.message);
    }
    request.log.error({ err }, 'internal error');
    const internal = new ServerErrors.Internal('internal error; the server log has the details');
    return send(reply, 500, internal.code, internal.message);
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) =>
    send(reply, 404, 'VDB_ERR_ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}: see docs/api.md, or GET /docs on this server`),
  );
}
