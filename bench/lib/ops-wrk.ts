/**
 * wrk for `bench/ops.ts`: `threads` threads over `connections` keep-alive connections, each thread
 * cycling through the same pre-encoded bodies from its own offset (thread t starts at t/threads of
 * the list), so two threads do not send the same vector at the same moment. No `response()` hook: the
 * Lua per answer would cost wrk CPU on a small machine; wrk counts non-2xx/3xx answers itself
 * (`errors.status`). `done()` prints the numbers as one `WRK_JSON` line and wrk's own /proc stat line.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnWrk, WRK_STAT_LUA, type BodySet, type Wrk } from './load.ts';

const SCRIPT = `
local threads = {}
local count = 0
local requests = {}
local n = 0
local i = 0

function setup(thread)
  thread:set("thread_index", count)
  count = count + 1
  thread:set("thread_count", count)
  threads[#threads + 1] = thread
end

function init(args)
  local lengths = {}
  for line in io.lines(args[1] .. ".len") do lengths[#lengths + 1] = tonumber(line) end
  local f = assert(io.open(args[1] .. ".bin", "rb"))
  local data = f:read("*a")
  f:close()
  local headers = { ["Content-Type"] = args[2] }
  local at = 1
  for _, len in ipairs(lengths) do
    n = n + 1
    requests[n] = wrk.format(args[3], nil, headers, string.sub(data, at, at + len - 1))
    at = at + len
  end
  local total = tonumber(args[4])
  i = math.floor(n * (thread_index or 0) / total)
end

function request()
  i = i % n + 1
  return requests[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, math.floor(latency.mean)))
${WRK_STAT_LUA}
end
`;

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

interface WrkJson {
  requests: number;
  duration_us: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
  mean_us: number;
}

const written = new WeakMap<BodySet, string>();

/** Writes the script (once) and the body set (once per set) into `dir`; returns [script, stem]. */
function files(dir: string, set: BodySet): [string, string] {
  const script = join(dir, 'ops-cycle.lua');
  if (!existsSync(script)) writeFileSync(script, SCRIPT);
  let stem = written.get(set);
  if (stem === undefined) {
    stem = join(dir, set.name);
    writeFileSync(`${stem}.bin`, Buffer.concat(set.bodies));
    writeFileSync(`${stem}.len`, `${set.bodies.map((b) => b.length).join('\n')}\n`);
    written.set(set, stem);
  }
  return [script, stem];
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
  const [script, stem] = files(workDir, set);
  const seconds = Math.max(1, Math.ceil(durationS - 1e-9));
  const t = Math.min(threads, connections);
  const args = [`-t${t}`, `-c${connections}`, `-d${seconds}s`, '--timeout', `${Math.ceil(timeoutS)}s`, '--latency', '-s', script];
  args.push(`http://127.0.0.1:${target.port}${target.path}`, '--', stem, set.contentType, set.method, String(t));
  const { json, loadgenCpuS: wrkCpuS, serverCpuS, otherCpuS } = await spawnWrk(wrk, args, target.serverPid);
  const w = JSON.parse(json) as WrkJson;
  const elapsed = w.duration_us / 1e6;
  return {
    threads: t,
    connections,
    requests: w.requests,
    seconds: elapsed,
    qps: w.requests / elapsed,
    p50Ms: w.p50_us / 1000,
    p90Ms: w.p90_us / 1000,
    p99Ms: w.p99_us / 1000,
    maxMs: w.max_us / 1000,
    meanMs: w.mean_us / 1000,
    statusErrors: w.status,
    socketErrors: w.connect + w.read + w.write + w.timeout,
    wrkCpuS,
    serverCpuS,
    otherCpuS,
  };
}
