/**
 * `npm run peer -- ...`: drill peers from the command line, logging every state change as a JSON
 * line on stdout and, on exit (SIGINT, SIGTERM or --duration), one final `{"event":"summary",...}`
 * line. Exit codes: 0; 1 when the summary shows a lost or duplicated signal; 2 for bad arguments;
 * 3 when a peer stopped by itself (e.g. its token was refused with 401: no retry loop); 4 when a
 * peer never joined (nothing listening, refused upgrades); 5 when signals were refused for good
 * (e.g. unknown_peer: the partner never joined). Each non-zero exit says why on stderr.
 *
 *   npm run peer -- --kind gateway --id gw-1 --to c-1 --url ws://127.0.0.1:4000/socket/websocket
 *   npm run peer -- --count 200 --url ws://127.0.0.1:4000/socket/websocket,ws://127.0.0.1:4001/socket/websocket --duration 60
 *
 * Token: SLUICE_TOKEN (one peer only), else minted from SLUICE_TOKEN_SECRET, else from the
 * development secret (as `npm run token` does). It is sent in the Sec-WebSocket-Protocol header,
 * never in the URL unless --token-in-query (servers older than the header). Timeouts: SLUICE_TIMEOUTS, JSON overrides of the
 * contract, validated like the server's.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import { DEFAULT_ACCOUNT, DEV_TOKEN_SECRET, PEER_ID_PATTERN, PEER_KINDS, PeerKind, signToken } from '../auth/token';
import { resolveTimeouts, Timeouts, TimeoutsOverrides } from '../contract/timeouts';
import { SERVER_PORT, SOCKET_PATH } from '../protocol/endpoints';
import { FleetSummary, runFleet } from './fleet';
import type { DrillPeer } from './peer';
import { PeerSummary, runPeer } from './single';

interface CliOptions {
  url: string[];
  kind: PeerKind;
  id?: string;
  to?: string;
  account: string;
  count?: number;
  interval: number;
  duration?: number;
  seed: number;
  logLevel: string;
  tokenInQuery: boolean;
}

const DEFAULT_URL = `ws://127.0.0.1:${SERVER_PORT}${SOCKET_PATH}`;

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};
const peerId = (v: string) => {
  if (!PEER_ID_PATTERN.test(v)) throw new InvalidArgumentError('must be 1-128 characters of [A-Za-z0-9_.-]');
  return v;
};
/** `--url a --url b,c` -> [a, b, c]; each must be a ws:// or wss:// URL. */
const collectUrls = (v: string, prev: string[]) => {
  const urls = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new InvalidArgumentError(`not a URL: ${u}`);
    }
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new InvalidArgumentError(`not a ws:// or wss:// URL: ${u}`);
  }
  return [...prev, ...urls];
};

function timeoutsFromEnv(): Timeouts {
  const raw = process.env.SLUICE_TIMEOUTS;
  if (!raw) return resolveTimeouts();
  let overrides: TimeoutsOverrides;
  try {
    overrides = JSON.parse(raw) as TimeoutsOverrides;
  } catch {
    throw new Error('SLUICE_TIMEOUTS must be a JSON object of timeouts overrides');
  }
  return resolveTimeouts(overrides);
}

