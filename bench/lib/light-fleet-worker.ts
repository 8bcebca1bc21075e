/**
 * A light drain fleet in its own process (bench/drain.ts --light): raw `ws` peers speaking Phoenix V2
 * the way the SDK does on the wire (token in Sec-WebSocket-Protocol, `phx_join` with `last_seq`,
 * numbered signals with refs and acks, an outbox re-sent after each join, a 1012 answered by
 * reconnecting to the next server after random(0, restartJitterMs)), without a SluiceClient, a
 * logger and four timers per peer: 10k SDK instances saturate both cores of this machine before
 * the server is measured at all (docs/benchmarks.md, 2026-12-02). The ws client answers the
 * server's pings by itself, and signals every intervalMs keep the connection from going silent.
 *
 * Counting is the drill fleet's (app/peer/fleet.ts): every numbered signal is (sender, n);
 * `delivered` counts distinct ones that reached the partner, `duplicated` repeats, and after the
 * settle `lost` = sent - failed - delivered. A reconnect gap runs from losing a joined session to
 * the next join reply. IPC: {cmd:'start', ...} -> {ready}; {cmd:'stop'} -> {summary}.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { signToken } from '../../app/auth/token';
import { fullJitterMs, parseRetryAfterMs, restartDelayMs, retryAfterDelayMs } from '../../app/client/backoff';
import { defaultTimeouts, Timeouts } from '../../app/contract/timeouts';
import { FleetSummary, percentiles, summarizeFleet } from '../../app/peer/fleet';
import { newPeerStats, PeerStats } from '../../app/peer/peer';
import { authTokenSubprotocols, CLOSE } from '../../app/protocol/phoenix';

export interface LightStart {
  cmd: 'start';
  urls: string[];
  count: number;
  chunk: number;
  rampMs: number;
  prefix: string;
  intervalMs: number;
  secret: string;
  restartJitterMs: number;
  settleMs: number;
}

const JOIN_REF = '1';
/** Why sockets ended, by close code or refused upgrade status (printed while the fleet joins). */
const ends: Record<string, number> = {};

/** The drill fleet's summary, and the two halves of the reconnect gap. */
export interface LightSummary extends FleetSummary {
  connectMs: FleetSummary['gapMs'];
  joinMs: FleetSummary['gapMs'];
}

class LightPeer {
  ws?: WebSocket;
  joined = false;
  url = 0;
  lastSeq: number | null = null;
  nextN = 1;
  nextRef = 2;
  /** Numbered signals not yet acknowledged: sent on this socket (by ref) or waiting for a join. */
  readonly inFlight = new Map<string, number>();
  readonly unsent: number[] = [];
  /** When each number was first handed to send (the outbox gives up after client.outboxMaxAgeMs). */
  readonly sentAt: number[] = [];
  /** Failed attempts since the last join (the backoff's exponent). */
  failures = 0;
  /** Retry-After of the last refused upgrade (503), ms. */
  retryAfterMs?: number;
  joinedOnce = false;
  /** Times each of the partner's numbers arrived (index n). */
  readonly got: number[] = [];
  lostAt?: number;
  openedAt?: number;
  /** The two halves of each gap: close to the new socket's open, open to the join reply. */
  readonly connectMs: number[] = [];
  readonly joinMs: number[] = [];
  sending?: NodeJS.Timeout;
  /** The drill peer's counts (app/peer/peer.ts), so both fleets share one summary (summarizeFleet). */
  readonly stats: PeerStats = newPeerStats();
  stopped = false;
  private readonly topic: string;

  constructor(
    readonly id: string,
    readonly partner: string,
    private readonly token: string,
    private readonly cfg: LightStart,
    private readonly t: Timeouts['client'],
    private readonly onFirstJoin: () => void,
  ) {
    this.topic = `peer:${id}`;
  }

  connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.cfg.urls[this.url % this.cfg.urls.length], authTokenSubprotocols(this.token), {
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
    });
    this.ws = ws;
    ws.on('open', () => {
      this.openedAt = performance.now();
      if (this.lostAt !== undefined) this.connectMs.push(Math.round(this.openedAt - this.lostAt));
      ws.send(`["${JOIN_REF}","0","${this.topic}","phx_join",{"last_seq":${this.lastSeq ?? 'null'}}]`);
    });
    ws.on('message', (raw: Buffer) => this.onFrame(raw.toString()));
    // A refused upgrade (503 while draining, not ready or at capacity): its Retry-After is honoured.
    ws.on('unexpected-response', (_req, res) => {
      this.retryAfterMs = parseRetryAfterMs(res.headers['retry-after']);
      ends[`http_${res.statusCode}`] = (ends[`http_${res.statusCode}`] ?? 0) + 1;
      ws.terminate();
    });
    ws.on('error', () => undefined); // a close follows
    ws.on('close', (code: number) => this.onClose(code));
  }

  private onFrame(text: string): void {
    const [, ref, , event, payload] = JSON.parse(text) as [string | null, string | null, string, string, Record<string, unknown>];
    if (event === 'signal') {
      const seq = payload.seq as number;
      if (this.lastSeq === null || seq > this.lastSeq) this.lastSeq = seq;
      if (payload.replayed) this.stats.replayed++;
      const n = (payload.data as { n: number }).n;
      this.got[n] = (this.got[n] ?? 0) + 1;
      if (this.got[n] === 1) this.stats.received++;
      else this.stats.duplicated++;
      return;
    }
    if (event !== 'phx_reply' || ref === null) return;
    const status = payload.status as string;
    const response = payload.response as Record<string, unknown>;
    if (ref === '0') {
      if (status !== 'ok') return this.ws?.close(); // not joined: reconnect
      if (response.gap) this.stats.historyGaps++;
      if (this.lastSeq === null) this.lastSeq = response.last_seq as number;
      const first = this.lostAt === undefined && !this.sending;
      if (this.lostAt !== undefined) {
        this.stats.gapsMs.push(Math.round(performance.now() - this.lostAt));
        this.joinMs.push(Math.round(performance.now() - this.openedAt!));
      }
      this.lostAt = undefined;
      this.joined = true;
      this.joinedOnce = true;
      this.failures = 0;
      // The outbox: what was in flight on the old socket, then what waited, in order (same ids:
      // deduped), except what is older than client.outboxMaxAgeMs, which the SDK rejects as expired.
      const again = [...this.inFlight.values(), ...this.unsent].sort((a, b) => a - b);
      this.inFlight.clear();
      this.unsent.length = 0;
      const now = performance.now();
      for (const n of again) {
        if (now - this.sentAt[n] > this.t.outboxMaxAgeMs) this.fail('expired');
        else this.transmit(n);
      }
      if (first) this.onFirstJoin();
      return;
    }
    const n = this.inFlight.get(ref);
    if (n === undefined) return;
    this.inFlight.delete(ref);
    if (status === 'ok') {
      this.stats.acked++;
      const s = response.status as keyof PeerStats['statuses'];
      if (s in this.stats.statuses) this.stats.statuses[s]++;
    } else {
      const reason = String(response.reason);
      // A refusal the SDK retries (the server could not take it now) goes back in the outbox.
      if (reason === 'backplane_unavailable' || reason === 'overloaded') this.unsent.push(n);
      else this.fail(reason);
    }
  }

  private fail(reason: string): void {
    this.stats.failed++;
    this.stats.failures[reason] = (this.stats.failures[reason] ?? 0) + 1;
  }

  /**
   * The SDK's reconnect policy (app/client/backoff.ts): after a 1012/1001 within the restart jitter,
   * after a 503 its Retry-After plus that jitter, after anything else full-jitter exponential
   * backoff. Once joined, a peer moves on to the next server; before its first join it stays on
   * the first (the benchmark starts every peer on server A).
   */
  private onClose(code: number): void {
    if (this.joined) this.lostAt = performance.now();
    this.joined = false;
    this.ws = undefined;
    if (this.stopped) return;
    ends[code] = (ends[code] ?? 0) + 1;
    this.stats.reconnects++;
    if (this.joinedOnce) this.url++;
    let delay: number;
    if (code === CLOSE.serviceRestart || code === 1001) delay = restartDelayMs(this.t, Math.random);
    else if (this.retryAfterMs !== undefined) delay = retryAfterDelayMs(this.retryAfterMs, this.t, Math.random);
    else delay = fullJitterMs(this.failures++, this.t, Math.random);
    this.retryAfterMs = undefined;
    setTimeout(() => this.connect(), delay);
  }

  startSending(phaseMs: number): void {
    const tick = () => {
      const n = this.nextN++;
      this.stats.sent++;
      this.sentAt[n] = performance.now();
      if (this.joined) this.transmit(n);
      else this.unsent.push(n);
    };
    this.sending = setTimeout(() => {
      tick();
      this.sending = setInterval(tick, this.cfg.intervalMs);
    }, phaseMs);
  }

  private transmit(n: number): void {
    const ref = String(this.nextRef++);
    this.inFlight.set(ref, n);
    this.ws!.send(`["${JOIN_REF}","${ref}","${this.topic}","signal",{"to":"${this.partner}","id":"${this.id}-${n}","data":{"n":${n}}}]`);
  }

  get pending(): number {
    return this.inFlight.size + this.unsent.length;
  }

  stopSending(): void {
    if (this.sending) clearInterval(this.sending);
  }

  close(): void {
    this.stopped = true;
    this.ws?.terminate();
  }
}

