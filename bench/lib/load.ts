import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { aptInstall } from './datasets.ts';
import { clockTicks, machineBusySeconds, otherCpu, procCpuSeconds, Samples, statCpuSeconds } from './stats.ts';

export type LoadTool = 'wrk' | 'node:http';

export interface LoadTarget {
  port: number;
  path: string;
  /** The server's pid, whose CPU time is read from /proc around each pass. */
  serverPid: number;
}

/** Pre-encoded request bodies of one kind, sent in turn; `name` names wrk's files, so it is unique per set. */
export interface BodySet {
  name: string;
  method: 'POST' | 'PUT';
  contentType: string;
  bodies: Buffer[];
}

export const JSON_TYPE = 'application/json';
export const MSGPACK_TYPE = 'application/msgpack';

/** JSON texts as a POST body set. */
export function jsonBodies(name: string, bodies: string[]): BodySet {
  return { name, method: 'POST', contentType: JSON_TYPE, bodies: bodies.map((b) => Buffer.from(b)) };
}

export interface LoadResult {
  tool: LoadTool;
  concurrency: number;
  requests: number;
  seconds: number;
  qps: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors, timeouts and answers other than 2xx/3xx. */
  errors: number;
  /** CPU seconds the load generator used during the pass; null where it could not be read. */
  loadgenCpuS: number | null;
  serverCpuS: number | null;
  /** CPU seconds every other process on the machine used meanwhile (this bench's own idle loop included). */
  otherCpuS: number | null;
}

export interface Wrk {
  path: string;
  version: string;
}

/** Finds wrk, installing the Debian package when allowed; null with the reason when it cannot. */
export function ensureWrk(allowInstall: boolean, log: (line: string) => void): { wrk: Wrk | null; why: string } {
  const find = (): Wrk | null => {
    const which = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' });
    const path = which.stdout.trim();
    if (which.status !== 0 || path === '') return null;
    const probe = spawnSync(path, ['-v'], { encoding: 'utf8' });
    const version = /wrk\s+(\S+)/.exec(`${probe.stdout}${probe.stderr}`)?.[1] ?? 'unknown';
    return { path, version };
  };
  const found = find();
  if (found !== null) return { wrk: found, why: '' };
  if (!allowInstall) return { wrk: null, why: 'wrk not installed (apt install disabled)' };
  const installed = aptInstall('wrk', log);
  if (!installed.ok) return { wrk: null, why: installed.why };
  const after = find();
  return after === null ? { wrk: null, why: 'wrk installed but not on PATH' } : { wrk: after, why: '' };
}

/** Lua for the end of wrk's `done()`: prints wrk's own /proc stat line, from which its CPU time is read. */
export const WRK_STAT_LUA = `  local f = io.open("/proc/self/stat", "r")
  if f then
    io.write("WRK_STAT " .. f:read("*l") .. "\\n")
    f:close()
  end`;

// Reads the bodies (one binary file, cut by a file of lengths, so MessagePack works as well as JSON),
// formats every request once in init() and cycles through them, each of wrk's threads from its own
// offset (thread t of args[4] starts t/args[4] into the list), so two threads do not send the same
// body at the same moment. No response() hook: Lua per answer would cost wrk CPU on a small machine.
// done() prints the numbers as JSON and the wrk process's own /proc stat line (all its threads' CPU
// time), since the process is gone afterwards.
const WRK_SCRIPT = `
local count = 0
local requests = {}
local n = 0
local i = 0

function setup(thread)
  thread:set("thread_index", count)
  count = count + 1
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
  local total = tonumber(args[4] or "1")
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

/** Writes the Lua script into `dir` once; returns its path. */
export function wrkScript(dir: string): string {
  const path = join(dir, 'cycle-bodies.lua');
  if (!existsSync(path)) writeFileSync(path, WRK_SCRIPT);
  return path;
}

const written = new WeakMap<BodySet, string>();

/** Writes a body set as `<dir>/<name>.bin` (the bodies back to back) and `.len` (their lengths); returns the stem. */
export function wrkBodies(dir: string, set: BodySet): string {
  let stem = written.get(set);
  if (stem === undefined) {
    stem = join(dir, set.name);
    writeFileSync(`${stem}.bin`, Buffer.concat(set.bodies));
    writeFileSync(`${stem}.len`, `${set.bodies.map((b) => b.length).join('\n')}\n`);
    written.set(set, stem);
  }
  return stem;
}

/** What the script's done() prints. */
export interface WrkNumbers {
  requests: number;
  duration_us: number;
  connect: number;
  read: number;
  write: number;
  /** Answers other than 2xx/3xx. */
  status: number;
  timeout: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
  mean_us: number;
}

/** wrk's timings in the units the reports use: seconds, requests per second, milliseconds. */
export function wrkTimings(w: Omit<WrkNumbers, 'connect' | 'read' | 'write' | 'status' | 'timeout'>) {
  const seconds = w.duration_us / 1e6;
  return {
    seconds,
    qps: w.requests / seconds,
    p50Ms: w.p50_us / 1000,
    p90Ms: w.p90_us / 1000,
    p99Ms: w.p99_us / 1000,
    maxMs: w.max_us / 1000,
    meanMs: w.mean_us / 1000,
  };
}

/**
 * One wrk pass: one thread, `concurrency` keep-alive connections, whole seconds (rounded up). The
 * script and body files are written into `workDir` on first use.
 */
export async function runWrk(
  wrk: Wrk,
  workDir: string,
  set: BodySet,
  target: LoadTarget,
  concurrency: number,
  durationS: number,
): Promise<LoadResult> {
  const seconds = Math.max(1, Math.ceil(durationS - 1e-9));
  const args = ['-t1', `-c${concurrency}`, `-d${seconds}s`, '--latency', '-s', wrkScript(workDir)];
  args.push(`http://127.0.0.1:${target.port}${target.path}`, '--', wrkBodies(workDir, set), set.contentType, set.method);
  const { json, loadgenCpuS, serverCpuS, otherCpuS } = await spawnWrk(wrk, args, target.serverPid);
  const numbers = JSON.parse(json) as WrkNumbers;
  return {
    tool: 'wrk',
    concurrency,
    requests: numbers.requests,
    seconds: numbers.duration_us / 1e6,
    qps: numbers.requests / (numbers.duration_us / 1e6),
    p50Ms: numbers.p50_us / 1000,
    p99Ms: numbers.p99_us / 1000,
    errors: numbers.connect + numbers.read + numbers.write + numbers.status + numbers.timeout,
    loadgenCpuS,
    serverCpuS,
    otherCpuS,
  };
}