const program = new Command('peer')
  .description('Drill peers: exchange numbered signals with a partner through sluice and report loss, duplicates and reconnect gaps.')
  .option('--url <url>', `server endpoint; repeat or comma-separate to spread over servers (default ${DEFAULT_URL})`, collectUrls, [])
  .addOption(new Option('--kind <kind>', 'peer kind (single peer)').choices([...PEER_KINDS]).default('client'))
  .option('--id <id>', 'peer id (single peer), or the id prefix with --count', peerId)
  .option('--to <id>', 'partner peer id (single peer; by default servers relay only client<->gateway)', peerId)
  .option('--account <name>', 'account (tenant) of the minted tokens: peers signal within their account', DEFAULT_ACCOUNT)
  .option('--count <n>', 'run a fleet of N peers in this process, clients paired with gateways', positiveInt)
  .option('--interval <ms>', 'one numbered signal per peer every this many ms', positiveInt, 250)
  .option('--duration <seconds>', 'stop after this many seconds (default: until SIGINT/SIGTERM)', positiveInt)
  .option('--seed <n>', 'seed for backoff, jitter and send phases', positiveInt, 1)
  .option(
    '--token-in-query',
    'send the token in the URL query instead of the Sec-WebSocket-Protocol header (servers older than the header only; URLs end up in LB logs)',
    false,
  )
  .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).default('info'))
  .action(async (opts: CliOptions) => {
    const urls = opts.url.length > 0 ? opts.url : [DEFAULT_URL];
    const timeouts = timeoutsFromEnv();
    // One synchronous destination for the log lines and the summary, so the summary is the last line.
    const out = pino.destination({ fd: 1, sync: true });
    const logger = pino({ level: opts.logLevel, base: undefined }, out);
    const secret = process.env.SLUICE_TOKEN_SECRET ?? DEV_TOKEN_SECRET;
    const durationMs = opts.duration !== undefined ? opts.duration * 1000 : undefined;

    let run: { stop(): Promise<FleetSummary | PeerSummary>; done: Promise<FleetSummary | PeerSummary> };
    let peers: DrillPeer[];
    if (opts.count !== undefined) {
      const fleet = runFleet({
        urls,
        count: opts.count,
        tokenSecret: secret,
        account: opts.account,
        timeouts,
        intervalMs: opts.interval,
        durationMs,
        seed: opts.seed,
        prefix: opts.id ?? 'fleet',
        logger,
        tokenInQuery: opts.tokenInQuery,
      });
      run = fleet;
      peers = [...fleet.peers];
    } else {
      if (!opts.id || !opts.to) throw new InvalidArgumentError('a single peer needs --id and --to (or use --count N for a fleet)');
      const id = opts.id;
      const kind = opts.kind;
      const token = process.env.SLUICE_TOKEN ?? (() => signToken(secret, { sub: id, kind, account: opts.account }));
      const single = runPeer({
        urls,
        spec: { id, kind, to: opts.to },
        token,
        timeouts,
        intervalMs: opts.interval,
        durationMs,
        seed: opts.seed,
        logger,
        tokenInQuery: opts.tokenInQuery,
      });
      run = single;
      peers = [single.peer];
    }
    // Why attempts failed before a peer ever joined (said on stderr when one never did).
    const attempts: Record<string, number> = {};
    for (const p of peers) {
      p.client.on('disconnected', (d) => {
        if (d.wasJoined) return;
        const k = `${d.reason}${d.status ? ` ${d.status}` : ''}`;
        attempts[k] = (attempts[k] ?? 0) + 1;
      });
    }
    // `on`, not `once`: in a terminal, npm and tsx forward their own Ctrl-C here too, and a second
    // SIGINT with no listener would end the process before its summary.
    let stopping = false;
    const onSignal = (sig: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ event: 'stopping', signal: sig }, 'stopping');
      void run.stop();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const summary = await run.done;
    out.write(`${JSON.stringify({ event: 'summary', ...summary })}\n`);
    const fatal = 'peers' in summary ? Object.keys(summary.fatal).length > 0 : summary.fatal !== undefined;
    const never = peers.filter((p) => !p.joined).map((p) => p.spec.id);
    const tried =
      Object.entries(attempts)
        .map(([k, n]) => `${k} x${n}`)
        .join(', ') || 'no answer';
    const code = summary.lost > 0 || summary.duplicated > 0 ? 1 : fatal ? 3 : never.length > 0 ? 4 : summary.failed > 0 ? 5 : 0;
    if (code === 1) process.stderr.write(`peer: ${summary.lost} signal(s) lost, ${summary.duplicated} duplicated\n`);
    if (code === 3) process.stderr.write(`peer: stopped by itself: ${JSON.stringify(summary.fatal)}${stopHint(summary)}\n`);
    if (code === 4)
      process.stderr.write(
        `peer: ${never.length === peers.length ? 'never connected' : `${never.length} of ${peers.length} peers never joined`} (${urls.join(', ')}: ${tried}); is the server or region running?\n`,
      );
    if (code === 5)
      process.stderr.write(
        `peer: ${summary.failed} of ${summary.sent} signals refused for good: ${JSON.stringify(summary.failures)}${summary.failures.unknown_peer ? ' (unknown_peer: the partner (--to) must be connected; start it too)' : ''}\n`,
      );
    process.exitCode = code;
  });

/** Why a peer that stopped by itself will not come back on its own (said after the stop reasons). */
function stopHint(summary: FleetSummary | PeerSummary): string {
  const reasons = 'peers' in summary ? Object.keys(summary.fatal) : [summary.fatal];
  if (reasons.includes('revoked'))
    return ' (revoked: the operator revoked this token or disconnected this peer (close 4403 / HTTP 403); it is not retried: mint a new token)';
  if (reasons.includes('unauthorized')) return ' (unauthorized: the token was refused with 401: missing, invalid or expired)';
  return '';
}

// Usage errors exit 2 (commander's default is 1); --help exits 0.
program.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

program.parseAsync().catch((err: Error) => {
  process.stderr.write(`peer: ${err.message}\n`);
  process.exit(2);
});
