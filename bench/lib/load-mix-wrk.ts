/**
 * The mixed load of `bench/load.ts`: ONE wrk process (`-t1`) whose Lua script picks each request's
 * operation from a fixed, repeating 100-slot schedule (load-mix-data.ts's `mixSchedule`) and sends that
 * operation's next pre-encoded body, so the mix of requests sent is the schedule's by construction.
 *
 * wrk's `response()` hook is not told which request an answer belongs to, so the latencies (wrk's one
 * histogram) and the status counts are of all operations together; per-operation latency comes from
 * the probes (load-mix-probe.ts). A non-2xx answer is counted by status and by the `code` of its body,
 * with whether it carried `Retry-After`, and its first body is kept; `likelyOp` guesses the operation
 * from that body. The script counts the requests it builds per operation, and prints everything as a
 * `WRK_JSON` line and the wrk process's `/proc/self/stat` line from `done()`.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WRK_STAT_LUA, wrkTimings, type BodySet, type Wrk } from './load.ts';
import type { MixOp, OpName } from './load-mix-data.ts';
import { clockTicks, statCpuSeconds } from './stats.ts';

// One thread, so one Lua state sends everything; done() runs in the main state and reads the thread's
// tables through thread:get (wrk copies tables between states). wrk also calls request() once in the
// main state (to check the script's requests) before any init(): it gets wrk's default request there.
const SCRIPT = `
local ops = {}
local schedule = {}
local slot = 0
local threads = {}
sent = {}
statuses = {}
kinds = {}
kinds_retry = {}
examples = {}

function setup(thread)
  threads[#threads + 1] = thread
end

local function load_requests(stem, method, path, headers)
  local lengths = {}
  for line in io.lines(stem .. ".len") do lengths[#lengths + 1] = tonumber(line) end
  local f = assert(io.open(stem .. ".bin", "rb"))
  local data = f:read("*a")
  f:close()
  local requests = {}
  local at = 1
  for _, len in ipairs(lengths) do
    requests[#requests + 1] = wrk.format(method, path, headers, string.sub(data, at, at + len - 1))
    at = at + len
  end
  return requests
end

function init(args)
  local dir = args[1]
  for line in io.lines(dir .. "/ops.tsv") do
    local name, stem, method, path, ctype = string.match(line, "^([^\\t]+)\\t([^\\t]+)\\t([^\\t]+)\\t([^\\t]+)\\t([^\\t]+)$")
    local requests = load_requests(dir .. "/" .. stem, method, path, { ["Content-Type"] = ctype })
    ops[#ops + 1] = { name = name, requests = requests, n = #requests, i = 0 }
    sent[name] = 0
  end
  for line in io.lines(dir .. "/schedule.txt") do schedule[#schedule + 1] = tonumber(line) end
end

function request()
  if #schedule == 0 then return wrk.format() end
  slot = slot % #schedule + 1
  local op = ops[schedule[slot]]
  op.i = op.i % op.n + 1
  sent[op.name] = sent[op.name] + 1
  return op.requests[op.i]
end

function response(status, headers, body)
  local s = tostring(status)
  statuses[s] = (statuses[s] or 0) + 1
  if status >= 200 and status < 300 then return end
  local code = string.match(body or "", '"code"%s*:%s*"([^"]*)"') or ""
  local key = s .. " " .. code
  kinds[key] = (kinds[key] or 0) + 1
  for name, _ in pairs(headers) do
    if string.lower(name) == "retry-after" then
      kinds_retry[key] = (kinds_retry[key] or 0) + 1
      break
    end
  end
  if examples[key] == nil then examples[key] = string.sub(body or "", 1, 400) end
end

local function quote(s)
  local escaped = string.gsub(s, '[%c"\\\\]', function(c)
    if c == '"' then return '\\\\"' end
    if c == "\\\\" then return "\\\\\\\\" end
    return string.format("\\\\u%04x", string.byte(c))
  end)
  return '"' .. escaped .. '"'
end

local function object(t, strings)
  local parts = {}
  for k, v in pairs(t) do
    parts[#parts + 1] = quote(k) .. ":" .. (strings and quote(v) or string.format("%d", v))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function merged(name, strings)
  local out = {}
  for _, thread in ipairs(threads) do
    for k, v in pairs(thread:get(name) or {}) do
      if strings then out[k] = out[k] or v else out[k] = (out[k] or 0) + v end
    end
  end
  return out
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%d,"sent":%s,"statuses":%s,"kinds":%s,"kinds_retry":%s,"examples":%s}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, math.floor(latency.mean),
    object(merged("sent", false), false), object(merged("statuses", false), false),
    object(merged("kinds", false), false), object(merged("kinds_retry", false), false), object(merged("examples", true), true)))
${WRK_STAT_LUA}
end
`;

/** One kind of non-2xx answer: a status and the `code` of its body. */
export interface ErrorKind {
  status: number;
  /** The body's `code`, '' when it had none. */
  code: string;
  count: number;
  withRetryAfter: number;
  /** The first body of this kind (400 bytes). */
  example: string;
  /** The operation guessed from the body (`likelyOp`). */
  likelyOp: string;
}

