import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildApp } from './app.ts';
import { loadConfig, type Config } from './config.ts';

let config: Readonly<Config>;
try {
  config = loadConfig();
} catch (err) {
  console.error(`vicinity: ${(err as Error).message}`);
  process.exit(1);
}

let app: ReturnType<typeof buildApp>;
try {
  app = buildApp(config);
} catch (err) {
  console.error(`vicinity: ${(err as Error).message}`);
  process.exit(1);
}
process.on('SIGHUP', () => app.reloadKeys());
/** After the listener closes, how long requests on connections already accepted have to arrive. */
const DRAIN_MS = 250;
let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (closing) return;
    closing = true;
    app.log.info({ signal, timeout_s: config.shutdownTimeoutMs / 1000 }, 'closing: no new connections; finishing requests, then jobs and snapshots');
    // Requests still running after the timeout lose their connections; the engine still closes cleanly.
    const cut = setTimeout(() => {
      app.log.warn({ timeout_s: config.shutdownTimeoutMs / 1000 }, 'shutdown timeout: closing the connections of requests still running');
      app.server.closeAllConnections();
    }, config.shutdownTimeoutMs);
    cut.unref();
    // Stop accepting first, without closing idle connections (http.Server.close would): a connection
    // accepted a moment ago may not have had its request read yet, and closing it would reset the
    // client. After a short drain Fastify closes idle connections and waits for requests in flight.
    net.Server.prototype.close.call(app.server);
    sleep(DRAIN_MS)
      .then(() => app.close())
      .then(
        () => {
          clearTimeout(cut);
          app.log.info('closed');
          process.exit(0);
        },
        (err: unknown) => {
          app.log.error({ err }, 'close failed');
          process.exit(1);
        },
      );
  });
}

try {
  await app.listen({ host: config.host, port: config.port });
} catch (err) {
  app.log.error({ err }, 'could not start');
  process.exit(1);
}
