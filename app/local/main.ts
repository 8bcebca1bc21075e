/**
 * `npm start`: a whole region on this machine. Three sluice servers with distinct ids on one
 * backplane, a load balancer in front, a fleet of drill peers exchanging numbered signals through
 * it, and a status page with a "roll out" button. With Node alone: the servers share the in-memory
 * backplane in this process and the balancer is the built-in one. With `redis-server` / `haproxy`
 * on PATH the real parts are used (force with `--backplane`, `--lb`).
 *
 * Ctrl-C or SIGTERM: the fleet stops (its summary is printed: every signal accounted for), every
 * server drains, then the LB and Redis stop; no process is left behind. Exit 0, or 1 if a signal
 * was lost or duplicated.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { SERVER_PORT } from '../protocol/endpoints';
import type { FleetSummary } from '../peer/fleet';
import type { LocalBalancerKind } from './lb/load-balancer';
import { BackplaneKind, Region, startRegion } from './region/region';
import { clusterMissing } from './region/redis-cluster';
import { watchLaunchers } from './lifeline';
import { checkPorts } from './ports';
import { startStatusServer } from './status/server';
import { fleetLine, runStartRegions } from './start-regions';
import { regionTimeouts } from './region/timeouts';

interface StartOptions {
  lb: LocalBalancerKind | 'auto';
  backplane: BackplaneKind | 'auto';
  /** Several regions (start-regions.ts, docs/regions.md); 1: the one region below. */
  regions: number;
  regionDelayMs: number;
  servers: number;
  peers: number;
  port: number;
  statusPort: number;
  interval: number;
  quick: boolean;
  logLevel: string;
  jsonLogs: boolean;
}

const int = (min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`must be an integer >= ${min}`);
  return n;
};

