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
let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'closing: finishing requests and writing snapshots');
    app.close().then(
      () => process.exit(0),
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
