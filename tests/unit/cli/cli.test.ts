import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../../cli/cli.ts';
import type { Io } from '../../../cli/io.ts';
import { capture } from '../../helpers/capture.ts';

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = capture();
  const err = capture();
  const io: Io = { out, err, errIsTTY: false };
  const code = await main(['node', 'vicinity', ...args], io);
  return { code, out: out.text, err: err.text };
}

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return url;
}

test('usage errors exit 2 with a message naming the option', async () => {
  const cases: [string[], RegExp][] = [
    [['import', 'vectors.bin', '--collection', 'c'], /^error: cannot tell the format of 'vectors\.bin' .* pass --format npy\|fvecs\|ndjson\|msgpack\n$/],
    [['import', 'v.npy'], /required option '--collection <name>' not specified/],
    [['import', '--collection', 'c'], /missing required argument 'file'/],
    [['import', 'v.npy', '--collection', 'c', '--format', 'csv'], /argument 'csv' is invalid\. Allowed choices are npy, fvecs, ndjson, msgpack/],
    [['import', 'v.npy', '--collection', 'c', '--metric', 'cos', '--create'], /Allowed choices are cosine, l2, ip/],
    [['import', 'v.npy', '--collection', 'c', '--dimension', '8'], /^error: --dimension and --metric only apply with --create\n$/],
    [['import', 'v.npy', '--collection', 'c', '--create', '--dimension', '0'], /option '--dimension <d>' argument '0' is invalid\. must be a positive integer/],
    [['import', 'v.npy', '--collection', 'c', '--id-offset', '-1'], /argument '-1' is invalid\. must be a non-negative integer/],
    [['import', 'v.npy', '--collection', 'c', '--seed', '1.5'], /argument '1\.5' is invalid\. must be an integer/],
    [['import', 'v.npy', '--collection', 'c', '--build-order', 'sorted'], /expected auto, given, random, lid_desc, lid_asc or by_payload:<field>/],
    [['search', '--collection', 'c'], /^error: give exactly one of --vector JSON or --random\n$/],
    [['search', '--collection', 'c', '--vector', '[1]', '--random'], /option '--vector <json>' cannot be used with option '--random'/],
    [['search', '--collection', 'c', '--vector', '[1, "a"]'], /must be a JSON array of numbers, like \[0\.1, 0\.2, 0\.3\]/],
    [['search', '--collection', 'c', '--vector', '[]'], /must be a JSON array of numbers/],
    [['search', '--collection', 'c', '--vector', '[1,'], /argument '\[1,' is invalid\. is not valid JSON/],
    [['search', '--collection', 'c', '--random', '--k', '0'], /option '-k, --k <k>' argument '0' is invalid/],
    [['search', '--collection', 'c', '--random', '--where', '[1]'], /must be a JSON object, like \{"lang": "en"\}/],
    [['search', '--collection', 'c', '--random', '--url', 'ftp://host'], /must be an http:\/\/ or https:\/\/ URL/],
    [['job'], /missing required argument 'id'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [[], /Usage: vicinity/],
  ];
  for (const [args, message] of cases) {
    const { code, out, err } = await run(...args);
    assert.equal(code, 2, `${args.join(' ')}: ${err}`);
    assert.match(err, message, args.join(' '));
    assert.equal(out, '', args.join(' '));
  }
});

test('--create without --dimension on a headerless format is a usage error; a missing file exits 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'a.ndjson'), '{"id": 1, "vector": [1, 2]}\n');
  const url = await closedPortUrl();
  const headerless = await run('import', join(dir, 'a.ndjson'), '--collection', 'c', '--create', '--url', url);
  assert.equal(headerless.code, 2);
  assert.equal(headerless.err, 'error: --create needs --dimension for ndjson files (only .npy and .fvecs headers give it)\n');
  const missing = await run('import', join(dir, 'none.npy'), '--collection', 'c', '--url', url);
  assert.equal(missing.code, 1);
  assert.equal(missing.err, `error: cannot import '${join(dir, 'none.npy')}': no such file\n`);
});

test('an unreachable server exits 1 naming the URL; VICINITY_URL is the default --url', async () => {
  const url = await closedPortUrl();
  const flag = await run('job', 'j1', '--url', url);
  assert.equal(flag.code, 1);
  assert.match(flag.err, new RegExp(`^error: cannot reach the server at ${url}: connect ECONNREFUSED`));
  process.env.VICINITY_URL = url;
  try {
    const env = await run('search', '--collection', 'c', '--random');
    assert.equal(env.code, 1);
    assert.match(env.err, new RegExp(`^error: cannot reach the server at ${url}:`));
  } finally {
    delete process.env.VICINITY_URL;
  }
});

test('--help and --version exit 0 on stdout', async () => {
  const help = await run('--help');
  assert.equal(help.code, 0);
  assert.match(help.out, /import \[options\] <file>/);
  assert.match(help.out, /serve/);
  const importHelp = await run('import', '--help');
  assert.equal(importHelp.code, 0);
  assert.match(importHelp.out, /--build-order <order>/);
  const version = await run('--version');
  assert.equal(version.code, 0);
  assert.match(version.out, /^\d+\.\d+\.\d+\n$/);
});
