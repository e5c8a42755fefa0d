import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, finished, startServer } from '../helpers/server.ts';

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

/** The value of one series, or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('/metrics counts requests by route pattern and status, and points per collection as stored', async (t) => {
  const server = await startServer(t, { metricsMaxCollections: 2, snapshotEveryChanges: 5 });
  for (const name of ['a', 'b', 'c']) assert.equal((await call(server, 'PUT', `/v1/collections/${name}`, { dimension: 2, metric: 'l2' })).status, 201);
  const points = (n: number) => ({ points: Array.from({ length: n }, (_, i) => ({ id: `p${i}`, vector: [i, 1] })) });
  await call(server, 'PUT', '/v1/collections/a/points', points(10));
  await call(server, 'PUT', '/v1/collections/b/points', points(4));
  await call(server, 'PUT', '/v1/collections/c/points', points(3));
  await call(server, 'POST', '/v1/collections/a/points/delete', { ids: ['p0', 'p1', 'p2'] });
  await call(server, 'GET', '/v1/collections/a/points/p9');
  await call(server, 'GET', '/v1/collections/a/points/nope-zz');
  await call(server, 'GET', '/no/such/route');
  await call(server, 'PUT', '/v1/collections/a/links', { links: [{ from: 'p3', to: 'p4', type: 'next' }, { from: 'p4', to: 'p5', type: 'next' }, { from: 'p3', to: 'p9' }] });

  // Snapshots follow every 5 changes: wait for a's.
  let text = await scrape(server.url);
  for (const deadline = Date.now() + 20_000; !(value(text, 'vicinity_snapshot_bytes{collection="a"}')! > 0); text = await scrape(server.url)) {
    assert.ok(Date.now() < deadline, 'a snapshot of a was written');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(value(text, 'vicinity_snapshot_age_seconds{collection="a"}')! < 20);
  assert.ok(value(text, 'vicinity_snapshot_duration_seconds{collection="a"}')! > 0);
  assert.equal(value(text, 'vicinity_collection_links{collection="a",type="next"}'), 2);
  assert.equal(value(text, 'vicinity_collection_links{collection="a",type="related"}'), 1);
  assert.ok(value(text, 'vicinity_sqlite_bytes{file="db"}')! > 0);
  // Three creates, three upserts, a delete and a link put at least (job and snapshot bookkeeping add more).
  assert.ok(value(text, 'vicinity_write_transaction_duration_seconds_count{writer="server"}')! >= 8);
  assert.ok(value(text, 'vicinity_write_transaction_duration_seconds_sum{writer="server"}')! > 0);
  assert.ok(value(text, 'vicinity_sqlite_bytes{file="wal"}')! >= 0);
  assert.equal(value(text, 'vicinity_collection_points{collection="a",state="live"}'), 7);
  assert.equal(value(text, 'vicinity_collection_points{collection="a",state="deleted"}'), 3);
  assert.equal(value(text, 'vicinity_collection_points{collection="b",state="live"}'), 4);
  assert.equal(value(text, 'vicinity_collection_points{collection="_other",state="live"}'), 3, 'past VICINITY_METRICS_MAX_COLLECTIONS: summed');
  assert.ok(!text.includes('collection="c"'));
  assert.equal(value(text, 'vicinity_collections'), 3);
  assert.equal(value(text, 'vicinity_http_requests_total{method="PUT",route="/v1/collections/:name/points",status="200"}'), 3);
  assert.equal(value(text, 'vicinity_http_requests_total{method="GET",route="/v1/collections/:name/points/:id",status="200"}'), 1);
  assert.equal(value(text, 'vicinity_http_requests_total{method="GET",route="/v1/collections/:name/points/:id",status="404"}'), 1);
  assert.equal(value(text, 'vicinity_http_requests_total{method="GET",route="unmatched",status="404"}'), 1);
  assert.equal(value(text, 'vicinity_http_request_duration_seconds_count{method="PUT",route="/v1/collections/:name/points"}'), 3);
  assert.ok(!text.includes('/no/such/route') && !text.includes('nope-zz') && !text.includes('/a/points'), 'no raw URL in a label');
});

test('/metrics: searches by plan, refused searches by reason, points written, replica queues, index backlog and jobs', async (t) => {
  const server = await startServer(t, { replicas: 1, replicaQueue: 1 });
  assert.equal((await call(server, 'PUT', '/v1/collections/s', { dimension: 2, metric: 'l2' })).status, 201);
  const points = Array.from({ length: 200 }, (_, i) => ({ id: `p${i}`, vector: [i % 17, i % 13], payload: { g: i % 100 } }));
  await call(server, 'PUT', '/v1/collections/s/points', { points });
  await call(server, 'POST', '/v1/collections/s/points/delete', { ids: ['p0', 'p1', 'nope'] });
  await call(server, 'POST', '/v1/collections/s/search', { vector: [1, 1], k: 3 });
  await call(server, 'POST', '/v1/collections/s/search', { vector: [1, 1], k: 3, where: { g: 5 } });
  await call(server, 'POST', '/v1/collections/s/search', { vector: [1, 1], k: 3, where: { g: 1000 } });
  await call(server, 'POST', '/v1/collections/s/search', { vector: [1, 1], k: 3, select: { mode: 'mmr' } });
  // One replica with a queue of one: a burst of searches gets some 503s.
  const burst = await Promise.all(Array.from({ length: 100 }, () => call(server, 'POST', '/v1/collections/s/search', { vector: [2, 2], k: 50, ef: 500 })));
  const refused = burst.filter((a) => a.status === 503).length;
  const job = await call(server, 'POST', '/v1/collections/s/import?format=ndjson', '{"id":"q1","vector":[0,0]}', { 'content-type': 'application/x-ndjson' });
  await finished(server, job.body.job_id as string);

  const text = await scrape(server.url);
  assert.equal(value(text, 'vicinity_points_written_total{op="upserted"}'), 200);
  assert.equal(value(text, 'vicinity_points_written_total{op="deleted"}'), 2);
  for (const plan of ['graph', 'exact', 'none', 'diverse']) {
    assert.ok((value(text, `vicinity_search_duration_seconds_count{collection="s",plan="${plan}"}`) ?? 0) >= 1, plan);
  }
  // However many the burst had refused (on a busy machine, some; on an idle one, maybe none), all are counted.
  assert.equal(value(text, 'vicinity_searches_refused_total{reason="overloaded"}') ?? 0, refused);
  assert.equal(value(text, 'vicinity_replica_queue{replica="0",kind="reads"}'), 0);
  assert.equal(value(text, 'vicinity_index_backlog_points'), 0);
  assert.equal(value(text, 'vicinity_jobs{kind="import",state="done"}'), 1);
  assert.equal(value(text, 'vicinity_jobs_finished_total{kind="import",state="done"}'), 1);
  assert.equal(value(text, 'vicinity_jobs_finished_total{kind="optimize",state="failed"}'), 0);
  assert.equal(value(text, 'vicinity_ready'), 1);
  assert.equal(value(text, 'vicinity_replicas'), 1);
  assert.ok(value(text, 'vicinity_index_bytes{collection="s"}')! > 200 * 2 * 4, 'the index holds at least the vectors');
  assert.ok(value(text, 'vicinity_shared_vector_bytes{collection="s"}')! >= 200 * 2 * 4);
  assert.equal(value(text, 'vicinity_saturated_values{collection="s"}'), 0);
  assert.ok(value(text, 'vicinity_data_disk_bytes{state="total"}')! >= value(text, 'vicinity_data_disk_bytes{state="free"}')!);
  assert.equal(value(text, 'vicinity_snapshot_interval_seconds'), server.config.snapshotIntervalMs / 1000);
  const busy = value(text, 'vicinity_replica_busy_seconds_total{replica="0"}')!;
  assert.ok(busy > 0);
  assert.equal(value(text, 'vicinity_replica_restarts_total'), 0);

  // The build process's transactions are counted apart; a restarted replica's counters carry on.
  const optimize = await call(server, 'POST', '/v1/collections/s/optimize', {});
  await finished(server, optimize.body.id as string);
  await server.app.engine.forTest.killReplica(0);
  assert.equal((await call(server, 'POST', '/v1/collections/s/search', { vector: [1, 1], k: 3 })).status, 200);
  const after = await scrape(server.url);
  assert.equal(value(after, 'vicinity_jobs_finished_total{kind="optimize",state="done"}'), 1);
  assert.ok(value(after, 'vicinity_write_transaction_duration_seconds_count{writer="build"}')! >= 1);
  assert.equal(value(after, 'vicinity_replica_restarts_total'), 1);
  assert.ok(value(after, 'vicinity_replica_busy_seconds_total{replica="0"}')! > busy, 'busy seconds carry on past the restart');
});

test('VICINITY_METRICS=false: no /metrics, and the server works as before', async (t) => {
  const server = await startServer(t, { metrics: false });
  assert.equal((await call(server, 'PUT', '/v1/collections/q', { dimension: 2, metric: 'l2' })).status, 201);
  assert.equal((await call(server, 'PUT', '/v1/collections/q/points', { points: [{ id: 'a', vector: [1, 0] }] })).status, 200);
  assert.equal((await call(server, 'POST', '/v1/collections/q/search', { vector: [1, 0], k: 1 })).body.results[0].id, 'a');
  assert.equal((await fetch(`${server.url}/metrics`)).status, 404);
});

test('each scrape reads the collections afresh, even right after the last one', async (t) => {
  const server = await startServer(t);
  await call(server, 'PUT', '/v1/collections/f', { dimension: 2, metric: 'l2' });
  for (let i = 1; i <= 3; i++) {
    await call(server, 'PUT', '/v1/collections/f/points', { points: [{ id: `p${i}`, vector: [i, 0] }] });
    assert.equal(value(await scrape(server.url), 'vicinity_collection_points{collection="f",state="live"}'), i);
  }
});
