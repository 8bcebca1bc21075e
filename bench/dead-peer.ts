/**
 * Benchmark: dead-peer detection side by side, each client library with its own defaults, on the
 * same black-hole proxy (app/local/network/blackhole-proxy.ts: connections stay open, no FIN, no RST,
 * nothing forwarded, what a peer sees when a VM or middlebox silently stops).
 *
 *   sluice       app/client SluiceClient, contract defaults (heartbeat 5 s, timeout 10 s: bound 15 s)
 *   Socket.IO    socket.io-client 4.8 against a Socket.IO server with its defaults
 *                (pingInterval 25 s + pingTimeout 20 s: bound 45 s)
 *   Phoenix      the official `phoenix` JS client with its defaults (heartbeat every 30 s; an
 *                unanswered heartbeat is noticed at the next one: bound 60 s), against sluice
 *                (which speaks Phoenix Channels V2)
 *
 * Clients connect at staggered moments (so the black hole falls at different points of their
 * heartbeat cycles), all three systems at once; servers run in their own processes.
 * Detection: from the black hole until the client reports the connection dead.
 *
 * Run: npx tsx bench/dead-peer.ts [--clients 4]
 */
import './lib/help'; // first: --help prints the comment above and exits
import { benchArgs, opt } from './lib/args';
import { Socket as PhoenixSocket } from 'phoenix';
import { io as ioClient } from 'socket.io-client';
import WebSocket from 'ws';
import { signToken } from '../app/auth/token';
import { defaultTimeouts } from '../app/contract/timeouts';
import { SOCKET_PATH } from '../app/protocol/endpoints';
import { SluiceClient } from '../app/client/index';
import { startBlackholeProxy } from '../app/local/network/blackhole-proxy';
import { machine, median, run, sleep, table, writeResults } from './lib/report';
import { SECRET, startSystem } from './lib/systems';

const { clients: CLIENTS } = benchArgs({ clients: opt.int(4) });
const STAGGER_MS = 2_500;
const GIVE_UP_MS = 75_000;

type Name = 'sluice' | 'socketio' | 'phoenix';
const LABEL: Record<Name, string> = {
  sluice: 'sluice SDK (contract defaults)',
  socketio: 'Socket.IO 4.8 (defaults 25 s + 20 s)',
  phoenix: 'Phoenix JS client (defaults, 30 s heartbeat)',
};
const BOUND_MS: Record<Name, number> = {
  sluice: defaultTimeouts.client.deadPeerDetectionMs,
  socketio: 25_000 + 20_000,
  phoenix: 2 * 30_000,
};

interface Client {
  connect(): Promise<void>;
  dead: Promise<number>;
  close(): void;
}

function sluiceClient(port: number, id: string): Client {
  let resolveDead!: (t: number) => void;
  const dead = new Promise<number>((r) => (resolveDead = r));
  const c = new SluiceClient({
    url: `ws://127.0.0.1:${port}${SOCKET_PATH}`,
    token: () => signToken(SECRET, { sub: id, kind: 'client' }, 3600),
  });
  c.on('disconnected', () => resolveDead(Date.now()));
  c.on('error', () => undefined);
  return {
    connect: async () => {
      c.connect();
      await c.ready();
    },
    dead,
    close: () => {
      void c.close().catch(() => undefined);
    },
  };
}

function socketioClient(port: number, id: string): Client {
  let resolveDead!: (t: number) => void;
  const dead = new Promise<number>((r) => (resolveDead = r));
  let s: ReturnType<typeof ioClient> | undefined;
  return {
    connect: async () => {
      const token = await signToken(SECRET, { sub: id, kind: 'client' }, 3600);
      s = ioClient(`http://127.0.0.1:${port}`, { transports: ['websocket'], auth: { token }, reconnection: false });
      await new Promise<void>((resolve, reject) => {
        s!.once('connect', () => resolve());
        s!.once('connect_error', reject);
      });
      s.on('disconnect', () => resolveDead(Date.now()));
    },
    dead,
    close: () => s?.close(),
  };
}

