/**
 * A fleet of drill peers in one process: N SluiceClients, clients paired with gateways, each pair
 * exchanging numbered signals, while servers drain, rotate, black-hole or restart around them.
 * The local region, the rollout drill and the tests run it; the peer CLI is a thin wrapper.
 *
 *   const fleet = runFleet({ urls, count: 200, tokenSecret });
 *   await fleet.ready();          // every peer joined once
 *   ...                           // drain a server, kill one, ...
 *   const summary = await fleet.stop();
 *
 * Pairing: ceil(N/2) clients `<prefix>-c-<k>` and floor(N/2) gateways `<prefix>-g-<k>`; client k
 * and gateway k send to each other; with N odd the last client sends to gateway 0 (N = 1: itself).
 * A peer starts sending once it and its partner have joined (so the partner is addressable).
 *
 * Counting (in FleetSummary): every numbered signal is `(sender, n)`. `delivered` counts distinct
 * ones that reached the partner's listeners, `duplicated` those that reached them again, and after
 * stop() has let in-flight signals settle, `lost` = sent - failed (refused for good by the server)
 * - delivered: a signal still unacknowledged, or acknowledged but never delivered, is lost.
 * A reconnect gap is the time from losing a joined session to the next join of that peer.
 */
import pino, { Logger } from 'pino';
import { signToken } from '../auth/token';
import { defaultTimeouts, Timeouts } from '../contract/timeouts';
import { redact } from '../client/wire';
import { DrillPeer, PeerSpec, PeerStats } from './peer';
import { mulberry32 } from './prng';
import { sdkLogger } from './sdk-logger';

export interface FleetOptions {
  /** Server endpoints (ws://host:port/socket/websocket); every peer rotates through all of them. */
  urls: string[];
  count: number;
  /** HS256 secret to mint each peer's token (24 h, re-minted on every connection attempt). */
  tokenSecret?: string;
  /** The account (tenant) of the minted tokens (default DEFAULT_ACCOUNT): the fleet's peers signal within it. */
  account?: string;
  /** Or a token source per peer (takes precedence over tokenSecret). */
  token?: (peer: PeerSpec) => string | Promise<string>;
  /** Timeouts for every client (default `defaultTimeouts`). */
  timeouts?: Timeouts;
  /** One numbered signal per peer every this many ms (default 250). */
  intervalMs?: number;
  /** Stop by itself after this long (from the call); `done` then resolves with the summary. */
  durationMs?: number;
  /** Seed for every peer's backoff, jitter and send phase (default 1): runs are reproducible. */
  seed?: number;
  /** Peer id prefix (default `fleet`). */
  prefix?: string;
  /** Start peer i on urls[i % urls.length] (default true); false: everyone starts on urls[0]. */
  spread?: boolean;
  /** Each peer's own endpoints instead (several regions: the global front of the peer's region). */
  urlsFor?: (peer: PeerSpec, index: number) => string[];
  /** Tokens in the URL query instead of the Sec-WebSocket-Protocol header (servers older than the header). */
  tokenInQuery?: boolean;
  /** JSON-lines logger; each peer logs its state changes on a child. Default: silent. */
  logger?: Logger;
  /**
   * How long stop() waits for in-flight signals to land. Default, from the contract: the time a
   * peer may need to notice a dead socket, back off, connect and join.
   */
  settleMs?: number;
}

export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface FleetSummary {
  peers: number;
  urls: string[];
  durationMs: number;
  intervalMs: number;
  /** Numbered signals handed to send(). */
  sent: number;
  /** Answered ok by the server (delivered, stored or duplicate). */
  acked: number;
  /** Refused for good (e.g. unknown_peer); these are not counted as lost. */
  failed: number;
  failures: Record<string, number>;
  statuses: { delivered: number; stored: number; duplicate: number };
  /** Distinct numbered signals that reached the partner. */
  delivered: number;
  /** Numbered signals that reached the partner more than once (must be 0). */
  duplicated: number;
  /** sent - failed - delivered after settling (must be 0). */
  lost: number;
  /** Sends still unanswered when the summary was taken. */
  unacked: number;
  reconnects: number;
  /** Deliveries that came from a resume replay. */
  replayed: number;
  /** `gap` events: history could not cover a resume. */
  historyGaps: number;
  longestGapMs: number;
  /** Reconnect gaps (ms) over all peers. */
  gapMs: Percentiles;
  /** True when every in-flight signal was accounted for before settleMs ran out. */
  settled: boolean;
  /** Peers that stopped by themselves (e.g. 401 `unauthorized`), by reason. */
  fatal: Record<string, number>;
}

