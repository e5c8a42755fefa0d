import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { embed } from '../helpers/embeddings.ts';
import { call, startServer } from '../helpers/server.ts';

const ROOT = new URL('../../', import.meta.url);

function dot(a: number[], b: number[]): number {
  return a.reduce((s, x, i) => s + x * b[i], 0);
}

/** The first ```js block after a heading of README.md. */
function example(heading: string): string {
  const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
  const at = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(at >= 0, `README has a '${heading}' section`);
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block, `the '${heading}' section has a js block`);
  return block[1];
}

test('the README\'s RAG example runs against a real server', { timeout: 120_000 }, async (t) => {
  const server = await startServer(t);
  const code = example('A RAG example');
  assert.ok(code.includes("'http://127.0.0.1:7373'") && code.includes("from 'vicinity-client/langchain'"), 'the example uses the package and the default URL');
  // The package's source instead of its build, the test server, and deterministic embeddings instead of a model.
  const program = [
    `import { WordEmbeddings } from ${JSON.stringify(new URL('tests/helpers/embeddings.ts', ROOT).href)};`,
    'const embeddings = new WordEmbeddings();',
    code.replace("'vicinity-client/langchain'", JSON.stringify(new URL('client/src/langchain.ts', ROOT).href)).replace("'http://127.0.0.1:7373'", JSON.stringify(server.url)),
  ].join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-readme-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'example.mjs');
  writeFileSync(file, program);
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], { cwd: new URL('.', ROOT).pathname });
  // Two distinct stored chunks, the one nearest the question first (MMR's first pick).
  const texts = [...code.matchAll(/^ {4}'([^']+)',$/gm)].map((m) => m[1]);
  assert.equal(texts.length, 3);
  const q = embed('Can a crash lose my data?');
  const nearest = texts.reduce((best, text) => (dot(embed(text), q) > dot(embed(best), q) ? text : best));
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 2, stdout);
  assert.equal(lines[0], nearest);
  assert.ok(texts.includes(lines[1]) && lines[1] !== lines[0], stdout);
  assert.equal((await call(server, 'GET', '/v1/collections/guide')).body.count, 3);
});