function phoenixClient(port: number, id: string): Client {
  let resolveDead!: (t: number) => void;
  const dead = new Promise<number>((r) => (resolveDead = r));
  let socket: PhoenixSocket | undefined;
  return {
    connect: async () => {
      const token = await signToken(SECRET, { sub: id, kind: 'client' }, 3600);
      socket = new PhoenixSocket(`ws://127.0.0.1:${port}/socket`, {
        transport: WebSocket as unknown as typeof globalThis.WebSocket,
        authToken: token,
        reconnectAfterMs: () => 3_600_000,
      } as ConstructorParameters<typeof PhoenixSocket>[1]);
      socket.connect();
      const ch = socket.channel(`peer:${id}`, {});
      await new Promise<void>((resolve, reject) => {
        ch.join()
          .receive('ok', () => resolve())
          .receive('error', (e: unknown) => reject(new Error(JSON.stringify(e))));
      });
      // The heartbeat timeout errors the channel at once; onClose alone would add ws's 30 s close
      // handshake timeout (the socket is closed politely, and a black hole never answers).
      ch.onError(() => resolveDead(Date.now()));
      socket.onError(() => resolveDead(Date.now()));
      socket.onClose(() => resolveDead(Date.now()));
    },
    dead,
    close: () => socket?.disconnect(),
  };
}

async function main(): Promise<void> {
  const m = machine();
  const sluice = await startSystem('sluice');
  const sio = await startSystem('socketio');
  const proxies = {
    sluice: await startBlackholeProxy(sluice.port),
    socketio: await startBlackholeProxy(sio.port),
    phoenix: await startBlackholeProxy(sluice.port),
  };
  const make: Record<Name, (port: number, id: string) => Client> = {
    sluice: sluiceClient,
    socketio: socketioClient,
    phoenix: phoenixClient,
  };
  const clients: Record<Name, Client[]> = { sluice: [], socketio: [], phoenix: [] };
  const names: Name[] = ['sluice', 'socketio', 'phoenix'];
  try {
    // Staggered connects: the black hole then falls at different phases of each client's heartbeat.
    for (let k = 0; k < CLIENTS; k++) {
      await Promise.all(
        names.map(async (n) => {
          const c = make[n](proxies[n].port, `dp-${n}-${k}`);
          await c.connect();
          clients[n].push(c);
        }),
      );
      if (k < CLIENTS - 1) await sleep(STAGGER_MS);
    }
    await sleep(1_000);
    const t0 = Date.now();
    for (const n of names) proxies[n].blackhole();
    const detected: Record<Name, Array<number | null>> = { sluice: [], socketio: [], phoenix: [] };
    await Promise.all(
      names.flatMap((n) =>
        clients[n].map(async (c) => {
          const t = await Promise.race([c.dead, sleep(GIVE_UP_MS).then(() => null)]);
          detected[n].push(t === null ? null : t - t0);
        }),
      ),
    );
    const fmt = (x: number) => `${(x / 1000).toFixed(1)} s`;
    const rows = names.map((n) => {
      const xs = detected[n].filter((x): x is number => x !== null).sort((a, b) => a - b);
      const missed = detected[n].length - xs.length;
      return [
        LABEL[n],
        `${fmt(BOUND_MS[n])}`,
        xs.length ? fmt(xs[0]) : 'n/a',
        xs.length ? fmt(median(xs)) : 'n/a',
        xs.length ? fmt(xs[xs.length - 1]) : 'n/a',
        missed ? `${missed} not within ${GIVE_UP_MS / 1000} s` : '0',
        n === 'sluice' ? '1.00x' : `${(median(xs) / median(detected.sluice.filter((x): x is number => x !== null))).toFixed(2)}x`,
      ];
    });
    const s = detected.sluice.filter((x): x is number => x !== null);
    const met = s.length === CLIENTS && Math.max(...s) <= BOUND_MS.sluice + 500;
    const md = [
      '# Dead-peer detection benchmark',
      '',
      `${CLIENTS} clients per system, connected ${STAGGER_MS / 1000} s apart, then every connection black-holed at once (no FIN, no RST, nothing`,
      'forwarded) by the same proxy implementation; detection is the time until the client library reports the connection gone.',
      'Servers (sluice, Socket.IO) in their own processes; the Phoenix client talks to sluice (Phoenix Channels V2). Reproduce: `npx tsx bench/dead-peer.ts`.',
      '',
      table(['client (defaults)', 'bound by its settings', 'detected min', 'median', 'max', 'missed', 'median vs sluice'], rows),
      '',
      `Goal (side by side on the same black-hole proxy): ${met ? 'met' : 'not met'}; sluice detects within its contract bound of ${fmt(BOUND_MS.sluice)} in every run.`,
    ].join('\n');
    writeResults('dead-peer', m, md, { settings: { clients: CLIENTS, staggerMs: STAGGER_MS, boundsMs: BOUND_MS }, detectedMs: detected });
  } finally {
    for (const n of names) for (const c of clients[n]) c.close();
    for (const p of Object.values(proxies)) {
      p.resetAll();
      await p.close();
    }
    await sluice.stop();
    await sio.stop();
  }
}

run(main);
