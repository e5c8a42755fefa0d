/**
 * Dockerfile and docker-compose.yml, checked without a Docker engine: statically against the code,
 * through `docker-compose config`, and (DOCKERFILE_REPLAY=1) by replaying the Dockerfile's steps in
 * temporary directories and running the server the way the image would.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ENV_VARS, loadConfig } from '../../server/config.ts';
import {
  dockerignore,
  expand,
  parseCopy,
  parseDockerfile,
  parseEnv,
  resolvePosix,
  stageState,
  type Stage,
} from '../helpers/dockerfile.ts';
import { call, startServer } from '../helpers/server.ts';

const ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const COMPOSE = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
const IGNORED = dockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
const STAGES = parseDockerfile(DOCKERFILE);
const FINAL = STAGES.at(-1)!;
const IMAGE = stageState(FINAL);
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; engines: { node: string } };
const LOCK = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
/** Users of the node images' /etc/passwd. */
const IMAGE_UIDS: Record<string, number> = { root: 0, node: 1000 };
const KEY = randomBytes(24).toString('base64url');

const isSetting = (name: string): boolean => name in ENV_VARS;
const nodeMajor = (image: string): number => Number(/^node:(\d+)/.exec(image)?.[1] ?? NaN);
const portOf = (expose: string): string => expose.replace(/\/tcp$/, '');

/** The stage that runs `npm ci`. */
function installStage(): Stage {
  const stage = STAGES.find((s) => s.instructions.some((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args)));
  assert.ok(stage, 'a stage runs npm ci');
  return stage;
}

/**
 * The image's files from the build context: container path → repository path, following COPY
 * (with --from) through the stages as Docker lays them out. npm's node_modules is not in it.
 */
function imageLayout(): Map<string, string> {
  const layouts: Map<string, string>[] = [];
  for (const stage of STAGES) {
    const files = new Map<string, string>();
    const env: Record<string, string> = {};
    let workdir = '/';
    for (const { keyword, args } of stage.instructions) {
      if (keyword === 'ENV') Object.assign(env, parseEnv(args, env));
      if (keyword === 'WORKDIR') workdir = resolvePosix(workdir, expand(args, env));
      if (keyword !== 'COPY') continue;
      const copy = parseCopy(args, env);
      const dest = resolvePosix(workdir, copy.dest);
      const intoDir = copy.dest.endsWith('/') || copy.sources.length > 1;
      for (const source of copy.sources) {
        if (copy.from !== null) {
          const from = layouts[STAGES.findIndex((s) => s.name === copy.from)];
          const prefix = resolvePosix('/', source);
          for (const [path, origin] of from) {
            if (path === prefix) files.set(intoDir ? resolvePosix(dest, basename(path)) : dest, origin);
            else if (path.startsWith(`${prefix}/`)) files.set(resolvePosix(dest, path.slice(prefix.length + 1)), origin);
          }
        } else if (statSync(join(ROOT, source)).isDirectory()) {
          for (const file of walk(join(ROOT, source))) {
            const rel = relative(ROOT, file);
            if (!IGNORED(rel)) files.set(resolvePosix(dest, relative(join(ROOT, source), file)), rel);
          }
        } else {
          files.set(intoDir ? resolvePosix(dest, basename(source)) : dest, source);
        }
      }
    }
    layouts.push(files);
  }
  return layouts.at(-1)!;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else out.push(path);
  }
  return out;
}

// fetch answered by a stub: prints the URL it was asked for, answers as STUB_FETCH_ANSWER says.
const STUB_FETCH = `data:text/javascript,${encodeURIComponent(
  "globalThis.fetch = async (url) => { process.stderr.write('fetch ' + String(url) + '\\n'); " +
    "if (process.env.STUB_FETCH_ANSWER === 'refuse') throw new TypeError('fetch failed'); " +
    "return new Response('', { status: process.env.STUB_FETCH_ANSWER === 'ok' ? 200 : 503 }); };",
)}`;

