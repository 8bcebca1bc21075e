/**
 * Helpers for the Redis backplane suites: a real redis-server per suite on a free loopback port,
 * sluice servers in this process or as child processes, and a small raw Phoenix V2 client.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { RedisBackplane } from '../../app/backplane/redis/backplane';
import { keys } from '../../app/backplane/redis/keys';
import type { ClusterNode } from '../../app/backplane/redis/target';
import { Backplane, BackplaneError, PresenceEvent } from '../../app/backplane/types';
import { resolveTimeouts, Timeouts, TimeoutsOverrides } from '../../app/contract/timeouts';
import { spawnServer as spawnServerProcess } from '../helpers/process';
import { SECRET, startServer, TestServer, TestServerOptions, token, until } from '../helpers/server';
import { freePort, redisServerArgs, spawnRedis } from '../../app/local/region/redis';
import { RawPeer } from './raw-peer';

// The raw peer has its own module (raw-peer.ts); the suites import it from here with the rest.
export { RawPeer };
export type { Received, Reply } from './raw-peer';

export const ROOT = path.resolve(__dirname, '../..');

/** A free loopback port: the local region's helper (one copy). */
export { freePort };

export interface RedisProc {
  url: string;
  port: number;
  dir: string;
  /** Start (again) on the same port and data directory; resolves when it accepts connections. */
  start(): Promise<void>;
  /** SIGKILL (crash) or SIGTERM (clean shutdown); resolves when the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Stop and remove the data directory. */
  destroy(): Promise<void>;
  /** Send a signal without waiting for an exit (SIGSTOP / SIGCONT: a Redis that hangs, then answers again). */
  signal(signal: NodeJS.Signals): void;
}

