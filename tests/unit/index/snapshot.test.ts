import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { HnswIndex, type HnswOptions } from '../../../index/hnsw.ts';
import {
  loadSnapshot,
  readManifest,
  removeSnapshots,
  verifySnapshot,
  writeSnapshot,
  type SnapshotManifest,
} from '../../../index/snapshot.ts';
import { prng } from '../../helpers/random.ts';

const options: HnswOptions = { dimension: 8, metric: 'cosine', m: 12, efConstruction: 64, efSearch: 32 };


const rand = prng(17);
const vectors = Array.from({ length: 400 }, () => Float32Array.from({ length: 8 }, () => rand() * 2 - 1));
const queries = vectors.slice(0, 30).map((v) => v.map((x) => x + 0.05));
const deleted = [2, 30, 31, 250];

function build(): HnswIndex {
  const index = new HnswIndex(options);
  vectors.forEach((v, label) => index.upsert(label, v));
  for (const label of deleted) index.remove(label);
  return index;
}

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinity-snapshot-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Counts HnswIndex.load calls, to prove a bad file never reaches hnswlib. */
function spyLoad(t: TestContext) {
  return t.mock.method(HnswIndex, 'load');
}

async function written(t: TestContext): Promise<{ dir: string; index: HnswIndex; manifest: SnapshotManifest }> {
  const dir = tempDir(t);
  const index = build();
  const manifest = await writeSnapshot(dir, 'c1', index, 42);
  return { dir, index, manifest };
}

test('writeSnapshot writes the file and its manifest', async (t) => {
  const { dir, manifest } = await written(t);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['c1-42.hnsw', 'c1.manifest.json']);
  const bytes = fs.statSync(path.join(dir, 'c1-42.hnsw')).size;
  assert.deepEqual({ ...manifest, sha256: 'x', createdAt: 'x' }, {
    format: 1, file: 'c1-42.hnsw', seq: 42, bytes, sha256: 'x', dimension: 8, metric: 'cosine', count: 396, model: 0, createdAt: 'x',
  });
  assert.match(manifest.sha256, /^[0-9a-f]{64}$/);
  assert.ok(!Number.isNaN(Date.parse(manifest.createdAt)));
  assert.deepEqual(await readManifest(dir, 'c1'), { manifest });
  assert.deepEqual(await verifySnapshot(dir, manifest), { ok: true });
});

test('a round trip gives identical search results; re-removed tombstones stay excluded', async (t) => {
  const { dir, index } = await written(t);
  const load = spyLoad(t);
  const loaded = await loadSnapshot(dir, 'c1', options);
  assert.ok(loaded.index, 'reason' in loaded ? loaded.reason : '');
  assert.equal(load.mock.callCount(), 1);
  assert.equal(loaded.manifest.seq, 42);
  const copy = loaded.index;
  for (const q of queries) assert.deepEqual(copy.search(q, 10), index.search(q, 10));
  for (const label of deleted) assert.equal(copy.remove(label), true);
  assert.equal(copy.size, 396);
  assert.equal(copy.deletedCount, 4);
  for (const label of deleted) {
    assert.ok(!copy.search(vectors[label], 10).some((h) => deleted.includes(h.label)), `label ${label}`);
  }
});

test('a newer snapshot replaces the older file and stray temp files', async (t) => {
  const { dir, index } = await written(t);
  fs.writeFileSync(path.join(dir, '.c1-43.hnsw.abcdef.tmp'), 'half written');
  fs.writeFileSync(path.join(dir, 'c10-1.hnsw'), 'another collection');
  index.upsert(1000, vectors[0]);
  const manifest = await writeSnapshot(dir, 'c1', index, 50);
  assert.equal(manifest.count, 397);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['c1-50.hnsw', 'c1.manifest.json', 'c10-1.hnsw']);
  const loaded = await loadSnapshot(dir, 'c1', options);
  assert.ok(loaded.index);
  assert.equal(loaded.manifest.seq, 50);
  assert.ok(loaded.index.has(1000));
});

test('one snapshot writer per name at a time', async (t) => {
  const dir = tempDir(t);
  const index = build();
  const pending = writeSnapshot(dir, 'c1', index, 1);
  await assert.rejects(writeSnapshot(dir, 'c1', index, 2), {
    code: 'VDB_ERR_INDEX_OPTIONS',
    message: 'a snapshot of c1 is already being written',
  });
  assert.equal((await pending).seq, 1);
  index.upsert(999, vectors[0]);
  assert.equal((await writeSnapshot(dir, 'c1', index, 2)).seq, 2);
});

