import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, startServer } from '../helpers/server.ts';

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
  const server = await startServer(t, { metricsMaxCollections: 2 });
  for (const name of ['a', 'b', 'c']) assert.equal((await call(server, 'PUT', `/v1/collections/${name}`, { dimension: 2, metric: 'l2' })).status, 201);
  const points = (n: number) => ({ points: Array.from({ length: n }, (_, i) => ({ id: `p${i}`, vector: [i, 1] })) });
  await call(server, 'PUT', '/v1/collections/a/points', points(10));
  await call(server, 'PUT', '/v1/collections/b/points', points(4));
  await call(server, 'PUT', '/v1/collections/c/points', points(3));
  await call(server, 'POST', '/v1/collections/a/points/delete', { ids: ['p0', 'p1', 'p2'] });
  await call(server, 'GET', '/v1/collections/a/points/p9');
  await call(server, 'GET', '/v1/collections/a/points/nope-zz');
  await call(server, 'GET', '/no/such/route');

  const text = await scrape(server.url);
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