const peers: LightPeer[] = [];
const byId = new Map<string, LightPeer>();
let urls: string[] = [];
let settleMs = 5_000;
let intervalMs = 0;
const startedAt = Date.now();

async function start(m: LightStart): Promise<void> {
  urls = m.urls;
  settleMs = m.settleMs;
  intervalMs = m.intervalMs;
  // Pairs as in the drill fleet: client k <-> gateway k (an odd last client sends to gateway 0).
  const specs = Array.from({ length: m.count }, (_, i) => {
    const k = i >> 1;
    const client = i % 2 === 0;
    const id = `${m.prefix}-${client ? 'c' : 'g'}-${k}`;
    const partner = client ? `${m.prefix}-g-${k < m.count >> 1 ? k : 0}` : `${m.prefix}-c-${k}`;
    return { id, partner: m.count === 1 ? id : partner, kind: client ? ('client' as const) : ('gateway' as const) };
  });
  const t: Timeouts['client'] = { ...defaultTimeouts.client, restartJitterMs: m.restartJitterMs };
  let joinedOnce = 0;
  let allJoined!: () => void;
  const ready = new Promise<void>((r) => (allJoined = r));
  const maybeStart = (p: LightPeer) => {
    const q = byId.get(p.partner);
    if (p.joined && q?.joined && !p.sending) p.startSending(Math.random() * m.intervalMs);
  };
  for (let i = 0; i < specs.length; i += m.chunk) {
    const batch = specs.slice(i, i + m.chunk);
    const tokens = await Promise.all(batch.map((s) => signToken(m.secret, { sub: s.id, kind: s.kind }, 24 * 3600)));
    batch.forEach((s, j) => {
      const p = new LightPeer(s.id, s.partner, tokens[j], m, t, () => {
        maybeStart(p);
        const q = byId.get(p.partner);
        if (q) maybeStart(q);
        if (++joinedOnce === m.count) allJoined();
      });
      peers.push(p);
      byId.set(s.id, p);
      p.connect();
    });
    if (i + m.chunk < specs.length) await new Promise((r) => setTimeout(r, m.rampMs));
  }
  const progress = setInterval(
    () => process.stderr.write(`light fleet ${m.prefix}: ${joinedOnce} of ${m.count} joined; socket ends ${JSON.stringify(ends)}\n`),
    15_000,
  );
  await ready.finally(() => clearInterval(progress));
}

async function stop(): Promise<LightSummary> {
  for (const p of peers) p.stopSending();
  // Settle: every peer joined and nothing unacknowledged, or settleMs, whichever first.
  const until = Date.now() + settleMs;
  while (Date.now() < until && peers.some((p) => p.pending > 0 || !p.joined)) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 500)); // the last acked signals' pushes
  const settled = peers.every((p) => p.pending === 0);
  for (const p of peers) p.close();
  return {
    ...summarizeFleet(peers, { urls, durationMs: Date.now() - startedAt, intervalMs, settled }),
    connectMs: percentiles(peers.flatMap((p) => p.connectMs)),
    joinMs: percentiles(peers.flatMap((p) => p.joinMs)),
  };
}

process.on('message', (m: LightStart | { cmd: 'stop' }) => {
  if (m.cmd === 'start')
    start(m).then(
      () => process.send!({ ready: true }),
      (err: Error) => process.send!({ error: err.message }),
    );
  else if (m.cmd === 'stop')
    stop().then(
      (summary) => process.send!({ summary }),
      (err: Error) => process.send!({ error: err.message }),
    );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ up: true });