/** Runs an exec-form health check (`node …`, this node standing for the image's) against the stub fetch. */
function probe(command: string[] | string, env: Record<string, string>, answer: 'ok' | 'unhealthy' | 'refuse'): { status: number | null; url: string | null } {
  assert.ok(Array.isArray(command), 'the health check is in exec form');
  assert.equal(command[0], 'node', 'the health check runs node (the slim image has no curl or wget)');
  const r = spawnSync(process.execPath, ['--import', STUB_FETCH, ...command.slice(1)], {
    env: { PATH: process.env.PATH ?? '', ...env, STUB_FETCH_ANSWER: answer },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, url: /^fetch (\S+)$/m.exec(r.stderr)?.[1] ?? null };
}

/** The health check's URL, run as the image would with `env`, and that it passes only on a 2xx answer. */
function checkHealthcheck(command: string[] | string, env: Record<string, string>): URL {
  const ok = probe(command, env, 'ok');
  assert.equal(ok.status, 0, 'healthy on a 2xx answer');
  assert.ok(ok.url, 'the health check fetches a URL');
  assert.notEqual(probe(command, env, 'unhealthy').status, 0, 'unhealthy on a 503');
  assert.notEqual(probe(command, env, 'refuse').status, 0, 'unhealthy when nothing listens');
  return new URL(ok.url);
}

test('Dockerfile: every VICINITY_* variable it names is a setting of server/config.ts', () => {
  const named = [...DOCKERFILE.matchAll(/\bVICINITY_[A-Z0-9_]+/g)].map((m) => m[0]);
  assert.ok(named.length > 0);
  assert.deepEqual(named.filter((n) => !isSetting(n)), [], 'unknown VICINITY_* variables make the server refuse to start');
  for (const stage of STAGES) {
    for (const name of Object.keys(stageState(stage).env)) if (name.startsWith('VICINITY_')) assert.ok(isSetting(name), name);
  }
});

test('Dockerfile: built on the full node image, run on the slim one as a non-root user, never a native build', () => {
  assert.ok(STAGES.length >= 2, 'multi-stage');
  const build = installStage();
  assert.notEqual(build, FINAL, 'dependencies are compiled in a build stage, not in the image that runs');
  assert.match(build.from, /^node:\d+-bookworm$/, 'the build stage has compilers (the full image)');
  assert.match(FINAL.from, /^node:\d+-bookworm-slim$/, 'the image that runs is the slim one');
  assert.equal(nodeMajor(build.from), nodeMajor(FINAL.from), 'native modules are compiled for the node that runs them');
  assert.ok(nodeMajor(FINAL.from) >= Number(/\d+/.exec(PKG.engines.node)![0]), `package.json engines: ${PKG.engines.node}`);
  assert.ok(IMAGE.user !== null && !['root', '0'].includes(IMAGE.user.split(':')[0]), 'runs as a non-root USER');
  assert.ok(IMAGE.user.split(':')[0] in IMAGE_UIDS, `USER ${IMAGE.user} exists in the node image`);
  for (const stage of STAGES) {
    assert.notEqual(stageState(stage).env.VICINITY_HNSW_BUILD, 'native', 'a native build only runs on the CPU that compiled it');
    for (const { keyword, args } of stage.instructions) {
      assert.doesNotMatch(args, /VICINITY_HNSW_BUILD\s*=\s*["']?native|-march=native/, `${keyword} ${args}`);
    }
  }
});

test('Dockerfile: npm ci from the lock file without dev dependencies, the postinstall script copied first', () => {
  const build = installStage();
  const runs = build.instructions.filter((i) => i.keyword === 'RUN');
  assert.ok(!runs.some((i) => /\bnpm (install|i|add)\b/.test(i.args)), 'npm ci, not npm install: the lock file decides');
  const ci = runs.find((i) => /\bnpm ci\b/.test(i.args))!;
  assert.match(ci.args, /--omit=dev\b/);
  const before = build.instructions.filter((i) => i.keyword === 'COPY' && i.line < ci.line).flatMap((i) => parseCopy(i.args).sources);
  const copied = (file: string): boolean => before.some((s) => file === s || file.startsWith(`${s.replace(/\/$/, '')}/`));
  assert.ok(copied('package.json') && copied('package-lock.json'), 'package.json and package-lock.json before npm ci');
  const scripts = [...(PKG.scripts.postinstall ?? '').matchAll(/\S+\.(?:mjs|cjs|js)\b/g)].map((m) => m[0]);
  for (const script of scripts) assert.ok(copied(script), `${script} (postinstall) is copied before npm ci`);
});

test('Dockerfile: the image holds what CMD runs and everything it loads, and needs no dev dependency', () => {
  const files = imageLayout();
  const has = (path: string): boolean => files.has(path) || [...files.keys()].some((f) => f.startsWith(`${path}/`));
  assert.ok(Array.isArray(IMAGE.cmd));
  for (const script of IMAGE.cmd.filter((a) => /\.(ts|mjs|js)$/.test(a))) {
    assert.ok(files.has(resolvePosix(IMAGE.workdir, script)), `CMD's ${script} is at ${resolvePosix(IMAGE.workdir, script)}`);
  }
  const problems: string[] = [];
  for (const [path, origin] of files) {
    if (!/\.(ts|mjs|js)$/.test(path)) continue;
    // Type-only imports are erased by tsx; everything else is loaded at run time.
    const text = readFileSync(join(ROOT, origin), 'utf8').replace(/(^|\n)\s*(import|export) type [^;]*;/g, '');
    const specifiers = [
      ...[...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;'"]*?from\s*['"]([^'"]+)['"]/g)].map((m) => m[1]),
      ...[...text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)].map((m) => m[1]),
      ...[...text.matchAll(/\b(?:import|require|require\.resolve|import\.meta\.resolve)\(\s*['"]([^'"]+)['"]/g)].map((m) => m[1]),
      ...[...text.matchAll(/new URL\(\s*['"](\.[^'"]+)['"],\s*import\.meta\.url\)/g)].map((m) => m[1]),
    ];
    for (const spec of specifiers) {
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        if (!has(resolvePosix(dirname(path), spec))) problems.push(`${path}: ${spec} is not in the image`);
        continue;
      }
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      const locked = LOCK.packages[`node_modules/${name}`];
      if (locked === undefined) problems.push(`${path}: ${name} is not in package-lock.json`);
      else if (locked.dev) problems.push(`${path}: ${name} is a dev dependency (npm ci --omit=dev leaves it out)`);
    }
  }
  assert.deepEqual(problems, []);
});

test('Dockerfile: every COPY source exists in the repository and is in the build context', () => {
  for (const stage of STAGES) {
    for (const { keyword, args, line } of stage.instructions) {
      if (keyword !== 'COPY') continue;
      const copy = parseCopy(args);
      if (copy.from !== null) {
        const earlier = STAGES.slice(0, stage.index).map((s) => s.name);
        assert.ok(earlier.includes(copy.from), `line ${line}: --from=${copy.from} is an earlier stage`);
        continue;
      }
      for (const source of copy.sources) {
        assert.ok(existsSync(join(ROOT, source)), `line ${line}: ${source} exists`);
        assert.ok(!IGNORED(source), `line ${line}: ${source} is not excluded by .dockerignore`);
        if (statSync(join(ROOT, source)).isDirectory()) {
          assert.ok(walk(join(ROOT, source)).some((f) => !IGNORED(relative(ROOT, f))), `line ${line}: ${source} sends files`);
        }
      }
    }
  }
  for (const path of ['node_modules', 'data', '.git', 'tests', 'bench', 'client/node_modules']) {
    assert.ok(IGNORED(path), `.dockerignore excludes ${path}`);
  }
});

test('Dockerfile: listens, stores and is health-checked where the settings say; refuses to start without a key', async (t) => {
  const env = IMAGE.env;
  assert.equal(env.VICINITY_HOST, '0.0.0.0', 'reachable from outside the container');
  assert.deepEqual(IMAGE.expose.map(portOf), [env.VICINITY_PORT], 'EXPOSE is VICINITY_PORT');
  assert.deepEqual(IMAGE.volumes, [env.VICINITY_DATA_DIR], 'the VOLUME is VICINITY_DATA_DIR');
  for (const name of ['VICINITY_API_KEY', 'VICINITY_API_KEYS_FILE', 'VICINITY_ALLOW_UNAUTHENTICATED']) {
    assert.equal(env[name], undefined, `${name} is the operator's to set, never baked into the image`);
  }
  assert.throws(() => loadConfig(env), /VICINITY_API_KEY/, 'without a key the server refuses to start');
  const config = loadConfig({ ...env, VICINITY_API_KEY: KEY });
  assert.equal(config.port, Number(env.VICINITY_PORT));
  assert.equal(config.dataDir, env.VICINITY_DATA_DIR);

  assert.ok(IMAGE.healthcheck, 'a HEALTHCHECK');
  const url = checkHealthcheck(IMAGE.healthcheck.command, env);
  assert.equal(url.hostname, '127.0.0.1');
  assert.equal(url.port, env.VICINITY_PORT, 'the health check asks VICINITY_PORT');
  // The path is one the server answers, without a key, when keys are configured.
  const server = await startServer(t, { apiKey: KEY });
  assert.equal((await call(server, 'GET', url.pathname)).status, 200, `GET ${url.pathname}`);

  assert.ok(IMAGE.stopsignal === null || IMAGE.stopsignal === 'SIGTERM', 'SIGTERM: the server closes cleanly on it');
  assert.ok(Array.isArray(IMAGE.cmd), 'CMD in exec form, so node itself gets the signal');
  assert.equal(IMAGE.cmd.join(' '), PKG.scripts.start, 'CMD is `npm start` without npm');
  for (const run of FINAL.instructions.filter((i) => i.keyword === 'RUN')) {
    assert.match(run.args, /^mkdir -p (\S+) && chown \S+ \1$/, 'the image stage only prepares the data volume');
  }
});

test('docker-compose.yml: every VICINITY_* variable is a setting, every mounted path exists', () => {
  const named = [...COMPOSE.matchAll(/\bVICINITY_[A-Z0-9_]+/g)].map((m) => m[0]);
  assert.ok(named.includes('VICINITY_API_KEY'));
  assert.deepEqual(named.filter((n) => !isSetting(n)), []);
  const mounts = [...COMPOSE.matchAll(/^\s*-\s*["']?(\.{1,2}\/[^:"'\s]+):/gm)].map((m) => m[1]);
  assert.ok(mounts.length > 0, 'compose mounts the monitoring configuration');
  for (const mount of mounts) assert.ok(existsSync(join(ROOT, mount)), `${mount} (mounted by docker-compose.yml) exists`);
});

/** `docker-compose config` with a fresh empty --env-file, so a developer's .env cannot change the answer. */
function composeConfig(env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-compose-'));
  try {
    writeFileSync(join(dir, 'empty.env'), '');
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VICINITY_')));
    const r = spawnSync('docker-compose', ['--env-file', join(dir, 'empty.env'), '-f', join(ROOT, 'docker-compose.yml'), 'config'], {
      cwd: ROOT,
      env: { ...clean, ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** YAML to JSON through python3's yaml module (a dependency of Debian's docker-compose). */
function yamlToJson(text: string): any { // eslint-disable-line @typescript-eslint/no-explicit-any -- compose's JSON, checked field by field
  const r = spawnSync('python3', ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `python3 yaml: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

interface Mount {
  source: string;
  target: string;
}

function mountsOf(service: { volumes?: (string | { source: string; target: string })[] }): Mount[] {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source, target: v.target };
    const [source, target] = v.split(':');
    return { source, target };
  });
}

test('docker-compose config: valid with VICINITY_API_KEY set, refused without it, services wired together', (t) => {
  if (spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).error) {
    t.skip('docker-compose is not installed (Debian package docker-compose)');
    return;
  }
  const missing = composeConfig({});
  assert.notEqual(missing.status, 0, 'refused without VICINITY_API_KEY');
  assert.match(missing.stderr, /set VICINITY_API_KEY \(at least 16 characters\)/);

  const ok = composeConfig({ VICINITY_API_KEY: KEY });
  assert.equal(ok.status, 0, ok.stderr);
  const config = yamlToJson(ok.stdout);
  const services = config.services;
  assert.deepEqual(Object.keys(services).sort(), ['grafana', 'prometheus', 'vicinity']);

  const vicinity = services.vicinity;
  assert.equal(resolve(vicinity.build.context), ROOT, 'builds this Dockerfile');
  assert.equal(vicinity.image, 'vicinity:latest');
  const env = { ...IMAGE.env, ...(vicinity.environment as Record<string, string>) };
  assert.deepEqual(Object.keys(vicinity.environment).filter((n) => !isSetting(n)), []);
  assert.equal(env.VICINITY_API_KEY, KEY);
  const settings = loadConfig(env);
  assert.equal(settings.metricsPublic, true, 'Prometheus scrapes without a key');
  const ports = (vicinity.ports as ({ target: number } | string)[]).map((p) => (typeof p === 'string' ? p.split(':').at(-1)! : String(p.target)));
  assert.deepEqual(ports.map((p) => portOf(p)), [IMAGE.env.VICINITY_PORT]);
  const data = mountsOf(vicinity).find((m) => m.target === IMAGE.env.VICINITY_DATA_DIR);
  assert.ok(data && data.source in config.volumes, 'a named volume on the data directory');
  assert.equal(vicinity.healthcheck.test[0], 'CMD');
  const url = checkHealthcheck(vicinity.healthcheck.test.slice(1), env);
  assert.equal(url.port, String(settings.port));
  assert.equal(url.pathname, checkHealthcheck(IMAGE.healthcheck!.command, IMAGE.env).pathname, 'the same check as the Dockerfile');

  for (const name of ['prometheus', 'grafana']) {
    const service = services[name];
    assert.ok(service.healthcheck?.test, `${name} has a health check`);
    for (const port of service.ports as ({ host_ip?: string } | string)[]) {
      const bound = typeof port === 'string' ? port.split(':')[0] : port.host_ip;
      assert.equal(bound, '127.0.0.1', `${name} is published on loopback only`);
    }
    for (const mount of mountsOf(service)) {
      if (mount.source.startsWith('/')) assert.ok(existsSync(mount.source), `${name} mounts ${mount.source}, which exists`);
      else assert.ok(mount.source in config.volumes, `${name}: ${mount.source} is a named volume`);
    }
  }
  assert.deepEqual(services.prometheus.depends_on, { vicinity: { condition: 'service_healthy' } });
  assert.deepEqual(services.grafana.depends_on, { prometheus: { condition: 'service_healthy' } });

  // The monitoring files, read where the containers see them: they must name what compose runs.
  const file = (service: string, path: string): string => {
    const mount = mountsOf(services[service]).find((m) => path === m.target || path.startsWith(`${m.target}/`));
    assert.ok(mount && mount.source.startsWith('/'), `${service}: ${path} is in a mounted directory`);
    return join(mount.source, path.slice(mount.target.length));
  };
  const promConfig = /^--config\.file=(\S+)$/.exec(services.prometheus.command.find((a: string) => a.startsWith('--config.file=')))![1];
  const prom = yamlToJson(readFileSync(file('prometheus', promConfig), 'utf8'));
  for (const rules of prom.rule_files ?? []) assert.ok(existsSync(file('prometheus', resolvePosix(dirname(promConfig), rules))), `rule file ${rules}`);
  const targets: string[] = (prom.scrape_configs ?? []).flatMap((s: any) => (s.static_configs ?? []).flatMap((c: any) => c.targets)); // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.ok(targets.includes(`vicinity:${settings.port}`), `Prometheus scrapes vicinity:${settings.port} (targets: ${targets.join(', ')})`);

  const provisioning = file('grafana', '/etc/grafana/provisioning');
  const sources = readdirSync(join(provisioning, 'datasources')).flatMap((f) => yamlToJson(readFileSync(join(provisioning, 'datasources', f), 'utf8')).datasources ?? []);
  for (const source of sources) {
    const host = new URL(source.url as string).host;
    assert.equal(host, 'prometheus:9090', `Grafana's data source ${source.name} is the prometheus service`);
  }
  const providers = readdirSync(join(provisioning, 'dashboards')).flatMap((f) => yamlToJson(readFileSync(join(provisioning, 'dashboards', f), 'utf8')).providers ?? []);
  assert.ok(providers.length > 0, 'a dashboard provider');
  for (const provider of providers) {
    const dir = file('grafana', provider.options.path as string);
    assert.ok(readdirSync(dir).some((f) => f.endsWith('.json')), `dashboards at ${provider.options.path} (${dir})`);
  }
});

/** A free TCP port (closed again, so the server can take it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], options: SpawnOptions, timeoutMs: number): Promise<Result> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolveRun({ status, stdout, stderr });
    });
  });
}

function chownTree(path: string, uid: number): void {
  chownSync(path, uid, uid);
  if (lstatSync(path).isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry), uid);
}

/** Every file under `dir` but `skip`, with its size and mtime: what the server may not change. */
function fingerprint(dir: string, skip: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (path: string): void => {
    if (path === skip) return;
    const stat = lstatSync(path);
    if (stat.isDirectory()) for (const entry of readdirSync(path)) visit(join(path, entry));
    else out.set(relative(dir, path), `${stat.size}:${stat.mtimeMs}`);
  };
  visit(dir);
  return out;
}

test(
  'Dockerfile replayed without Docker: its build steps, then the server started as the image starts it',
  {
    timeout: 600_000,
    skip: process.env.DOCKERFILE_REPLAY === '1' ? false : 'slow (npm ci compiles native modules): run with DOCKERFILE_REPLAY=1',
  },
  async (t: TestContext) => {
    const work = mkdtempSync(join(tmpdir(), 'vicinity-dockerfile-'));
    chmodSync(work, 0o755); // the stand-in for USER node must reach the app
    t.after(() => rmSync(work, { recursive: true, force: true }));
    const asRoot = process.getuid?.() === 0;
    const userName = IMAGE.user!.split(':')[0];
    // Run as the image's USER when we can (as root): the app is then read-only to the server.
    const uid = asRoot ? IMAGE_UIDS[userName] : undefined;
    if (!asRoot) t.diagnostic('not root: the server runs as this user, not as the image USER');

    const roots = new Map<string, string>();
    const started = Date.now();
    for (const stage of STAGES) {
      assert.ok(!roots.has(stage.from), 'FROM an earlier stage is not replayed');
      const root = join(work, `stage-${stage.index}`);
      mkdirSync(root, { mode: 0o755 });
      roots.set(String(stage.index), root);
      if (stage.name !== null) roots.set(stage.name, root);
      const env: Record<string, string> = {};
      let workdir = '/';
      for (const { keyword, args, line } of stage.instructions) {
        if (keyword === 'ENV') Object.assign(env, parseEnv(args, env));
        else if (keyword === 'WORKDIR') {
          workdir = resolvePosix(workdir, expand(args, env));
          mkdirSync(join(root, workdir), { recursive: true });
        } else if (keyword === 'COPY') {
          const copy = parseCopy(args, env);
          const dest = resolvePosix(workdir, copy.dest);
          const intoDir = copy.dest.endsWith('/') || copy.sources.length > 1;
          for (const source of copy.sources) {
            const from = copy.from === null ? join(ROOT, source) : join(roots.get(copy.from)!, resolvePosix('/', source));
            const isDir = statSync(from).isDirectory();
            // A directory's contents go into dest, a file into dest/ or to dest, as Docker does.
            const target = join(root, isDir || !intoDir ? dest : resolvePosix(dest, basename(source)));
            mkdirSync(isDir ? target : dirname(target), { recursive: true });
            cpSync(from, target, {
              recursive: true,
              verbatimSymlinks: true,
              filter: (path) => copy.from !== null || !IGNORED(relative(ROOT, path) || '.'),
            });
            if (copy.chown !== null && asRoot) chownTree(target, IMAGE_UIDS[copy.chown.split(':')[0]]);
          }
        } else if (keyword === 'RUN' && stage !== FINAL) {
          // The host's environment stands in for the base image's (PATH, npm's cache and config in
          // HOME), without VICINITY_* settings or what an outer `npm test` and node --test set;
          // prefer-offline only spares the registry, the command runs as written.
          const host = Object.fromEntries(
            Object.entries(process.env).filter(([k]) => !/^(VICINITY_|npm_|NODE_TEST_CONTEXT$|NODE_OPTIONS$|INIT_CWD$)/i.test(k)),
          );
          const begun = Date.now();
          const r = await run('/bin/sh', ['-c', args], { cwd: join(root, workdir), env: { ...host, ...env, npm_config_prefer_offline: 'true' } }, 480_000);
          t.diagnostic(`line ${line}: RUN ${args}: ${((Date.now() - begun) / 1000).toFixed(1)} s`);
          assert.equal(r.status, 0, `RUN ${args}\n${r.stdout}\n${r.stderr}`);
          for (const hnsw of r.stdout.match(/vicinity hnsw: .*/g) ?? []) t.diagnostic(hnsw);
        } else if (keyword === 'RUN') {
          // The image stage's RUN only makes the volume directory for USER (checked above); done
          // here under the stage's directory instead of at the host's root.
          const m = /^mkdir -p (\S+) && chown (\S+) \1$/.exec(args);
          assert.ok(m, `RUN ${args} is not replayed`);
          mkdirSync(join(root, m[1]), { recursive: true, mode: 0o755 });
          if (asRoot) chownSync(join(root, m[1]), IMAGE_UIDS[m[2].split(':')[0]], IMAGE_UIDS[m[2].split(':')[0]]);
        } else if (!['USER', 'VOLUME', 'EXPOSE', 'HEALTHCHECK', 'STOPSIGNAL', 'CMD', 'LABEL'].includes(keyword)) {
          assert.fail(`line ${line}: ${keyword} is not replayed`);
        }
      }
    }
    t.diagnostic(`build steps: ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const root = roots.get(String(FINAL.index))!;
    const appDir = join(root, IMAGE.workdir);
    // The data directory is the image's /data under the stage's directory, the port a free one: the
    // host's /data may not be writable, and 7373 may be taken. Everything else is the image's ENV.
    const dataDir = join(root, IMAGE.env.VICINITY_DATA_DIR);
    const port = await freePort();
    const home = join(work, 'home');
    mkdirSync(home);
    if (uid !== undefined) chownSync(home, uid, uid);
    const containerEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      ...IMAGE.env,
      VICINITY_DATA_DIR: dataDir,
      VICINITY_PORT: String(port),
      ...extra,
    });
    const cmd = IMAGE.cmd as string[];
    assert.equal(cmd[0], 'node');
    if (String(nodeMajor(FINAL.from)) !== process.versions.node.split('.')[0]) {
      t.diagnostic(`this node is ${process.version}, the image's is node ${nodeMajor(FINAL.from)}`);
    }
    const options = (extra?: Record<string, string>): SpawnOptions => ({ cwd: appDir, env: containerEnv(extra), uid, gid: uid });
    const before = fingerprint(root, dataDir);
    const serverStarted = Date.now();

    // No key: the server refuses to listen on 0.0.0.0.
    const refused = await run(process.execPath, cmd.slice(1), options(), 60_000);
    assert.notEqual(refused.status, 0, 'exits without a key');
    assert.match(refused.stderr, /VICINITY_API_KEY/);

    const healthcheck = (IMAGE.healthcheck!.command as string[]).slice(1).map((a) => a.replaceAll(`:${IMAGE.env.VICINITY_PORT}/`, `:${port}/`));
    const base = { url: `http://127.0.0.1:${port}` };
    const auth = { authorization: `Bearer ${KEY}` };
    const start = async (): Promise<{ exited: Promise<Result>; kill: () => void }> => {
      const child = spawn(process.execPath, cmd.slice(1), { ...options({ VICINITY_API_KEY: KEY }), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<Result>((r) => child.once('close', (status) => r({ status, stdout, stderr })));
      t.after(() => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      // The HEALTHCHECK command as written (the port aside), as Docker runs it during the start period.
      const end = Date.now() + 60_000;
      for (;;) {
        const r = await run(process.execPath, healthcheck, options({ VICINITY_API_KEY: KEY }), 10_000);
        if (r.status === 0) break;
        assert.equal(child.exitCode, null, `the server exited: ${stderr}`);
        assert.ok(Date.now() < end, `HEALTHCHECK still failing after 60 s: ${r.stderr}\n${stderr}`);
        await sleep(200);
      }
      for (;;) {
        if ((await call(base, 'GET', '/readyz')).status === 200) break;
        assert.ok(Date.now() < end, '/readyz not 200 after 60 s');
        await sleep(100);
      }
      const build = /"msg":"hnswlib build chosen"/.test(stdout) ? /"build":"(\w+)"[^\n]*"reason":"([^"]*)"/.exec(stdout) : null;
      if (build) t.diagnostic(`hnswlib: ${build[1]} (${build[2]})`);
      return { exited, kill: () => child.kill('SIGTERM') };
    };

    let server = await start();
    assert.equal((await call(base, 'PUT', '/v1/collections/replay', { dimension: 3, metric: 'l2' })).status, 401, 'a key is needed');
    assert.equal((await call(base, 'PUT', '/v1/collections/replay', { dimension: 3, metric: 'l2' }, auth)).status, 201);
    const points = [
      { id: 1, vector: [0, 0, 1] },
      { id: 2, vector: [1, 0, 0] },
    ];
    assert.deepEqual((await call(base, 'PUT', '/v1/collections/replay/points', { points }, auth)).body, { upserted: 2 });
    const found = await call(base, 'POST', '/v1/collections/replay/search', { vector: [0.9, 0, 0.1], k: 1 }, auth);
    assert.equal(found.status, 200);
    assert.equal(found.body.results[0].id, '2');
    // The CLI as `docker compose exec vicinity node bin/vicinity.mjs …` runs it: key from the environment.
    const cli = ['bin/vicinity.mjs', 'search', '--collection', 'replay', '--vector', '[0,0,1]', '-k', '1', '--json', '--url', base.url];
    const searched = await run(process.execPath, cli, options({ VICINITY_API_KEY: KEY }), 60_000);
    assert.equal(searched.status, 0, `the CLI in the image: ${searched.stderr}`);
    assert.equal(JSON.parse(searched.stdout).results[0].id, '1');
    server.kill();
    const stopped = await server.exited;
    assert.equal(stopped.status, 0, `SIGTERM: exit 0\n${stopped.stderr}`);

    // The volume is all the state: a new server on it has the collection.
    server = await start();
    const again = await call(base, 'GET', '/v1/collections/replay', undefined, auth);
    assert.equal(again.status, 200);
    assert.equal(again.body.count, 2);
    server.kill();
    assert.equal((await server.exited).status, 0);

    const after = fingerprint(root, dataDir);
    const changed = [...new Set([...before.keys(), ...after.keys()])].filter((p) => before.get(p) !== after.get(p));
    assert.deepEqual(changed, [], `the server wrote only under ${IMAGE.env.VICINITY_DATA_DIR}`);
    assert.ok(readdirSync(dataDir).length > 0, 'and it did write there');
    t.diagnostic(`server runs: ${((Date.now() - serverStarted) / 1000).toFixed(1)} s`);
  },
);
