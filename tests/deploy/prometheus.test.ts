import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { call, finished, startServer } from '../helpers/server.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROMETHEUS_YML = join(ROOT, 'deploy/prometheus/prometheus.yml');
const ALERTS_YML = join(ROOT, 'deploy/prometheus/alerts.yml');
const GRAFANA = join(ROOT, 'deploy/grafana');

const installed = (bin: string) => spawnSync(bin, ['--version']).error === undefined;
const PROMTOOL = installed('promtool');
const PROMETHEUS = installed('prometheus');
const MISSING = 'not installed: apt-get install prometheus (Debian package prometheus)';

interface Rule {
  alert: string;
  expr: string;
}

/** The alerts in alerts.yml with their expressions, written on the `expr:` line or as a `|` block below it. */
function alertRules(): Rule[] {
  const lines = readFileSync(ALERTS_YML, 'utf8').split('\n');
  const rules: Rule[] = [];
  lines.forEach((line, i) => {
    const alert = /^\s*- alert: *(\S+)$/.exec(line);
    if (alert) rules.push({ alert: alert[1], expr: '' });
    const expr = /^( *)expr: *(.*)$/.exec(line);
    if (!expr) return;
    const rule = rules.at(-1);
    assert.ok(rule?.expr === '', `alerts.yml:${i + 1}: an expr outside an alert (recording rules are not read here)`);
    assert.ok(!/^["'>]/.test(expr[2]), `alerts.yml:${i + 1}: write the expr plain or as a | block`);
    if (expr[2] !== '|') {
      rule.expr = expr[2].trim();
      return;
    }
    const block: string[] = [];
    for (let j = i + 1; j < lines.length && (lines[j].trim() === '' || lines[j].search(/\S/) > expr[1].length); j++) block.push(lines[j].trim());
    rule.expr = block.join('\n').trim();
  });
  for (const rule of rules) assert.ok(rule.expr, `${rule.alert} has an expr`);
  return rules;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: { refId?: string; expr?: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
}

/** Every panel of the dashboard, those inside collapsed rows too. */
function panels(): Panel[] {
  const dashboard = JSON.parse(readFileSync(join(GRAFANA, 'dashboards/vicinity.json'), 'utf8')) as { panels: Panel[] };
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every query: the alerts', and the dashboard's with Grafana's interval variables set to 1m. */
function expressions(): { where: string; expr: string }[] {
  return [
    ...alertRules().map((r) => ({ where: `alerts.yml ${r.alert}`, expr: r.expr })),
    ...panels().flatMap((p) => (p.targets ?? []).map((t) => ({ where: `dashboard "${p.title}" ${t.refId}`, expr: (t.expr ?? '').replace(/\$__(rate_)?interval\b/g, '1m') }))),
  ];
}

/** The metric names in a PromQL expression: identifiers outside strings, label matchers and ranges that are `up` or start with `vicinity_`. */
function metricNames(expr: string): string[] {
  const bare = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""').replace(/\{[^}]*\}/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  return [...new Set(bare.match(/[A-Za-z_:][\w:]*/g) ?? [])].filter((id) => id === 'up' || id.startsWith('vicinity_'));
}

/** The series names /metrics declares (`# TYPE`, with or without samples yet), a histogram's _bucket, _sum and _count included. */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name);
    const parts = type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['_sum', '_count'] : [];
    for (const part of parts) names.add(name + part);
  }
  return names;
}

test('the Grafana provisioning and dashboard: data source uid, file provider, panels with queries on a grid', () => {
  const datasource = readFileSync(join(GRAFANA, 'provisioning/datasources/prometheus.yml'), 'utf8');
  assert.match(datasource, /^ +type: prometheus$/m);
  assert.match(datasource, /^ +uid: prometheus$/m);
  assert.match(datasource, /^ +url: http:\/\/prometheus:9090$/m);
  const provider = readFileSync(join(GRAFANA, 'provisioning/dashboards/vicinity.yml'), 'utf8');
  assert.match(provider, /^ +type: file$/m);
  assert.match(provider, /^ +path: \/var\/lib\/grafana\/dashboards$/m);

  const all = panels();
  assert.ok(all.length >= 15);
  assert.equal(new Set(all.map((p) => p.id)).size, all.length, 'panel ids are unique');
  for (const p of all) {
    const g = p.gridPos;
    assert.ok(g && [g.x, g.y, g.w, g.h].every(Number.isInteger) && g.w > 0 && g.h > 0 && g.x >= 0 && g.x + g.w <= 24, `${p.title}: gridPos`);
    if (p.type === 'row') continue;
    assert.ok(['timeseries', 'stat'].includes(p.type), `${p.title}: type ${p.type}`);
    assert.deepEqual({ type: p.datasource?.type, uid: p.datasource?.uid }, { type: 'prometheus', uid: 'prometheus' }, p.title);
    assert.ok(p.targets?.length, `${p.title}: a target`);
    assert.equal(new Set(p.targets.map((t) => t.refId)).size, p.targets.length, `${p.title}: refIds are unique`);
    for (const t of p.targets) {
      assert.ok(t.expr?.trim(), `${p.title} ${t.refId}: an expr`);
      assert.equal(t.datasource?.uid ?? 'prometheus', 'prometheus', `${p.title} ${t.refId}: data source`);
    }
  }
  const boxes = all.filter((p) => p.type !== 'row').map((p) => ({ title: p.title, ...p.gridPos! }));
  for (const [i, a] of boxes.entries()) {
    for (const b of boxes.slice(i + 1)) {
      assert.ok(a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y, `"${a.title}" overlaps "${b.title}"`);
    }
  }
  for (const { where, expr } of expressions()) {
    assert.ok(metricNames(expr).length > 0, `${where}: no metric name found in ${expr}`);
    assert.ok(!expr.includes('$'), `${where}: a Grafana variable other than the interval`);
  }
});

type Series = Record<string, string>;

/**
 * Per alert: series (one sample a minute, read at 40m) under which its expression gives exactly one
 * series, and series under which it gives none. `job` and `instance` are added to each.
 */
const CASES: Record<string, { fires: Series; quiet: Series }> = {
  VicinityDown: { fires: { up: '0x40' }, quiet: { up: '1x40' } },
  VicinityNotReady: { fires: { vicinity_ready: '0x40' }, quiet: { vicinity_ready: '1x40' } },
  VicinityRefusingRequests: {
    fires: { 'vicinity_http_requests_total{route="/s",status="503"}': '0+10x40', 'vicinity_http_requests_total{route="/s",status="200"}': '0+90x40' },
    quiet: {
      'vicinity_http_requests_total{route="/s",status="503"}': '0+1x40',
      'vicinity_http_requests_total{route="/s",status="200"}': '0+99x40',
      'vicinity_http_requests_total{route="/readyz",status="503"}': '0+100x40',
    },
  },
  VicinitySearchSlow: {
    fires: { 'vicinity_search_duration_seconds_bucket{collection="c",plan="graph",le="0.1"}': '0x40', 'vicinity_search_duration_seconds_bucket{collection="c",plan="graph",le="1"}': '0+100x40', 'vicinity_search_duration_seconds_bucket{collection="c",plan="graph",le="+Inf"}': '0+100x40' },
    quiet: { 'vicinity_search_duration_seconds_bucket{collection="c",plan="graph",le="0.1"}': '0+100x40', 'vicinity_search_duration_seconds_bucket{collection="c",plan="graph",le="1"}': '0+100x40', 'vicinity_search_duration_seconds_bucket{collection="c",plan="graph",le="+Inf"}': '0+100x40' },
  },
  VicinityRecallLow: {
    fires: { 'vicinity_search_recall{collection="c"}': '0.8x40', 'vicinity_search_recall_samples{collection="c"}': '50x40' },
    quiet: {
      'vicinity_search_recall{collection="c"}': '0.8x40',
      'vicinity_search_recall_samples{collection="c"}': '5x40',
      'vicinity_search_recall{collection="d"}': '0.95x40',
      'vicinity_search_recall_samples{collection="d"}': '50x40',
    },
  },
  VicinitySnapshotStale: {
    fires: { 'vicinity_snapshot_age_seconds{collection="c"}': '0+60x40', vicinity_snapshot_interval_seconds: '300x40', 'vicinity_snapshot_pending_changes{collection="c"}': '5x40' },
    quiet: {
      vicinity_snapshot_interval_seconds: '300x40',
      // Old but unchanged: nothing to snapshot.
      'vicinity_snapshot_age_seconds{collection="c"}': '0+60x40',
      'vicinity_snapshot_pending_changes{collection="c"}': '0x40',
      // Changed, but snapshot recently.
      'vicinity_snapshot_age_seconds{collection="d"}': '30x40',
      'vicinity_snapshot_pending_changes{collection="d"}': '5x40',
    },
  },
  VicinityJobFailed: {
    fires: { 'vicinity_jobs_finished_total{kind="import",state="failed"}': '0x30 1x10' },
    quiet: { 'vicinity_jobs_finished_total{kind="import",state="failed"}': '1x40', 'vicinity_jobs_finished_total{kind="import",state="done"}': '0+1x40' },
  },
  VicinityReplicaRestarted: { fires: { vicinity_replica_restarts_total: '0x30 1x10' }, quiet: { vicinity_replica_restarts_total: '0x40' } },
  VicinityWalGrowing: {
    fires: { 'vicinity_sqlite_bytes{file="wal"}': '1e8+1e6x40' },
    quiet: { 'vicinity_sqlite_bytes{file="wal"}': '4e6+1e3x40', 'vicinity_sqlite_bytes{file="db"}': '1e9+1e7x40' },
  },
  VicinityWalLarge: {
    fires: { 'vicinity_sqlite_bytes{file="wal"}': '2e9+1e6x40' },
    // A past peak: SQLite does not shrink the file.
    quiet: { 'vicinity_sqlite_bytes{file="wal"}': '2e9x40' },
  },
  VicinityDiskLow: {
    fires: { 'vicinity_data_disk_bytes{state="free"}': '5e9x40', 'vicinity_data_disk_bytes{state="total"}': '1e11x40' },
    quiet: { 'vicinity_data_disk_bytes{state="free"}': '5e10x40', 'vicinity_data_disk_bytes{state="total"}': '1e11x40' },
  },
};

test('promtool accepts prometheus.yml and alerts.yml; each alert fires on its case and stays quiet on the other', (t) => {
  if (!PROMTOOL) return t.skip(`promtool ${MISSING}`);
  const config = spawnSync('promtool', ['check', 'config', PROMETHEUS_YML], { encoding: 'utf8' });
  assert.equal(config.status, 0, config.stdout + config.stderr);
  const rules = alertRules();
  const check = spawnSync('promtool', ['check', 'rules', ALERTS_YML], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`), 'the expr extractor found every rule');

  assert.deepEqual(rules.map((r) => r.alert).sort(), Object.keys(CASES).sort(), 'every alert has a case here');
  const labelled = (series: string) => (series.includes('{') ? series.replace('{', '{job="vicinity",instance="vicinity:7373",') : `${series}{job="vicinity",instance="vicinity:7373"}`);
  const tests = rules.flatMap(({ alert, expr }) =>
    (['fires', 'quiet'] as const).map((outcome) => ({
      name: `${alert} ${outcome}`,
      interval: '1m',
      input_series: Object.entries(CASES[alert][outcome]).map(([series, values]) => ({ series: labelled(series), values })),
      promql_expr_test: [{ expr: `count(${expr})`, eval_time: '40m', exp_samples: outcome === 'fires' ? [{ labels: '{}', value: 1 }] : [] }],
    })),
  );
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-rules-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // JSON is YAML.
  writeFileSync(join(dir, 'tests.yml'), JSON.stringify({ rule_files: [ALERTS_YML], tests }));
  const run = spawnSync('promtool', ['test', 'rules', join(dir, 'tests.yml')], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls `check` until it returns a value other than undefined. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    assert.ok(Date.now() < end, `${what}: not within ${timeoutMs} ms`);
    await sleep(200);
  }
}

test('a live server exposes every metric the alerts and dashboard use, passes promtool, and a real Prometheus scrapes it and runs the rules', async (t) => {
  const server = await startServer(t, { replicas: 2, snapshotIntervalMs: 1000, recallSampleRate: 1 });
  const points = Array.from({ length: 300 }, (_, i) => ({ id: `p${i}`, vector: [i % 7, i % 11, i % 13, 1], payload: { group: i % 10, doc: `d${i % 30}` } }));
  assert.equal((await call(server, 'PUT', '/v1/collections/docs', { dimension: 4, metric: 'cosine' })).status, 201);
  assert.equal((await call(server, 'PUT', '/v1/collections/docs/points', { points })).status, 200);
  assert.equal((await call(server, 'POST', '/v1/collections/docs/points/delete', { ids: points.slice(0, 20).map((p) => p.id) })).status, 200);
  assert.equal((await call(server, 'PUT', '/v1/collections/docs/links', { links: [{ from: 'p30', to: 'p31', type: 'next' }, { from: 'p31', to: 'p32' }] })).status, 200);
  for (let i = 0; i < 30; i++) {
    const vector = [i % 5, 1, i % 3, 2];
    for (const body of [{ vector, k: 5 }, { vector, k: 5, where: { group: i % 10 } }, { vector, k: 5, select: { mode: 'mmr', lambda: 0.5 } }]) {
      assert.equal((await call(server, 'POST', '/v1/collections/docs/search', body)).status, 200, JSON.stringify(body));
    }
  }
  assert.equal((await call(server, 'PUT', '/v1/collections/small', { dimension: 2, metric: 'l2' })).status, 201);
  const imported = await call(server, 'POST', '/v1/collections/small/import?format=ndjson', '{"id":"a","vector":[0,1]}\n{"id":"b","vector":[1,0]}\n', { 'content-type': 'application/x-ndjson' });
  assert.equal((await finished(server, imported.body.job_id as string)).state, 'done');
  const optimized = await call(server, 'POST', '/v1/collections/small/optimize', {});
  assert.equal(optimized.status, 202, JSON.stringify(optimized.body));
  assert.equal((await finished(server, optimized.body.id as string)).state, 'done');
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();

  await t.test('every metric name in alerts.yml and the dashboard is in /metrics', () => {
    const exposed = exposedNames(text);
    const missing = new Map<string, string[]>();
    for (const { where, expr } of expressions()) {
      for (const name of metricNames(expr)) if (name !== 'up' && !exposed.has(name)) missing.set(name, [...(missing.get(name) ?? []), where]);
    }
    assert.deepEqual([...missing.keys()].sort(), [], [...missing].map(([name, uses]) => `${name} (${uses.join('; ')})`).join('\n'));
  });

  await t.test('promtool check metrics: no errors, no lint problems beyond those of prom-client\'s default Node metrics', (st) => {
    if (!PROMTOOL) return st.skip(`promtool ${MISSING}`);
    const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    // Exit 3: lint problems only, one per line as `<metric> <problem>`.
    assert.ok(run.status === 0 || run.status === 3, `exit ${run.status}: ${run.stdout}${run.stderr}`);
    const problems = (run.stdout + run.stderr).split('\n').filter((l) => l.trim() && !/^vicinity_(nodejs|process)_/.test(l));
    assert.deepEqual(problems, []);
  });

  await t.test('Prometheus scrapes the server with deploy/prometheus and evaluates every rule', async (st) => {
    if (!PROMETHEUS) return st.skip(`prometheus ${MISSING}`);
    const dir = mkdtempSync(join(tmpdir(), 'vicinity-prometheus-'));
    // deploy/prometheus/prometheus.yml with its intervals at 1 s and the test server as its target.
    let config = readFileSync(PROMETHEUS_YML, 'utf8');
    for (const [from, to] of [['scrape_interval: 15s', 'scrape_interval: 1s'], ['evaluation_interval: 15s', 'evaluation_interval: 1s'], ["'vicinity:7373'", `'${new URL(server.url).host}'`]]) {
      assert.ok(config.includes(from), `prometheus.yml has ${from}`);
      config = config.replace(from, to);
    }
    writeFileSync(join(dir, 'prometheus.yml'), config);
    copyFileSync(ALERTS_YML, join(dir, 'alerts.yml'));
    const api = `http://127.0.0.1:${await freePort()}`;
    const prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${new URL(api).host}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    prometheus.stderr.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
    st.after(async () => {
      if (prometheus.exitCode === null && prometheus.signalCode === null) {
        const exited = once(prometheus, 'exit');
        prometheus.kill();
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    });
    const get = async <T>(path: string): Promise<T | undefined> => {
      const answer = await fetch(api + path).catch(() => null);
      const body = answer?.ok ? ((await answer.json()) as T) : undefined;
      assert.ok(prometheus.exitCode === null, `prometheus exited:\n${log}`);
      return body;
    };
    const query = async (expr: string) => {
      const body = await get<{ status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      assert.equal(body?.status, 'success', `${expr}: ${JSON.stringify(body)}`);
      return body.data.result;
    };
    await eventually('Prometheus ready', async () => ((await fetch(`${api}/-/ready`).catch(() => null))?.ok ? true : undefined));

    const [info] = await eventually('vicinity_build_info scraped', async () => {
      const result = await query('vicinity_build_info');
      return result.length ? result : undefined;
    });
    const scraped = Date.now();
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const { hnsw_build: build, ...labels } = info.metric;
    assert.deepEqual(labels, { __name__: 'vicinity_build_info', job: 'vicinity', instance: new URL(server.url).host, version: pkg.version, node_version: process.version });
    assert.match(text, new RegExp(`^vicinity_build_info\\{.*hnsw_build="${build}"`, 'm'));
    assert.equal((await query('up{job="vicinity"}'))[0]?.value[1], '1');
    const stored = await query('vicinity_collection_points{collection="docs"}');
    assert.deepEqual(Object.fromEntries(stored.map((s) => [s.metric.state, s.value[1]])), { live: '280', deleted: '20' });

    // Every rule loaded, and evaluated without error twice since the first scrape.
    const rules = alertRules();
    const loaded = await eventually('every rule evaluated', async () => {
      type Groups = { data: { groups: { lastEvaluation: string; rules: { name: string; health: string; lastError?: string }[] }[] } };
      const groups = (await get<Groups>('/api/v1/rules'))?.data.groups;
      const settled = groups?.length && groups.every((g) => Date.parse(g.lastEvaluation) > scraped + 2000) && groups.flatMap((g) => g.rules).every((r) => r.health !== 'unknown');
      return settled ? groups.flatMap((g) => g.rules) : undefined;
    });
    assert.deepEqual(loaded.map((r) => r.name).sort(), rules.map((r) => r.alert).sort());
    for (const r of loaded) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError}`);
    // The dashboard's queries run as well.
    for (const { expr } of expressions()) await query(expr);

    // A failed job fires VicinityJobFailed.
    const bad = await call(server, 'POST', '/v1/collections/small/import?format=ndjson', '{"id": 2, "vector": [1,\n', { 'content-type': 'application/x-ndjson' });
    assert.equal(bad.status, 400);
    await eventually('VicinityJobFailed firing', async () => {
      const alerts = (await get<{ data: { alerts: { labels: Record<string, string>; state: string }[] } }>('/api/v1/alerts'))?.data.alerts;
      return alerts?.find((a) => a.labels.alertname === 'VicinityJobFailed' && a.labels.kind === 'import' && a.state === 'firing');
    }, 10_000);
  });
});
