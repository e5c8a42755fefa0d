import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { installAuth, loadKeyRing } from './auth/auth.ts';
import type { Config } from './config.ts';
import { Engine } from './engine/engine.ts';
import { installBodies } from './plugins/body.ts';
import { installRequestTimeout } from './plugins/timeout.ts';
import { frameworkError, installErrors } from './plugins/errors.ts';
import { backupRoutes } from './routes/backups.ts';
import { collectionRoutes } from './routes/collections.ts';
import { healthRoutes } from './routes/health.ts';
import { importRoutes } from './routes/import.ts';
import { Metrics, metricsRoutes } from './metrics/metrics.ts';
import { linkRoutes } from './routes/links.ts';
import { installOpenApi } from './openapi/document.ts';
import { pointRoutes } from './routes/points.ts';
import { searchRoutes } from './routes/search.ts';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

declare module 'fastify' {
  interface FastifyInstance {
    engine: Engine;
    /** Null with VICINITY_METRICS=false. */
    metrics: Metrics | null;
    /** Reads VICINITY_API_KEYS_FILE again (SIGHUP); a file that does not parse leaves the keys as they were. */
    reloadKeys(): void;
  }
}

/** Builds the server without listening: the engine opens its data directory and loads indexes in the background. */
export function buildApp(config: Readonly<Config>): FastifyInstance {
  const app = Fastify({
    ...(config.tlsCert && config.tlsKey && { https: { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) } }),
    // JSON lines; request logs carry `reqId` (the caller's x-request-id, or one made here, echoed in the answer).
    // Bodies are never logged, so neither are vectors; keys travel in headers, which are redacted too.
    logger: { level: config.logLevel, redact: ['req.headers.authorization', 'req.headers["api-key"]'] },
    // The caller's x-request-id when it is a plain token of at most 128 characters, else a UUID.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: config.bodyLimitBytes,
    // Two log lines per search cost more than the search; requests are logged at debug level below.
    logController: new LogController({ disableRequestLogging: true }),
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Point ids are user strings and may be long.
    routerOptions: { maxParamLength: 1024 },
    frameworkErrors: frameworkError,
  });
  const keys = loadKeyRing(config); // before the engine opens anything: a bad keys file stops here
  const engine = new Engine(config, app.log);
  app.decorate('engine', engine);
  const metrics = config.metrics ? new Metrics(engine.gauges, config.metricsMaxCollections) : null;
  app.decorate('metrics', metrics);
  installErrors(app, config.bodyLimitBytes);
  const auth = installAuth(app, keys, { publicMetrics: config.metricsPublic, publicDocs: config.docsPublic, refused: (reason) => metrics?.refused.inc({ reason }) });
  app.decorate('reloadKeys', () => {
    if (!config.apiKeysFile) return;
    try {
      const ring = loadKeyRing(config)!;
      auth.replace(ring);
      app.log.info({ keys: ring.size, file: config.apiKeysFile }, 'API keys reloaded');
    } catch (err) {
      app.log.error({ err: (err as Error).message }, 'API keys not reloaded: the file does not parse; the keys in use stay');
    }
  });
  installBodies(app);
  installRequestTimeout(app, config.requestTimeoutMs);
  installOpenApi(app);
  // Once the OpenAPI plugin has loaded, so that it sees every route.
  app.after(() => {
    healthRoutes(app, engine);
    if (metrics) metricsRoutes(app, metrics);
    collectionRoutes(app, engine);
    pointRoutes(app, engine);
    linkRoutes(app, engine);
    searchRoutes(app, engine, config.maxK);
    importRoutes(app, engine);
    backupRoutes(app, engine.backups);
  });
  // Once the server is closing, answers end their connection: a keep-alive connection whose request
  // was running when the server began to close would otherwise hold the close open until it idles out.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (request, reply, _payload, done) => {
    reply.header('x-request-id', request.id);
    if (closing) reply.header('connection', 'close');
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: reply.elapsedTime }, 'request');
    done();
  });
  app.addHook('onClose', () => engine.close());
  return app;
}
