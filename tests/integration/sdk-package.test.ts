/**
 * The packed `vicinity-client`, used as a user would: `npm pack -w client`, installed into a fresh
 * project from the tarball, then plain ESM JavaScript run by node (no tsx) against a real server,
 * and a TypeScript file checked by `tsc --noEmit` against the package's declarations.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startServer } from '../helpers/server.ts';

const run = promisify(execFile);
const ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const SCRIPT = `
import { Embeddings } from '@langchain/core/embeddings';
import { VicinityClient, VicinityError } from 'vicinity-client';
import { VicinityVectorStore } from 'vicinity-client/langchain';

const out = {};
for (const transport of ['json', 'msgpack']) {
  const client = new VicinityClient(process.env.VICINITY_URL, { transport });
  const name = 'pkg-' + transport;
  await client.createCollection(name, { dimension: 3, metric: 'l2' });
  await client.upsert(name, [
    { id: 1, vector: [0, 0, 1], payload: { tag: 'a' } },
    { id: 2, vector: new Float32Array([1, 0, 0]), payload: { tag: 'b' } },
  ]);
  const answer = await client.search(name, { vector: new Float32Array([0.9, 0, 0]), k: 1, with_payload: true });
  const ids = [];
  for await (const point of client.scroll(name, { limit: 1 })) ids.push(point.id);
  let error = null;
  try {
    await client.getCollection('missing');
  } catch (err) {
    error = err instanceof VicinityError ? [err.status, err.code] : String(err);
  }
  out[transport] = { hit: answer.results[0], ids, error };
  await client.close();
}

/** A text's embedding: its length, then 1, 0. */
class Lengths extends Embeddings {
  constructor() { super({}); }
  async embedDocuments(texts) { return texts.map((t) => [t.length, 1, 0]); }
  async embedQuery(text) { return [text.length, 1, 0]; }
}
const store = await VicinityVectorStore.fromTexts(['a', 'bbb'], [{ n: 1 }, { n: 3 }], new Lengths(), { url: process.env.VICINITY_URL, collection: 'pkg-lc' });
const [doc] = await store.maxMarginalRelevanceSearch('bb', { k: 1, fetchK: 2 });
out.langchain = { text: doc.pageContent, metadata: doc.metadata };
await store.client.close();
console.log(JSON.stringify(out));
`;

const TYPED = `
import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { VicinityClient, VicinityError, type SearchAnswer, type StoredPoint } from 'vicinity-client';
import { VicinityVectorStore } from 'vicinity-client/langchain';

export async function context(embeddings: EmbeddingsInterface): Promise<string[]> {
  const store = await VicinityVectorStore.fromExistingCollection(embeddings, { url: 'http://127.0.0.1:7373', collection: 'docs', textKey: 'body' });
  const docs = await store.asRetriever({ k: 2, searchType: 'mmr', filter: { lang: 'en' } }).invoke('question');
  return docs.map((d) => d.pageContent);
}

export async function nearest(url: string): Promise<string | undefined> {
  const client = new VicinityClient(url, { transport: 'msgpack', timeoutMs: 5000, retries: 1 });
  const answer: SearchAnswer = await client.search('docs', { vector: new Float32Array(3), k: 3, where: { tag: 'a' }, select: { mode: 'mmr' } });
  const first: StoredPoint | undefined = await client.scroll('docs').next().then((r) => (r.done ? undefined : r.value));
  const job = await client.waitForJob('j', { onProgress: (j) => j.processed });
  if (job.state === 'failed') throw new VicinityError(500, job.error?.code ?? 'X', 'failed');
  return answer.results[0]?.id ?? first?.id;
}
`;

/** Must not type-check: a search without a vector, an unknown transport. */
const WRONG = `
import { VicinityClient } from 'vicinity-client';

const client = new VicinityClient('http://127.0.0.1:7373', { transport: 'xml' });
await client.search('docs', { k: 3 });
`;

const TSCONFIG = {
  compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
};

test('the packed package installs into a fresh project and works from plain ESM and type-checked TypeScript', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-pkg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const packed = join(dir, 'packed');
  const project = join(dir, 'project');
  mkdirSync(packed);
  mkdirSync(project);
  await run(NPM, ['pack', '-w', 'client', '--pack-destination', packed], { cwd: ROOT });
  const [tarball] = readdirSync(packed).filter((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack made a tarball');

  const listing = (await run('tar', ['-tzf', join(packed, tarball)])).stdout.split('\n').filter(Boolean);
  for (const file of ['index.js', 'index.d.ts', 'langchain.js', 'langchain.d.ts']) assert.ok(listing.includes(`package/dist/${file}`), listing.join(', '));
  assert.ok(listing.includes('package/README.md'), 'the package has its README');
  assert.ok(
    listing.every((f) => f === 'package/package.json' || f === 'package/README.md' || (f.startsWith('package/dist/') && /\.(js|d\.ts)$/.test(f))),
    `only dist/, package.json and README.md: ${listing.join(', ')}`,
  );

  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'uses-vicinity', private: true, type: 'module' }));
  // LangChain is the application's to install (an optional peer): the version the repository tests with.
  const langchain = (JSON.parse(readFileSync(join(ROOT, 'node_modules', '@langchain', 'core', 'package.json'), 'utf8')) as { version: string }).version;
  await run(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', join(packed, tarball), '@types/node@^20', `@langchain/core@${langchain}`], { cwd: project });

  const server = await startServer(t);
  writeFileSync(join(project, 'app.mjs'), SCRIPT);
  const { stdout } = await run(process.execPath, ['app.mjs'], { cwd: project, env: { ...process.env, VICINITY_URL: server.url } });
  const { langchain: found, ...out } = JSON.parse(stdout) as Record<string, { hit: { id: string; payload: unknown }; ids: string[]; error: unknown }> & { langchain: unknown };
  assert.deepEqual(found, { text: 'bbb', metadata: { n: 3 } });
  for (const transport of ['json', 'msgpack']) {
    assert.deepEqual(out[transport].hit.id, '2');
    assert.deepEqual(out[transport].hit.payload, { tag: 'b' });
    assert.deepEqual(out[transport].ids.sort(), ['1', '2']);
    assert.deepEqual(out[transport].error, [404, 'VDB_ERR_COLLECTION_NOT_FOUND']);
  }

  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ ...TSCONFIG, files: ['app.ts'] }));
  writeFileSync(join(project, 'app.ts'), TYPED);
  await run(process.execPath, [TSC, '--noEmit', '-p', 'tsconfig.json'], { cwd: project });

  writeFileSync(join(project, 'tsconfig.wrong.json'), JSON.stringify({ ...TSCONFIG, files: ['wrong.ts'] }));
  writeFileSync(join(project, 'wrong.ts'), WRONG);
  const wrong = await run(process.execPath, [TSC, '--noEmit', '-p', 'tsconfig.wrong.json'], { cwd: project }).then(
    () => null,
    (err: { stdout: string }) => err.stdout,
  );
  assert.ok(wrong !== null, 'the wrong file must not type-check');
  assert.match(wrong, /wrong\.ts\(4,\d+\): error TS2322: Type '"xml"' is not assignable/);
  assert.match(wrong, /wrong\.ts\(5,\d+\): error TS2345: [^\n]*\n\s+Property 'vector' is missing/);
});
