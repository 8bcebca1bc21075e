/**
 * The Socket.IO 4.8 peer, written as its documentation suggests: a middleware verifies the same
 * HS256 token as sluice (`auth: {token}` in the handshake), the socket joins a room named by the
 * peer id, and `signal` events `{to, id, data}` are emitted to the recipient's room as
 * `{from, id, data}`, acknowledged with `{status}` when the sender asked for an ack. With
 * BENCH_REDIS_URL the `@socket.io/redis-streams-adapter` (on ioredis) carries rooms across servers.
 * WebSocket transport only (no long-polling upgrade dance), no per-message deflate: like sluice.
 * BENCH_PING_INTERVAL_MS / BENCH_PING_TIMEOUT_MS set Engine.IO's pingInterval / pingTimeout (defaults
 * 25 s / 20 s; bench/idle-cpu.ts runs it at sluice's 15 s bound too).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { verifyToken } from '../../app/auth/token';

const SECRET = process.env.BENCH_SECRET ?? '';
const httpServer = http.createServer();
const redisUrl = process.env.BENCH_REDIS_URL;
const pingInterval = Number(process.env.BENCH_PING_INTERVAL_MS ?? 25_000);
const pingTimeout = Number(process.env.BENCH_PING_TIMEOUT_MS ?? 20_000);
const io = new Server(httpServer, {
  transports: ['websocket'],
  perMessageDeflate: false,
  maxHttpBufferSize: 64 * 1024,
  serveClient: false,
  pingInterval,
  pingTimeout,
  ...(redisUrl ? { adapter: createAdapter(new Redis(redisUrl)) } : {}),
});

io.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: string }).token ?? null;
  verifyToken(SECRET, token).then(
    (peer) => {
      socket.data.peer = peer.sub;
      next();
    },
    () => next(new Error('unauthorized')),
  );
});

io.on('connection', (socket) => {
  const from = socket.data.peer as string;
  void socket.join(from);
  socket.on('signal', (m: { to?: unknown; id?: unknown; data?: unknown }, ack?: (r: unknown) => void) => {
    if (typeof m?.to !== 'string') {
      ack?.({ status: 'invalid' });
      return;
    }
    io.to(m.to).emit('signal', { from, id: m.id, data: m.data });
    ack?.({ status: 'delivered' });
  });
});

httpServer.listen(Number(process.env.BENCH_PORT ?? 0), '127.0.0.1', () => {
  process.send?.({ ready: (httpServer.address() as AddressInfo).port });
});
