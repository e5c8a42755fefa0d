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
  const paced = pacedLoop(1000 / ratePerS, async () => {
    const t0 = performance.now();
    const ok = await get();
    samples.push(performance.now() - t0);
    if (!ok) errors++;
  });
  return {
    async stop(): Promise<ProbeResult> {
      await paced.stop();
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

/**
 * Runs `step` every `intervalMs` (from the first, at once), never two at once: a slow step delays the
 * next instead of piling up. Ends after `limit` steps (`done`) or at `stop()`, after the step in flight.
 */
export function pacedLoop(intervalMs: number, step: () => Promise<void>, limit = Infinity): { done: Promise<void>; stop(): Promise<void> } {
  let stopping = false;
  let wake: (() => void) | null = null;
  const done = (async () => {
    const started = performance.now();
    for (let i = 0; !stopping && i < limit; i++) {
      await step();
      const wait = started + (i + 1) * intervalMs - performance.now();
      if (wait > 0 && !stopping && i + 1 < limit) {
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
  })();
  return {
    done,
    async stop() {
      stopping = true;
      wake?.();
      await done;
    },
  };
}
