import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { PAYLOAD_DEPTH_CEILING } from './payload.ts';

export interface Config {
  host: string;
  /** One admin key (VICINITY_API_KEY), and a file of keys with roles; null: not set. */
  apiKey: string | null;
  apiKeysFile: string | null;
  /** Listen beyond loopback without any key. */
  allowUnauthenticated: boolean;
  /** PEM files of a certificate and its key: HTTPS instead of HTTP. */
  tlsCert: string | null;
  tlsKey: string | null;
  port: number;
  dataDir: string;
  /** SQLite `synchronous`: NORMAL survives process crashes, FULL also power loss. */
  synchronous: 'NORMAL' | 'FULL';
  bodyLimitBytes: number;
  maxK: number;
  /** Bytes of one point's payload (as JSON), collections per server, live points per collection. */
  maxPayloadBytes: number;
  payloadMemoryBytes: number;
  /** Payload nesting past this is refused (400 VDB_ERR_PAYLOAD_INVALID). */
  maxPayloadDepth: number;
  maxCollections: number;
  maxPointsPerCollection: number;
  /** Imports uploading, queued or building at once. */
  maxConcurrentImports: number;
  /** Links a point may have in each direction, and links one request may put. */
  maxLinksPerPoint: number;
  maxLinksPerRequest: number;
  /** Where `POST /v1/backups` writes; null: `backups` in the data directory. */
  backupDir: string | null;
  snapshotEveryChanges: number;
  snapshotIntervalMs: number;
  /** On SIGTERM/SIGINT, requests in flight get this long before their connections are closed (ms). */
  shutdownTimeoutMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Search replicas (worker threads with a full index copy each); 0 = one per core but one, capped by memory. */
  replicas: number;
  /** Searches queued per replica before new ones are refused with 503. */
  replicaQueue: number;
  /** Points the replicas may lag behind acknowledged writes before upserts wait for them. */
  maxIndexBacklog: number;
  /** hnswlib-node build: auto picks the AVX2+FMA build when it was built and this CPU has both. */
  hnswBuild: 'auto' | 'stock' | 'avx2' | 'native';
  /** Threads that build a fresh index (an import into an empty collection, an optimize); 0 = one per core, 1 = hnswlib-node's addPoint loop. */
  buildThreads: number;
  /** Caps of one import body: bytes, records, and bytes of one NDJSON line or MessagePack record. */
  importMaxBytes: number;
  importMaxRecords: number;
  importMaxRecordBytes: number;
  /** An upload that sends nothing for this long fails (ms). */
  importIdleTimeoutMs: number;
  /** Serve `GET /metrics` and count requests, searches and writes for it. */
  metrics: boolean;
  /** `GET /metrics` needs no key. */
  metricsPublic: boolean;
  /** `GET /openapi.json` and `/docs` need no key (VICINITY_DOCS_PUBLIC; `auto`: when listening on loopback). */
  docsPublic: boolean;
  /** Collections past this many are summed under `collection="_other"` in /metrics. */
  metricsMaxCollections: number;
  /** Share of graph searches checked again by exact scoring for the recall estimate (0 turns it off). */
  recallSampleRate: number;
  /** Share of one core the recall checks may use on average. */
  recallCpu: number;
  /** A request body (imports aside) must arrive whole within this; 408 VDB_ERR_REQUEST_TIMEOUT after. */
  requestTimeoutMs: number;
  /** A collection is rebuilt by itself once tombstones are this share (percent) of its points… */
  rebuildDeletedPercent: number;
  /** …and at least this many (0 turns automatic rebuilds off). */
  rebuildMinDeleted: number;
  /** Largest internal label; only tests lower it, to reach the limit quickly. */
  maxLabel: number;
}

type Env = Record<string, string | undefined>;

const MiB = 1024 * 1024;

