import type { Role } from './keys.ts';

/** What a route needs: nothing (`open`), or a key of at least this role. */
export type Access = 'open' | Role;

/**
 * Every route's access, by method and pattern. `read` keys search and read, `write` keys also
 * change points, links and jobs of their collections, `admin` keys create and drop collections.
 * The server refuses to start with a route missing here (auth.ts), so none can be left open by mistake.
 */
export const ROUTE_ACCESS: Readonly<Record<string, Access>> = {
  'GET /healthz': 'open',
  'GET /readyz': 'open',
  // Any key may read the metrics; VICINITY_METRICS_PUBLIC=true opens them (auth.ts).
  'GET /metrics': 'read',
  // The API's description and its interactive docs (server/openapi/): any key may read them;
  // VICINITY_DOCS_PUBLIC opens them, by default when the server listens on loopback (auth.ts).
  'GET /openapi.json': 'read',
  'GET /docs': 'read',
  'GET /docs/': 'read',
  'GET /docs/json': 'read',
  'GET /docs/yaml': 'read',
  'GET /docs/static/*': 'read',
  'GET /docs/static/index.html': 'read',
  'GET /docs/static/swagger-initializer.js': 'read',
  'GET /v1/collections': 'read',
  'PUT /v1/collections/:name': 'admin',
  'GET /v1/collections/:name': 'read',
  'DELETE /v1/collections/:name': 'admin',
  'POST /v1/collections/:name/optimize': 'write',
  'PUT /v1/collections/:name/points': 'write',
  'GET /v1/collections/:name/points/:id': 'read',
  'POST /v1/collections/:name/points/delete': 'write',
  'POST /v1/collections/:name/points/scroll': 'read',
  'POST /v1/collections/:name/search': 'read',
  'POST /v1/collections/:name/search/batch': 'read',
  'PUT /v1/collections/:name/links': 'write',
  'POST /v1/collections/:name/links/delete': 'write',
  'GET /v1/collections/:name/points/:id/neighbours': 'read',
  'GET /v1/collections/:name/points/:id/links': 'read',
  'POST /v1/collections/:name/import': 'write',
  'GET /v1/jobs': 'read',
  'GET /v1/jobs/:id': 'read',
  'DELETE /v1/jobs/:id': 'write',
  // A backup copies every collection: admin keys only.
  'POST /v1/backups': 'admin',
  'GET /v1/backups': 'admin',
  'GET /v1/backups/:id': 'admin',
};

const RANK: Readonly<Record<Access, number>> = { open: 0, read: 1, write: 2, admin: 3 };

/** A route's access; HEAD goes with GET. Undefined for a route missing from the table. */
export function accessOf(method: string, url: string): Access | undefined {
  return ROUTE_ACCESS[`${method === 'HEAD' ? 'GET' : method} ${url}`];
}

/** The routes VICINITY_DOCS_PUBLIC opens: the OpenAPI document and the docs pages. */
export function isDocs(url: string): boolean {
  return url === '/openapi.json' || url === '/docs' || url.startsWith('/docs/');
}

export function allows(role: Role, access: Access): boolean {
  return RANK[role] >= RANK[access];
}
