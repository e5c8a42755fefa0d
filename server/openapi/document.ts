/**
 * The OpenAPI 3.1 document of the REST API, at `GET /openapi.json`, and interactive docs at `/docs`
 * (@fastify/swagger-ui's own files: nothing is loaded from elsewhere). @fastify/swagger turns each
 * route's request schemas into the document; `transform` and `transformObject` add what the routes do
 * not carry (operations.ts: summaries, answers, error codes, examples), so no answer schema ever
 * reaches the live routes' serializers.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import { accessOf } from '../auth/policy.ts';
import { VERSION } from '../version.ts';
import { ANSWER_SCHEMAS } from './answers.ts';
import { errorMedia, errorResponse, routeErrors, SHARED_ERRORS } from './errors.ts';
import { OPERATIONS, type Answer, type Operation } from './operations.ts';

type Json = Record<string, unknown>;

/** Request bodies go through these parsers (server/plugins/body.ts). */
const BODY_TYPES = ['application/json', 'application/msgpack'];
const MSGPACK_NOTE =
  'Also as MessagePack (`Content-Type: application/msgpack`), where a vector may be an array, a Float32Array ' +
  'or raw little-endian float32 bytes.';
/** What the import route reads, by content type (server/routes/import.ts). */
const IMPORT_TYPES: Readonly<Record<string, string>> = {
  'application/x-ndjson': 'one {"id", "vector", "payload"?, "links"?} object per line',
  'application/x-npy': 'a 2-D float32 or float64 array in C order; row r gets the id id_offset + r',
  'application/x-fvecs': 'fvecs records; record r gets the id id_offset + r',
  'application/msgpack': 'concatenated {id, vector, payload?, links?} maps',
  'application/octet-stream': 'any of the above, named by ?format=',
};

const DESCRIPTION = `Vector search over HNSW indexes, persisted to SQLite (docs/api.md in the repository).

Bodies are JSON, or MessagePack with \`Content-Type: application/msgpack\`; answers are JSON, or MessagePack
with \`Accept: application/msgpack\`. Every error answers \`{statusCode, code, error, message}\` with a
\`VDB_ERR_*\` code (docs/api.md: Errors).

Keys: a server without keys listens on loopback only and asks for none. With VICINITY_API_KEY or
VICINITY_API_KEYS_FILE every call needs a key (\`Authorization: Bearer <key>\` or \`api-key: <key>\`) whose
role allows it (each operation's \`x-vicinity-role\` says which), except /healthz and /readyz, /metrics when
VICINITY_METRICS_PUBLIC is true, and this document and /docs when VICINITY_DOCS_PUBLIC opens them (by
default, on a loopback address).`;

/** The route's key in OPERATIONS and policy.ts. */
const keyOf = (method: string, url: string) => `${method} ${url}`;

function operationOf(method: string, url: string): Operation {
  const operation = OPERATIONS[keyOf(method, url)];
  if (!operation) throw new Error(`route ${method} ${url} has no entry in server/openapi/operations.ts`);
  return operation;
}

/** Per route: what @fastify/swagger should put in the operation besides the request schemas. */
function transform({ schema, url, route }: { schema: FastifySchema; url: string; route: RouteOptions }): { schema: FastifySchema; url: string } {
  if (schema?.hide) return { schema, url };
  const method = [route.method].flat().find((m) => m !== 'HEAD')!;
  const operation = operationOf(method, url);
  const access = accessOf(method, url) ?? 'admin';
  return {
    url,
    schema: {
      ...schema,
      operationId: operation.id,
      summary: operation.summary,
      ...(operation.description && { description: operation.description }),
      tags: [operation.tag],
      ...(schema?.body !== undefined && { consumes: BODY_TYPES }),
      security: access === 'open' ? [] : [{ bearer: [] }, { apiKey: [] }],
    },
  };
}

function answerResponse(answer: Answer): Json {
  const schema = typeof answer.schema === 'string' ? { $ref: `#/components/schemas/${answer.schema}` } : answer.schema;
  const media = { schema, ...(answer.example !== undefined && { example: answer.example }) };
  const types = answer.contentType ? [answer.contentType] : ['application/json', 'application/msgpack'];
  return { description: answer.description, content: Object.fromEntries(types.map((t, i) => [t, i === 0 ? media : { schema }])) };
}

