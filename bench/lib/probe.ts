import http from 'node:http';
import { Samples } from './stats.ts';

export interface ProbeResult {
  path: string;
  ratePerS: number;
  requests: number;
  /** Socket errors and answers other than 200. */
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface Probe {
  /** Stops after the request in flight and returns the latencies. */
  stop(): Promise<ProbeResult>;
}

/**
 * A low-rate GET client on its own keep-alive connection: one request every 1/`ratePerS` s, never two
 * at once (a slow answer delays the next instead of piling up). It measures how long the event loop
 * makes a cheap request wait while the load generator saturates the server.
 */
export function startProbe(port: number, path: string, ratePerS: number): Probe {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const samples = new Samples();
  let errors = 0;
  let stopping = false;
  let wake: (() => void) | null = null;
  const get = (): Promise<boolean> =>
    new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'GET', path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', () => resolve(false));
      });
      req.on('error', () => resolve(false));
      req.end();
    });
  const interval = 1000 / ratePerS;
  const loop = async (): Promise<void> => {
    const started = performance.now();
    for (let i = 0; !stopping; i++) {
      const t0 = performance.now();
      const ok = await get();
      samples.push(performance.now() - t0);
      if (!ok) errors++;
      const wait = started + (i + 1) * interval - performance.now();
      if (wait > 0 && !stopping) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
      }
    }
  };
  const running = loop();
  return {
    async stop(): Promise<ProbeResult> {
      stopping = true;
      wake?.();
      await running;
      agent.destroy();
      const [p50Ms, p99Ms, maxMs] = samples.percentiles(50, 99, 100);
      return { path, ratePerS, requests: samples.count, errors, p50Ms, p99Ms, maxMs };
    },
  };
}

/** Probes for `seconds` while nothing else runs: the baseline for the numbers under load. */
export async function probeIdle(port: number, path: string, ratePerS: number, seconds: number): Promise<ProbeResult> {
  const probe = startProbe(port, path, ratePerS);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return probe.stop();
}
