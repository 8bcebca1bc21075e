/**
 * `npm run server`: one sluice server from environment variables (see config.ts).
 * Every drain trigger (SIGTERM, SIGINT, POST /drain, the GCE lifecycle watcher, preemption) goes
 * through one ShutdownController (shutdown.ts): drain, close the backplane, then exit 0 (signals,
 * admin) or stay up drained and unready (watcher, preemption: the VM is leaving, a restart would
 * only re-read the secret, re-pull the image and drain again). `docker stop -t` longer than the
 * drain deadline never has to SIGKILL it.
 */
import pino from 'pino';
import { createBackplane } from '../backplane';
import { endpointsFromEnv, LifecycleWatcher } from '../lifecycle';
import { SOCKET_PATH } from '../protocol/endpoints';
import type { WatcherHealth } from '../lifecycle/watcher';
import type { PollFailure } from '../lifecycle/failures';
import { DEV_TOKEN_SECRET } from '../auth/token';
import { ConfigError, isLoopbackHost, loadConfig } from './config';
import { checkHeap } from './heap';
import { SluiceServer } from './server';
import { ShutdownController } from './shutdown';

export async function main(): Promise<SluiceServer> {
  const config = loadConfig();
  const log = pino({ level: config.logLevel, base: { server: config.serverId } });
  // The V8 heap limit derived from the memory budget (app/contract/memory.ts), before anything listens.
  const heap = checkHeap(config.limits.memoryBudgetBytes, config.env === 'production');
  if (heap.error) throw new ConfigError(`invalid configuration: ${heap.error}`);
  if (heap.warning) log.warn({ event: 'heap_limit' }, heap.warning);
  const backplane = createBackplane(config, log);
  const server = new SluiceServer({ config, backplane, logger: log });
  const { port, adminPort } = await server.start();

  // One owner of drain -> backplane close -> exit, whatever started it (app/server/shutdown.ts).
  let watcher: LifecycleWatcher | undefined;
  const controller = new ShutdownController({
    server,
    backplane,
    log,
    exit: (code) => process.exit(code),
    onDrainStart: () => void watcher?.stop(),
  });
  process.on('SIGTERM', () => void controller.begin('sigterm'));
  process.on('SIGINT', () => void controller.begin('sigint'));

  // GCE lifecycle watcher (drain layer 1, app/lifecycle): drains as soon as the MIG schedules this VM's
  // removal, before the LB's connection draining runs out. Its health shows in GET /status and as
  // sluice_lifecycle_watcher_up, so a 403 is visible, not only logged; its failure label says whether
  // it was a missing IAM grant (permission) or the project's Compute quota (quota).
  if (config.gceWatcher) {
    watcher = new LifecycleWatcher({
      pollIntervalMs: config.timeouts.gce.watcherPollIntervalMs,
      requestTimeoutMs: config.timeouts.gce.watcherRequestTimeoutMs,
      log: log.child({ component: 'lifecycle' }),
      ...endpointsFromEnv(process.env),
      onDrain: (event) => void controller.begin(event === 'PREEMPTED' ? 'preemption' : 'watcher', event),
    });
    const w = watcher;
    server.lifecycle = { status: () => w.health() };
    server.metrics.lifecycleWatcherUp.set(0);
    w.on('health', (h: WatcherHealth) => server.metrics.lifecycleWatcherUp.set(h.up ? 1 : 0));
    // A 403 is either a missing role or a spent quota: the label tells them apart (operating runbook).
    w.on('pollError', (_err: unknown, failure: PollFailure) => server.metrics.lifecycleWatcherPollFailures.inc({ failure }));
    w.start();
  }

  if (process.stdout.isTTY || config.env === 'development') {
    const loopback = isLoopbackHost(config.host);
    process.stderr.write(
      `sluice ${config.serverId}: ws://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}${SOCKET_PATH}?vsn=2.0.0\n` +
        (loopback
          ? `  listening on ${config.host} only (this machine); SLUICE_HOST=0.0.0.0 to accept other machines\n`
          : `  listening on ${config.host}: reachable from other machines\n`) +
        (config.tokenSecret === DEV_TOKEN_SECRET
          ? `  token secret: the public DEVELOPMENT secret (SLUICE_TOKEN_SECRET is unset): anyone can mint tokens for this server; set SLUICE_TOKEN_SECRET (32+ characters) before it faces a network\n`
          : '') +
        `  admin: http://${config.adminHost}:${adminPort}/status  (bearer SLUICE_ADMIN_TOKEN when set, required off loopback and in production; POST /drain to drain)\n` +
        `  token: npm run token -- --sub gw-1 --kind gateway  (sent in Sec-WebSocket-Protocol, never in the URL)\n`,
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
