import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseCpuFlags, selectAddonPath, type EngineProbe } from '../../../../index/native/engine.ts';

const CACHE = '/nm/.cache/vicinity-hnsw-fast';
const AVX2 = join(CACHE, 'avx2', 'addon.node');
const NATIVE = join(CACHE, 'native', 'addon.node');
const NATIVE_META = join(CACHE, 'native', 'build.json');
const HASWELL = 'fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma bmi1 bmi2';
const SKYLAKE_X = `${HASWELL} avx512f avx512dq avx512bw avx512vl`;

/** A machine with the given /proc/cpuinfo flags and installed files (build.json texts by path). */
function probe(flags: string | null, files: Record<string, string> = {}, arch = 'x64'): EngineProbe {
  return {
    arch,
    cpuFlags: flags === null ? null : new Set(flags.split(' ')),
    cacheDir: CACHE,
    exists: (path) => path in files,
    readText: (path) => files[path] ?? null,
  };
}

const nativeBuiltOn = (flags: string): Record<string, string> => ({
  [NATIVE]: '',
  [NATIVE_META]: JSON.stringify({ cflags: ['-O3', '-march=native'], cpuFlags: flags.split(' ') }),
});

test('a CPU without avx2 or fma gets the stock build even when the AVX2 build is there', () => {
  for (const flags of ['fpu sse sse2 sse4_2 avx', 'fpu sse sse2 avx avx2', 'fpu sse sse2 avx fma']) {
    for (const requested of ['auto', 'avx2'] as const) {
      const choice = selectAddonPath(requested, probe(flags, { [AVX2]: '' }));
      assert.deepEqual([choice.build, choice.path], ['stock', null], `${flags} / ${requested}`);
      assert.match(choice.reason, /CPU lacks/);
    }
  }
});

test('avx2 and fma with the AVX2 build present: auto and avx2 choose it', () => {
  for (const requested of ['auto', 'avx2'] as const) {
    assert.deepEqual(selectAddonPath(requested, probe(HASWELL, { [AVX2]: '' })), {
      build: 'avx2',
      path: AVX2,
      reason: 'CPU has avx2 and fma: AVX2 build',
    });
  }
});

test('the AVX2 build missing: stock, and the reason names the file and the likely cause', () => {
  const choice = selectAddonPath('auto', probe(HASWELL));
  assert.deepEqual([choice.build, choice.path], ['stock', null]);
  assert.ok(choice.reason.includes(AVX2), choice.reason);
  assert.match(choice.reason, /VICINITY_HNSW_BUILD=stock|build failed/);
});

test('stock requested: stock, whatever is installed', () => {
  const choice = selectAddonPath('stock', probe(SKYLAKE_X, { [AVX2]: '', ...nativeBuiltOn(SKYLAKE_X) }));
  assert.deepEqual(choice, { build: 'stock', path: null, reason: 'stock build requested' });
});

test('native only when requested and built for a CPU with no flag this one lacks', () => {
  const files = { [AVX2]: '', ...nativeBuiltOn(HASWELL) };
  assert.equal(selectAddonPath('auto', probe(HASWELL, files)).build, 'avx2', 'auto never picks native');
  assert.deepEqual(selectAddonPath('native', probe(HASWELL, files)).path, NATIVE);
  assert.equal(selectAddonPath('native', probe(SKYLAKE_X, files)).build, 'native', 'a superset CPU runs it');
});

test('native requested but not built, or built on a richer CPU: the AVX2 choice, with both reasons', () => {
  const notBuilt = selectAddonPath('native', probe(HASWELL, { [AVX2]: '' }));
  assert.equal(notBuilt.build, 'avx2');
  assert.match(notBuilt.reason, /native build requested but not built.*; CPU has avx2 and fma/);

  const moved = selectAddonPath('native', probe(HASWELL, { [AVX2]: '', ...nativeBuiltOn(SKYLAKE_X) }));
  assert.equal(moved.build, 'avx2');
  assert.match(moved.reason, /lacks \(avx512f, avx512dq, avx512bw, avx512vl\)/);

  const noMeta = selectAddonPath('native', probe(SKYLAKE_X, { [NATIVE]: '' }));
  assert.equal(noMeta.build, 'stock', 'no build.json and no AVX2 build');
  assert.match(noMeta.reason, /no readable .*build\.json/);
});

test('unknown CPUs get stock: ARM cpuinfo, no cpuinfo, another architecture', () => {
  const armCpuinfo = 'processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics\nCPU implementer\t: 0x41\n';
  assert.equal(parseCpuFlags(armCpuinfo), null);
  const files = { [AVX2]: '', ...nativeBuiltOn(HASWELL) };
  for (const requested of ['auto', 'avx2', 'native'] as const) {
    assert.equal(selectAddonPath(requested, probe(null, files)).build, 'stock');
    assert.equal(selectAddonPath(requested, probe(HASWELL, files, 'arm64')).build, 'stock');
  }
  assert.match(selectAddonPath('auto', probe(null, files)).reason, /CPU flags unknown/);
});

test('parseCpuFlags reads the first flags line of x86 cpuinfo', () => {
  const text = 'processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 fma\nbugs\t\t: spectre_v1\n\nprocessor\t: 1\nflags\t\t: fpu\n';
  assert.deepEqual(parseCpuFlags(text), new Set(['fpu', 'sse2', 'avx2', 'fma']));
});

test('an unknown build name is refused with the list of valid ones', () => {
  assert.throws(() => selectAddonPath('fast' as never, probe(HASWELL)), {
    code: 'VDB_ERR_INDEX_OPTIONS',
    message: "engine build must be one of auto, stock, avx2, native, got 'fast'",
  });
});
