import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { Packr } from 'msgpackr';
import { ROUTE_ACCESS } from '../../server/auth/policy.ts';
import { errorCatalogue } from '../../server/errors.ts';
import { compareAll, createModelCollection, opSequence, ReferenceModel, runOp } from './fuzz-model.ts';

/** One generated request: a route of the table with odd parameters, bodies, types and queries. */
export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
}

const packr = new Packr({ moreTypes: true, useRecords: false });
const ROUTES = Object.keys(ROUTE_ACCESS).map((r) => r.split(' ') as [string, string]);

const oddString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', '..', '__proto__', 'constructor', '\u0000', '\ud800', 'a'.repeat(300), '%', '%2e%2e', 'c', 'p1'),
);
const oddNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(-0, 2 ** 53, -1, 1e308, 0));
/** Values that stress every validator: wrong types, extremes, deep nesting, prototype keys. */
const oddValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    oddString,
    oddNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(oddString, fc.constantFrom('vector', 'k', 'points', 'id', 'where', 'select', 'expand', 'links', 'ids')), tie('value'), { maxKeys: 4 }),
  ),
})).value;
/** Bodies shaped like the API's, with odd parts. */
const body = fc.oneof(
  oddValue,
  fc.record({ vector: fc.oneof(fc.array(oddNumber, { maxLength: 5 }), oddValue), k: fc.oneof(oddNumber, oddValue) }, { requiredKeys: [] }),
  fc.record({ points: fc.array(fc.record({ id: fc.oneof(oddString, oddNumber), vector: fc.array(oddNumber, { maxLength: 4 }), payload: oddValue }, { requiredKeys: [] }), { maxLength: 3 }) }, { requiredKeys: [] }),
  fc.record({ links: fc.array(fc.record({ from: oddString, to: oddString, type: oddString, weight: oddNumber }, { requiredKeys: [] }), { maxLength: 3 }), ids: fc.array(oddString) }, { requiredKeys: [] }),
  fc.record({ dimension: oddNumber, metric: fc.oneof(oddString, fc.constantFrom('l2', 'cosine', 'ip')), graph: oddValue, search_defaults: oddValue }, { requiredKeys: [] }),
  fc.record({ where: oddValue, limit: oddNumber, cursor: oddValue }, { requiredKeys: [] }),
);

export const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc
  .record({
    route: fc.constantFrom(...ROUTES),
    name: fc.oneof(fc.constantFrom('c', 'missing', 'c-2'), oddString),
    id: fc.oneof(fc.constantFrom('p1', 'p2'), oddString),
    body,
    encoding: fc.constantFrom('json', 'msgpack', 'raw', 'truncated', 'none', 'duplicate-keys'),
    accept: fc.constantFrom(undefined, 'application/msgpack', '*/*', 'text/html', '\u00ff;;q=x'),
    contentType: fc.constantFrom('application/json', 'application/msgpack', 'text/plain', 'application/x-ndjson', ''),
    query: fc.oneof(fc.constant(''), fc.constantFrom('?format=ndjson', '?format=npy', '?k=3', '?direction=sideways', '?limit=-1', '?cursor=%FF', '?x=1&x=2')),
  })
  .map(({ route: [method, url], name, id, body: value, encoding, accept, contentType, query }) => {
    const path = url.replace(':name', encodeSegment(name)).replace(':id', encodeSegment(id)) + query;
    const headers: Record<string, string> = contentType ? { 'content-type': contentType } : {};
    if (accept !== undefined) headers.accept = accept;
    if (method === 'GET' || method === 'DELETE' || encoding === 'none') return { method, url: path, headers };
    let payload: string | Buffer;
    if (encoding === 'msgpack') payload = packr.pack(value);
    else if (encoding === 'raw') payload = Buffer.from([0xc1, 0xff, 0x00, 0x7b]);
    else if (encoding === 'duplicate-keys') payload = `{"k":1,"vector":[0,1],"k":${JSON.stringify(value) ?? 'null'},"points":[],"points":null}`;
    else payload = JSON.stringify(value) ?? 'null';
    if (encoding === 'truncated') payload = payload.slice(0, Math.max(0, payload.length - 3));
    return { method, url: path, headers, payload };
  });

