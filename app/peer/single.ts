/**
 * One drill peer on its own (the CLI without --count): it sends numbered signals to a partner that
 * runs elsewhere, so only the receiving side of the books is complete here. Its `lost` counts the
 * holes in the partner's numbering (numbers below the highest received that never arrived).
 */
import pino, { Logger } from 'pino';
import { defaultTimeouts, Timeouts } from '../contract/timeouts';
import { DrillPeer, PeerSpec } from './peer';
import { FleetSummary, percentiles } from './fleet';
import { mulberry32 } from './prng';
import { sdkLogger } from './sdk-logger';

export interface SinglePeerOptions {
  urls: string[];
  spec: PeerSpec;
  token: string | (() => string | Promise<string>);
  timeouts?: Timeouts;
  intervalMs?: number;
  durationMs?: number;
  seed?: number;
  logger?: Logger;
  /** Token in the URL query instead of the Sec-WebSocket-Protocol header (servers older than the header). */
  tokenInQuery?: boolean;
}

/** One peer's books: the fleet summary's counters, for a single peer and its partner. */
export type PeerSummary = Pick<
  FleetSummary,
  | 'durationMs'
  | 'sent'
  | 'acked'
  | 'failed'
  | 'failures'
  | 'delivered'
  | 'duplicated'
  | 'lost'
  | 'unacked'
  | 'reconnects'
  | 'replayed'
  | 'historyGaps'
  | 'longestGapMs'
  | 'gapMs'
> & {
  peer: string;
  to: string;
  /** Why the peer stopped by itself (e.g. `unauthorized`), if it did. */
  fatal?: string;
};

export function runPeer(opts: SinglePeerOptions): { peer: DrillPeer; stop(): Promise<PeerSummary>; done: Promise<PeerSummary> } {
  const timeouts = opts.timeouts ?? defaultTimeouts;
  const c = timeouts.client;
  const logger = opts.logger ?? pino({ level: 'silent' });
  const log = logger.child({ peer: opts.spec.id, kind: opts.spec.kind });
  const random = mulberry32(opts.seed ?? 1);
  const startedAt = Date.now();
  const peer = new DrillPeer(
    opts.spec,
    {
      url: opts.urls,
      token: opts.token,
      tokenInQuery: opts.tokenInQuery,
      timeouts,
      random,
      logger: sdkLogger(log),
    },
    log,
    undefined,
    () => void stop(),
  );
  peer.client.once('connected', () => peer.startSending(opts.intervalMs ?? 250, 0));

  let resolveDone!: (s: PeerSummary) => void;
  const done = new Promise<PeerSummary>((resolve) => (resolveDone = resolve));
  let stopping: Promise<PeerSummary> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      clearTimeout(timer);
      peer.stopSending();
      // Let what is in flight be answered, within the time a reconnect may take.
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([
        peer.idle(),
        new Promise((r) => (bound = setTimeout(r, c.deadPeerDetectionMs + c.reconnectCapMs + c.connectTimeoutMs))),
      ]);
      clearTimeout(bound);
      const s = peer.stats;
      const g = percentiles(s.gapsMs);
      const summary: PeerSummary = {
        peer: opts.spec.id,
        to: opts.spec.to,
        durationMs: Date.now() - startedAt,
        sent: s.sent,
        acked: s.acked,
        failed: s.failed,
        failures: s.failures,
        delivered: s.received,
        duplicated: s.duplicated,
        lost: peer.holesFrom(opts.spec.to),
        unacked: peer.pending,
        reconnects: s.reconnects,
        replayed: s.replayed,
        historyGaps: s.historyGaps,
        longestGapMs: g.max,
        gapMs: g,
      };
      if (s.fatal) summary.fatal = s.fatal;
      await peer.close();
      resolveDone(summary);
      return summary;
    })();
    return stopping;
  };
  const timer = opts.durationMs !== undefined ? setTimeout(() => void stop(), opts.durationMs) : undefined;
  peer.connect();
  return { peer, stop, done };
}