/** Fastify's `:param` becomes OpenAPI's `{param}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** The whole document: answers, errors, request examples and components, over what @fastify/swagger made. */
function complete(document: Json): Json {
  const paths = document.paths as Record<string, Record<string, Json>>;
  const requests: Json = {};
  for (const [key, operation] of Object.entries(OPERATIONS)) {
    const [method, url] = key.split(' ');
    const item = paths[openApiPath(url)]?.[method.toLowerCase()];
    if (!item) continue; // a route this server does not have (GET /metrics with VICINITY_METRICS=false)
    const traits = {
      method,
      url,
      access: accessOf(method, url) ?? 'admin',
      hasQuery: ((item.parameters as Json[] | undefined) ?? []).some((p) => p.in === 'query'),
      hasBody: item.requestBody !== undefined,
    };
    const responses: Json = {};
    for (const [status, answer] of Object.entries(operation.answers)) responses[status] = answerResponse(answer);
    for (const [status, codes] of routeErrors(traits, operation.errors)) responses[status] = errorResponse(status, codes);
    item.responses = responses;
    item['x-vicinity-role'] = traits.access;
    for (const parameter of (item.parameters as Json[] | undefined) ?? []) {
      // The collection and point of the body examples (jobs and backups have made-up ids: none).
      if (parameter.in === 'path' && parameter.name === 'name') parameter.example = 'docs';
      if (parameter.in === 'path' && parameter.name === 'id' && url.includes('/points/')) parameter.example = '1';
    }
    if (method === 'POST' && url.endsWith('/import')) item.requestBody = importBody(operation);
    else if (item.requestBody) requests[requestName(operation)] = addBodyExamples(item.requestBody as Json, operation);
    // No body at all means the defaults (server/routes/collections.ts).
    if (key === 'POST /v1/collections/:name/optimize') (item.requestBody as Json).required = false;
  }
  const components = (document.components ?? {}) as Json;
  document.components = {
    ...components,
    schemas: { ...(components.schemas as Json | undefined), ...requests, ...ANSWER_SCHEMAS },
    responses: Object.fromEntries(
      Object.entries(SHARED_ERRORS).map(([name, e]) => [name, { description: e.description, content: { 'application/json': errorMedia(e.status, [e.code]) } }]),
    ),
  };
  return document;
}

/** `search` → `SearchRequest`: request bodies are named components, so that clients get a type of each. */
function requestName(operation: Operation): string {
  return `${operation.id[0].toUpperCase()}${operation.id.slice(1)}Request`;
}

/** Names the body's schema (returned, for components.schemas) and adds the examples. */
function addBodyExamples(body: Json, operation: Operation): Json {
  body.description = MSGPACK_NOTE;
  const content = body.content as Record<string, Json>;
  const schema = content['application/json'].schema as Json;
  const named = { $ref: `#/components/schemas/${requestName(operation)}` };
  // Media objects of their own (@fastify/swagger shares one between the types): the examples are JSON's.
  content['application/json'] = { schema: named, ...(operation.examples && { examples: { ...operation.examples } }) };
  content['application/msgpack'] = { schema: named };
  return schema;
}

function importBody(operation: Operation): Json {
  const content: Record<string, Json> = {};
  for (const [type, what] of Object.entries(IMPORT_TYPES)) {
    content[type] = {
      schema: { type: 'string', ...(type === 'application/x-ndjson' ? {} : { contentMediaType: type }), description: what },
      ...(type === 'application/x-ndjson' && operation.examples && { examples: { ...operation.examples } }),
    };
  }
  return { required: true, description: 'The file, streamed. `?format=` wins over the content type.', content };
}

/**
 * Registers @fastify/swagger, the `/docs` pages and `GET /openapi.json`. Call it before the routes
 * are added, and add them after the plugins load (`app.after`): @fastify/swagger sees only routes
 * added once it is loaded.
 */
export function installOpenApi(app: FastifyInstance): void {
  // As with the access rules (auth.ts): a route the document would not describe stops the start.
  const undocumented: string[] = [];
  app.addHook('onRoute', (route) => {
    if (route.schema?.hide) return;
    for (const method of [route.method].flat()) if (method !== 'HEAD' && !OPERATIONS[keyOf(method, route.url)]) undocumented.push(keyOf(method, route.url));
  });
  app.addHook('onReady', (done) => {
    done(undocumented.length > 0 ? new Error(`routes without an entry in server/openapi/operations.ts: ${undocumented.join(', ')}`) : undefined);
  });
  void app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Vicinity', version: VERSION, description: DESCRIPTION },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <key>' },
          apiKey: { type: 'apiKey', in: 'header', name: 'api-key', description: 'api-key: <key>' },
        },
      },
      tags: [...new Set(Object.values(OPERATIONS).map((o) => o.tag))].map((name) => ({ name })),
    },
    transform,
    transformObject: (documents) => complete(('openapiObject' in documents ? documents.openapiObject : documents.swaggerObject) as Json) as never,
  });
  // Its routes are in server/auth/policy.ts, under /docs.
  void app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.after(() => {
    app.get('/openapi.json', () => app.swagger());
  });
}
