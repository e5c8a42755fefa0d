import http from 'node:http';
import { row, type Dataset } from './datasets.ts';
import { clockTicks, machineBusySeconds, otherCpu, procCpuSeconds, Samples } from './stats.ts';

export interface SmallUpserts {
  /** Requests sent, each upserting `pointsPerRequest` existing ids with another row's vector. */
  requests: number;
  points: number;
  pointsPerRequest: number;
  concurrency: number;
  /** From the first request until the last acknowledgement. */
  seconds: number;
  pointsPerS: number;
  /** From the last acknowledgement until a search returned the last point's new vector. */
  visibleAfterMs: number;
  /** Latency of the first search sent after the last acknowledgement: it runs behind the replicas' backlog. */
  firstSearchMs: number;
  /** Points per second counted until the last one was searchable: what the replicas kept up with. */
  searchablePointsPerS: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  /** The first error answer, for the report. */
  firstError: string | null;
  loadgenCpuS: number;
  serverCpuS: number | null;
  otherCpuS: number | null;
}

/**
 * `points` upserts in requests of `pointsPerRequest`, `concurrency` requests at a time, over
 * node:http keep-alive. Point j replaces the id (j × 7,919) mod n (distinct while j < n, 7,919 being
 * prime) with the vector of the row `shift` after it, so every point is a real change the replicas
 * must index (call again with another shift), and keeps its payload.
 * Acknowledgements do not wait for the replicas (until they lag VICINITY_MAX_INDEX_BACKLOG points), so
 * the rate is also given until a search finds the last point. Run it last: the index no longer matches
 * the ground truth afterwards.
 */
export async function replacingUpserts(
  target: { port: number; serverPid: number; pointsPath: string; searchPath: string },
  dataset: Dataset,
  payload: (row: number) => Record<string, unknown>,
  options: { points: number; pointsPerRequest: number; concurrency: number; shift: number },
): Promise<SmallUpserts> {
  const { port, serverPid } = target;
  const { points, pointsPerRequest, concurrency, shift } = options;
  const n = dataset.train.n;
  const newRow = (id: number) => (id + shift) % n;
  const bodies: Buffer[] = [];
  for (let at = 0; at < points; at += pointsPerRequest) {
    const items: string[] = [];
    for (let j = at; j < Math.min(points, at + pointsPerRequest); j++) {
      const id = (j * 7919) % n;
      items.push(`{"id":${id},"vector":${JSON.stringify(Array.from(row(dataset.train, newRow(id))))},"payload":${JSON.stringify(payload(id))}}`);
    }
    bodies.push(Buffer.from(`{"points":[${items.join(',')}]}`));
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const samples = new Samples();
  let errors = 0;
  let firstError: string | null = null;
  const send = (method: string, path: string, body: Buffer): Promise<{ status: number; text: string }> =>
    new Promise((resolve) => {
      const headers = { 'content-type': 'application/json', 'content-length': body.length };
      const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', (err) => resolve({ status: 0, text: err.message }));
      req.end(body);
    });
  const put = async (body: Buffer): Promise<void> => {
    const { status, text } = await send('PUT', target.pointsPath, body);
    if (status !== 200) {
      errors++;
      firstError ??= `${status}: ${text.slice(0, 300)}`;
    }
  };
  let next = 0;
  const serverBefore = procCpuSeconds(serverPid, clockTicks());
  const busyBefore = machineBusySeconds();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++];
        const t0 = performance.now();
        await put(body);
        samples.push(performance.now() - t0);
      }
    }),
  );
  const acked = performance.now();
  const seconds = (acked - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const lastId = ((points - 1) * 7919) % n;
  // The request a user sends: payloads returned.
  const probe = Buffer.from(`{"vector":${JSON.stringify(Array.from(row(dataset.train, newRow(lastId))))},"k":10}`);
  let firstSearchMs = NaN;
  for (;;) {
    const t0 = performance.now();
    const { status, text } = await send('POST', target.searchPath, probe);
    if (Number.isNaN(firstSearchMs)) firstSearchMs = performance.now() - t0;
    if (status !== 200) throw new Error(`search after the small upserts answered ${status}: ${text.slice(0, 300)}`);
    if ((JSON.parse(text) as { results: { id: string }[] }).results.some((r) => r.id === String(lastId))) break;
    if (performance.now() - acked > 60_000) throw new Error(`point ${lastId} not searchable 60 s after its upsert was acknowledged`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const seen = performance.now();
  const serverAfter = procCpuSeconds(serverPid, clockTicks());
  const busyAfter = machineBusySeconds();
  agent.destroy();
  const loadgenCpuS = (cpu.user + cpu.system) / 1e6;
  const serverCpuS = serverBefore === null || serverAfter === null ? null : serverAfter - serverBefore;
  const [p50Ms, p99Ms, maxMs] = samples.percentiles(50, 99, 100);
  return {
    requests: bodies.length,
    points,
    pointsPerRequest,
    concurrency,
    seconds,
    pointsPerS: points / seconds,
    visibleAfterMs: seen - acked,
    firstSearchMs,
    searchablePointsPerS: points / ((seen - started) / 1000),
    p50Ms,
    p99Ms,
    maxMs,
    errors,
    firstError,
    loadgenCpuS,
    serverCpuS,
    otherCpuS: otherCpu(busyBefore, busyAfter, [loadgenCpuS, serverCpuS]),
  };
}
