import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineGauges } from '../engine/gauges.ts';
import { VERSION } from '../version.ts';
import { OTHER, registerCollectionGauges, SCRAPE_CACHE_MS } from './collections.ts';


/** What the metrics read from the engine at each scrape, and the observers they set. */
export type MetricsSource = EngineGauges;

/**
 * The server's Prometheus metrics (prom-client), prefix `vicinity_`, served at `GET /metrics` and
 * listed in docs/operations.md (Metrics): requests, searches, writes, replicas, jobs, the build and Node's process
 * metrics here, what is stored per collection in collections.ts. Keys never appear in them: a
 * refusal is counted by reason only.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly refused: Counter<'reason'>;
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly duration: Histogram<'method' | 'route'>;
  readonly searches: Histogram<'collection' | 'plan'>;
  readonly searchesRefused: Counter<'reason'>;
  readonly written: Counter<'op'>;
  /** Called as a scrape starts: the collections and jobs are read afresh, once for the whole scrape. */
  readonly beginScrape: () => void;
  readonly #named = new Set<string>();
  readonly #maxCollections: number;

  constructor(source: MetricsSource, maxCollections: number) {
    this.#maxCollections = maxCollections;
    collectDefaultMetrics({ register: this.registry, prefix: 'vicinity_' });
    new Gauge({
      name: 'vicinity_build_info',
      help: 'Always 1; the labels say what runs: server version, hnswlib build, Node version',
      labelNames: ['version', 'hnsw_build', 'node_version'],
      registers: [this.registry],
    }).set({ version: VERSION, hnsw_build: source.hnswBuild, node_version: process.version }, 1);
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
    const forgetCollections = registerCollectionGauges(this.registry, source, maxCollections);
    this.searches = new Histogram({
      name: 'vicinity_search_duration_seconds',
      help: 'Searches by collection and plan (graph, filtered_graph, exact, none, diverse): the replica task and the answer\'s assembly; a batch\'s searches each count its whole task',
      labelNames: ['collection', 'plan'],
      buckets: [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    source.searchObserver = (collection, plan, seconds) => this.searches.observe({ collection: this.collectionLabel(collection), plan }, seconds);
    this.searchesRefused = new Counter({
      name: 'vicinity_searches_refused_total',
      help: 'Searches answered 503, by reason: overloaded (every replica queue full) or not_ready (the collection is loading)',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    const transactions = new Histogram({
      name: 'vicinity_write_transaction_duration_seconds',
      help: "SQLite write transactions, by writer: the server's (upserts, deletes, links, staging, job records), BEGIN to COMMIT, or the build process's (re-encoding, k-NN rows, purges), the time it held the write lock",
      labelNames: ['writer'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [this.registry],
    });
    source.writeObserver = (seconds, writer) => transactions.observe({ writer }, seconds);
    const finished = new Counter({
      name: 'vicinity_jobs_finished_total',
      help: 'Jobs ended since start-up, by kind and state: done, failed or cancelled',
      labelNames: ['kind', 'state'],
      registers: [this.registry],
    });
    for (const kind of ['import', 'optimize']) for (const state of ['done', 'failed', 'cancelled']) finished.inc({ kind, state }, 0);
    source.jobObserver = (kind, state) => finished.inc({ kind, state });
    new Gauge({
      name: 'vicinity_ready',
      help: '1 once every replica and collection is loaded and caught up (as /readyz), else 0',
      registers: [this.registry],
      collect() {
        this.set(source.ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'vicinity_snapshot_interval_seconds',
      help: 'VICINITY_SNAPSHOT_INTERVAL_S: a changed collection\'s index is snapshot at least this often',
      registers: [this.registry],
    }).set(source.snapshotIntervalS);
    new Gauge({
      name: 'vicinity_replicas',
      help: 'Search replicas: worker threads, each with a copy of every index',
      registers: [this.registry],
      collect() {
        this.set(source.replicaCount);
      },
    });
    // Kept by the replicas (their buffers outlive a worker), so set whole at each scrape.
    new Counter({
      name: 'vicinity_replica_busy_seconds_total',
      help: "Seconds each replica's worker was busy (its rate is the replica's busy share); a restarted worker carries on from its predecessor",
      labelNames: ['replica'],
      registers: [this.registry],
      collect() {
        this.reset();
        source.replicaActivity().forEach((a, replica) => this.inc({ replica: String(replica) }, a.busySeconds));
      },
    });
    new Counter({
      name: 'vicinity_replica_restarts_total',
      help: 'Replica workers started again after one died or was ended after a failed write (it reloads from snapshots and SQLite)',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(source.replicaActivity().reduce((sum, a) => sum + a.restarts, 0));
      },
    });
    this.written = new Counter({
      name: 'vicinity_points_written_total',
      help: 'Points written through the REST API: upserted, deleted (imports are counted by their jobs)',
      labelNames: ['op'],
      registers: [this.registry],
    });
    new Gauge({
      name: 'vicinity_index_backlog_points',
      help: 'Points written but not yet in every replica\'s index (the most behind replica)',
      registers: [this.registry],
      collect() {
        this.set(source.indexBacklog);
      },
    });
    new Gauge({
      name: 'vicinity_replica_queue',
      help: 'Tasks queued per replica: all (writes, snapshots, searches) or reads (searches)',
      labelNames: ['replica', 'kind'],
      registers: [this.registry],
      collect() {
        source.replicaQueues().forEach((q, replica) => {
          this.set({ replica: String(replica), kind: 'all' }, q.pending);
          this.set({ replica: String(replica), kind: 'reads' }, q.reads);
        });
      },
    });
    const label = (name: string) => this.collectionLabel(name);
    // Both job gauges read the stored jobs once per scrape.
    let jobs: { at: number; list: ReturnType<MetricsSource['jobs']> } = { at: -Infinity, list: [] };
    const jobList = () => {
      const now = performance.now();
      if (now - jobs.at > SCRAPE_CACHE_MS) jobs = { at: now, list: source.jobs(1000) };
      return jobs.list;
    };
    this.beginScrape = () => {
      forgetCollections();
      jobs.at = -Infinity;
    };
    new Gauge({
      name: 'vicinity_jobs',
      help: 'Jobs kept (the last week, at most 1,000) by kind and state',
      labelNames: ['kind', 'state'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const job of jobList()) this.inc({ kind: job.kind, state: job.state });
      },
    });
    new Gauge({
      name: 'vicinity_job_progress',
      help: 'The running job\'s records processed and total, and its rate per second',
      labelNames: ['kind', 'collection', 'measure'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const job of jobList()) {
          if (job.state !== 'running') continue;
          const labels = { kind: job.kind, collection: label(job.collection) };
          this.set({ ...labels, measure: 'processed' }, job.processed);
          if (job.total !== null) this.set({ ...labels, measure: 'total' }, job.total);
          this.set({ ...labels, measure: 'rate' }, job.rate);
        }
      },
    });
  }

  /** A collection's label: its name for the first VICINITY_METRICS_MAX_COLLECTIONS seen, `_other` after. */
  collectionLabel(name: string): string {
    if (this.#named.has(name)) return name;
    if (this.#named.size >= this.#maxCollections) return OTHER;
    this.#named.add(name);
    return name;
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
  app.addHook('onError', (request, _reply, err, done) => {
    if (err.statusCode === 503 && request.routeOptions.url?.includes('/search')) {
      metrics.searchesRefused.inc({ reason: err.code === 'VDB_ERR_NOT_READY' ? 'not_ready' : 'overloaded' });
    }
    done();
  });
  app.get('/metrics', async (_request, reply) => {
    // One metric at a time, yielding between them: the whole text at once (registry.metrics())
    // held the event loop for 6–9 ms with 100 collections, delaying the searches behind it.
    const { registry } = metrics;
    metrics.beginScrape();
    const parts: string[] = [];
    for (const metric of registry.getMetricsAsArray()) {
      parts.push(await registry.getSingleMetricAsString(metric.name));
      await yieldToLoop();
    }
    return reply.type(registry.contentType).send(`${parts.join('\n\n')}\n`);
  });
}
