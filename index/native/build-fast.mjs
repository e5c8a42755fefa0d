/**
 * postinstall: compiles a second copy of hnswlib-node's addon with AVX2+FMA (and, on request, with
 * -march=native) next to the stock one, which stays untouched. `index/native/engine.ts` picks one at
 * load time from the CPU's flags. Plain Node ESM with built-ins only: it runs before anything else.
 *
 *   VICINITY_HNSW_BUILD unset | auto | avx2   build avx2/addon.node
 *   VICINITY_HNSW_BUILD=native                 build avx2/ and native/ (safe only on this CPU)
 *   VICINITY_HNSW_BUILD=stock                  build nothing
 *
 * Beside each build goes parallel-build.node, our own addon (index/native/parallel-build.cc) compiled
 * with the same flags against hnswlib-node's copy of hnswlib: it builds an index with several threads,
 * and carries the exact scoring kernels of index/native/kernels.cc.
 *
 * It never fails the install: every problem prints one line and exits 0, and the stock addon is used
 * (without parallel-build.node, imports build on one thread through hnswlib-node).
 * A candidate is installed only after a self-test in a child process (a SIGILL kills the child, not us).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const ROOT = resolve(dirname(SELF), '../..');
const requireFromRoot = createRequire(join(ROOT, 'package.json'));

const VARIANTS = {
  avx2: { cflags: ['-O3', '-mavx2', '-mfma'], needs: ['avx2', 'fma'] },
  native: { cflags: ['-O3', '-march=native'], needs: [] },
};

class Skip extends Error {}

const log = (line) => console.log(`vicinity hnsw: ${line}`);

/** The install dir: `<node_modules>/.cache/vicinity-hnsw-fast`, beside the hnswlib-node that was installed. */
function locate() {
  let pkgJson;
  try {
    pkgJson = requireFromRoot.resolve('hnswlib-node/package.json');
  } catch {
    throw new Skip('hnswlib-node is not installed');
  }
  const pkgDir = dirname(pkgJson);
  return { pkgDir, cacheDir: join(dirname(pkgDir), '.cache', 'vicinity-hnsw-fast') };
}

function cpuFlags() {
  let text;
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return null;
  }
  const line = text.split('\n').find((l) => /^flags\s*:/.test(l));
  return line === undefined ? null : line.slice(line.indexOf(':') + 1).trim().split(/\s+/);
}

/** npm passes its bundled node-gyp to scripts as npm_config_node_gyp; the rest are fallbacks for a manual run. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath && join(dirname(process.env.npm_execpath), '../node_modules/node-gyp/bin/node-gyp.js'),
    join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  try {
    candidates.push(requireFromRoot.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a dependency
  }
  const found = candidates.find((p) => typeof p === 'string' && p !== '' && existsSync(p));
  if (found === undefined) throw new Skip('node-gyp not found (not run by npm, and none bundled with this node)');
  return found;
}

/** hnswlib-node's binding.gyp for Linux, with absolute include paths and the extra flags. */
function bindingGyp(pkgDir, cflags, parallel) {
  const original = readFileSync(join(pkgDir, 'binding.gyp'), 'utf8');
  if (!original.includes('"target_name": "addon"') || !original.includes('src/addon.cc')) {
    throw new Skip(`unexpected ${join(pkgDir, 'binding.gyp')} (hnswlib-node changed layout?)`);
  }
  if (parallel && !existsSync(join(pkgDir, 'src', 'hnswlib', 'hnswalg.h'))) {
    throw new Skip(`no ${join(pkgDir, 'src', 'hnswlib', 'hnswalg.h')} (hnswlib-node changed layout?)`);
  }
  const addonApi = dirname(createRequire(join(pkgDir, 'package.json')).resolve('node-addon-api/package.json'));
  const target = {
    target_name: 'addon',
    // Our addon includes "hnswlib/hnswlib.h" from hnswlib-node's src/, the headers its addon.cc uses.
    sources: parallel ? ['parallel-build.cc', 'kernels.cc'] : ['src/addon.cc'],
    include_dirs: parallel ? [addonApi, join(pkgDir, 'src')] : [addonApi],
    defines: ['NAPI_DISABLE_CPP_EXCEPTIONS'],
    'cflags!': ['-fno-exceptions'],
    'cflags_cc!': ['-fno-exceptions'],
    // After gyp's own Release flags (-O3 among them) on the compile line.
    cflags_cc: cflags,
  };
  return JSON.stringify({ targets: [target] }, null, 2);
}

