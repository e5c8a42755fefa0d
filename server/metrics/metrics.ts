import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** What the metrics read from the engine at each scrape. */
export interface MetricsSource {
  hnswBuild: string;
  collectionCounts(): { name: string; live: number; deleted: number }[];
}

/** Collections past this many are summed under `collection="_other"`, so label values stay bounded. */
export const OTHER = '_other';

/**
 * The server's Prometheus metrics (prom-client), prefix `vicinity_`, served at `GET /metrics`:
 * Node's process metrics (heap, GC, event-loop lag), the build, requests by route pattern (never the
 * raw URL) and status, requests refused by the key check, and points per collection. Keys never
 * appear in them: a refusal is counted by reason only.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly refused: Counter<'reason'>;
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly duration: Histogram<'method' | 'route'>;

  constructor(source: MetricsSource, maxCollections: number) {
    const hnswBuild = source.hnswBuild;
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
    this.requests = new Counter({
      name: 'vicinity_http_requests_total',
      help: 'Requests answered, by method, route pattern (unmatched for no route) and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'vicinity_http_request_duration_seconds',
      help: 'Time from a request\'s arrival to its answer, by method and route pattern',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    new Gauge({
      name: 'vicinity_collection_points',
      help: `Points per collection: live, or deleted (tombstones an optimize will purge); past VICINITY_METRICS_MAX_COLLECTIONS collections, summed under collection="${OTHER}"`,
      labelNames: ['collection', 'state'],
      registers: [this.registry],
      collect() {
        this.reset();
        const counts = source.collectionCounts();
        counts.forEach((c, i) => {
          const collection = i < maxCollections ? c.name : OTHER;
          this.inc({ collection, state: 'live' }, c.live);
          this.inc({ collection, state: 'deleted' }, c.deleted);
        });
      },
    });
    new Gauge({
      name: 'vicinity_collections',
      help: 'Collections on this server',
      registers: [this.registry],
      collect() {
        this.set(source.collectionCounts().length);
      },
    });
  }

  /** Counts an answered request and its duration; `route` is the pattern (or `unmatched`). */
  answered(method: string, route: string, status: number, seconds: number): void {
    this.requests.inc({ method, route, status: String(status) });
    this.duration.observe({ method, route }, seconds);
  }
}

/** `GET /metrics` in Prometheus' text format. Who may read it is the key check's business (policy.ts). */
export function metricsRoutes(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    metrics.answered(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