/**
 * Runs wrk with `args` (a script printing WRK_JSON and WRK_STAT lines) and measures the CPU the
 * server, wrk and everything else used meanwhile; throws with wrk's output if it failed.
 */
export async function spawnWrk(
  wrk: Wrk, args: string[], serverPid: number,
): Promise<{ json: string; loadgenCpuS: number | null; serverCpuS: number | null; otherCpuS: number | null }> {
  const serverBefore = procCpuSeconds(serverPid, clockTicks());
  const busyBefore = machineBusySeconds();
  const child = spawn(wrk.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  const serverAfter = procCpuSeconds(serverPid, clockTicks());
  const busyAfter = machineBusySeconds();
  const json = /^WRK_JSON (.*)$/m.exec(out)?.[1];
  if (code !== 0 || json === undefined) throw new Error(`wrk ${args.join(' ')} failed (exit ${code}):\n${out}`);
  const stat = /^WRK_STAT (.*)$/m.exec(out)?.[1];
  const loadgenCpuS = stat === undefined ? null : statCpuSeconds(stat, clockTicks());
  const serverCpuS = serverBefore === null || serverAfter === null ? null : serverAfter - serverBefore;
  return { json, loadgenCpuS, serverCpuS, otherCpuS: otherCpu(busyBefore, busyAfter, [loadgenCpuS, serverCpuS]) };
}

/**
 * The fallback generator: `concurrency` request loops over keep-alive `node:http` connections, cycling
 * through pre-encoded bodies for `durationS` and until `minRequests` have been answered. It costs
 * ≈0.1 ms of CPU per request (measured by hand), so on a small machine it competes with the server: its CPU
 * is reported with the result.
 */
export async function runNodeLoad(
  set: BodySet,
  target: LoadTarget,
  concurrency: number,
  durationS: number,
  minRequests = 0,
): Promise<LoadResult> {
  const { bodies } = set;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const samples = new Samples();
  let next = 0;
  let sent = 0;
  let errors = 0;
  const send = (body: Buffer): Promise<number> =>
    new Promise((resolve) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: target.port,
          method: set.method,
          path: target.path,
          agent,
          headers: { 'content-type': set.contentType, 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', () => resolve(0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });
  const serverBefore = procCpuSeconds(target.serverPid, clockTicks());
  const busyBefore = machineBusySeconds();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + durationS * 1000;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline || sent < minRequests) {
      sent++;
      const body = bodies[next++ % bodies.length];
      const t0 = performance.now();
      const status = await send(body);
      samples.push(performance.now() - t0);
      if (status < 200 || status >= 400) errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const serverAfter = procCpuSeconds(target.serverPid, clockTicks());
  const busyAfter = machineBusySeconds();
  agent.destroy();
  const loadgenCpuS = (cpu.user + cpu.system) / 1e6;
  const serverCpuS = serverBefore === null || serverAfter === null ? null : serverAfter - serverBefore;
  const [p50Ms, p99Ms] = samples.percentiles(50, 99);
  return {
    tool: 'node:http',
    concurrency,
    requests: samples.count,
    seconds,
    qps: samples.count / seconds,
    p50Ms: p50Ms,
    p99Ms: p99Ms,
    errors,
    loadgenCpuS,
    serverCpuS,
    otherCpuS: otherCpu(busyBefore, busyAfter, [loadgenCpuS, serverCpuS]),
  };
}
