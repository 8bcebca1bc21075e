/**
 * How a region's drill fleet first joins through the load balancer: first connections spread over
 * time and capped in flight (a loaded 2-core machine collapsed when 120 peers connected at once),
 * then a bounded wait for every peer's join whose error says how far the fleet got and why.
 * Reconnects are never delayed: only each peer's first token fetch waits for its slot.
 */
import pino from 'pino';
import { signToken } from '../../auth/token';
import type { Timeouts } from '../../contract/timeouts';
import { FleetController, runFleet } from '../../peer/fleet';
import type { PeerSpec } from '../../peer/peer';
import type { LoadBalancer } from '../lb/load-balancer';

/** The account of the region's fleet (app/auth/policy.ts): its clients and gateways signal within it. */
export const REGION_ACCOUNT = 'local-region';

/**
 * The fleet's first connections arrive at this rate, not all in one millisecond. 120 peers
 * connecting at once on a loaded 2-core machine collapsed: upgrades took over the 1 s connect
 * timeout of `--quick`, every attempt was abandoned and retried, the health checks behind the same
 * event loop timed out, HAProxy marked every server down and answered 503 for 20 s. 40 per second
 * is twice the reconnect rate a `--quick` drain asks of one server (40 peers over its 2 s window).
 */
export const JOIN_RAMP_PER_SEC = 40;
/**
 * ... and at most this many first connections are in flight (started, not joined yet) at once, so
 * the ramp slows down by itself when upgrades are slow: on a loaded machine 40 a second still
 * collapsed (the first answers took over a second; every server down at HAProxy, 503s for 30 s).
 */
export const JOIN_IN_FLIGHT = 10;

export interface FleetJoinOptions {
  peers: number;
  secret: string;
  /** The region's LB endpoint; `urlsFor` gives each peer its own endpoints instead (regions.ts). */
  lbUrl: string;
  urlsFor?: (peer: PeerSpec, index: number) => string[];
  /** The region's contract: its connect timeout bounds the wait for the joins. */
  timeouts: Timeouts;
  /** The peers' contract (default: the region's). */
  clientTimeouts?: Timeouts;
  intervalMs?: number;
  seed?: number;
}

/**
 * Start the fleet with its first joins ramped. `fleet` is running at once (a monitor can watch it
 * join); `joined` resolves with it once every peer has joined, or rejects past the bound with how
 * many joined, what their failed attempts ran into, and what `lb` thinks of its servers.
 */
export function startRampedFleet(o: FleetJoinOptions, lb: LoadBalancer): { fleet: FleetController; joined: Promise<FleetController> } {
  // The client fetches its token before each attempt: the first fetch of peer i waits for its
  // slot of the ramp, so first connects are spread; reconnects are never delayed.
  const t0 = Date.now();
  let slot = 0;
  const firstAt = new Map<string, number>();
  let inFlight = 0;
  const waiting: Array<() => void> = [];
  const admitted = new Set<string>();
  const admit = async (id: string) => {
    if (admitted.has(id)) return;
    admitted.add(id);
    while (inFlight >= JOIN_IN_FLIGHT) await new Promise<void>((r) => waiting.push(r));
    inFlight++;
  };
  const release = () => {
    inFlight--;
    waiting.shift()?.();
  };
  const fleet = runFleet({
    urls: [o.lbUrl],
    urlsFor: o.urlsFor,
    count: o.peers,
    token: async (spec) => {
      if (!firstAt.has(spec.id)) firstAt.set(spec.id, t0 + (slot++ * 1000) / JOIN_RAMP_PER_SEC);
      const wait = firstAt.get(spec.id)! - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await admit(spec.id);
      return signToken(o.secret, { sub: spec.id, kind: spec.kind, account: REGION_ACCOUNT });
    },
    timeouts: o.clientTimeouts ?? o.timeouts,
    intervalMs: o.intervalMs ?? 250,
    seed: o.seed ?? 1,
    logger: pino({ level: 'silent' }),
  });
  const bound = o.timeouts.client.connectTimeoutMs * 4 + (o.peers * 1000) / JOIN_RAMP_PER_SEC + o.peers * 20;
  const failed: Record<string, number> = {};
  // No peer can have joined yet (a join needs I/O): every admitted peer releases its slot here.
  for (const p of fleet.peers) p.client.once('connected', release);
  for (const p of fleet.peers) {
    p.client.on('disconnected', (d) => {
      const k = `${d.reason}${d.status ? ` ${d.status}` : ''}`;
      if (!d.wasJoined) failed[k] = (failed[k] ?? 0) + 1;
    });
  }
  const joined = withTimeout(fleet.ready(), Math.max(30_000, bound), 'every peer joined').then(
    () => fleet,
    async (err: Error) => {
      // Say why: how far the fleet got, what its attempts ran into, what the LB thinks of the servers.
      const count = fleet.peers.filter((p) => p.joined).length;
      const servers = await Promise.resolve()
        .then(() => lb.info())
        .then(
          (bs) => bs.map((b) => `${b.id} ${b.state} ${b.connections}`).join(', '),
          (e: Error) => e.message,
        );
      throw new Error(
        `${err.message}: ${count} of ${fleet.peers.length} joined; failed attempts ${JSON.stringify(failed)}; LB: ${servers}`,
      );
    },
  );
  return { fleet, joined };
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}
