import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { IndexErrors } from '../errors.ts';

/** Which hnswlib-node addon to run: `auto` takes AVX2+FMA when the CPU has it, else the stock (SSE) one. */
export type EngineBuild = 'auto' | 'stock' | 'avx2' | 'native';
export type ResolvedBuild = 'stock' | 'avx2' | 'native';

export const ENGINE_BUILDS: readonly EngineBuild[] = ['auto', 'stock', 'avx2', 'native'];

export interface EngineChoice {
  build: ResolvedBuild;
  /** The addon file to load; null for the stock package. */
  path: string | null;
  /** Why, in a sentence fit for the start-up log. */
  reason: string;
}

/** What the choice depends on; the default reads this machine, tests inject their own. */
export interface EngineProbe {
  arch: string;
  /** Flags of /proc/cpuinfo; null when unknown (no file, or no x86 `flags` line). */
  cpuFlags: ReadonlySet<string> | null;
  /** Where `build-fast.mjs` installs (`<node_modules>/.cache/vicinity-hnsw-fast`); null without hnswlib-node. */
  cacheDir: string | null;
  exists(path: string): boolean;
  /** A file's text, or null when it cannot be read. */
  readText(path: string): string | null;
}

/** The CPU flags of a /proc/cpuinfo text (its first `flags` line), or null when it has none (ARM says `Features`). */
export function parseCpuFlags(cpuinfo: string): Set<string> | null {
  const line = cpuinfo.split('\n').find((l) => /^flags\s*:/.test(l));
  if (line === undefined) return null;
  return new Set(line.slice(line.indexOf(':') + 1).trim().split(/\s+/).filter(Boolean));
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

export function systemProbe(): EngineProbe {
  const cpuinfo = readText('/proc/cpuinfo');
  let cacheDir: string | null = null;
  try {
    // Same rule as build-fast.mjs: beside the hnswlib-node that is actually installed.
    const pkgDir = dirname(createRequire(import.meta.url).resolve('hnswlib-node/package.json'));
    cacheDir = join(dirname(pkgDir), '.cache', 'vicinity-hnsw-fast');
  } catch {
    cacheDir = null;
  }
  return {
    arch: process.arch,
    cpuFlags: cpuinfo === null ? null : parseCpuFlags(cpuinfo),
    cacheDir,
    exists: existsSync,
    readText,
  };
}

const stock = (reason: string): EngineChoice => ({ build: 'stock', path: null, reason });

function chooseAvx2(flags: ReadonlySet<string>, cacheDir: string, probe: EngineProbe): EngineChoice {
  const missing = ['avx2', 'fma'].filter((f) => !flags.has(f));
  if (missing.length > 0) return stock(`CPU lacks ${missing.join(' and ')}: stock build`);
  const path = join(cacheDir, 'avx2', 'addon.node');
  if (!probe.exists(path)) {
    return stock(`no AVX2 build at ${path} (installed with VICINITY_HNSW_BUILD=stock, or the build failed: see avx2-build.log): stock build`);
  }
  return { build: 'avx2', path, reason: 'CPU has avx2 and fma: AVX2 build' };
}

/** The flags of the CPU that compiled the native build, from the build.json written beside it. */
function nativeBuildFlags(dir: string, probe: EngineProbe): string[] | null {
  const text = probe.readText(join(dir, 'build.json'));
  if (text === null) return null;
  try {
    const meta = JSON.parse(text) as { cpuFlags?: unknown };
    return Array.isArray(meta.cpuFlags) && meta.cpuFlags.every((f) => typeof f === 'string') ? meta.cpuFlags : null;
  } catch {
    return null;
  }
}

/**
 * Picks the hnswlib-node addon for this process. Never picks a build the CPU cannot run: AVX2 needs
 * avx2 and fma in /proc/cpuinfo; `native` (-march=native) is taken only when asked for, and only when
 * this CPU has every flag of the CPU that compiled it. Anything missing falls back, with the reason.
 */
export function selectAddonPath(requested: EngineBuild, probe: EngineProbe = systemProbe()): EngineChoice {
  if (!ENGINE_BUILDS.includes(requested)) {
    throw new IndexErrors.Options(`engine build must be one of ${ENGINE_BUILDS.join(', ')}, got '${String(requested)}'`);
  }
  if (requested === 'stock') return stock('stock build requested');
  if (probe.arch !== 'x64') return stock(`${probe.arch} CPU: only the stock build runs here`);
  if (probe.cpuFlags === null) return stock('CPU flags unknown (no x86 flags in /proc/cpuinfo): stock build');
  if (probe.cacheDir === null) return stock('hnswlib-node not found: stock build');
  const avx2 = chooseAvx2(probe.cpuFlags, probe.cacheDir, probe);
  if (requested !== 'native') return avx2;

  const dir = join(probe.cacheDir, 'native');
  const path = join(dir, 'addon.node');
  const fallback = (why: string): EngineChoice => ({ ...avx2, reason: `${why}; ${avx2.reason}` });
  if (!probe.exists(path)) return fallback(`native build requested but not built (install with VICINITY_HNSW_BUILD=native)`);
  const built = nativeBuildFlags(dir, probe);
  if (built === null) return fallback(`native build has no readable ${join(dir, 'build.json')}`);
  const cpu = probe.cpuFlags;
  const missing = built.filter((f) => !cpu.has(f));
  if (missing.length > 0) {
    return fallback(`native build was compiled on a CPU with flags this one lacks (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''})`);
  }
  return { build: 'native', path, reason: 'native build requested; this CPU has every flag of the CPU that compiled it' };
}