/** Every `VICINITY_*` variable, its default and meaning; docs/configuration.md's table is checked against it. */
export const ENV_VARS = {
  VICINITY_HOST: ['127.0.0.1', 'address to listen on; without keys only a loopback address is allowed'],
  VICINITY_API_KEY: ['', 'one admin key, sent as Authorization: Bearer <key> or api-key: <key>'],
  VICINITY_API_KEYS_FILE: ['', 'JSON file of keys: [{name, sha256, role: read|write|admin, collections?}] (digests only)'],
  VICINITY_ALLOW_UNAUTHENTICATED: ['false', 'true: listen on a non-loopback VICINITY_HOST without any key'],
  VICINITY_METRICS: ['true', 'false: no GET /metrics and no counting for it (bench:ops measures what it costs)'],
  VICINITY_METRICS_PUBLIC: ['false', 'true: GET /metrics needs no key (with keys configured, any key may read it otherwise)'],
  VICINITY_DOCS_PUBLIC: ['auto', 'true: GET /openapi.json and /docs need no key; false: any key may read them; auto: true on a loopback VICINITY_HOST, else false'],
  VICINITY_METRICS_MAX_COLLECTIONS: ['100', 'collections named in /metrics; the rest are summed under collection="_other"'],
  VICINITY_RECALL_SAMPLE_RATE: ['0.01', 'share of graph searches checked again exactly, at low priority, for the recall estimate (0: off)'],
  VICINITY_RECALL_CPU: ['0.01', 'share of one core the recall checks may use on average; a search sampled while over it is not checked'],
  VICINITY_TLS_CERT: ['', 'PEM certificate (chain): serve HTTPS; needs VICINITY_TLS_KEY'],
  VICINITY_TLS_KEY: ['', 'PEM private key of VICINITY_TLS_CERT'],
  VICINITY_PORT: ['7373', 'TCP port (0 picks a free one)'],
  VICINITY_DATA_DIR: ['./data', 'directory for the SQLite file and index snapshots'],
  VICINITY_BACKUP_DIR: ['', 'directory POST /v1/backups writes each backup into (default: backups/ in VICINITY_DATA_DIR)'],
  VICINITY_SYNCHRONOUS: ['NORMAL', 'SQLite synchronous: NORMAL survives process crashes, FULL also power loss'],
  VICINITY_BODY_LIMIT_BYTES: [String(32 * MiB), 'largest request body (imports are not bound by it)'],
  VICINITY_MAX_K: ['1000', 'largest k a search may ask for'],
  VICINITY_MAX_PAYLOAD_BYTES: ['65536', "largest payload of one point, in bytes of its JSON (413 VDB_ERR_PAYLOAD_TOO_LARGE)"],
  VICINITY_PAYLOAD_MEMORY_MB: ['256', 'payload texts kept in memory for search answers, over all collections; payloads beyond it are read from SQLite (0: none kept)'],
  VICINITY_MAX_PAYLOAD_DEPTH: ['64', 'deepest nesting of a payload, itself level 1 (400 VDB_ERR_PAYLOAD_INVALID); at most 500, as SQLite stops at 1,000'],
  VICINITY_MAX_COLLECTIONS: ['1000', 'collections one server may hold (422 VDB_ERR_COLLECTION_LIMIT)'],
  VICINITY_MAX_POINTS_PER_COLLECTION: ['100000000', 'live points one collection may hold (422 VDB_ERR_POINT_LIMIT)'],
  VICINITY_MAX_CONCURRENT_IMPORTS: ['8', 'imports uploading, queued or building at once (429 VDB_ERR_IMPORT_LIMIT with Retry-After)'],
  VICINITY_MAX_LINKS_PER_POINT: ['1024', 'links a point may have in each direction (out and in)'],
  VICINITY_MAX_LINKS_PER_REQUEST: ['10000', 'links one PUT …/links may write, counting the reverse links of `both`'],
  VICINITY_SNAPSHOT_EVERY_CHANGES: ['10000', 'write an index snapshot after this many changed points'],
  VICINITY_SNAPSHOT_INTERVAL_S: ['300', 'or after this many seconds, if anything changed'],
  VICINITY_REPLICAS: ['0', 'search replicas, each a worker thread with a full copy of every index; 0 = one per core but one (the event loop keeps one), at least one, capped by memory'],
  VICINITY_REPLICA_QUEUE: ['64', 'searches queued per replica before new ones get 503 with Retry-After'],
  VICINITY_REBUILD_DELETED_PERCENT: ['50', 'rebuild a collection by itself once deleted points are this percent of it (50 % deleted measured 2× slower search)'],
  VICINITY_REBUILD_MIN_DELETED: ['1000', '…and at least this many points are deleted (0: never rebuild by itself)'],
  VICINITY_MAX_INDEX_BACKLOG: ['2000', "points a replica's index may lag behind acknowledged writes before a write waits for it (searches never wait: they score pending writes exactly)"],
  VICINITY_HNSW_BUILD: ['auto', 'hnswlib build: auto, stock, avx2 or native (native only if installed with VICINITY_HNSW_BUILD=native)'],
  VICINITY_BUILD_THREADS: ['0', 'threads that build a fresh index (an import into an empty collection, an optimize); 0 = one per core; 1 = one thread through hnswlib-node (also what the stock build does)'],
  VICINITY_IMPORT_MAX_BYTES: [String(64 * 1024 * MiB), 'largest import body, in bytes'],
  VICINITY_IMPORT_MAX_RECORDS: ['100000000', 'most records in one import'],
  VICINITY_IMPORT_MAX_RECORD_BYTES: [String(16 * MiB), 'largest NDJSON line or MessagePack record in an import'],
  VICINITY_IMPORT_IDLE_TIMEOUT_S: ['60', 'an import upload that sends nothing for this many seconds fails with 408 and frees its place'],
  VICINITY_REQUEST_TIMEOUT_S: ['60', 'a request body (imports aside) that has not all arrived after this many seconds fails with 408'],
  VICINITY_SHUTDOWN_TIMEOUT_S: ['30', 'on SIGTERM or SIGINT, requests in flight get this long to finish before their connections are closed; snapshots are written after'],
  VICINITY_LOG_LEVEL: ['info', 'fatal, error, warn, info, debug, trace or silent'],
} as const;

