import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { ENV_VARS, loadConfig } from '../../../server/config.ts';

test('defaults: loopback, port 7373, ./data, NORMAL', () => {
  const config = loadConfig({});
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.port, 7373);
  assert.equal(config.dataDir, resolve('data'));
  assert.equal(config.synchronous, 'NORMAL');
  assert.equal(config.bodyLimitBytes, 32 * 1024 * 1024);
  assert.equal(config.maxK, 1000);
  assert.ok(Object.isFrozen(config));
});

test('variables override defaults', () => {
  const config = loadConfig({ VICINITY_HOST: '0.0.0.0', VICINITY_API_KEY: 'k'.repeat(32), VICINITY_PORT: '0', VICINITY_DATA_DIR: '/tmp/x', VICINITY_SYNCHRONOUS: 'FULL' });
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.port, 0);
  assert.equal(config.dataDir, '/tmp/x');
  assert.equal(config.synchronous, 'FULL');
});

test('without a key the server listens on loopback only, unless told otherwise', () => {
  assert.throws(() => loadConfig({ VICINITY_HOST: '0.0.0.0' }), /VICINITY_HOST=0\.0\.0\.0 .*set VICINITY_API_KEY or VICINITY_API_KEYS_FILE/);
  assert.equal(loadConfig({ VICINITY_HOST: '0.0.0.0', VICINITY_ALLOW_UNAUTHENTICATED: 'true' }).host, '0.0.0.0');
  assert.equal(loadConfig({ VICINITY_HOST: '0.0.0.0', VICINITY_API_KEYS_FILE: 'keys.json' }).apiKeysFile, resolve('keys.json'));
  assert.equal(loadConfig({ VICINITY_HOST: '::1' }).apiKey, null);
  assert.throws(() => loadConfig({ VICINITY_API_KEY: 'short' }), /at least 16 characters/);
});

test('bad values are refused with a message naming the variable', () => {
  assert.throws(() => loadConfig({ VICINITY_PORT: 'abc' }), /VICINITY_PORT must be an integer from 0 to 65535, got 'abc'/);
  assert.throws(() => loadConfig({ VICINITY_PORT: '70000' }), /VICINITY_PORT/);
  assert.throws(() => loadConfig({ VICINITY_PORT: '1.5' }), /VICINITY_PORT/);
  assert.throws(() => loadConfig({ VICINITY_SYNCHRONOUS: 'OFF' }), /VICINITY_SYNCHRONOUS must be one of NORMAL, FULL/);
  assert.throws(() => loadConfig({ VICINITY_MAX_K: '0' }), /VICINITY_MAX_K/);
  assert.throws(() => loadConfig({ VICINITY_PROT: '1' }), /unknown setting VICINITY_PROT/);
});

test('VICINITY_BUILD_THREADS: 0 (the default) is one per core, 1 keeps the addPoint loop', () => {
  assert.equal(loadConfig({}).buildThreads, availableParallelism());
  assert.equal(loadConfig({ VICINITY_BUILD_THREADS: '0' }).buildThreads, availableParallelism());
  assert.equal(loadConfig({ VICINITY_BUILD_THREADS: '1' }).buildThreads, 1);
  assert.equal(loadConfig({ VICINITY_BUILD_THREADS: '8' }).buildThreads, 8);
  assert.throws(() => loadConfig({ VICINITY_BUILD_THREADS: 'all' }), /VICINITY_BUILD_THREADS must be an integer from 0 to 256, got 'all'/);
  assert.throws(() => loadConfig({ VICINITY_BUILD_THREADS: '257' }), /VICINITY_BUILD_THREADS/);
});

test('docs/configuration.md documents every variable with its default', () => {
  const table = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  for (const [name, [fallback]] of Object.entries(ENV_VARS)) {
    assert.ok(table.includes(`| \`${name}\` | \`${fallback}\` |`), `docs/configuration.md lists ${name} with default ${fallback}`);
  }
});

test('VICINITY_DOCS_PUBLIC: auto opens the docs on loopback only; true and false say so anywhere', () => {
  const keys = { VICINITY_API_KEY: 'k'.repeat(32) };
  assert.equal(loadConfig({}).docsPublic, true);
  assert.equal(loadConfig({ ...keys, VICINITY_HOST: '::1' }).docsPublic, true);
  assert.equal(loadConfig({ ...keys, VICINITY_HOST: '0.0.0.0' }).docsPublic, false);
  assert.equal(loadConfig({ ...keys, VICINITY_HOST: '0.0.0.0', VICINITY_DOCS_PUBLIC: 'true' }).docsPublic, true);
  assert.equal(loadConfig({ VICINITY_DOCS_PUBLIC: 'false' }).docsPublic, false);
  assert.throws(() => loadConfig({ VICINITY_DOCS_PUBLIC: 'yes' }), /VICINITY_DOCS_PUBLIC must be one of auto, true, false/);
});