export interface FleetController {
  readonly peers: readonly DrillPeer[];
  /** Resolves once every peer has joined at least once. */
  ready(): Promise<void>;
  /** Counts so far (nothing settled). */
  snapshot(): FleetSummary;
  /** Stop sending, let in-flight signals settle (bounded), close every peer, return the summary. */
  stop(): Promise<FleetSummary>;
  /** Resolves with the summary when the fleet stops (stop() or durationMs). */
  readonly done: Promise<FleetSummary>;
}

/** Ids, kinds and partners for a fleet of `count`. */
export function pairPeers(count: number, prefix = 'fleet'): PeerSpec[] {
  if (!Number.isInteger(count) || count < 1) throw new Error(`fleet count must be a positive integer, got ${count}`);
  const clients = Math.ceil(count / 2);
  const gateways = Math.floor(count / 2);
  const specs: PeerSpec[] = [];
  for (let k = 0; k < clients; k++) {
    const partner = k < gateways ? k : 0;
    specs.push({ id: `${prefix}-c-${k}`, kind: 'client', to: gateways > 0 ? `${prefix}-g-${partner}` : `${prefix}-c-${k}` });
  }
  for (let k = 0; k < gateways; k++) specs.push({ id: `${prefix}-g-${k}`, kind: 'gateway', to: `${prefix}-c-${k}` });
  return specs;
}

/** Nearest-rank percentiles. */
export function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { count: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  return { count: s.length, p50: at(50), p90: at(90), p99: at(99), max: s[s.length - 1] };
}

/** What summarizeFleet reads of each peer: its counts and its sends still unanswered. */
export interface TalliedPeer {
  readonly stats: PeerStats;
  readonly pending: number;
}

/**
 * The fleet's summary from its peers' counts (the drill fleet here and the light fleet of
 * bench/lib/light-fleet-worker.ts count alike): sums, refusals and statuses by reason, reconnect
 * gap percentiles, and `lost` = sent - failed - delivered.
 */
export function summarizeFleet(
  peers: readonly TalliedPeer[],
  meta: { urls: string[]; durationMs: number; intervalMs: number; settled: boolean },
): FleetSummary {
  const sum = (f: (s: PeerStats) => number) => peers.reduce((acc, p) => acc + f(p.stats), 0);
  const failures: Record<string, number> = {};
  const fatal: Record<string, number> = {};
  const statuses = { delivered: 0, stored: 0, duplicate: 0 };
  for (const { stats } of peers) {
    if (stats.fatal) fatal[stats.fatal] = (fatal[stats.fatal] ?? 0) + 1;
    for (const [k, v] of Object.entries(stats.failures)) failures[k] = (failures[k] ?? 0) + v;
    for (const k of Object.keys(statuses) as Array<keyof typeof statuses>) statuses[k] += stats.statuses[k];
  }
  const g = percentiles(peers.flatMap((p) => p.stats.gapsMs));
  const sent = sum((s) => s.sent);
  const failed = sum((s) => s.failed);
  const delivered = sum((s) => s.received);
  return {
    peers: peers.length,
    urls: meta.urls,
    durationMs: meta.durationMs,
    intervalMs: meta.intervalMs,
    sent,
    acked: sum((s) => s.acked),
    failed,
    failures,
    statuses,
    delivered,
    duplicated: sum((s) => s.duplicated),
    lost: sent - failed - delivered,
    unacked: peers.reduce((acc, p) => acc + p.pending, 0),
    reconnects: sum((s) => s.reconnects),
    replayed: sum((s) => s.replayed),
    historyGaps: sum((s) => s.historyGaps),
    longestGapMs: g.max,
    gapMs: g,
    settled: meta.settled,
    fatal,
  };
}