test('a missing manifest, garbage JSON and a wrong shape are reported', async (t) => {
  const dir = tempDir(t);
  const load = spyLoad(t);
  assert.deepEqual(await readManifest(dir, 'c1'), { manifest: null, missing: true, reason: 'no manifest' });
  assert.deepEqual(await loadSnapshot(dir, 'c1', options), { index: null, reason: 'no manifest' });

  const manifestPath = path.join(dir, 'c1.manifest.json');
  fs.writeFileSync(manifestPath, '{"format": 1, "file": ');
  assert.deepEqual(await loadSnapshot(dir, 'c1', options), { index: null, reason: 'the manifest is not valid JSON' });
  fs.writeFileSync(manifestPath, '[1, 2]');
  assert.deepEqual(await readManifest(dir, 'c1'), { manifest: null, missing: false, reason: 'the manifest is not an object' });
  fs.writeFileSync(manifestPath, Buffer.from([0xff, 0x00, 0x13]));
  assert.equal((await loadSnapshot(dir, 'c1', options)).index, null);
  assert.equal(load.mock.callCount(), 0);
});

test('a manifest naming a file outside its snapshot is refused', async (t) => {
  const { dir, manifest } = await written(t);
  const load = spyLoad(t);
  const manifestPath = path.join(dir, 'c1.manifest.json');
  for (const file of ['../c1-42.hnsw', 'c2-42.hnsw', '/etc/passwd']) {
    fs.writeFileSync(manifestPath, JSON.stringify({ ...manifest, file }));
    const result = await loadSnapshot(dir, 'c1', options);
    assert.deepEqual(result, { index: null, reason: 'the manifest is invalid: bad "file"' });
  }
  fs.writeFileSync(manifestPath, JSON.stringify({ ...manifest, sha256: 'abc' }));
  assert.deepEqual(await loadSnapshot(dir, 'c1', options), { index: null, reason: 'the manifest is invalid: bad "sha256"' });
  assert.equal(load.mock.callCount(), 0);
});

test('a truncated file is detected', async (t) => {
  const { dir, manifest } = await written(t);
  const load = spyLoad(t);
  fs.truncateSync(path.join(dir, manifest.file), manifest.bytes - 100);
  const result = await loadSnapshot(dir, 'c1', options);
  assert.deepEqual(result, { index: null, reason: `c1-42.hnsw has ${manifest.bytes - 100} bytes, the manifest says ${manifest.bytes}` });
  assert.equal(load.mock.callCount(), 0);
});

test('one altered byte is detected', async (t) => {
  const { dir, manifest } = await written(t);
  const load = spyLoad(t);
  const file = path.join(dir, manifest.file);
  const bytes = fs.readFileSync(file);
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  fs.writeFileSync(file, bytes);
  assert.deepEqual(await loadSnapshot(dir, 'c1', options), { index: null, reason: 'c1-42.hnsw fails its SHA-256 check' });
  // A damaged header too: the length is unchanged, the checksum is not.
  bytes.writeBigUInt64LE(2n ** 40n, 8);
  fs.writeFileSync(file, bytes);
  assert.equal((await verifySnapshot(dir, manifest)).ok, false);
  assert.equal(load.mock.callCount(), 0);
});

test('a manifest with a wrong size is detected', async (t) => {
  const { dir, manifest } = await written(t);
  const load = spyLoad(t);
  fs.writeFileSync(path.join(dir, 'c1.manifest.json'), JSON.stringify({ ...manifest, bytes: manifest.bytes + 1 }));
  const result = await loadSnapshot(dir, 'c1', options);
  assert.equal(result.index, null);
  assert.match((result as { reason: string }).reason, /the manifest says/);
  assert.equal(load.mock.callCount(), 0);
});

test('a missing file is detected', async (t) => {
  const { dir, manifest } = await written(t);
  const load = spyLoad(t);
  fs.rmSync(path.join(dir, manifest.file));
  assert.deepEqual(await loadSnapshot(dir, 'c1', options), { index: null, reason: 'c1-42.hnsw is missing' });
  assert.deepEqual(await verifySnapshot(dir, manifest), { ok: false, reason: 'c1-42.hnsw is missing' });
  assert.equal(load.mock.callCount(), 0);
});

test('a snapshot of another dimension or metric is not loaded', async (t) => {
  const { dir } = await written(t);
  const load = spyLoad(t);
  assert.deepEqual(await loadSnapshot(dir, 'c1', { ...options, dimension: 9 }), {
    index: null,
    reason: 'snapshot dimension 8 ≠ collection dimension 9',
  });
  assert.deepEqual(await loadSnapshot(dir, 'c1', { ...options, metric: 'l2' }), {
    index: null,
    reason: 'snapshot metric cosine ≠ collection metric l2',
  });
  assert.equal(load.mock.callCount(), 0);
});

test('removeSnapshots deletes every file of the name and nothing else', async (t) => {
  const { dir } = await written(t);
  fs.writeFileSync(path.join(dir, '.c1.manifest.json.0123ab.tmp'), '{}');
  fs.writeFileSync(path.join(dir, 'c12.manifest.json'), '{}');
  await removeSnapshots(dir, 'c1');
  assert.deepEqual(fs.readdirSync(dir), ['c12.manifest.json']);
  await removeSnapshots(path.join(dir, 'missing'), 'c1');
  assert.deepEqual(await readManifest(dir, 'c1'), { manifest: null, missing: true, reason: 'no manifest' });
});
