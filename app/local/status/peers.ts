/**
 * The page's "look closer" at one peer, and its test signal.
 *
 * Lookup (`GET /api/peer?id=<id>`): what the backplane says (presence, read from a serving server's
 * admin `GET /presence`, as the monitor reads it: online or away, on which server since when) and,
 * for a peer of the region's own fleet, what the peer itself knows (its client state, reconnects,
 * its recent signals in and out). A peer connected from outside (`npm run peer`) has only the
 * first part. Memory is bounded: RECENT signals per fleet peer, TESTS test signals.
 *
 * Test signal (`POST /api/signal {"from", "to"}`): a fleet peer sends `{test, sentAt}` to any id,
 * through the load balancer like any signal, and the answer is the server's: delivered, stored (the
 * target is away: kept for its resume), or refused with the reason (forbidden: a client may not
 * signal a client; unknown_peer). When the target is a fleet peer the result also says when it
 * arrived. The fleet's own counting ignores these (no numbered `n`; the monitor's latency reads `at`).
 */
import type { PresenceEntry } from '../../backplane/types';
import type { FleetController } from '../../peer/fleet';
import type { Region } from '../region/region';

export const RECENT = 6;
export const TESTS = 10;
/** Test signals in flight at once (the page is local, but a loop of clicks must not pile up). */
export const TESTS_IN_FLIGHT = 4;
/** How long a test signal may take: answered and, to a fleet peer, arrived. */
export const TEST_TIMEOUT_MS = 10_000;
/** A peer id as the page accepts it (token `sub`s of the fleet and of `npm run peer`). */
export const PEER_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

export interface SignalNote {
  /** ms since the epoch. */
  at: number;
  dir: 'in' | 'out';
  /** The other peer. */
  peer: string;
  /** The fleet's number, or the test signal's id. */
  what: string;
}

export interface TestResult {
  id: string;
  from: string;
  to: string;
  sentAt: number;
  /** delivered | stored | duplicate, or `refused: <reason>`, or `timeout`. */
  result: string;
  answeredMs?: number;
  /** ms from the send to its arrival at the target (a fleet peer only). */
  arrivedMs?: number;
}

export interface PeerView {
  id: string;
  /** Presence: online / away / offline (in neither), from a serving server of the region. */
  presence: 'online' | 'away' | 'offline' | 'unknown';
  account?: string;
  kind?: string;
  server?: string;
  region: string;
  /** ms since the epoch: online since / away since (the last time it was seen attached). */
  since?: number;
  awayUntil?: number;
  /** The region's own fleet peer: what it knows. */
  fleet?: {
    state: string;
    partner: string;
    reconnects: number;
    sent: number;
    received: number;
    /** ms since the epoch of its last signal in or out. */
    lastSignalAt?: number;
    recent: SignalNote[];
  };
}

export class PeerDesk {
  private readonly recent = new Map<string, SignalNote[]>();
  private hooked?: FleetController;
  private readonly tests: TestResult[] = [];
  private inFlight = 0;
  private nextTest = 1;

  constructor(
    private readonly region: Region,
    private readonly regionName: string,
  ) {}

  /** The last test signals, newest first. */
  testResults(): TestResult[] {
    return [...this.tests].reverse();
  }

  /** Fleet peer ids (for the page's pickers), at most `max`. Called on every state: starts the recording. */
  fleetIds(max = 200): string[] {
    this.hook();
    return (this.region.fleet?.peers ?? []).slice(0, max).map((p) => p.spec.id);
  }

  private note(id: string, n: SignalNote): void {
    let list = this.recent.get(id);
    if (!list) this.recent.set(id, (list = []));
    list.push(n);
    if (list.length > RECENT) list.shift();
  }

  /** Record every fleet peer's signals, in and out (a received one is its sender's "out"). */
  private hook(): void {
    const fleet = this.region.fleet;
    if (!fleet || this.hooked === fleet) return;
    this.hooked = fleet;
    const ids = new Set(fleet.peers.map((p) => p.spec.id));
    for (const p of fleet.peers) {
      p.client.on('signal', (s) => {
        const d = s.data as { n?: unknown; test?: unknown } | null;
        const what = typeof d?.test === 'string' ? `test ${d.test}` : typeof d?.n === 'number' ? `#${d.n}` : 'signal';
        const at = Date.now();
        this.note(p.spec.id, { at, dir: 'in', peer: s.from, what });
        if (ids.has(s.from)) this.note(s.from, { at, dir: 'out', peer: p.spec.id, what });
      });
    }
  }

