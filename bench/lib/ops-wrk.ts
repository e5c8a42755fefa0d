/**
 * wrk for `bench/ops.ts`: `threads` threads over `connections` keep-alive connections, with the
 * script and body files of load.ts (each thread cycles through the bodies from its own offset), and
 * every number wrk reports.
 */
import { spawnWrk, wrkBodies, wrkScript, wrkTimings, type BodySet, type Wrk, type WrkNumbers } from './load.ts';

export interface WrkRun {
  threads: number;
  connections: number;
  requests: number;
  seconds: number;
  qps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** Answers other than 2xx/3xx. */
  statusErrors: number;
  /** Connect, read, write errors and timeouts. */
  socketErrors: number;
  /** CPU seconds of wrk, of the server (all its threads) and of everything else on the machine meanwhile. */
  wrkCpuS: number | null;
  serverCpuS: number | null;
  otherCpuS: number | null;
}

export interface WrkTarget {
  port: number;
  path: string;
  serverPid: number;
}

/** One wrk run of whole seconds (rounded up) against `target`; throws when wrk fails or prints no numbers. */
export async function runWrkThreads(
  wrk: Wrk,
  workDir: string,
  set: BodySet,
  target: WrkTarget,
  threads: number,
  connections: number,
  durationS: number,
  timeoutS = 10,
): Promise<WrkRun> {
  const seconds = Math.max(1, Math.ceil(durationS - 1e-9));
  const t = Math.min(threads, connections);
  const args = [`-t${t}`, `-c${connections}`, `-d${seconds}s`, '--timeout', `${Math.ceil(timeoutS)}s`, '--latency', '-s', wrkScript(workDir)];
  args.push(`http://127.0.0.1:${target.port}${target.path}`, '--', wrkBodies(workDir, set), set.contentType, set.method, String(t));
  const { json, loadgenCpuS: wrkCpuS, serverCpuS, otherCpuS } = await spawnWrk(wrk, args, target.serverPid);
  const w = JSON.parse(json) as WrkNumbers;
  return {
    threads: t,
    connections,
    requests: w.requests,
    ...wrkTimings(w),
    statusErrors: w.status,
    socketErrors: w.connect + w.read + w.write + w.timeout,
    wrkCpuS,
    serverCpuS,
    otherCpuS,
  };
}
