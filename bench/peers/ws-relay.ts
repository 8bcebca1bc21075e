/**
 * The plain `ws` relay peer: what a user would write instead of sluice with nothing but `ws`.
 * Same authentication as sluice (an HS256 token verified with app/auth before the upgrade), a map
 * from peer id to socket ("joined" once the server has answered `{"t":"joined"}`), and a relay of
 * `{to, id, data}` as `{from, id, data}`. No history, no dedupe, no limits beyond ws's maxPayload.
 *
 *   BENCH_ACK=1   with-ack variant: the sender gets `{"t":"ack","id":...,"status":"delivered"|"unknown_peer"}`
 *   BENCH_PING=1  ping on sluice's liveness schedule (ws-pinger.ts; bench/idle-cpu.ts): idle limit 15 s
 *   BENCH_PORT    port (0: ephemeral); the bound port is sent to the parent over IPC: {ready: port}
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { verifyToken } from '../../app/auth/token';
import { watch } from './ws-pinger';

const SECRET = process.env.BENCH_SECRET ?? '';
const ACK = process.env.BENCH_ACK === '1';
const PING = process.env.BENCH_PING === '1';
const peers = new Map<string, WebSocket>();

const server = http.createServer((_req, res) => {
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false, clientTracking: false });

/** Per connection only what the relay needs (no closure over the upgrade request). */
function joined(ws: WebSocket, id: string): void {
  peers.get(id)?.terminate(); // newest wins, as in sluice
  peers.set(id, ws);
  ws.on('message', (raw) => {
    let m: { to?: unknown; id?: unknown; data?: unknown };
    try {
      m = JSON.parse(raw.toString()) as typeof m;
    } catch {
      ws.close(1007);
      return;
    }
    const to = typeof m.to === 'string' ? peers.get(m.to) : undefined;
    if (to) to.send(JSON.stringify({ from: id, id: m.id, data: m.data }));
    if (ACK) ws.send(JSON.stringify({ t: 'ack', id: m.id, status: to ? 'delivered' : 'unknown_peer' }));
  });
  ws.on('close', () => {
    if (peers.get(id) === ws) peers.delete(id);
  });
  ws.on('error', () => undefined);
  if (PING) watch(ws);
  ws.send('{"t":"joined"}');
}

server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
  socket.on('error', () => socket.destroy());
  const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  verifyToken(SECRET, token).then(
    (peer) => wss.handleUpgrade(req, socket, head, (ws) => joined(ws, peer.sub)),
    () => socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'),
  );
});

server.listen(Number(process.env.BENCH_PORT ?? 0), '127.0.0.1', () => {
  process.send?.({ ready: (server.address() as AddressInfo).port });
});
