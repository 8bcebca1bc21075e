/**
 * Load generator process (forked by bench/lib/loadgen-handle.ts; never the server's process). Opens
 * authenticated, joined connections to one system with raw `ws` clients speaking that system's
 * own wire protocol (Phoenix V2 for sluice, Engine.IO 4 / Socket.IO 5 packets for Socket.IO, JSON
 * for the ws relay), so every system is driven by the same client code and the same costs.
 * Relay load is open-loop: signal k is due at start + k / rate, and its latency is measured from
 * when it was due (no coordinated omission) to when its recipient, in this process, got it.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import WebSocket from 'ws';
import { signToken } from '../../app/auth/token';
import { SOCKET_PATH } from '../../app/protocol/endpoints';
import { authTokenSubprotocols } from '../../app/protocol/phoenix';
import type { SystemName } from './systems';

export interface OpenCmd {
  cmd: 'open';
  system: SystemName;
  port: number;
  ids: string[];
  secret: string;
  localAddresses: string[];
  concurrency: number;
  /** sluice only: each connection sends a Phoenix heartbeat this often (SDK: 5 s, phoenix.js: 30 s), first at a random phase. */
  heartbeatMs?: number;
}
export interface RelayCmd {
  cmd: 'relay';
  pairs: Array<[string, string]>;
  rate: number;
  warmupMs: number;
  durationMs: number;
  payloadBytes: number;
  runId: string;
  /** Also keep one latency histogram per window of this length (by due time; the soak's per-window p99). */
  windowMs?: number;
}
export interface RelayResult {
  hist: string;
  ackHist: string;
  sent: number;
  acked: number;
  delivered: number;
  nacked: number;
  /** Sent in the measured window and never delivered within the settle time after it. */
  missing: number;
  lagMaxMs: number;
  /**
   * The generator's own event-loop delay over the measured window (monitorEventLoopDelay, 10 ms
   * resolution): a generator that is late itself adds its delay to every latency it records, so a
   * system's tail is only the server's where this stays low (bench/relay.ts prints it beside p99).
   */
  loopP99Ms: number;
  loopMaxMs: number;
  /** Every signal sent, warm-up included (the server's CPU is divided by this). */
  sentTotal: number;
  /** With `windowMs`: the delivery latencies of each window of the measured run, in order. */
  windows?: string[];
}
type Cmd = OpenCmd | RelayCmd | { cmd: 'close' } | { cmd: 'count' };

interface Conn {
  id: string;
  ws: WebSocket;
  joined: boolean;
  /** Sends one signal due at `due` (performance.now() ms; the ack latency origin). */
  send(to: string, id: string, dataJson: string, due: number): void;
}

const conns = new Map<string, Conn>();
let onDeliver: (dataT: number) => void = () => undefined;
let onAck: (due: number) => void = () => undefined;
let onNack: () => void = () => undefined;
let refSeq = 1;
/** Liveness pings received from the server (WebSocket pings; Engine.IO "2" for Socket.IO): bench/idle-cpu.ts's rounds. */
let pingsReceived = 0;
const countPing = () => void pingsReceived++;
/** ref -> due time of the signal, for ack latency. */
const ackDue = new Map<number, number>();