function nodeGypArgs() {
  const args = ['rebuild', '--release', '--loglevel=warn'];
  // Outside npm, point node-gyp at the running node's headers instead of letting it download them.
  const headers = join(dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && existsSync(join(headers, 'include/node/common.gypi'))) {
    args.push(`--nodedir=${headers}`);
  }
  return args;
}

function lastLines(text, n) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).slice(-n).join(' | ');
}

/** The line of a failed node-gyp run that says what went wrong (a compiler error, make, python…). */
function firstError(text) {
  const lines = text.split('\n').map((l) => l.trim());
  const pattern = /(^|\s)(fatal )?error:|not found|No such file or directory|\*\*\*|gyp ERR! (stack Error|find)/i;
  return lines.find((l) => pattern.test(l)) ?? lastLines(text, 1);
}

/** Loads the candidate and the stock addon in a child and compares k-NN answers; returns null or why not. */
function selfTest(candidate, parallel) {
  const r = spawnSync(process.execPath, [SELF, parallel ? '--self-test-parallel' : '--self-test', candidate], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return `self-test could not run: ${r.error.message}`;
  if (r.signal) return `self-test killed by ${r.signal}${r.signal === 'SIGILL' ? ' (CPU lacks an instruction the build uses)' : ''}`;
  if (r.status !== 0) return `self-test failed: ${lastLines(r.stderr || r.stdout, 1)}`;
  return null;
}

/** Runs node-gyp in `work` on `gyp`; returns the addon built, or throws Skip with the reason. */
function compile(what, work, gyp, logFile) {
  writeFileSync(join(work, 'binding.gyp'), gyp);
  // V=1 puts the compile command line in the log, so the flags can be checked.
  const r = spawnSync(process.execPath, [findNodeGyp(), ...nodeGypArgs()], {
    cwd: work,
    encoding: 'utf8',
    env: { ...process.env, V: '1' },
    timeout: 600_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  writeFileSync(logFile, `${r.stdout ?? ''}\n${r.stderr ?? ''}\n${r.error ? r.error.message : ''}\n`);
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : `node-gyp exited ${r.status ?? r.signal}: ${firstError(`${r.stdout ?? ''}\n${r.stderr ?? ''}`)}`;
    throw new Skip(`${what} failed (${why}; log: ${logFile})`);
  }
  const built = join(work, 'build', 'Release', 'addon.node');
  if (!existsSync(built)) throw new Skip(`${what} produced no addon.node (log: ${logFile})`);
  return built;
}

/** Copies `built` beside the installed addons as `name` once it passes its self-test in a child. */
function install(what, built, outDir, name, parallel) {
  const candidate = join(outDir, name.replace(/\.node$/, '.candidate.node'));
  cpSync(built, candidate);
  const failure = selfTest(candidate, parallel);
  if (failure !== null) {
    rmSync(candidate, { force: true });
    throw new Skip(`${what} discarded: ${failure}`);
  }
  renameSync(candidate, join(outDir, name));
}

/** Where search-into.inc goes in hnswlib-node 3.0.0's addon.cc: inside the HierarchicalNSW class, and in its method table. */
const SEARCH_INTO = {
  classHead: 'class HierarchicalNSW : public Napi::ObjectWrap<HierarchicalNSW> {\npublic:\n',
  lastMethod: '      InstanceMethod("setEf", &HierarchicalNSW::setEf)\n    });',
};

/**
 * Adds our searchKnnInto (index/native/search-into.inc: a Float32Array query, results written into
 * typed arrays) to the copy of hnswlib-node's source about to be compiled. When the source does not
 * look as expected the build goes on without it, and index/hnsw.ts uses searchKnn.
 */
function addSearchInto(srcDir) {
  const path = join(srcDir, 'addon.cc');
  const source = readFileSync(path, 'utf8');
  const count = (s) => source.split(s).length - 1;
  if (count(SEARCH_INTO.classHead) !== 1 || count(SEARCH_INTO.lastMethod) !== 1) {
    log('addon.cc is not laid out as expected (hnswlib-node changed?): building without searchKnnInto');
    return;
  }
  cpSync(join(dirname(SELF), 'search-into.inc'), join(srcDir, 'search-into.inc'));
  const patched = source
    .replace(SEARCH_INTO.classHead, `${SEARCH_INTO.classHead}#include "search-into.inc"\n`)
    .replace(SEARCH_INTO.lastMethod, SEARCH_INTO.lastMethod.replace(')\n    });', '),\n      InstanceMethod("searchKnnInto", &HierarchicalNSW::searchKnnInto)\n    });'));
  writeFileSync(path, patched);
}

function build(name, pkgDir, cacheDir) {
  const { cflags } = VARIANTS[name];
  const work = join(cacheDir, `work-${name}`);
  const outDir = join(cacheDir, name);
  // A failed rebuild must not leave an older binary (another hnswlib-node version, say) selectable.
  rmSync(outDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  mkdirSync(outDir, { recursive: true });
  try {
    cpSync(join(pkgDir, 'src'), join(work, 'src'), { recursive: true });
    addSearchInto(join(work, 'src'));
    const started = Date.now();
    const built = compile(`${name} build`, work, bindingGyp(pkgDir, cflags, false), join(cacheDir, `${name}-build.log`));
    install(`${name} build`, built, outDir, 'addon.node', false);
    // engine.ts refuses a native build on a CPU that lacks any flag of the CPU that built it.
    writeFileSync(join(outDir, 'build.json'), `${JSON.stringify({ cflags, cpuFlags: cpuFlags() ?? [], builtAt: new Date().toISOString() })}\n`);
    log(`${name} build (${cflags.join(' ')}) installed at ${join(outDir, 'addon.node')} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (!existsSync(join(outDir, 'addon.node'))) rmSync(outDir, { recursive: true, force: true });
  }
  buildParallel(name, pkgDir, cacheDir);
}

/** parallel-build.node beside a build that installed; a failure only costs the parallel builds. */
function buildParallel(name, pkgDir, cacheDir) {
  const { cflags } = VARIANTS[name];
  const work = join(cacheDir, `work-${name}-parallel`);
  const outDir = join(cacheDir, name);
  const what = `${name} parallel builder`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const started = Date.now();
    for (const file of ['parallel-build.cc', 'kernels.cc']) cpSync(join(dirname(SELF), file), join(work, file));
    const built = compile(what, work, bindingGyp(pkgDir, cflags, true), join(cacheDir, `${name}-parallel-build.log`));
    install(what, built, outDir, 'parallel-build.node', true);
    log(`${what} installed at ${join(outDir, 'parallel-build.node')} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    // Whatever went wrong (parallel-build.cc missing, say), the build installed above stays.
    log(`${err instanceof Skip ? err.message : `${what} skipped (${err instanceof Error ? err.message : String(err)})`}: imports build on one thread`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function main() {
  const mode = (process.env.VICINITY_HNSW_BUILD ?? '').trim() || 'auto';
  if (mode === 'stock') return log('VICINITY_HNSW_BUILD=stock: using the stock build only');
  if (!['auto', 'avx2', 'native'].includes(mode)) {
    return log(`VICINITY_HNSW_BUILD must be auto, avx2, native or stock, got '${mode}': using the stock build only`);
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return log(`fast builds are for x86-64 Linux, this is ${process.platform}/${process.arch}: using the stock build`);
  }
  const { pkgDir, cacheDir } = locate();
  const flags = cpuFlags();
  findNodeGyp();
  const wanted = mode === 'native' ? ['avx2', 'native'] : ['avx2'];
  for (const name of wanted) {
    const missing = VARIANTS[name].needs.filter((f) => flags === null || !flags.includes(f));
    if (missing.length > 0) {
      log(`CPU lacks ${missing.join(', ')}${flags === null ? ' (no /proc/cpuinfo flags)' : ''}: no ${name} build, using stock`);
      continue;
    }
    try {
      build(name, pkgDir, cacheDir);
    } catch (err) {
      if (!(err instanceof Skip)) throw err;
      log(`${err.message}: using the stock build`);
    }
  }
}

/** A linear congruential generator of numbers in [0, 1): the self-tests' data, the same on every run. */
function seeded(seed) {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

/** Child side of selfTest: same seeded data into both addons, exact-search answers must match. */
function runSelfTest(candidatePath) {
  const stock = requireFromRoot('hnswlib-node');
  const fast = createRequire(SELF)(candidatePath);
  const rand = seeded(12345);
  const dim = 48;
  const n = 120;
  const points = Array.from({ length: n }, () => Array.from({ length: dim }, rand));
  const queries = Array.from({ length: 10 }, () => Array.from({ length: dim }, rand));
  const answers = (lib) => {
    const index = new lib.HierarchicalNSW('l2', dim);
    index.initIndex(n, 16, 200, 100);
    points.forEach((p, i) => index.addPoint(p, i));
    index.setEf(n); // ef ≥ n: the search is exact, so both builds must agree
    return queries.map((q) => index.searchKnn(q, 10));
  };
  const want = answers(stock);
  const got = answers(fast);
  if (typeof fast.HierarchicalNSW.prototype.searchKnnInto === 'function') {
    const index = new fast.HierarchicalNSW('cosine', dim);
    index.initIndex(n, 16, 200, 100);
    points.forEach((p, i) => index.addPoint(p, i));
    index.setEf(n);
    const labels = new Uint32Array(10);
    const distances = new Float32Array(10);
    queries.forEach((q, i) => {
      const a = index.searchKnn(q, 10, (label) => label % 3 !== 0);
      const found = index.searchKnnInto(Float32Array.from(q), 10, labels, distances, (label) => label % 3 !== 0);
      const same = found === a.neighbors.length && a.neighbors.every((l, j) => l === labels[j] && Math.abs(a.distances[j] - distances[j]) <= 1e-6);
      if (!same) throw new Error(`query ${i}: searchKnnInto gave ${[...labels.subarray(0, found)]} != searchKnn ${a.neighbors}`);
    });
  }
  for (let q = 0; q < want.length; q++) {
    const a = want[q];
    const b = got[q];
    if (a.neighbors.join() !== b.neighbors.join()) throw new Error(`query ${q}: labels ${b.neighbors} != stock ${a.neighbors}`);
    for (let i = 0; i < a.distances.length; i++) {
      if (Math.abs(a.distances[i] - b.distances[i]) > 1e-4 * Math.max(1, a.distances[i])) {
        throw new Error(`query ${q}: distance ${b.distances[i]} != stock ${a.distances[i]}`);
      }
    }
  }
}

/**
 * Child side of the parallel builder's self-test: seeded points built with two threads, in a given
 * order and with labels other than their positions, written to a file that stock hnswlib-node must
 * read; exact searches (ef ≥ n) on it must return the brute-force neighbours.
 */
async function runParallelSelfTest(candidatePath) {
  const stock = requireFromRoot('hnswlib-node');
  const parallel = createRequire(SELF)(candidatePath);
  const rand = seeded(54321);
  const dim = 24;
  const n = 400;
  const vectors = Float32Array.from({ length: n * dim }, rand);
  const labels = Uint32Array.from({ length: n }, (_, i) => 3 * i + 7);
  const order = Uint32Array.from({ length: n }, (_, i) => n - 1 - i);
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-parallel-test-'));
  try {
    const path = join(dir, 'index.bin');
    const handle = parallel.build({ metric: 'l2', dim, m: 8, efConstruction: 100, seed: 100, threads: 2, path, vectors, labels, order });
    const result = await handle.promise;
    if (result.inserted !== n || handle.progress() !== n) throw new Error(`inserted ${result.inserted}, progress ${handle.progress()}, expected ${n}`);
    const index = new stock.HierarchicalNSW('l2', dim);
    await index.readIndex(path);
    if (index.getCurrentCount() !== n) throw new Error(`the file holds ${index.getCurrentCount()} points, expected ${n}`);
    index.setEf(n);
    for (let q = 0; q < 20; q++) {
      const query = Array.from({ length: dim }, rand);
      const exact = Array.from({ length: n }, (_, p) => {
        let d = 0;
        for (let j = 0; j < dim; j++) d += (vectors[p * dim + j] - query[j]) ** 2;
        return { label: labels[p], d };
      }).sort((a, b) => a.d - b.d);
      const want = exact.slice(0, 10).map((x) => x.label).sort((a, b) => a - b).join();
      const got = [...index.searchKnn(query, 10).neighbors].sort((a, b) => a - b).join();
      if (got !== want) throw new Error(`query ${q}: labels ${got} != brute force ${want}`);
    }
    kernelSelfTest(parallel, rand);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** kernels.cc against plain loops: rows scored in place across two segments, and a projection. */
function kernelSelfTest(addon, rand) {
  const dim = 37;
  const segmentRows = 8;
  const segments = [0, 1].map(() => Float32Array.from({ length: segmentRows * dim }, rand));
  const query = Float32Array.from({ length: dim }, rand);
  const labels = Uint32Array.of(15, 0, 9, 3, 99);
  const out = new Float32Array(4);
  for (const l2 of [true, false]) {
    addon.scoreRows(query, segments, segmentRows, labels, 1, 4, l2, out);
    labels.subarray(1).forEach((label, i) => {
      const segment = segments[Math.floor(label / segmentRows)];
      let want = Number.NaN;
      if (segment) {
        const row = segment.subarray((label % segmentRows) * dim);
        let s = 0;
        for (let j = 0; j < dim; j++) s += l2 ? (query[j] - row[j]) ** 2 : query[j] * row[j];
        want = l2 ? s : 1 - s;
      }
      if (Number.isNaN(want) ? !Number.isNaN(out[i]) : !(Math.abs(out[i] - want) <= 1e-4)) throw new Error(`scoreRows: label ${label} scored ${out[i]}, expected ${want}`);
    });
  }
  const k = 6;
  const components = Float32Array.from({ length: k * dim }, rand);
  const mean = Float32Array.from({ length: dim }, rand);
  const projected = new Float32Array(k);
  addon.project(components, mean, query, projected);
  for (let c = 0; c < k; c++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += components[c * dim + j] * (query[j] - mean[j]);
    if (Math.abs(projected[c] - s) > 1e-4) throw new Error(`project: component ${c} gave ${projected[c]}, expected ${s}`);
  }
}

const fail = (err) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
};
if (process.argv[2] === '--self-test') {
  try {
    runSelfTest(process.argv[3]);
  } catch (err) {
    fail(err);
  }
} else if (process.argv[2] === '--self-test-parallel') {
  runParallelSelfTest(process.argv[3]).catch(fail);
} else {
  try {
    main();
  } catch (err) {
    log(`fast build skipped (${err instanceof Error ? err.message : String(err)}): using the stock build`);
  }
  process.exitCode = 0;
}
