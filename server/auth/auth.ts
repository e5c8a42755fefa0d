import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { ServerErrors } from '../errors.ts';
import { inScope, KeyRing, parseKeys, sha256, type ApiKey } from './keys.ts';
import { accessOf, allows, isDocs } from './policy.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The key the request was made with; null when the server has no keys. */
    apiKey: ApiKey | null;
  }
}

/** The keys of `VICINITY_API_KEY` (an admin key) and `VICINITY_API_KEYS_FILE`; null when neither is set. */
export function loadKeyRing(config: Readonly<Config>): KeyRing | null {
  const keys: ApiKey[] = [];
  if (config.apiKey) keys.push({ name: 'VICINITY_API_KEY', role: 'admin', collections: null, digest: sha256(config.apiKey) });
  if (config.apiKeysFile) keys.push(...parseKeys(readFileSync(config.apiKeysFile, 'utf8'), config.apiKeysFile));
  return config.apiKey || config.apiKeysFile ? new KeyRing(keys) : null;
}

/** The keys in use. */
export interface Auth {
  /** Takes a newly read key ring in place of the current one (SIGHUP). */
  replace(ring: KeyRing): void;
}

export interface AuthOptions {
  /** `GET /metrics` without a key (VICINITY_METRICS_PUBLIC). */
  publicMetrics: boolean;
  /** `GET /openapi.json` and `/docs` without a key (VICINITY_DOCS_PUBLIC). */
  publicDocs: boolean;
  /** Told of each refusal, by reason only: keys themselves are never recorded. */
  refused: (reason: 'unauthenticated' | 'forbidden') => void;
}

/**
 * Checks every request against the route table (policy.ts) before its body is read: 401 without a
 * known key, 403 when its role or collections do not allow the call. Without keys it only records
 * the routes (a server without keys listens on loopback only: config.ts).
 */
export function installAuth(app: FastifyInstance, initial: KeyRing | null, options: AuthOptions): Auth {
  let ring = initial;
  const auth: Auth = {
    replace: (next) => {
      ring = next;
    },
  };
  const unlisted: string[] = [];
  app.decorateRequest('apiKey', null);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (accessOf(method, route.url) === undefined) unlisted.push(`${method} ${route.url}`);
  });
  app.addHook('onReady', (done) => {
    done(unlisted.length > 0 ? new Error(`routes without an access rule in server/auth/policy.ts: ${unlisted.join(', ')}`) : undefined);
  });
  if (!initial) return auth;
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const url = request.routeOptions.url;
    if (url === undefined) return; // no such route: a 404 follows
    const opened = (options.publicMetrics && url === '/metrics') || (options.publicDocs && isDocs(url));
    const access = opened ? 'open' : (accessOf(request.method, url) ?? 'admin');
    if (access === 'open') return;
    const key = presented(request);
    const found = key === null ? null : ring!.find(key);
    if (!found) {
      options.refused('unauthenticated');
      void reply.header('www-authenticate', 'Bearer');
      throw new ServerErrors.Unauthenticated(
        key === null ? 'this call needs an API key: send Authorization: Bearer <key> or api-key: <key>' : 'the API key is not one this server knows',
      );
    }
    if (!allows(found.role, access)) {
      options.refused('forbidden');
      throw new ServerErrors.Forbidden(`key '${found.name}' has the role ${found.role}; ${request.method} ${url} needs ${access}`);
    }
    const name = (request.params as { name?: string }).name;
    if (name !== undefined && !inScope(found, name)) {
      options.refused('forbidden');
      throw new ServerErrors.Forbidden(`key '${found.name}' may not touch collection '${name}'`);
    }
    request.apiKey = found;
  });
  return auth;
}

/** The key sent as `Authorization: Bearer <key>` or `api-key: <key>`, or null. */
function presented(request: FastifyRequest): string | null {
  const auth = request.headers.authorization;
  if (typeof auth === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (match) return match[1];
  }
  const header = request.headers['api-key'];
  return typeof header === 'string' && header.length > 0 ? header : null;
}

/** Whether the request's key (if any) may see collection `name`: for lists and jobs. */
export function mayTouch(request: FastifyRequest, name: string): boolean {
  return request.apiKey === null || inScope(request.apiKey, name);
}
