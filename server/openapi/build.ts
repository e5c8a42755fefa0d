import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../app.ts';
import { loadConfig } from '../config.ts';

/**
 * The OpenAPI document of a server with the default settings, without listening: the app is built
 * on an empty temporary data directory, asked for its document, and closed. Clients' types are
 * generated from it (`npm run openapi:types`).
 */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'vicinity-openapi-'));
  const app = buildApp({ ...loadConfig({ VICINITY_LOG_LEVEL: 'silent', VICINITY_REPLICAS: '1', VICINITY_RECALL_SAMPLE_RATE: '0' }), dataDir: dir });
  try {
    await app.ready();
    return structuredClone(app.swagger()) as Record<string, unknown>;
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