export function runFleet(opts: FleetOptions): FleetController {
  if (opts.urls.length === 0) throw new Error('runFleet: at least one url is required');
  if (!opts.token && !opts.tokenSecret) throw new Error('runFleet: tokenSecret or token is required');
  const timeouts = opts.timeouts ?? defaultTimeouts;
  const intervalMs = opts.intervalMs ?? 250;
  const seed = opts.seed ?? 1;
  const logger = opts.logger ?? pino({ level: 'silent' });
  const c = timeouts.client;
  const settleMs = opts.settleMs ?? c.deadPeerDetectionMs + c.reconnectCapMs + c.connectTimeoutMs + c.joinTimeoutMs;
  const phase = mulberry32(seed ^ 0x5eed);
  const startedAt = Date.now();

  const specs = pairPeers(opts.count, opts.prefix);
  const byId = new Map<string, DrillPeer>();
  let stopping = false;
  let settleCheck: (() => void) | undefined;
  const progress = () => settleCheck?.();

  const peers = specs.map((spec, i) => {
    const tokenSecret = opts.tokenSecret;
    const token = opts.token
      ? () => opts.token!(spec)
      : () => signToken(tokenSecret!, { sub: spec.id, kind: spec.kind, account: opts.account });
    const log = logger.child({ peer: spec.id, kind: spec.kind });
    const peer = new DrillPeer(
      spec,
      {
        url: opts.urlsFor?.(spec, i) ?? opts.urls,
        startUrlIndex: opts.urlsFor || opts.spread === false ? 0 : i,
        token,
        tokenInQuery: opts.tokenInQuery,
        timeouts,
        random: mulberry32(seed * 1_000_003 + i),
        // The SDK's own lines only from warn up: the peer already logs every state change.
        logger: sdkLogger(log),
      },
      log,
      progress,
    );
    byId.set(spec.id, peer);
    return peer;
  });

  // Start a peer's exchange once it and its partner are both joined.
  const maybeStart = (p: DrillPeer) => {
    const partner = byId.get(p.spec.to);
    if (!stopping && p.joined && partner?.joined) p.startSending(intervalMs, phase() * intervalMs);
  };
  for (const p of peers) {
    p.client.once('connected', () => {
      maybeStart(p);
      for (const q of peers) if (q.spec.to === p.spec.id) maybeStart(q);
    });
  }
  for (const p of peers) p.connect();

  const summarize = (settled: boolean): FleetSummary =>
    summarizeFleet(peers, { urls: opts.urls.map(redact), durationMs: Date.now() - startedAt, intervalMs, settled });

  let resolveDone!: (s: FleetSummary) => void;
  const done = new Promise<FleetSummary>((resolve) => (resolveDone = resolve));
  let stopPromise: Promise<FleetSummary> | undefined;

  const stop = (): Promise<FleetSummary> => {
    stopPromise ??= (async () => {
      stopping = true;
      clearTimeout(durationTimer);
      for (const p of peers) p.stopSending();
      // Settled: every send answered, and every signal not refused has reached its partner.
      const isSettled = () => {
        const s = summarize(false);
        return s.unacked === 0 && s.lost <= 0;
      };
      const settled = await new Promise<boolean>((resolve) => {
        if (isSettled()) return resolve(true);
        const timer = setTimeout(() => {
          settleCheck = undefined;
          resolve(false);
        }, settleMs);
        settleCheck = () => {
          if (!isSettled()) return;
          clearTimeout(timer);
          settleCheck = undefined;
          resolve(true);
        };
      });
      const summary = summarize(settled);
      await Promise.all(peers.map((p) => p.close()));
      logger.debug({ event: 'summary', ...summary }, 'fleet stopped');
      resolveDone(summary);
      return summary;
    })();
    return stopPromise;
  };
  const durationTimer = opts.durationMs !== undefined ? setTimeout(() => void stop(), opts.durationMs) : undefined;

  return {
    peers,
    ready: () => Promise.all(peers.map((p) => p.client.ready())).then(() => undefined),
    snapshot: () => summarize(false),
    stop,
    done,
  };
}
