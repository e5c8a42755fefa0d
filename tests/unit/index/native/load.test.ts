import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { selectAddonPath, type EngineBuild } from '../../../../index/native/engine.ts';
import { loadAddon, loadHnswlib, type Hnswlib } from '../../../../index/native/load.ts';
import { prng } from '../../../helpers/random.ts';


const DIM = 64;
const N = 600;
const rand = prng(7);
const centres = Array.from({ length: 12 }, () => Array.from({ length: DIM }, () => rand() * 2 - 1));
const sample = (): number[] => centres[Math.floor(rand() * centres.length)].map((x) => x + 0.2 * (rand() - 0.5));
const POINTS = Array.from({ length: N }, sample);
const QUERIES = Array.from({ length: 40 }, sample);

/** Every query's 10 nearest labels and distances, from an index built with `lib` at ef = N (exact). */
function answers(lib: Hnswlib, metric: 'l2' | 'ip' | 'cosine'): { neighbors: number[]; distances: number[] }[] {
  const index = new lib.HierarchicalNSW(metric, DIM);
  index.initIndex(N, 16, 200, 100);
  POINTS.forEach((p, i) => index.addPoint(p, i));
  index.setEf(N);
  return QUERIES.map((q) => index.searchKnn(q, 10));
}

for (const requested of ['auto', 'avx2', 'native'] as EngineBuild[]) {
  test(`'${requested}' loads the selected build and answers exactly as the stock build`, (t) => {
    const chosen = loadHnswlib(requested);
    t.diagnostic(`${requested} → ${chosen.build}: ${chosen.reason}`);
    // The file selected must really load: a silent fall-back here would hide a broken build.
    assert.equal(chosen.build, selectAddonPath(requested).build);
    const stock = loadHnswlib('stock');
    assert.equal(stock.build, 'stock');
    for (const metric of ['l2', 'ip', 'cosine'] as const) {
      const want = answers(stock.lib, metric);
      const got = answers(chosen.lib, metric);
      for (let q = 0; q < want.length; q++) {
        assert.deepEqual(got[q].neighbors, want[q].neighbors, `${metric} query ${q}`);
        got[q].distances.forEach((d, i) => {
          const w = want[q].distances[i];
          assert.ok(Math.abs(d - w) <= 1e-5 * Math.max(1, Math.abs(w)), `${metric} query ${q}: ${d} vs ${w}`);
        });
      }
    }
  });
}

test('our builds add searchKnnInto: a Float32Array query, results written into typed arrays, as searchKnn answers', (t) => {
  const chosen = loadHnswlib('auto');
  if (chosen.build === 'stock') {
    t.skip(`no fast build here: ${chosen.reason}`);
    return;
  }
  const index = new chosen.lib.HierarchicalNSW('cosine', DIM) as InstanceType<Hnswlib['HierarchicalNSW']> & {
    searchKnnInto(q: Float32Array, k: number, labels: Uint32Array, distances: Float32Array, filter?: (label: number) => boolean): number;
  };
  assert.equal(typeof index.searchKnnInto, 'function', 'the build was compiled without index/native/search-into.inc');
  index.initIndex(N, 16, 200, 100);
  POINTS.forEach((p, i) => index.addPoint(p, i));
  index.setEf(N);
  const labels = new Uint32Array(12).fill(99_999);
  const distances = new Float32Array(12);
  const odd = (label: number) => label % 2 === 1;
  for (const q of QUERIES) {
    const want = index.searchKnn(q, 10, odd);
    // A view into a larger buffer, as a decoded body gives: read from its offset.
    const padded = new Float32Array(DIM + 3);
    padded.set(q, 3);
    const found = index.searchKnnInto(padded.subarray(3), 10, labels, distances, odd);
    assert.equal(found, 10);
    assert.deepEqual([...labels.subarray(0, found)], want.neighbors);
    assert.deepEqual([...distances.subarray(0, found)], want.distances.map(Math.fround));
    assert.equal(labels[10], 99_999, 'nothing written past k');
  }
  assert.equal(index.searchKnnInto(Float32Array.from(QUERIES[0]), 10, labels, distances, () => false), 0);
  assert.throws(() => index.searchKnnInto(new Float32Array(DIM - 1), 10, labels, distances), /the query has 63 values/);
  assert.throws(() => index.searchKnnInto(new Float32Array(DIM), 13, labels, distances), /output arrays/);
  assert.throws(() => index.searchKnnInto(new Float64Array(DIM) as unknown as Float32Array, 10, labels, distances), TypeError);
});

test('the choice is made once per requested build', () => {
  assert.equal(loadHnswlib('auto'), loadHnswlib('auto'));
  assert.equal(loadHnswlib('stock').lib, loadHnswlib('stock').lib);
});

test('an addon file that will not load falls back to the stock package with the reason', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinity-load-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bogus = path.join(dir, 'addon.node');
  fs.writeFileSync(bogus, 'not an ELF file');
  const result = loadAddon({ build: 'avx2', path: bogus, reason: 'CPU has avx2 and fma: AVX2 build' });
  assert.equal(result.build, 'stock');
  assert.equal(result.path, null);
  assert.equal(result.lib, loadHnswlib('stock').lib);
  assert.ok(result.reason.startsWith(`${bogus} did not load (`), result.reason);
});