/** Percent-encodes a path segment; a lone surrogate becomes invalid UTF-8 (%ED%A0%80), a fine thing to send. */
function encodeSegment(segment: string): string {
  try {
    return encodeURIComponent(segment);
  } catch {
    return segment.replace(/[\ud800-\udfff]/g, '\u0000').split('\u0000').map((part) => encodeURIComponent(part)).join('%ED%A0%80');
  }
}

const CODES = new Map(errorCatalogue().map((e) => [e.code, e.status]));

/**
 * Sends one request and checks the invariants: never a 5xx (503 aside: loading, overload), every
 * 4xx carries a code of the catalogue with its status, and the answer is JSON. The status, and the
 * broken invariant or null.
 */
export async function checkOne(app: FastifyInstance, request: FuzzRequest): Promise<{ status: number; problem: string | null }> {
  const res = await app.inject({ method: request.method as 'GET', url: request.url, headers: request.headers, payload: request.payload });
  const where = `${request.method} ${request.url} (${request.headers['content-type'] ?? 'no type'}) → ${res.statusCode}`;
  const answer = (problem: string | null) => ({ status: res.statusCode, problem });
  if (res.statusCode >= 500 && res.statusCode !== 503) return answer(`${where}: ${res.body.slice(0, 300)}`);
  if (res.statusCode >= 400) {
    // Asked for MessagePack (Accept), errors come as MessagePack too.
    const msgpack = String(res.headers['content-type'] ?? '').startsWith('application/msgpack');
    let code: unknown;
    try {
      code = ((msgpack ? packr.unpack(res.rawPayload) : JSON.parse(res.body)) as { code?: unknown }).code;
    } catch {
      return answer(`${where}: the body is not ${msgpack ? 'MessagePack' : 'JSON'}: ${res.body.slice(0, 200)}`);
    }
    if (typeof code !== 'string' || !CODES.has(code)) return answer(`${where}: code ${String(code)} is not in the catalogue`);
    if (CODES.get(code) !== res.statusCode) return answer(`${where}: ${code} is documented as ${CODES.get(code)}`);
  }
  return answer(null);
}

export interface FuzzRun {
  requests: number;
  statuses: Map<number, number>;
  sequences: number;
  operations: number;
  violations: string[];
}

/**
 * `requests` fuzzed requests (seeded), and after every `every` of them a sequence of valid
 * operations checked against the reference model (fuzz-model.ts), on a server with a collection `c`
 * of two points for the fuzz to hit and the model's own collection.
 */
export async function runFuzz(app: FastifyInstance, o: { requests: number; seed: number; every: number }): Promise<FuzzRun> {
  await app.inject({ method: 'PUT', url: '/v1/collections/c', payload: { dimension: 2, metric: 'l2' } });
  await app.inject({ method: 'PUT', url: '/v1/collections/c/points', payload: { points: [{ id: 'p1', vector: [0, 1], payload: { a: 1 } }, { id: 'p2', vector: [1, 0] }] } });
  await createModelCollection(app);
  const model = new ReferenceModel();
  const run: FuzzRun = { requests: 0, statuses: new Map(), sequences: 0, operations: 0, violations: [] };
  const violation = (v: string) => run.violations.length < 50 && run.violations.push(v);
  const requests = fc.sample(fuzzRequest, { numRuns: o.requests, seed: o.seed });
  const sequences = fc.sample(opSequence, { numRuns: Math.ceil(o.requests / o.every), seed: o.seed + 1 });
  for (const [i, request] of requests.entries()) {
    const { status, problem } = await checkOne(app, request);
    run.requests++;
    run.statuses.set(status, (run.statuses.get(status) ?? 0) + 1);
    if (problem) violation(problem);
    if ((i + 1) % o.every !== 0) continue;
    const ops = sequences[run.sequences++];
    for (const op of ops) {
      run.operations++;
      const wrong = await runOp(app, model, op);
      if (wrong) violation(`model, sequence ${run.sequences}: ${wrong}`);
    }
    const wrong = await compareAll(app, model);
    if (wrong) violation(`model, after sequence ${run.sequences} (${JSON.stringify(ops).slice(0, 300)}): ${wrong}`);
  }
  return run;
}