/** A private redis-server (app/local/region/redis.ts): `--save ''` always; AOF per `appendfsync` ('always' = fsync every write). */
export async function startRedis(opts: { appendfsync?: 'always' | 'everysec' | 'no' | 'off' } = {}): Promise<RedisProc> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-redis-'));
  const aof = opts.appendfsync ?? 'off';
  const args = redisServerArgs(port, dir, aof === 'off' ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', aof]);
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    const child = await spawnRedis(port, args);
    proc = child.proc;
    exited = child.exited;
  };
  const stop = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    start,
    stop,
    signal: (signal) => {
      if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
    destroy: async () => {
      await stop('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Contract overrides that keep suites short where they are not about the defaults. */
export const FAST: TimeoutsOverrides = {
  presence: { ttlMs: 3_000, renewIntervalMs: 1_000 },
};

/**
 * A contract with a short away grace (1.5 s) so expiry is observable in a test; the drain and the
 * client's timers shrink with it to keep the contract valid:
 * max(deadline 1000, detection 600) + cap 300 + connect 100 + join 100 = 1500 <= grace.
 */
export function shortGraceTimeouts(resume: TimeoutsOverrides['resume'], client: TimeoutsOverrides['client'] = {}): Timeouts {
  return resolveTimeouts({
    resume: { awayGraceMs: 1_500, ...resume },
    drain: { windowMs: 500, deadlineMs: 1_000, marginMs: 500 },
    client: {
      heartbeatIntervalMs: 200,
      heartbeatTimeoutMs: 400,
      deadPeerDetectionMs: 600,
      reconnectBaseMs: 50,
      reconnectCapMs: 300,
      connectTimeoutMs: 100,
      joinTimeoutMs: 100,
      ...client,
    },
    presence: FAST.presence,
  });
}

/**
 * One recipient id in each Redis bucket (keys.ts): the recovery window after a new Redis process
 * is per bucket (the publish script reads its bucket's `since` and pending servers), and on a
 * cluster the buckets live on different primaries whose windows close seconds apart on a loaded
 * machine. A single probe id (`probe-nobody`: bucket 11, the third primary of the test cluster)
 * proved nothing about the bucket of the test's own target (`p1`: bucket 10, the second primary),
 * which then answered `recovering` (backplane_unavailable): the conformance suite failed so in 4 of
 * 19 runs beside two busy processes, and in none of 5 with every bucket probed (docs/benchmarks.md,
 * "the soak's tail").
 */
const PROBES: string[] = (() => {
  const k = keys();
  const ids = new Map<number, string>();
  for (let n = 0; ids.size < k.buckets; n++) {
    const id = `probe-nobody-${n}`;
    if (!ids.has(k.bucketOf(id))) ids.set(k.bucketOf(id), id);
  }
  return [...ids.values()];
})();

/**
 * For a short while (RedisTiming.rebuildMs) after a new Redis process is first seen, a peer that is not found may
 * just not be re-registered yet: publish answers backplane_unavailable, not unknown_peer. Wait
 * until an unknown peer is reported as unknown in every bucket (tests that check unknown_peer, or
 * publish at all, right after start).
 */
export async function untilPresenceSettled(b: Backplane): Promise<void> {
  let n = 0;
  const settled = async (to: string) => {
    try {
      await b.publish({ from: 'probe', to, id: `probe-${++n}`, data: 'null' });
      return true;
    } catch (err) {
      return err instanceof BackplaneError && err.reason === 'unknown_peer';
    }
  };
  await until(
    async () => (await Promise.all(PROBES.map(settled))).every(Boolean),
    15_000,
    'presence settled after redis start (every bucket)',
  ); // generous: the suite may share 2 cores with others
}

/** The same, through a server's socket (for servers in child processes). */
export async function untilServerPublishes(urlFor: (sub: string) => Promise<string>): Promise<void> {
  const { peer } = await RawPeer.join(await urlFor('probe'), 'probe');
  let n = 0;
  try {
    await until(
      async () => (await peer.signal('probe-nobody', `probe-${++n}`, null)).response.reason === 'unknown_peer',
      5_000,
      'server publishing after redis start',
    );
  } finally {
    await peer.close();
  }
}

export interface RedisTestServer extends TestServer {
  backplane: RedisBackplane;
  stop(): Promise<void>;
}

/** A SluiceServer in this process with its own RedisBackplane (its own connections): one Redis (a URL) or a Redis Cluster (seed nodes). */
export async function startRedisServer(
  url: string | ClusterNode[],
  serverId: string,
  overrides: TimeoutsOverrides = FAST,
  random?: () => number,
  extra: Partial<TestServerOptions> = {},
): Promise<RedisTestServer> {
  const timeouts = resolveTimeouts(overrides);
  const log = pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent', base: { server: serverId } });
  const target = typeof url === 'string' ? { url } : { cluster: url };
  const backplane = new RedisBackplane({ ...target, serverId, timeouts, log });
  let ts: TestServer;
  try {
    await backplane.whenReady();
    ts = await startServer({ ...extra, backplane, serverId, timeouts: overrides, random });
  } catch (err) {
    await backplane.close();
    throw err;
  }
  return {
    ...ts,
    backplane,
    stop: async () => {
      await ts.server.shutdown();
      await backplane.close();
    },
  };
}

export interface ServerProc {
  serverId: string;
  port: number;
  adminPort: number;
  proc: ChildProcess;
  socketUrl: string;
  adminUrl: string;
  urlFor(sub: string, kind?: 'client' | 'gateway'): Promise<string>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** `node --import tsx app/server/main.ts` with env config (test/helpers/process.ts), on ports 0. */
export async function spawnServer(
  redisUrl: string,
  serverId: string,
  overrides: TimeoutsOverrides = FAST,
  env: Record<string, string> = {},
): Promise<ServerProc> {
  const srv = await spawnServerProcess({
    SLUICE_REDIS_URL: redisUrl,
    SLUICE_SERVER_ID: serverId,
    SLUICE_TIMEOUTS: JSON.stringify(overrides),
    SLUICE_TOKEN_SECRET: SECRET,
    // Suites here signal client to client; test/backplane/policy.test.ts runs the default (off).
    SLUICE_SIGNAL_SAME_KIND: 'on',
    ...env,
  });
  const { proc, port, adminPort } = srv;
  const exited = srv.exited.then(({ code }) => code);
  const socketUrl = `ws://127.0.0.1:${port}/socket/websocket`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  // Listening is not enough: wait until it is registered with Redis (/readyz 200).
  await until(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 10_000, `${serverId} ready`).catch(
    async (err: Error) => {
      proc.kill('SIGKILL');
      await exited;
      throw err;
    },
  );
  return {
    serverId,
    port,
    adminPort,
    proc,
    socketUrl,
    adminUrl,
    exited,
    urlFor: async (sub, kind = 'client') => `${socketUrl}?vsn=2.0.0&token=${await token(sub, kind)}`,
    kill: async (signal = 'SIGKILL') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

/** Start several things at once; if any fails, stop the ones that started and rethrow (no leaks). */
export async function startAll<T>(starts: Array<() => Promise<T>>, stop: (t: T) => Promise<unknown>): Promise<T[]> {
  const results = await Promise.allSettled(starts.map((f) => f()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (!failed) return results.map((r) => (r as PromiseFulfilledResult<T>).value);
  await Promise.all(results.map((r) => (r.status === 'fulfilled' ? stop(r.value) : undefined)));
  throw failed.reason;
}

export async function getJson<T = unknown>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

export interface PresenceRow {
  peerId: string;
  kind: string;
  serverId: string;
  state: string;
}

export async function presenceOf(adminUrl: string): Promise<PresenceRow[]> {
  return (await getJson<{ peers: PresenceRow[] }>(`${adminUrl}/presence`)).body.peers;
}

/**
 * Subscribe to an admin presence stream (server-sent events). `ready` resolves once the stream is
 * open; `onEvent` sees each event with its arrival time.
 */
export function presenceStream(
  url: string,
  onEvent?: (ev: PresenceEvent, at: number) => void,
): { events: PresenceEvent[]; ready: Promise<void>; stop(): void } {
  const events: PresenceEvent[] = [];
  let req: http.ClientRequest | undefined;
  const ready = new Promise<void>((resolve) => {
    req = http.get(url, (res) => {
      let buf = '';
      res.on('data', (chunk: Buffer) => {
        buf += chunk.toString();
        if (buf.startsWith(':')) resolve();
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const data = buf
            .slice(0, i)
            .split('\n')
            .find((l) => l.startsWith('data: '));
          buf = buf.slice(i + 2);
          if (!data) continue;
          const ev = JSON.parse(data.slice(6)) as PresenceEvent;
          events.push(ev);
          onEvent?.(ev, Date.now());
        }
      });
    });
    req.on('error', () => undefined);
  });
  return { events, ready, stop: () => req?.destroy() };
}
