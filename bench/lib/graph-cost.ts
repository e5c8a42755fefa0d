import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { prng, row, type VectorSet } from './datasets.ts';
import { uploadFile, waitForJob } from './import-client.ts';
import { writeSetNpy } from './import-files.ts';
import type { HttpClient, ServerProcess } from './server.ts';

/** Write and import rates of a collection with the k-NN overlay on (knn_k 16) and off (0). */
export interface OverlayCost {
  points: number;
  upsertRate: { off: number[]; on: number[] };
  importRate: { off: number; on: number };
  /** Once the overlay caught up: seconds it took after the upload, and its SQLite bytes per point. */
  catchUpS: number;
  bytesPerPoint: number;
  /**
   * Share of a sample's exact 16 nearest (cosine, brute force) in its overlay entry, once caught up:
   * after the upload above (the filler ran behind it), and for the first half of a collection whose
   * second half was written only after the overlay had caught up with the first (writes that trickle in).
   */
  recall: { sample: number; bulk: number; firstHalf: number };
}

async function createCollection(client: HttpClient, name: string, dim: number, knnK: number): Promise<void> {
  await client.json('PUT', `/v1/collections/${name}`, { dimension: dim, metric: 'cosine', graph: { knn_k: knnK } }, [201]);
}

/** Upserts ids from…to − 1 in batches of 500: points per second. */
async function upsertRate(client: HttpClient, name: string, set: VectorSet, first: number, end: number): Promise<number> {
  const started = performance.now();
  for (let from = first; from < end; from += 500) {
    const points: string[] = [];
    for (let i = from; i < Math.min(end, from + 500); i++) points.push(`{"id":${i},"vector":${JSON.stringify(Array.from(row(set, i)))}}`);
    const answer = await client.request('PUT', `/v1/collections/${name}/points`, `{"points":[${points.join(',')}]}`);
    if (answer.status !== 200) throw new Error(`upsert answered ${answer.status}: ${answer.body.slice(0, 300)}`);
  }
  return (end - first) / ((performance.now() - started) / 1000);
}

export async function waitForOverlay(client: HttpClient, name: string, live: number, timeoutS = 900): Promise<number> {
  const started = performance.now();
  for (;;) {
    const info = await client.json<{ stats: { overlay: { behind: number; covered: number } } }>('GET', `/v1/collections/${name}`, undefined);
    if (info.stats.overlay.behind === 0 && info.stats.overlay.covered >= live) return (performance.now() - started) / 1000;
    if (performance.now() - started > timeoutS * 1000) throw new Error(`overlay of ${name} not caught up after ${timeoutS} s: ${JSON.stringify(info.stats.overlay)}`);
    await sleep(250);
  }
}

/**
 * Upserts of `n` points into collections with the overlay off, on, and off again (the filler of
 * the `on` collection runs meanwhile), then an `.npy` import into each; then how long the overlay
 * takes to catch up and what it stores per point.
 */
export async function overlayCost(server: ServerProcess, client: HttpClient, set: VectorSet, n: number, workDir: string): Promise<OverlayCost> {
  const dim = set.dim;
  const off: number[] = [];
  const on: number[] = [];
  await createCollection(client, 'w-off', dim, 0);
  off.push(await upsertRate(client, 'w-off', set, 0, n));
  await createCollection(client, 'w-on', dim, 16);
  on.push(await upsertRate(client, 'w-on', set, 0, n));
  const uploadedAt = performance.now();
  await createCollection(client, 'w-off2', dim, 0);
  off.push(await upsertRate(client, 'w-off2', set, 0, n));
  await waitForOverlay(client, 'w-on', n);
  const catchUpS = (performance.now() - uploadedAt) / 1000;
  const sample = Math.min(n, 200);
  const bulk = await overlayRecall(client, 'w-on', set, n, 0, n, sample);
  await createCollection(client, 'w-halves', dim, 16);
  const half = Math.floor(n / 2);
  await upsertRate(client, 'w-halves', set, 0, half);
  await waitForOverlay(client, 'w-halves', half);
  await upsertRate(client, 'w-halves', set, half, n);
  await waitForOverlay(client, 'w-halves', n);
  const recall = { sample, bulk, firstHalf: await overlayRecall(client, 'w-halves', set, n, 0, half, sample) };

  const file = writeSetNpy(join(workDir, `graph-cost-${n}.npy`), { n, dim, data: set.data.subarray(0, n * dim) });
  const importRate: { off: number; on: number } = { off: 0, on: 0 };
  for (const [label, knnK] of [['off', 0], ['on', 16]] as const) {
    await createCollection(client, `i-${label}`, dim, knnK);
    const started = performance.now();
    const accepted = await uploadFile(server.port, `i-${label}`, file, { idOffset: 0, buildOrder: 'given', seed: 1 });
    const { job } = await waitForJob(client, accepted.jobId, started, 100, 900);
    if (job.state !== 'done') throw new Error(`import into i-${label} ended ${job.state}`);
    importRate[label] = n / ((performance.now() - started) / 1000);
  }
  rmSync(file.path, { force: true });

  const db = new Database(join(server.dataDir, 'vicinity.db'), { readonly: true });
  try {
    const pages = db.prepare<[], { bytes: number | null }>("SELECT sum(pgsize) AS bytes FROM dbstat WHERE name IN ('knn', 'sqlite_autoindex_knn_1')").get();
    const rows = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM knn').get()!;
    return { points: n, upsertRate: { off, on }, importRate, catchUpS, bytesPerPoint: rows.n === 0 ? 0 : (pages?.bytes ?? 0) / rows.n, recall };
  } finally {
    db.close();
  }
}

