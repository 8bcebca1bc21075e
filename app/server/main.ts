/**
 * `npm run server`: one sluice server from environment variables (see config.ts).
 * SIGTERM and SIGINT start the drain; the process exits 0 once it has finished (every connection
 * closed with 1012 or reset at the deadline), so `docker stop -t` longer than the drain deadline
 * never has to SIGKILL it.
 */
import pino from 'pino';
import { createBackplane } from '../backplane';
import { endpointsFromEnv, LifecycleWatcher } from '../lifecycle';
import { ConfigError, loadConfig } from './config';
import { SluiceServer } from './server';

export async function main(): Promise<SluiceServer> {
  const config = loadConfig();
  const log = pino({ level: config.logLevel, base: { server: config.serverId } });
  const backplane = createBackplane(config, log);
  const server = new SluiceServer({ config, backplane, logger: log });
  const { port, adminPort } = await server.start();

  let exiting = false;
  const drainAndExit = (reason: string) => {
    if (exiting) return;
    exiting = true;
    server.drain(reason)
      .then(() => backplane.close())
      .then(() => {
        log.info({ reason }, 'exiting after drain');
        process.exit(0);
      })
      .catch((err: Error) => {
        log.fatal({ err: err.message }, 'drain failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => drainAndExit('SIGTERM'));
  process.on('SIGINT', () => drainAndExit('SIGINT'));
  // A drain from the admin endpoint (or the lifecycle watcher) also ends the process when done.
  server.drainer.on('state', (state: string) => {
    if (state === 'draining') drainAndExit('drain');
  });

  // GCE lifecycle watcher (drain layer 1, app/lifecycle): drains as soon as the MIG schedules this VM's
  // removal, before the LB's connection draining runs out. Stopped once any drain has started.
  if (config.gceWatcher) {
    const watcher = new LifecycleWatcher({
      pollIntervalMs: config.timeouts.gce.watcherPollIntervalMs,
      log: log.child({ component: 'lifecycle' }),
      ...endpointsFromEnv(process.env),
      onDrain: (action) => void server.drain(`gce-lifecycle:${action}`),
    }).start();
    server.drainer.on('state', (state: string) => {
      if (state !== 'serving') void watcher.stop();
    });
  }

  if (process.stdout.isTTY || config.env === 'development') {
    process.stderr.write(
      `sluice ${config.serverId}: ws://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}/socket/websocket?vsn=2.0.0&token=<token>\n` +
      `  admin: http://${config.adminHost}:${adminPort}/status  (POST /drain to drain)\n` +
      `  token: npm run token -- --sub gw-1 --kind gateway\n`,
    );
  }
  return server;
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`${err instanceof ConfigError ? err.message : err.stack}\n`);
    process.exit(2);
  });
}