/** `[join_ref, "ref", topic, "phx_reply", ...` of a sluice reply. */
const REPLY = /^\["[^"]*","(\d+)","[^"]*","phx_reply"/;

/**
 * The due time inside a delivered signal's data (`{"t":<due>,"p":...}`, re-encoded or not by the
 * server, it starts the same way): found by position instead of a full JSON.parse, the same cheap
 * way for every system, so the generator spends its CPU on sending and receiving.
 */
function dueOf(text: string): number | undefined {
  const i = text.indexOf('{"t":');
  if (i < 0 || text.charCodeAt(i + 5) === 0x22) return undefined; // {"t":"ack"...} / {"t":"joined"}
  const t = Number.parseFloat(text.slice(i + 5, i + 25));
  return Number.isFinite(t) ? t : undefined;
}

/** A Phoenix client's heartbeat (its ref is not numeric, so its reply is never taken for a signal's ack). */
function heartbeat(ws: WebSocket, everyMs: number): void {
  let n = 0;
  const beat = () => {
    if (ws.readyState === WebSocket.OPEN) ws.send(`[null,"h${n++}","phoenix","heartbeat",{}]`);
  };
  const first = setTimeout(() => {
    beat();
    const t = setInterval(beat, everyMs);
    ws.once('close', () => clearInterval(t));
  }, Math.random() * everyMs);
  ws.once('close', () => clearTimeout(first));
}

function connect(system: SystemName, port: number, id: string, token: string, localAddress: string, heartbeatMs?: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    // sluice: the token in Sec-WebSocket-Protocol, as the SDK and production do (never in the URL).
    const url =
      system === 'sluice'
        ? `ws://127.0.0.1:${port}${SOCKET_PATH}?vsn=2.0.0`
        : system === 'socketio'
          ? `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`
          : `ws://127.0.0.1:${port}/?token=${token}`;
    const ws = new WebSocket(url, system === 'sluice' ? authTokenSubprotocols(token) : [], {
      localAddress,
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
    });
    const topic = `peer:${id}`;
    /** ws-ack: acks come back in send order on each connection. */
    const fifo: number[] = [];
    const acked = (ref: number) => {
      const due = ackDue.get(ref);
      if (due === undefined) return;
      ackDue.delete(ref);
      onAck(due);
    };
    const conn: Conn = {
      id,
      ws,
      joined: false,
      send:
        system === 'sluice'
          ? (to, sid, data, due) => {
              const ref = refSeq++;
              ackDue.set(ref, due);
              ws.send(`["1","${ref}","${topic}","signal",{"to":"${to}","id":"${sid}","data":${data}}]`);
            }
          : system === 'socketio'
            ? (to, sid, data, due) => {
                const ref = refSeq++;
                ackDue.set(ref, due);
                ws.send(`42${ref}["signal",{"to":"${to}","id":"${sid}","data":${data}}]`);
              }
            : (to, sid, data, due) => {
                if (system === 'ws-ack') fifo.push(due);
                ws.send(`{"to":"${to}","id":"${sid}","data":${data}}`);
              },
    };
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`${id}: not joined within 60 s`));
    }, 60_000);
    const joined = () => {
      conn.joined = true;
      clearTimeout(timer);
      if (heartbeatMs && system === 'sluice') heartbeat(ws, heartbeatMs);
      resolve(conn);
    };
    ws.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (system !== 'socketio') ws.on('ping', countPing); // ws answers it itself (autoPong)
    ws.on('close', () => {
      conn.joined = false;
      conns.delete(id);
    });
    if (system === 'sluice') {
      ws.on('open', () => ws.send(`["1","0","${topic}","phx_join",{}]`));
      ws.on('message', (raw) => {
        const text = raw.toString();
        const t = dueOf(text);
        if (t !== undefined) {
          onDeliver(t);
          return;
        }
        const reply = REPLY.exec(text);
        if (!reply) return;
        const ok = text.includes('"status":"ok"');
        if (reply[1] === '0') {
          if (ok) joined();
          else reject(new Error(`join refused: ${text}`));
          return;
        }
        if (ok) acked(Number(reply[1]));
        else {
          ackDue.delete(Number(reply[1]));
          onNack();
        }
      });
    } else if (system === 'socketio') {
      ws.on('message', (raw) => {
        const s = raw.toString();
        if (s === '2') {
          pingsReceived++;
          ws.send('3');
          return;
        }
        if (s.startsWith('42')) {
          const t = dueOf(s);
          if (t !== undefined) onDeliver(t);
          return;
        }
        if (s.startsWith('43')) {
          const b = s.indexOf('[');
          acked(Number(s.slice(2, b)));
          return;
        }
        if (s.startsWith('0')) {
          ws.send(`40${JSON.stringify({ token })}`);
          return;
        }
        if (s.startsWith('40')) {
          joined();
          return;
        }
        if (s.startsWith('44')) reject(new Error(`socket.io connect refused: ${s}`));
      });
    } else {
      ws.on('message', (raw) => {
        const text = raw.toString();
        const t = dueOf(text);
        if (t !== undefined) onDeliver(t);
        else if (text.startsWith('{"t":"ack"')) {
          const due = fifo.shift();
          if (due !== undefined) onAck(due);
        } else if (text === '{"t":"joined"}') joined();
      });
    }
  });
}

async function open(c: OpenCmd): Promise<{ opened: number; failed: number; firstError?: string; ms: number }> {
  const t0 = performance.now();
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const worker = async () => {
    while (next < c.ids.length) {
      const i = next++;
      const id = c.ids[i];
      try {
        const token = await signToken(c.secret, { sub: id, kind: i % 2 ? 'gateway' : 'client' }, 24 * 3600);
        conns.set(id, await connect(c.system, c.port, id, token, c.localAddresses[i % c.localAddresses.length], c.heartbeatMs));
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, c.concurrency) }, worker));
  return { opened: c.ids.length - failed, failed, firstError, ms: performance.now() - t0 };
}

