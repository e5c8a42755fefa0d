/**
 * The steps of `bench/rag.ts` that talk HTTP: the no-op Fastify floor, loading Vicinity and restarting
 * it on the same data directory, picking ef by recall, and the four search modes under wrk.
 */
import type { Dataset } from './datasets.ts';
import type { GroundTruth } from './ground-truth.ts';
import type { Wrk } from './load.ts';
import { serverHnswBuild } from './ops-scrape.ts';
import { runWrkThreads, type WrkRun, type WrkTarget } from './ops-wrk.ts';
import { ragModes, ragPayloads, type Mode, type ModeName } from './rag-data.ts';
import { withServer, type HttpClient } from './server.ts';
import type { CollectionInfo } from './soak-common.ts';
import { SoakServer } from './soak-server.ts';
import { waitForQuiet, type QuietRules } from './stats.ts';
import { COLLECTION, overlayBehind, recallOverHttp, SEARCH_PATH, settleOverlay, uploadPoints, type HttpRecall, type Upload } from './vicinity.ts';

export const K = 10;
const NOOP_ENTRY = 'bench/lib/rag-noop-server.ts';
const COLLECTION_PATH = `/v1/collections/${COLLECTION}`;

export interface RagOptions {
  smoke: boolean;
  /** Timed seconds of each wrk run, and untimed seconds before each mode's runs. */
  seconds: number;
  warmupS: number;
  /** wrk threads of the c = 8 runs (c = 1 runs one). */
  threads: number;
  batch: number;
  efs: number[];
  recallTarget: number;
  seed: number;
  serverEnv: Record<string, string>;
  /** Before each wrk run and raw pass: wait for the other processes on the machine to go quiet. */
  quiet: QuietRules;
}

export interface RagContext {
  root: string;
  o: RagOptions;
  dataset: Dataset;
  truth: GroundTruth;
  labels: Uint8Array;
  wrk: Wrk;
  workDir: string;
  log: (line: string) => void;
}

const target = (port: number, pid: number | undefined): WrkTarget => ({ port, path: SEARCH_PATH, serverPid: pid ?? -1 });

/**
 * A timed wrk run at one concurrency over `mode`'s bodies (one thread at c = 1), once the rest of the
 * machine is quiet or `quiet.waitS` has passed; a warm-up runs untimed at c = 8 without waiting.
 */
async function wrkRun(c: RagContext, mode: Mode, t: WrkTarget, connections: number | 'warm-up'): Promise<WrkRun> {
  if (connections === 'warm-up') return runWrkThreads(c.wrk, c.workDir, mode.set, t, c.o.threads, 8, c.o.warmupS);
  const waited = await waitForQuiet([t.serverPid], c.o.quiet);
  if (c.o.quiet.waitS > 0 && waited >= c.o.quiet.waitS) c.log(`other processes still busy after ${c.o.quiet.waitS} s; running anyway`);
  return runWrkThreads(c.wrk, c.workDir, mode.set, t, connections === 1 ? 1 : c.o.threads, connections, c.o.seconds);
}

export interface NoopResult {
  startMs: number;
  c1: WrkRun;
}

/** The no-op Fastify app in a child process: a warm-up, then one client over the default mode's JSON bodies. */
export async function measureNoop(c: RagContext, mode: Mode, cleanup: () => void): Promise<NoopResult> {
  const measured: { c1?: WrkRun } = {};
  const spec = { cwd: c.root, entry: NOOP_ENTRY, logLevel: 'warn', env: c.o.serverEnv, readyTimeoutMs: 60_000 };
  const run = await withServer(spec, cleanup, async (server) => {
    const t = target(server.port, server.pid);
    await wrkRun(c, mode, t, 'warm-up');
    measured.c1 = await wrkRun(c, mode, t, 1);
    server.assertAlive();
  });
  const { c1 } = measured;
  if (run.failure !== null || c1 === undefined) throw new Error(`the no-op route: ${run.failure ?? 'not measured'}`);
  c.log(`no-op Fastify c=1: ${Math.round(c1.qps)} QPS, p50 ${c1.p50Ms.toFixed(3)} ms, p99 ${c1.p99Ms.toFixed(3)} ms`);
  return { startMs: run.startMs, c1 };
}

export interface RagLoad {
  upload: Upload;
  /** Seconds the k-NN overlay's filler took to catch up after the upload (the restart waits for it). */
  overlaySettleS: number;
  /** SIGTERM → exit, and start → /readyz on the same data directory. */
  stopMs: number;
  restartMs: number;
  countAfterRestart: number;
  overlayBehindAfterRestart: number;
  serverBuild: string | null;
}

/**
 * Creates the collection (the server's defaults, the data set's metric), PUTs every point with its
 * payload, waits for the overlay, and restarts the server on its data directory as a deploy does.
 * Returns the server now running.
 */
