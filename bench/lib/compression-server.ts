import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from './datasets.ts';
import type { GroundTruth } from './ground-truth.ts';
import { writeSetNpy } from './import-files.ts';
import { measureImport, type ImportMeasure } from './import-measure.ts';
import { jsonSearches } from './replicas-http.ts';
import { HttpClient, withServer } from './server.ts';
import { COLLECTION, recallOverHttp, type HttpRecall } from './vicinity.ts';

export interface ServerVariant {
  label: string;
  storage: { codec: string; pca_dimension?: number };
}

/** One collection imported into a fresh server with 2 replicas, read back over HTTP. */
export interface ServerRunResult {
  label: string;
  storage: ServerVariant['storage'];
  failure: string | null;
  import: ImportMeasure | null;
  recall: HttpRecall | null;
  /** The collection's `stats.memory_bytes` and `stats.storage` after the import. */
  memory: Record<string, number> | null;
  storageStats: Record<string, unknown> | null;
  rssAfterBytes: number | null;
}

interface CollectionStats {
  stats: { memory_bytes: Record<string, number>; storage: Record<string, unknown> };
}

/**
 * The end-to-end check of the in-process table: each variant imported over HTTP (the build process fits
 * the model), searched over HTTP with rescoring, with the server's own memory accounting and its RSS.
 */
export async function serverRuns(
  root: string, dataset: Dataset, truth: GroundTruth, variants: ServerVariant[], ef: number, log: (line: string) => void,
): Promise<ServerRunResult[]> {
  const file = writeSetNpy(join(root, 'bench', 'out', `compression-${dataset.name}.npy`), dataset.train);
  const cleanup = () => rmSync(file.path, { force: true });
  const results: ServerRunResult[] = [];
  try {
    for (const v of variants) {
      const result: ServerRunResult = { label: v.label, storage: v.storage, failure: null, import: null, recall: null, memory: null, storageStats: null, rssAfterBytes: null };
      const server = { cwd: root, logLevel: 'warn', env: { VICINITY_REPLICAS: '2' }, readyTimeoutMs: 120_000 };
      const run = await withServer(server, cleanup, async (s) => {
        const settings = { hnsw: { m: 16, efConstruction: 200, seed: 100 }, storage: v.storage, buildOrder: 'given' as const, pollMs: 200, rssPollMs: 200, jobTimeoutS: 3600 };
        result.import = await measureImport(root, s, COLLECTION, file, 'http', settings);
        const client = new HttpClient(s.port);
        try {
          result.recall = await recallOverHttp(client, dataset, truth, jsonSearches(`compression-${v.label}`, dataset, truth.k, ef), ef);
          const info = await client.json<CollectionStats>('GET', `/v1/collections/${COLLECTION}`, undefined);
          result.memory = info.stats.memory_bytes;
          result.storageStats = info.stats.storage;
        } finally {
          client.close();
        }
        result.rssAfterBytes = result.import.rss.afterBytes;
        s.assertAlive();
      });
      result.failure = run.failure;
      log(`server ${v.label}: ${result.import ? Math.round(result.import.rate) : '?'} vectors/s, recall ${result.recall?.recall.toFixed(4) ?? '?'}${run.failure ? `, failed: ${run.failure}` : ''}`);
      results.push(result);
    }
  } finally {
    cleanup();
  }
  return results;
}
