import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { ServerErrors } from '../errors.ts';

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * A request body (imports aside: they stream for as long as they send, bounded by their idle
 * timeout) must arrive whole within `ms`, so a client that sends slowly or stalls cannot hold a
 * connection and a parser open: 408 VDB_ERR_REQUEST_TIMEOUT after. Node's own `headersTimeout`
 * bounds the headers. Handlers themselves are not cut short: a write that has begun commits.
 *
 * One sweep a second over the bodies still arriving, rather than a timer and a stream per request:
 * a search pays for a map insert and delete and two one-shot listeners.
 */
export function installRequestTimeout(app: FastifyInstance, ms: number): void {
  const arriving = new Map<IncomingMessage, number>(); // body stream → deadline
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [raw, deadline] of arriving) {
      if (deadline > now) continue;
      arriving.delete(raw);
      // The body parser listens for 'error' on the body stream and answers with it; the socket stays
      // open for that answer, and Node closes it after, since the body was not read to its end.
      // With no parser reading (the answer went before the body, as a 415 does) there is no one to tell.
      if (raw.listenerCount('error') === 0) {
        raw.destroy();
        continue;
      }
      raw.emit('error', new ServerErrors.RequestTimeout(`the request body had not all arrived after ${ms / 1000} s (VICINITY_REQUEST_TIMEOUT_S): send it faster, or in smaller requests`));
    }
  }, Math.min(1000, ms / 4));
  sweep.unref();
  app.addHook('onClose', (_app, done) => (clearInterval(sweep), done()));
  app.addHook('preParsing', (request, _reply, payload, done) => {
    const raw = request.raw;
    if (!raw.complete && hasBody(request) && !request.routeOptions.url?.endsWith('/import')) {
      arriving.set(raw, Date.now() + ms);
      const stop = () => arriving.delete(raw);
      raw.once('end', stop);
      raw.once('close', stop);
    }
    done(null, payload);
  });
}