export async function runStart(
  o: StartOptions,
  out: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<{ region: Region; stop(reason: string): Promise<FleetSummary | undefined> }> {
  // Before anything starts: a taken port is named with its holder and the flag that moves it.
  await checkPorts([
    { port: o.port, what: 'load balancer', flag: '--port' },
    { port: o.statusPort, what: 'status page', flag: '--status-port' },
  ]);
  const region = await startRegion({
    servers: o.servers,
    peers: o.peers,
    timeouts: regionTimeouts(o.quick),
    lb: o.lb,
    backplane: checkBackplane(o, out),
    port: o.port,
    intervalMs: o.interval,
    logLevel: o.logLevel,
    jsonLogs: o.jsonLogs,
  });
  process.once('exit', () => region.killNow());
  const status = await startStatusServer(region, o.statusPort).catch(async (err: Error) => {
    await region.stop();
    throw err;
  });
  if (o.peers > 0) await region.startFleet();
  out(
    [
      '',
      `sluice region is running: ${region.live().length} servers (${region
        .live()
        .map((s) => s.id)
        .join(', ')}), ` +
        `${BACKPLANE_TEXT[region.backplaneKind]}, ` +
        `${region.lb.kind === 'haproxy' ? 'HAProxy' : 'built-in'} load balancer, ${o.peers} peers.`,
      `  status page  : ${status.url}`,
      `  load balancer: ${region.lbUrl}?vsn=2.0.0`,
      // Tokens never go in a URL (LBs and proxies log URLs): the peer CLI signs one with the
      // region's development secret and sends it in the Sec-WebSocket-Protocol header.
      `  two peers    : npm run peer -- --url ${region.lbUrl} --kind client --id me --to gw-me`,
      `                 npm run peer -- --url ${region.lbUrl} --kind gateway --id gw-me --to me`,
      '                 (each signs its token and sends it in the Sec-WebSocket-Protocol header, never in the URL: docs/security.md "Tokens out of URLs")',
      `  roll out     : curl -X POST -H 'Content-Type: application/json' ${status.url}api/rollout`,
      ...region.live().map((s) => `  ${s.id} admin: http://127.0.0.1:${s.adminPort}/status`),
      '  Ctrl-C stops the fleet, drains every server, and stops the rest.',
      '',
    ].join('\n'),
  );
  let stopping: Promise<FleetSummary | undefined> | undefined;
  const stop = (reason: string) => {
    stopping ??= (async () => {
      out(
        `stopping (${reason}): fleet, then a drain of every server, then the load balancer${region.backplaneKind === 'memory' ? '' : ' and Redis'}...`,
      );
      await status.close();
      const printSummary = (summary: FleetSummary | undefined) => {
        if (!summary) return;
        out(`${fleetLine(summary)}, peers ever offline ${region.monitor.everOffline.size}`);
      };
      const summary = await region.stop().catch((err: Error) => {
        printSummary(region.summary);
        throw err;
      });
      printSummary(summary);
      out('stopped.');
      return summary;
    })();
    return stopping;
  };
  return { region, stop };
}

const BACKPLANE_TEXT: Record<BackplaneKind, string> = {
  memory: 'in-memory backplane, servers in this process',
  redis: 'Redis backplane, servers as child processes',
  'redis-cluster': 'Redis Cluster backplane (3 primaries + 3 replicas), servers as child processes',
};

/**
 * The backplane to ask the region for. `redis-cluster` without redis-server or redis-cli: one region
 * falls back to the in-memory backplane and says so; several regions need a Redis each (an error).
 */
export function checkBackplane(o: Pick<StartOptions, 'backplane' | 'regions'>, out: (line: string) => void): BackplaneKind | 'auto' {
  if (o.regions > 1 && o.backplane === 'memory')
    throw new Error('--regions: each region needs its own Redis (--backplane redis or auto); the in-memory backplane is one process');
  const missing = o.backplane === 'redis-cluster' ? clusterMissing() : undefined;
  if (missing && o.regions > 1) throw new Error(`--backplane redis-cluster: ${missing} (apt-get install redis-server)`);
  if (missing) {
    out(`--backplane redis-cluster: ${missing} (apt-get install redis-server); falling back to the in-memory backplane`);
    return 'memory';
  }
  return o.backplane;
}

if (require.main === module) {
  const program = new Command('start')
    .description('Run a sluice region locally: servers, a load balancer, a fleet of peers and a status page.')
    .addOption(new Option('--lb <kind>', 'load balancer').choices(['auto', 'builtin', 'haproxy']).default('auto'))
    .addOption(new Option('--backplane <kind>', 'backplane').choices(['auto', 'memory', 'redis', 'redis-cluster']).default('auto'))
    .option('--regions <n>', 'regions, each its own servers, balancer and Redis (docs/regions.md)', int(1), 1)
    .option('--region-delay-ms <ms>', 'added round-trip time between two regions', int(0), 100)
    .option('--servers <n>', 'servers in the region', int(1), 3)
    .option('--peers <n>', 'drill peers in the fleet (0: none)', int(0), 60)
    .option('--port <port>', 'load balancer port on 127.0.0.1 (0: any free port)', int(0), SERVER_PORT)
    .option('--status-port <port>', 'status page port on 127.0.0.1 (0: any free port)', int(0), 8080)
    .option('--interval <ms>', 'one numbered signal per peer every this many ms', int(10), 500)
    .option('--quick', "the scaled-down contract of the drill's --quick (short drains)", false)
    .option('--json-logs', 'server log lines as JSON (pino), as in production (default: one readable line each)', false)
    .addOption(
      new Option('--log-level <level>', 'server log level (stderr)')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'silent'])
        .default('warn'),
    )
    .action(async (o: StartOptions) => {
      // Installed before anything starts: a Ctrl-C while the region comes up stops it once it is
      // up (a stop waits for the parts still starting), not by killing this process midway. Every
      // process of the terminal's foreground group gets the SIGINT, and npm and tsx forward theirs
      // here too: `on`, not `once` (a second SIGINT with no listener would end the process), and
      // one stop.
      let asked: string | undefined;
      let started: { stop(reason: string): Promise<FleetSummary | undefined> } | undefined;
      const onSignal = (sig: string) => {
        if (asked !== undefined) return;
        asked = sig;
        if (!started) {
          process.stderr.write(`${sig}: the region stops once its parts have started...\n`);
          return;
        }
        void started.stop(sig).then(
          (s) => process.exit(s && (s.lost > 0 || s.duplicated > 0) ? 1 : 0),
          (err: Error) => {
            process.stderr.write(`stop failed: ${err.message}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => onSignal('SIGINT'));
      process.on('SIGTERM', () => onSignal('SIGTERM'));
      // npm (or tsx) SIGKILLed: nothing signals this process, so it notices the launcher gone.
      watchLaunchers((pid) => onSignal(`launcher ${pid} gone`));
      if (o.regions > 1) {
        const backplane = checkBackplane(o, (l) => process.stderr.write(`${l}\n`));
        started = await runStartRegions({ ...o, backplane: backplane === 'redis-cluster' ? backplane : 'redis' });
      } else started = await runStart(o);
      if (asked !== undefined) {
        const sig = asked;
        asked = undefined;
        onSignal(sig);
      }
    });
  program.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
  program.parseAsync().catch((err: Error) => {
    process.stderr.write(`start: ${err.message}\n`);
    process.exit(2);
  });
}