type Name = keyof typeof ENV_VARS;

function raw(env: Env, name: Name): string {
  const value = env[name];
  return value === undefined || value === '' ? ENV_VARS[name][0] : value;
}

function int(env: Env, name: Name, min: number, max: number): number {
  const text = raw(env, name);
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got '${text}'`);
  }
  return value;
}

function fraction(env: Env, name: Name): number {
  const text = raw(env, name);
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(value >= 0 && value <= 1)) throw new Error(`${name} must be a number from 0 to 1, got '${text}'`);
  return value;
}

function oneOf<T extends string>(env: Env, name: Name, allowed: readonly T[]): T {
  const text = raw(env, name);
  if (!(allowed as readonly string[]).includes(text)) {
    throw new Error(`${name} must be one of ${allowed.join(', ')}, got '${text}'`);
  }
  return text as T;
}

const LOOPBACK = ['127.0.0.1', '::1', 'localhost'];

/** Reads and validates the `VICINITY_*` variables once; the result is frozen. */
export function loadConfig(env: Env = process.env): Readonly<Config> {
  for (const key of Object.keys(env)) {
    if (key.startsWith('VICINITY_') && !(key in ENV_VARS)) {
      throw new Error(`unknown setting ${key}: the settings are ${Object.keys(ENV_VARS).join(', ')}`);
    }
  }
  const host = raw(env, 'VICINITY_HOST');
  const apiKey = raw(env, 'VICINITY_API_KEY') || null;
  const apiKeysFile = raw(env, 'VICINITY_API_KEYS_FILE') || null;
  const allowUnauthenticated = oneOf(env, 'VICINITY_ALLOW_UNAUTHENTICATED', ['true', 'false'] as const) === 'true';
  if (apiKey !== null && apiKey.length < 16) throw new Error('VICINITY_API_KEY must be at least 16 characters (vicinity keys create makes one of 43)');
  if (!apiKey && !apiKeysFile && !allowUnauthenticated && !LOOPBACK.includes(host)) {
    throw new Error(
      `VICINITY_HOST=${host} would let anyone who reaches the port read and drop every collection: set VICINITY_API_KEY ` +
        'or VICINITY_API_KEYS_FILE, listen on 127.0.0.1, or set VICINITY_ALLOW_UNAUTHENTICATED=true',
    );
  }
  const tlsCert = raw(env, 'VICINITY_TLS_CERT') || null;
  const tlsKey = raw(env, 'VICINITY_TLS_KEY') || null;
  if ((tlsCert === null) !== (tlsKey === null)) throw new Error('VICINITY_TLS_CERT and VICINITY_TLS_KEY go together: set both, or neither for plain HTTP');
  const docsPublic = oneOf(env, 'VICINITY_DOCS_PUBLIC', ['auto', 'true', 'false'] as const);
  return Object.freeze({
    host,
    tlsCert: tlsCert === null ? null : resolve(tlsCert),
    tlsKey: tlsKey === null ? null : resolve(tlsKey),
    apiKey,
    apiKeysFile: apiKeysFile === null ? null : resolve(apiKeysFile),
    allowUnauthenticated,
    metrics: oneOf(env, 'VICINITY_METRICS', ['true', 'false'] as const) === 'true',
    metricsPublic: oneOf(env, 'VICINITY_METRICS_PUBLIC', ['true', 'false'] as const) === 'true',
    docsPublic: docsPublic === 'true' || (docsPublic === 'auto' && LOOPBACK.includes(host)),
    metricsMaxCollections: int(env, 'VICINITY_METRICS_MAX_COLLECTIONS', 1, 100_000),
    recallSampleRate: fraction(env, 'VICINITY_RECALL_SAMPLE_RATE'),
    recallCpu: fraction(env, 'VICINITY_RECALL_CPU'),
    port: int(env, 'VICINITY_PORT', 0, 65535),
    dataDir: resolve(raw(env, 'VICINITY_DATA_DIR')),
    backupDir: raw(env, 'VICINITY_BACKUP_DIR') ? resolve(raw(env, 'VICINITY_BACKUP_DIR')) : null,
    synchronous: oneOf(env, 'VICINITY_SYNCHRONOUS', ['NORMAL', 'FULL'] as const),
    bodyLimitBytes: int(env, 'VICINITY_BODY_LIMIT_BYTES', 1024, 1024 * MiB),
    maxK: int(env, 'VICINITY_MAX_K', 1, 100_000),
    maxPayloadBytes: int(env, 'VICINITY_MAX_PAYLOAD_BYTES', 2, 1024 * MiB),
    payloadMemoryBytes: int(env, 'VICINITY_PAYLOAD_MEMORY_MB', 0, 1024 * 1024) * MiB,
    maxPayloadDepth: int(env, 'VICINITY_MAX_PAYLOAD_DEPTH', 1, PAYLOAD_DEPTH_CEILING),
    maxCollections: int(env, 'VICINITY_MAX_COLLECTIONS', 1, 1_000_000),
    maxPointsPerCollection: int(env, 'VICINITY_MAX_POINTS_PER_COLLECTION', 1, 4_294_967_295),
    maxConcurrentImports: int(env, 'VICINITY_MAX_CONCURRENT_IMPORTS', 1, 1000),
    maxLinksPerPoint: int(env, 'VICINITY_MAX_LINKS_PER_POINT', 1, 1_000_000),
    maxLinksPerRequest: int(env, 'VICINITY_MAX_LINKS_PER_REQUEST', 1, 1_000_000),
    snapshotEveryChanges: int(env, 'VICINITY_SNAPSHOT_EVERY_CHANGES', 1, 1e9),
    snapshotIntervalMs: int(env, 'VICINITY_SNAPSHOT_INTERVAL_S', 1, 86_400) * 1000,
    replicas: int(env, 'VICINITY_REPLICAS', 0, 64),
    replicaQueue: int(env, 'VICINITY_REPLICA_QUEUE', 1, 100_000),
    maxIndexBacklog: int(env, 'VICINITY_MAX_INDEX_BACKLOG', 0, 10_000_000),
    rebuildDeletedPercent: int(env, 'VICINITY_REBUILD_DELETED_PERCENT', 1, 100),
    rebuildMinDeleted: int(env, 'VICINITY_REBUILD_MIN_DELETED', 0, 1e12),
    hnswBuild: oneOf(env, 'VICINITY_HNSW_BUILD', ['auto', 'stock', 'avx2', 'native'] as const),
    buildThreads: int(env, 'VICINITY_BUILD_THREADS', 0, 256) || availableParallelism(),
    logLevel: oneOf(env, 'VICINITY_LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    importMaxBytes: int(env, 'VICINITY_IMPORT_MAX_BYTES', 1024, Number.MAX_SAFE_INTEGER),
    importMaxRecords: int(env, 'VICINITY_IMPORT_MAX_RECORDS', 1, 4294967295),
    importMaxRecordBytes: int(env, 'VICINITY_IMPORT_MAX_RECORD_BYTES', 1024, 1024 * MiB),
    importIdleTimeoutMs: int(env, 'VICINITY_IMPORT_IDLE_TIMEOUT_S', 1, 86_400) * 1000,
    requestTimeoutMs: int(env, 'VICINITY_REQUEST_TIMEOUT_S', 1, 86_400) * 1000,
    shutdownTimeoutMs: int(env, 'VICINITY_SHUTDOWN_TIMEOUT_S', 1, 3600) * 1000,
    maxLabel: 4294967295,
  });
}
