/**
 * A Prometheus stand-in for `bench/ops.ts`: GET /metrics on its own keep-alive connection, one
 * scrape every `intervalMs` (start to start), never two at once (a slow scrape delays the next
 * instead of piling up), keeping each scrape's latency, status and body size. Plus helpers to read
 * series out of the text format.
 */
import http from 'node:http';
import { pacedLoop } from './probe.ts';
import type { HttpClient } from './server.ts';
import { Samples } from './stats.ts';

export interface ScrapeStats {
  intervalMs: number;
  scrapes: number;
  /** Answers other than 200, and socket errors. */
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Body bytes and series (non-comment lines) of the last 200 answer. */
  bodyBytes: number;
  series: number;
}

export interface Scraper {
  /** Stops after the scrape in flight; the statistics of every scrape so far. */
  stop(): Promise<ScrapeStats>;
  /** The last 200 answer's body ('' before one). */
  readonly lastBody: string;
}

/** GET `path` once; resolves with the status (0 on a socket error), the body and the milliseconds it took. */
function get(agent: http.Agent, port: number, path: string): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'GET', path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0 }));
      res.on('error', () => resolve({ status: 0, body: '', ms: performance.now() - t0 }));
    });
    req.on('error', () => resolve({ status: 0, body: '', ms: performance.now() - t0 }));
    req.end();
  });
}

/** Series lines (neither comments nor blank) of a /metrics body. */
export function seriesCount(body: string): number {
  let n = 0;
  for (const line of body.split('\n')) if (line !== '' && !line.startsWith('#')) n++;
  return n;
}

/**
 * Starts scraping every `intervalMs`; with `limit`, stops by itself after that many scrapes (await
 * `done`). The first scrape starts at once.
 */
export function startScraper(port: number, intervalMs: number, limit = Infinity, path = '/metrics'): Scraper & { done: Promise<void> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const samples = new Samples();
  let errors = 0;
  let lastBody = '';
  const paced = pacedLoop(intervalMs, async () => {
    const answer = await get(agent, port, path);
    samples.push(answer.ms);
    if (answer.status === 200) lastBody = answer.body;
    else errors++;
  }, limit);
  const { done } = paced;
  return {
    done,
    get lastBody() {
      return lastBody;
    },
    async stop(): Promise<ScrapeStats> {
      await paced.stop();
      agent.destroy();
      const [p50Ms, p99Ms, maxMs] = samples.percentiles(50, 99, 100);
      return { intervalMs, scrapes: samples.count, errors, p50Ms, p99Ms, maxMs, bodyBytes: Buffer.byteLength(lastBody), series: seriesCount(lastBody) };
    },
  };
}

/** Scrapes `count` times, `intervalMs` apart, with nothing else running; the statistics and the last body. */
export async function scrapeIdle(port: number, count: number, intervalMs: number): Promise<{ stats: ScrapeStats; body: string }> {
  const scraper = startScraper(port, intervalMs, count);
  await scraper.done;
  const body = scraper.lastBody;
  return { stats: await scraper.stop(), body };
}

/** The value of the series `name{labels}` (labels exactly as printed, e.g. `collection="bench"`), or null. */
export function metricValue(body: string, name: string, labels = ''): number | null {
  const head = labels === '' ? `${name} ` : `${name}{${labels}} `;
  for (const line of body.split('\n')) if (line.startsWith(head)) return Number(line.slice(head.length).trim());
  return null;
}

/** The hnswlib build the server runs (`hnsw_build` of `vicinity_build_info` in GET /metrics), or null when metrics are off. */
export async function serverHnswBuild(client: HttpClient): Promise<string | null> {
  const answer = await client.request('GET', '/metrics');
  if (answer.status !== 200) return null;
  const line = answer.body.split('\n').find((l) => l.startsWith('vicinity_build_info{'));
  return line === undefined ? null : (/hnsw_build="([^"]*)"/.exec(line)?.[1] ?? null);
}