export async function loadAndRestart(c: RagContext, first: SoakServer): Promise<{ server: SoakServer; load: RagLoad }> {
  const { dataset } = c;
  await first.client.json('PUT', COLLECTION_PATH, { dimension: dataset.train.dim, metric: dataset.metric }, [200, 201]);
  c.log(`loading ${dataset.train.n} points with ~1 KiB payloads, ${c.o.batch} per PUT`);
  const upload = await uploadPoints(first.client, dataset, c.o.batch, ragPayloads(c.labels, c.o.seed));
  c.log(`loaded in ${upload.seconds.toFixed(1)} s (${Math.round(upload.rate)} points/s)`);
  const overlaySettleS = await settleOverlay(first.client, c.log);
  const t0 = performance.now();
  await first.stop('SIGTERM');
  const t1 = performance.now();
  const server = await SoakServer.start(first.spec, first.log, first.dataDir);
  const restartMs = performance.now() - t1;
  c.log(`restarted: SIGTERM → exit ${Math.round(t1 - t0)} ms, start → ready ${Math.round(restartMs)} ms`);
  const info = await server.client.json<CollectionInfo>('GET', COLLECTION_PATH, undefined);
  const load: RagLoad = {
    upload,
    overlaySettleS,
    stopMs: t1 - t0,
    restartMs,
    countAfterRestart: info.count,
    overlayBehindAfterRestart: await overlayBehind(server.client),
    serverBuild: await serverHnswBuild(server.client),
  };
  return { server, load };
}

export interface EfTry {
  ef: number;
  recall: HttpRecall;
}

/** Vicinity's recall of the default request at each ef in turn, up to the first that reaches the target. */
export async function pickEf(c: RagContext, client: HttpClient): Promise<{ tries: EfTry[]; chosen: number; reached: boolean }> {
  const tries: EfTry[] = [];
  for (const ef of c.o.efs) {
    const mode = ragModes(c.dataset, K, ef).find((m) => m.name === 'default')!;
    const recall = await recallOverHttp(client, c.dataset, c.truth, mode.set, ef);
    tries.push({ ef, recall });
    c.log(`ef=${ef}: Vicinity recall@${K} ${recall.recall.toFixed(4)}`);
    if (recall.recall >= c.o.recallTarget) return { tries, chosen: ef, reached: true };
  }
  return { tries, chosen: c.o.efs[c.o.efs.length - 1], reached: false };
}

export interface ModeResult {
  mode: ModeName;
  request: string;
  /** Points passing the mode's filter; null when unfiltered. */
  matches: number | null;
  recall: HttpRecall;
  /** One answer's size and its first result's payload (text length), to show what travelled. */
  answerBytes: number;
  payloadTextChars: number | null;
  c1: WrkRun;
  c8: WrkRun;
}

/** A mode's ground truth: the data set's, or the exact top-k over the points its filter passes. */
export type TruthOf = (mode: Mode) => { truth: GroundTruth; matches: number | null };

/** Each mode in turn: recall one request at a time, the answer's shape, a warm-up, then c = 1 and c = 8. */
export async function measureModes(c: RagContext, server: SoakServer, modes: Mode[], truthOf: TruthOf, ef: number): Promise<ModeResult[]> {
  const results: ModeResult[] = [];
  const t = target(server.port, server.child.pid);
  for (const mode of modes) {
    const { truth, matches } = truthOf(mode);
    const passes = mode.filter?.passes;
    const recall = await recallOverHttp(server.client, c.dataset, truth, mode.set, ef, passes);
    const answer = await server.client.request(mode.set.method, SEARCH_PATH, mode.set.bodies[0], mode.set.contentType);
    const first = (JSON.parse(answer.body) as { results: { payload?: { text?: string } }[] }).results[0];
    await wrkRun(c, mode, t, 'warm-up');
    const c1 = await wrkRun(c, mode, t, 1);
    const c8 = await wrkRun(c, mode, t, 8);
    if (!server.alive) throw new Error(`the server exited during the ${mode.name} runs`);
    results.push({
      mode: mode.name,
      request: mode.request,
      matches,
      recall,
      answerBytes: Buffer.byteLength(answer.body),
      payloadTextChars: first?.payload?.text?.length ?? null,
      c1,
      c8,
    });
    c.log(
      `${mode.name}: recall ${recall.recall.toFixed(4)}; c=1 p50 ${c1.p50Ms.toFixed(3)} ms, p99 ${c1.p99Ms.toFixed(3)} ms; ` +
        `c=8 ${Math.round(c8.qps)} QPS, p50 ${c8.p50Ms.toFixed(3)} ms, p99 ${c8.p99Ms.toFixed(3)} ms`,
    );
  }
  return results;
}