/** Microseconds, 1 us to 60 s, 3 significant digits. */
const buildHist = () =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });

async function relay(c: RelayCmd): Promise<RelayResult> {
  const hist = buildHist();
  const ackHist = buildHist();
  const pad = 'x'.repeat(Math.max(0, c.payloadBytes - 40));
  const start = performance.now() + 50;
  const winStart = start + c.warmupMs;
  const winEnd = winStart + c.durationMs;
  let sent = 0;
  let inWindow = 0;
  let delivered = 0;
  let acked = 0;
  let nacked = 0;
  let lagMax = 0;
  const windows: hdr.Histogram[] = [];
  const loop = monitorEventLoopDelay({ resolution: 10 });
  let loopOn = false;
  onDeliver = (t) => {
    if (t < winStart || t >= winEnd) return;
    delivered++;
    const us = Math.max(1, Math.round((performance.now() - t) * 1000));
    hist.recordValue(us);
    if (c.windowMs) {
      const w = Math.floor((t - winStart) / c.windowMs);
      while (windows.length <= w) windows.push(buildHist());
      windows[w].recordValue(us);
    }
  };
  onAck = (due) => {
    acked++;
    if (due >= winStart && due < winEnd) ackHist.recordValue(Math.max(1, Math.round((performance.now() - due) * 1000)));
  };
  onNack = () => {
    nacked++;
  };
  const senders: Array<[Conn, string]> = [];
  for (const [a, b] of c.pairs) {
    const ca = conns.get(a);
    const cb = conns.get(b);
    if (ca && cb) senders.push([ca, b], [cb, a]);
  }
  if (senders.length === 0) throw new Error('no joined pairs to relay between');
  const interval = 1000 / c.rate;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const stopAt = Math.min(now, winEnd);
      let k = sent;
      while (start + k * interval < stopAt) {
        // Rounded once, as it travels in the payload (`t` with 3 decimals): the window test below
        // and the receiver's (onDeliver) then see the same number. Unrounded, the first signal of
        // the window (due == winStart) rounded below winStart in about half the runs: counted as
        // sent in the window, its delivery ignored, so 1-2 'missing' per run for every system.
        const due = Number((start + k * interval).toFixed(3));
        lagMax = Math.max(lagMax, now - due);
        const [conn, to] = senders[k % senders.length];
        if (conn.joined && conn.ws.readyState === WebSocket.OPEN) {
          // ~payloadBytes of data: the due time (latency origin) and padding.
          conn.send(to, `${c.runId}-${k}`, `{"t":${due},"p":"${pad}"}`, due);
          if (due >= winStart && due < winEnd) inWindow++;
        }
        k++;
      }
      sent = k;
      if (!loopOn && now >= winStart) {
        loopOn = true;
        loop.enable();
      }
      if (now >= winEnd) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  loop.disable();
  // Settle: in-flight signals of the window may still arrive (bounded).
  const settleUntil = performance.now() + 3_000;
  while (delivered < inWindow && performance.now() < settleUntil) await new Promise((r) => setTimeout(r, 20));
  ackDue.clear();
  onDeliver = () => undefined;
  onAck = () => undefined;
  return {
    hist: hdr.encodeIntoCompressedBase64(hist),
    ackHist: hdr.encodeIntoCompressedBase64(ackHist),
    sent: inWindow,
    sentTotal: sent,
    acked,
    delivered,
    nacked,
    missing: Math.max(0, inWindow - delivered),
    lagMaxMs: lagMax,
    loopP99Ms: loop.percentile(99) / 1e6,
    loopMaxMs: loop.max / 1e6,
    ...(c.windowMs ? { windows: windows.map((w) => hdr.encodeIntoCompressedBase64(w)) } : {}),
  };
}

process.on('message', (m: Cmd & { reqId: number }) => {
  const reply = (r: unknown) => process.send!({ reqId: m.reqId, result: r });
  const fail = (e: Error) => process.send!({ reqId: m.reqId, error: e.message });
  if (m.cmd === 'open') open(m).then(reply, fail);
  else if (m.cmd === 'relay') relay(m).then(reply, fail);
  else if (m.cmd === 'count') reply({ joined: [...conns.values()].filter((c) => c.joined).length, pings: pingsReceived });
  else if (m.cmd === 'close') {
    for (const c of conns.values()) c.ws.terminate();
    conns.clear();
    reply({ ok: true });
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