/**
 * Recall@16 of the overlay entries of an even sample of ids from…to − 1 of a collection holding ids
 * 0…n − 1, against their exact cosine nearest neighbours by brute force.
 */
async function overlayRecall(client: HttpClient, name: string, set: VectorSet, n: number, from: number, to: number, sample: number): Promise<number> {
  const k = 16;
  const dim = set.dim;
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) norms[i] = Math.hypot(...row(set, i)) || 1;
  let hits = 0;
  for (let s = 0; s < sample; s++) {
    const i = from + Math.floor((s * (to - from)) / sample);
    const q = row(set, i);
    const sims: { j: number; sim: number }[] = [];
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let dot = 0;
      for (let d = 0, o = j * dim; d < dim; d++) dot += q[d] * set.data[o + d];
      sims.push({ j, sim: dot / (norms[i] * norms[j]) });
    }
    sims.sort((a, b) => b.sim - a.sim);
    const truth = new Set(sims.slice(0, k).map((x) => String(x.j)));
    const got = await client.json<{ neighbours: { id: string }[] }>('GET', `/v1/collections/${name}/points/${i}/neighbours?k=${k}`, undefined);
    hits += got.neighbours.filter((x) => truth.has(x.id)).length;
  }
  return hits / (sample * k);
}

/** How often following `next` links brings a document's other chunks into the top k, against plain search. */
export interface LinkRecall {
  docs: number;
  chunks: number;
  queries: number;
  plain: { otherChunks: number; p50Ms: number };
  expanded: { otherChunks: number; p50Ms: number; hops: number; decay: number };
}

/**
 * Synthetic documents: each chunk mixes its document's topic with its own content (similarity
 * between chunks of a document ≈ 0.25), chained `next` both ways. A query is a chunk with noise:
 * the share of the document's other chunks in the top k, plain and with `expand` through `next`.
 */
export async function linkRecall(client: HttpClient, docs: number, chunks: number, queries: number, k: number): Promise<LinkRecall> {
  const dim = 64;
  const random = prng(17);
  const gaussian = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const unit = (v: number[]): number[] => {
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  };
  await client.json('PUT', '/v1/collections/docs', { dimension: dim, metric: 'cosine', graph: { knn_k: 0 } }, [201]);
  const vectors: number[][] = [];
  for (let d = 0; d < docs; d++) {
    const topic = unit(Array.from({ length: dim }, gaussian));
    const points = [];
    for (let c = 0; c < chunks; c++) {
      const own = unit(Array.from({ length: dim }, gaussian));
      const vector = unit(topic.map((t, i) => 0.5 * t + 0.866 * own[i]));
      vectors.push(vector);
      points.push({ id: `d${d}c${c}`, vector, payload: { doc: d } });
    }
    await client.json('PUT', '/v1/collections/docs/points', { points });
  }
  for (let d = 0; d < docs; d += 200) {
    const links = [];
    for (let dd = d; dd < Math.min(docs, d + 200); dd++) {
      for (let c = 0; c + 1 < chunks; c++) links.push({ from: `d${dd}c${c}`, to: `d${dd}c${c + 1}`, type: 'next', both: true });
    }
    await client.json('PUT', '/v1/collections/docs/links', { links });
  }
  const measure = async (expand: object | null): Promise<{ otherChunks: number; p50Ms: number }> => {
    const times: number[] = [];
    let found = 0;
    for (let q = 0; q < queries; q++) {
      const d = Math.floor((q * docs) / queries);
      const c = q % chunks;
      const vector = unit(vectors[d * chunks + c].map((x) => x + 0.05 * gaussian()));
      const body = JSON.stringify({ vector, k, with_payload: false, ...(expand && { expand }) });
      const t0 = performance.now();
      const answer = await client.request('POST', '/v1/collections/docs/search', body);
      times.push(performance.now() - t0);
      const results = (JSON.parse(answer.body) as { results: { id: string }[] }).results;
      found += results.filter((r) => r.id.startsWith(`d${d}c`) && r.id !== `d${d}c${c}`).length;
    }
    times.sort((a, b) => a - b);
    return { otherChunks: found / (queries * (chunks - 1)), p50Ms: times[Math.floor(times.length / 2)] };
  };
  const hops = Math.min(3, chunks - 1);
  const decay = 0.5;
  return { docs, chunks, queries, plain: await measure(null), expanded: { ...(await measure({ via: ['links:next'], hops, decay })), hops, decay } };
}
