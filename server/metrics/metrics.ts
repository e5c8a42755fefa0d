import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Why a request was refused before its handler ran. */
export type RefusedReason = 'unauthenticated' | 'forbidden';

/**
 * The server's Prometheus metrics (prom-client), prefix `vicinity_`, served at `GET /metrics`:
 * Node's process metrics (heap, GC, event-loop lag), the build, and requests refused by the key
 * check. Keys never appear in them: a refusal is counted by reason only.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly refused: Counter<'reason'>;

  constructor(hnswBuild: string) {
    collectDefaultMetrics({ register: this.registry, prefix: 'vicinity_' });
    new Gauge({
      name: 'vicinity_build_info',
      help: 'Always 1; the labels say what runs: server version, hnswlib build, Node version',
      labelNames: ['version', 'hnsw_build', 'node_version'],
      registers: [this.registry],
    }).set({ version: VERSION, hnsw_build: hnswBuild, node_version: process.version }, 1);
    this.refused = new Counter({
      name: 'vicinity_requests_refused_total',
      help: 'Requests refused by the API-key check: unauthenticated (401: no key or an unknown one) or forbidden (403: beyond the key\'s role or collections)',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    for (const reason of ['unauthenticated', 'forbidden'] as const) this.refused.inc({ reason }, 0);
  }
}

/** `GET /metrics` in Prometheus' text format. Who may read it is the key check's business (policy.ts). */
export function metricsRoutes(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