  async lookup(id: string): Promise<PeerView> {
    this.hook();
    const entries = await this.presence();
    const e = entries?.find((x) => x.peerId === id);
    const peer = this.region.fleet?.peers.find((p) => p.spec.id === id);
    const view: PeerView = {
      id,
      presence: !entries ? 'unknown' : (e?.state ?? 'offline'),
      account: e?.account,
      kind: e?.kind ?? peer?.spec.kind,
      server: e?.serverId,
      region: this.regionName,
      since: e?.since,
      awayUntil: e?.awayUntil,
    };
    if (peer) {
      const recent = [...(this.recent.get(id) ?? [])].reverse();
      view.fleet = {
        state: peer.client.state,
        partner: peer.spec.to,
        reconnects: peer.stats.reconnects,
        sent: peer.stats.sent,
        received: peer.stats.received,
        lastSignalAt: recent[0]?.at,
        recent,
      };
    }
    return view;
  }

  /** Presence from the first serving, not silenced server that answers (undefined: none did). */
  private async presence(): Promise<Array<PresenceEntry & { account?: string }> | undefined> {
    for (const s of this.region.live()) {
      if (this.region.silent.has(s.id)) continue;
      const st = await s.status().catch(() => undefined);
      if (st?.state !== 'serving') continue;
      const entries = await s.presence().catch(() => undefined);
      if (entries) return entries;
    }
    return undefined;
  }

  /** Send a test signal; resolves with its result (also kept for the page). Throws on bad input. */
  async testSignal(from: string, to: string): Promise<TestResult> {
    this.hook();
    const peer = this.region.fleet?.peers.find((p) => p.spec.id === from);
    if (!peer) throw new PageInputError('unknown_sender', 'from', "a peer of the region's fleet");
    if (this.inFlight >= TESTS_IN_FLIGHT)
      throw new PageInputError('too_many_tests', 'from', `at most ${TESTS_IN_FLIGHT} test signals in flight`);
    const test = `page-${this.nextTest++}`;
    const r: TestResult = { id: test, from, to, sentAt: Date.now(), result: 'sending' };
    this.tests.push(r);
    if (this.tests.length > TESTS) this.tests.shift();
    const target = this.region.fleet?.peers.find((p) => p.spec.id === to);
    this.inFlight++;
    let timer: NodeJS.Timeout | undefined;
    let unhook = () => undefined as void;
    try {
      const arrived = target
        ? new Promise<number>((resolve) => {
            const on = (s: { from: string; data: unknown }) => {
              if ((s.data as { test?: unknown } | null)?.test === test) resolve(Date.now() - r.sentAt);
            };
            target.client.on('signal', on);
            unhook = () => void target.client.off('signal', on);
          })
        : undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), TEST_TIMEOUT_MS)));
      const answer = await Promise.race([
        peer.client.send(to, { test, sentAt: r.sentAt }, test).then(
          (status) => status as string,
          (e: Error & { reason?: string; code?: string }) => `refused: ${e.reason ?? e.code ?? e.message}`,
        ),
        timeout,
      ]);
      r.result = answer;
      if (answer !== 'timeout') r.answeredMs = Date.now() - r.sentAt;
      this.note(from, { at: r.sentAt, dir: 'out', peer: to, what: `test ${test}: ${answer}` });
      if (arrived && (answer === 'delivered' || answer === 'stored')) {
        const got = await Promise.race([arrived, timeout]);
        if (got !== 'timeout') r.arrivedMs = got;
      }
      return r;
    } finally {
      clearTimeout(timer);
      unhook();
      this.inFlight--;
    }
  }
}

/** Bad input from the page: which field, what was expected (answered 400). */
export class PageInputError extends Error {
  constructor(
    readonly code: string,
    readonly field: string,
    readonly expected: string,
  ) {
    super(`${code}: ${field}: expected ${expected}`);
  }
}