/** What the one wrk process measured: every operation together. */
export interface MixResult {
  connections: number;
  /** Requests wrk built per operation (answered or still in flight at the end): the achieved mix. */
  sent: Record<OpName, number>;
  /** Answers received (wrk does not count requests still in flight when it stops). */
  answers: number;
  seconds: number;
  qps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** Answers by HTTP status. */
  statuses: Record<string, number>;
  errorKinds: ErrorKind[];
  /** wrk's socket errors: a timeout is an answer slower than `--timeout` (not in the latencies). */
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** CPU seconds the wrk process used; null where its stat line was missing. */
  wrkCpuS: number | null;
}

interface WrkJson {
  requests: number;
  duration_us: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
  mean_us: number;
  sent: Record<string, number>;
  statuses: Record<string, number>;
  kinds: Record<string, number>;
  kinds_retry: Record<string, number>;
  examples: Record<string, string>;
}

/**
 * Which operation an error body most likely answered: the server's messages name what they refuse (a
 * `where`, `ids`, `points`, a search's `k` or replicas). A guess, labelled as one in the report.
 */
export function likelyOp(body: string): string {
  let text = body;
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') text = parsed.message;
  } catch {
    // not JSON: guess from the raw text
  }
  const t = text.toLowerCase();
  if (/\bwhere\b|filter/.test(t)) return 'filtered';
  if (/\bids\b|delet/.test(t)) return 'delete';
  if (/\bpoints?\b|payload|upsert/.test(t)) return 'upsert';
  if (/search|replica|\bk\b|\bef\b/.test(t)) return 'search or filtered';
  return 'not attributable';
}

function writeBodies(dir: string, set: BodySet): void {
  const stem = join(dir, set.name);
  writeFileSync(`${stem}.bin`, Buffer.concat(set.bodies));
  writeFileSync(`${stem}.len`, `${set.bodies.map((b) => b.length).join('\n')}\n`);
}

/** Writes the script, each operation's body files, `ops.tsv` and `schedule.txt` (1-based op indexes) into `dir`. */
function writeFiles(dir: string, ops: MixOp[], schedule: OpName[]): string {
  const script = join(dir, 'mixed-load.lua');
  writeFileSync(script, SCRIPT);
  for (const { set } of ops) writeBodies(dir, set);
  writeFileSync(join(dir, 'ops.tsv'), ops.map((op) => [op.name, op.set.name, op.set.method, op.path, op.set.contentType].join('\t') + '\n').join(''));
  const index = (name: OpName): number => {
    const i = ops.findIndex((op) => op.name === name);
    if (i < 0) throw new Error(`schedule names '${name}', which is not an operation`);
    return i + 1;
  };
  writeFileSync(join(dir, 'schedule.txt'), schedule.map((name) => `${index(name)}\n`).join(''));
  return script;
}

function runWrk(wrk: Wrk, args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(wrk.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out }));
  });
}

/**
 * Runs the mix for `seconds` (whole seconds, rounded up) against 127.0.0.1:`port` from one wrk thread
 * on `connections` keep-alive connections, following `schedule`; answers slower than `timeoutS` count
 * as timeouts.
 */
export async function runMix(
  wrk: Wrk,
  workDir: string,
  port: number,
  ops: MixOp[],
  schedule: OpName[],
  connections: number,
  seconds: number,
  timeoutS: number,
): Promise<MixResult> {
  const script = writeFiles(workDir, ops, schedule);
  const whole = Math.max(1, Math.ceil(seconds - 1e-9));
  const args = ['-t1', `-c${connections}`, `-d${whole}s`, '--timeout', `${Math.ceil(timeoutS)}s`, '--latency', '-s', script, `http://127.0.0.1:${port}/`, '--', workDir];
  const { code, out } = await runWrk(wrk, args);
  const json = /^WRK_JSON (.*)$/m.exec(out)?.[1];
  if (code !== 0 || json === undefined) throw new Error(`wrk ${args.join(' ')} failed (exit ${code}):\n${out}`);
  const w = JSON.parse(json) as WrkJson;
  const stat = /^WRK_STAT (.*)$/m.exec(out)?.[1];
  const sent = Object.fromEntries(ops.map((op) => [op.name, w.sent[op.name] ?? 0])) as Record<OpName, number>;
  const errorKinds = Object.entries(w.kinds)
    .map(([key, count]): ErrorKind => {
      const space = key.indexOf(' ');
      const example = w.examples[key] ?? '';
      return { status: Number(key.slice(0, space)), code: key.slice(space + 1), count, withRetryAfter: w.kinds_retry[key] ?? 0, example, likelyOp: likelyOp(example) };
    })
    .sort((a, b) => b.count - a.count);
  return {
    connections,
    sent,
    answers: w.requests,
    ...wrkTimings(w),
    statuses: w.statuses,
    errorKinds,
    socketErrors: { connect: w.connect, read: w.read, write: w.write, timeout: w.timeout },
    wrkCpuS: stat === undefined ? null : statCpuSeconds(stat, clockTicks()),
  };
}
