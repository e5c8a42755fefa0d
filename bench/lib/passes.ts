import { runNodeLoad, runWrk, type BodySet, type LoadResult, type LoadTarget, type Wrk } from './load.ts';
import { startProbe, type ProbeResult } from './probe.ts';
import { disturbance, waitForQuiet, type QuietRules } from './stats.ts';

export interface Pass extends LoadResult {
  /** Which body set was sent. */
  bodies: string;
  /** wrk runs that ended short of the minimum request count and were run again, longer. */
  shortRuns: number;
  /** Runs thrown away because other processes used more than `disturbedCores` meanwhile. */
  disturbedRuns: number;
  /** Seconds spent waiting for the machine to go quiet before the kept run. */
  waitedS: number;
  /** The low-rate GET client running alongside, when asked for. */
  probe: ProbeResult | null;
}

export interface PassRules {
  /** Every pass lasts at least this long… */
  minSeconds: number;
  /** …and makes at least this many requests, so that its p99 rests on ≥ 50 samples above it. */
  minRequests: number;
  /** No pass is stretched beyond this. */
  maxSeconds: number;
}

export interface ProbeSpec {
  path: string;
  ratePerS: number;
}

/**
 * Timed passes against one server with wrk (or the node:http fallback). The node:http loop simply runs
 * until both rules hold. wrk only takes a duration, so the pass lasts
 * max(minSeconds, minRequests / expected QPS × 1.2); a pass that still ends short is run again, longer,
 * from its own rate. Before each run the runner waits for the machine to go quiet, and a run disturbed
 * by other processes anyway is repeated (`quiet.maxReruns` times); the least disturbed run is kept.
 */
export class LoadRunner {
  constructor(
    private readonly wrk: Wrk | null,
    private readonly workDir: string,
    private readonly target: LoadTarget,
    readonly rules: PassRules,
    readonly quiet: QuietRules,
  ) {}

  async run(set: BodySet, concurrency: number, expectedQps?: number, probe?: ProbeSpec): Promise<Pass> {
    let best: Pass | null = null;
    for (let disturbedRuns = 0; ; disturbedRuns++) {
      const pass = await this.#sized(set, concurrency, expectedQps, probe);
      if (best === null || disturbance(pass) < disturbance(best)) best = pass;
      best.disturbedRuns = disturbedRuns;
      if (pass.errors > 0 || disturbance(pass) <= this.quiet.disturbedCores || disturbedRuns >= this.quiet.maxReruns) return best;
      expectedQps = Math.max(pass.qps, expectedQps ?? 0);
    }
  }

  async #sized(set: BodySet, concurrency: number, expectedQps: number | undefined, probe: ProbeSpec | undefined): Promise<Pass> {
    const { minSeconds, minRequests, maxSeconds } = this.rules;
    const stretch = (qps: number): number => Math.min(maxSeconds, Math.max(minSeconds, (minRequests / qps) * 1.2));
    let seconds = expectedQps === undefined || !(expectedQps > 0) ? minSeconds : stretch(expectedQps);
    for (let shortRuns = 0; ; shortRuns++) {
      const waitedS = await waitForQuiet([this.target.serverPid], this.quiet);
      const prober = probe === undefined ? null : startProbe(this.target.port, probe.path, probe.ratePerS);
      let result: LoadResult;
      let probed: ProbeResult | null = null;
      try {
        result =
          this.wrk === null
            ? await runNodeLoad(set, this.target, concurrency, seconds, minRequests)
            : await runWrk(this.wrk, this.workDir, set, this.target, concurrency, seconds);
      } finally {
        // The probe is stopped even when the pass fails, or its timer keeps the process alive.
        if (prober !== null) probed = await prober.stop();
      }
      const done = result.requests >= minRequests || result.errors > 0 || seconds >= maxSeconds || shortRuns >= 2;
      if (done) return { ...result, bodies: set.name, shortRuns, disturbedRuns: 0, waitedS, probe: probed };
      seconds = stretch(result.qps);
    }
  }
}
