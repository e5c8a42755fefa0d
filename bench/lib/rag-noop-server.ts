/**
 * The floor `bench/rag.ts` holds Vicinity's single-client latency against: a Fastify app with the
 * server's settings (VICINITY_* read by server/config.ts: port, host, body limit, largest k), its JSON
 * parser options and the search route's own schemas, whose handler answers a small constant. It
 * parses and validates the same search bodies and searches nothing. Run by ServerProcess as its entry.
 */
import Fastify from 'fastify';
import { loadConfig } from '../../server/config.ts';
import { collectionParams, searchBody } from '../../server/schemas/index.ts';

const config = loadConfig();
const app = Fastify({ bodyLimit: config.bodyLimitBytes, onProtoPoisoning: 'error', onConstructorPoisoning: 'error' });
const ANSWER = { results: [], took_ms: 0 };

app.get('/readyz', () => ({ status: 'ready' }));
app.post('/v1/collections/:name/search', { schema: { params: collectionParams, body: searchBody(config.maxK) } }, () => ANSWER);

process.once('SIGTERM', () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
await app.listen({ host: config.host, port: config.port });
