/**
 * Load generator for test/server/amplification.test.ts, run as its own process so the flood's
 * CPU never delays the test's /healthz probes (which would then measure the test, not the server).
 *
 * `node --import tsx amplification-flood.ts` with env FLOOD_URL (ws://.../socket/websocket),
 * FLOOD_SECRET, FLOOD_PEERS, FLOOD_RATE (frames/s per peer), FLOOD_MS. Each peer joins, then sends
 * at the rate, alternating targets (itself, then the others in turn) and two ~64 KiB payloads:
 *   - the amplification payload `[{},{},...]` (~21,800 values), refused by the value bound;
 *   - `[{} x 4000, "<padding>"]`, at the value bound and accepted: it fills history to its budget.
 * Pushes are counted, never parsed. Prints one JSON summary line on stdout and exits 0.
 */
import WebSocket from 'ws';
import { signToken } from '../../app/auth/token';

const FRAME_MAX = 64 * 1024;

function frameOf(peer: string, ref: string, to: string, id: string, dataJson: string): string {
  return `["1","${ref}","peer:${peer}","signal",{"to":"${to}","id":"${id}","data":${dataJson}}]`;
}

/** The largest `[{},{},...]` (or `[{} x n, "pad"]`) whose frame still fits in FRAME_MAX. */
function payloads(peer: string): { amplify: string; accepted: string } {
  const room = FRAME_MAX - frameOf(peer, '0000000', peer, 'x-00000000', '').length - 16;
  const amplify = `[${'{},'.repeat(Math.floor(room / 3) - 1)}{}]`;
  const objects = '{},'.repeat(4_000);
  const accepted = `[${objects}"${'p'.repeat(room - objects.length - 4)}"]`;
  return { amplify, accepted };
}

interface PeerStats {
  offered: number;
  sent: number;
  ok: Record<string, number>;
  errors: Record<string, number>;
  pushes: number;
  pushBytes: number;
  closes: number[];
  reconnects: number;
}

async function main(): Promise<void> {
  const url = process.env.FLOOD_URL!;
  const secret = process.env.FLOOD_SECRET!;
  const peers = Number(process.env.FLOOD_PEERS ?? 8);
  const rate = Number(process.env.FLOOD_RATE ?? 45);
  const ms = Number(process.env.FLOOD_MS ?? 20_000);
  const names = Array.from({ length: peers }, (_, i) => `amp-${i}`);
  const stats = new Map<string, PeerStats>();
  const deadline = Date.now() + ms;

  const run = async (name: string, index: number) => {
    const s: PeerStats = { offered: 0, sent: 0, ok: {}, errors: {}, pushes: 0, pushBytes: 0, closes: [], reconnects: -1 };
    stats.set(name, s);
    const { amplify, accepted } = payloads(name);
    const tok = await signToken(secret, { sub: name, kind: 'client' });
    let n = 0;
    while (Date.now() < deadline) {
      s.reconnects++;
      const ws = new WebSocket(`${url}?vsn=2.0.0&token=${tok}`);
      const closed = new Promise<void>((resolve) =>
        ws.once('close', (code) => {
          s.closes.push(code);
          resolve();
        }),
      );
      ws.on('error', () => undefined);
      ws.on('message', (raw: Buffer) => {
        if (raw.length > 4_096) {
          s.pushes++;
          s.pushBytes += raw.length;
          return;
        }
        const [, , , event, payload] = JSON.parse(raw.toString()) as [
          unknown,
          unknown,
          string,
          string,
          { status: string; response: Record<string, unknown> },
        ];
        if (event !== 'phx_reply') return;
        if (payload.status === 'ok') {
          const k = String(payload.response.status ?? 'joined');
          s.ok[k] = (s.ok[k] ?? 0) + 1;
        } else {
          const k = String(payload.response.reason);
          s.errors[k] = (s.errors[k] ?? 0) + 1;
        }
      });
      const opened = await new Promise<boolean>((resolve) => {
        ws.once('open', () => resolve(true));
        ws.once('close', () => resolve(false));
      });
      if (!opened) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      ws.send(`["1","j","peer:${name}","phx_join",{}]`);
      // Evenly spaced at `rate` per second: under the token bucket (50/s, burst 100).
      const every = 1_000 / rate;
      let next = Date.now();
      while (Date.now() < deadline && ws.readyState === WebSocket.OPEN) {
        const i = n++;
        const to = names[(index + i) % names.length];
        const data = i % 2 === 0 ? amplify : accepted;
        s.offered++;
        // The server reads at most its byte rate: past a few MiB waiting in this socket the
        // frame would only sit in this process's memory, so it is counted as offered, not sent.
        if (ws.bufferedAmount < 4 * 1024 * 1024) {
          ws.send(frameOf(name, String(i), to, `x-${i}`, data));
          s.sent++;
        }
        next += every;
        const wait = next - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        else if (wait < -1_000) next = Date.now(); // fell far behind (stress): do not burst to catch up
      }
      // Not close(): the close frame would wait behind megabytes the server reads at its byte rate.
      ws.terminate();
      await closed;
    }
  };
  await Promise.all(names.map((name, i) => run(name, i)));
  const sizes = payloads(names[0]);
  process.stdout.write(
    `${JSON.stringify({
      amplifyBytes: sizes.amplify.length,
      acceptedBytes: sizes.accepted.length,
      peers: Object.fromEntries(stats),
    })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
