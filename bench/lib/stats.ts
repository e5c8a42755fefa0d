import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The median of the finite values (the mean of the middle two for an even count); NaN for none. */
export const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Runs each pass `rounds` times, starting each round one pass later, so drift on a shared machine
 * hits them alike; returns each pass's results in order.
 */
export function alternate<T>(passes: (() => T)[], rounds: number): T[][] {
  const results = passes.map((): T[] => []);
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < passes.length; j++) {
      const i = (j + r) % passes.length;
      results[i].push(passes[i]());
    }
  }
  return results;
}

/** A growable list of latencies in milliseconds, without a boxed number per sample. */
export class Samples {
  private values = new Float64Array(1024);
  private size = 0;

  push(ms: number): void {
    if (this.size === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.size++] = ms;
  }

  get count(): number {
    return this.size;
  }

  /** Percentiles (0–100) by nearest rank over the sorted samples. */
  percentiles(...ps: number[]): number[] {
    const sorted = this.values.slice(0, this.size).sort();
    return ps.map((p) => {
      if (sorted.length === 0) return NaN;
      const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
      return sorted[rank];
    });
  }
}

/** CPU seconds (user + system) of a process and all its threads, from /proc; null where unavailable. */
export function procCpuSeconds(pid: number, ticksPerSecond: number): number | null {
  try {
    return statCpuSeconds(readProcStat(pid), ticksPerSecond);
  } catch {
    return null;
  }
}

function readProcStat(pid: number): string {
  return readFileSync(`/proc/${pid}/stat`, 'utf8');
}

/** utime + stime of a /proc/<pid>/stat line (fields 14 and 15, counted after the parenthesised name). */
export function statCpuSeconds(stat: string, ticksPerSecond: number): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable stat line: ${stat}`);
  return (utime + stime) / ticksPerSecond;
}

/** Resident memory of a process in bytes, from /proc/<pid>/status; null where unavailable. */
export function procRssBytes(pid: number): number | null {
  return procStatusBytes(pid, 'VmRSS');
}

/** The most resident memory a process (all its threads) has had since it started (VmHWM); null where unavailable. */
export function procPeakRssBytes(pid: number): number | null {
  return procStatusBytes(pid, 'VmHWM');
}

function procStatusBytes(pid: number, field: string): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

let ticks: number | undefined;

/** The kernel's clock ticks per second (USER_HZ) for /proc CPU times; 100 when getconf is missing. */
export function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** CPU seconds all processes on the machine spent busy (every core, from /proc/stat); null where unavailable. */
export function machineBusySeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    const busy = [user, nice, system, irq, softirq, steal].reduce<number>((sum, x) => sum + (x ?? 0), 0);
    return Number.isFinite(busy) ? busy / clockTicks() : null;
  } catch {
    return null;
  }
}

/**
 * What the rest of the machine used during a pass: busy CPU seconds of every process
 * minus `own` (the processes under test). On a shared 2-core box this says whether a pass was disturbed.
 */
export function otherCpu(before: number | null, after: number | null, own: (number | null)[]): number | null {
  if (before === null || after === null || own.some((x) => x === null)) return null;
  return Math.max(0, after - before - own.reduce<number>((sum, x) => sum + (x ?? 0), 0));
}

/** How a bench copes with a shared machine: wait for quiet before a pass, rerun a disturbed one. */
export interface QuietRules {
  /** A pass during which other processes used more than this many cores is disturbed. */
  disturbedCores: number;
  /** Reruns of a disturbed pass; the least disturbed run is kept. */
  maxReruns: number;
  /** Longest wait, before a pass, for the other processes to go below `disturbedCores`. */
  waitS: number;
}

export const NO_QUIET: QuietRules = { disturbedCores: Infinity, maxReruns: 0, waitS: 0 };

/** Cores the other processes used during a pass; 0 where unknown. */
export function disturbance(pass: { otherCpuS: number | null; seconds: number }): number {
  return pass.otherCpuS === null ? 0 : pass.otherCpuS / pass.seconds;
}

/**
 * Waits, in half-second windows, until everything but this process and `pids` uses less than
 * `rules.disturbedCores`, or `rules.waitS` has passed; returns the seconds waited.
 */
export async function waitForQuiet(pids: number[], rules: QuietRules): Promise<number> {
  const started = performance.now();
  while ((performance.now() - started) / 1000 < rules.waitS) {
    const meter = startCpuMeter(pids);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const window = meter();
    if (disturbance(window) < rules.disturbedCores) break;
  }
  return (performance.now() - started) / 1000;
}

export interface CpuReading {
  seconds: number;
  /** CPU seconds of this process, of each watched pid, and of everything else on the machine. */
  selfCpuS: number;
  pidsCpuS: (number | null)[];
  otherCpuS: number | null;
}

/** Starts measuring CPU time of this process, of `pids` and of the rest of the machine; call the result to read. */
export function startCpuMeter(pids: number[]): () => CpuReading {
  const busyBefore = machineBusySeconds();
  const pidsBefore = pids.map((pid) => procCpuSeconds(pid, clockTicks()));
  const selfBefore = process.cpuUsage();
  const started = performance.now();
  return () => {
    const self = process.cpuUsage(selfBefore);
    const selfCpuS = (self.user + self.system) / 1e6;
    const pidsCpuS = pids.map((pid, i) => {
      const now = procCpuSeconds(pid, clockTicks());
      const before = pidsBefore[i];
      return now === null || before === null ? null : now - before;
    });
    const otherCpuS = otherCpu(busyBefore, machineBusySeconds(), [selfCpuS, ...pidsCpuS]);
    return { seconds: (performance.now() - started) / 1000, selfCpuS, pidsCpuS, otherCpuS };
  };
}
