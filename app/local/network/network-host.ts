/**
 * The local region's "VM networks" (one black-hole proxy per server, blackhole-proxy.ts) hosted in
 * a child process of their own, driven over Node's IPC channel.
 *
 * Why a process: every byte between the LB and a server crosses one of these proxies. Hosted in
 * the drill's process, beside the fleet whose events are the drill's measurements, they shared one
 * event loop with it: beside two busy processes on 2 cores each upgrade was answered ~1 s late and
 * the measured reconnect times were the scheduler's. Here the forwarding runs on its own event
 * loop; the region's process only sends mode switches and receives each proxy's counters.
 *
 * Parent side: `startNetworkHost()` -> `host.open(targetPort)` gives a `BlackholeProxy` whose mode
 * switches resolve once the child has applied them (the counters in the reply are the child's at
 * that moment), and whose counters follow the child's (pushed once per event-loop turn there).
 * The child exits when its channel closes (the parent gone, however it ended) and is started with
 * a lifeline (SIGKILL when the parent dies).
 */
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import type { BlackholeProxy, ProxyMode, ServerClose } from './blackhole-proxy';
import { startBlackholeProxy } from './blackhole-proxy';
import { withLifeline } from '../lifeline';

type Op =
  | { op: 'open'; target: number }
  | { op: 'mode'; id: number; mode: ProxyMode }
  | { op: 'resetAll'; id: number }
  | { op: 'close'; id: number };
type Request = Op & { req: number };

interface State {
  mode: ProxyMode;
  connections: number;
  upgraded: number;
  /** serverClosed entries from index `closedFrom` on (only the new ones). */
  closedFrom: number;
  closed: ServerClose[];
}

type Reply =
  | { req: number; ok: true; id?: number; port?: number }
  | { req: number; ok: false; error: string }
  | { ev: 'state'; id: number; state: State }
  | { ev: 'ready' };

export interface NetworkHost {
  readonly pid: number;
  /** A black-hole proxy in the child, in front of 127.0.0.1:`targetPort`. */
  open(targetPort: number): Promise<BlackholeProxy>;
  /** Close every proxy and end the child. */
  close(): Promise<void>;
  /** Synchronous last resort (process 'exit'). */
  killNow(): void;
}

const START_TIMEOUT_MS = 30_000;

export async function startNetworkHost(): Promise<NetworkHost> {
  const [cmd, args] = withLifeline(process.execPath, ['--import', 'tsx', __filename]);
  // Its own process group, as every other child of the region (servers.ts, haproxy.ts, redis.ts): a
  // terminal's Ctrl-C sends SIGINT to the whole foreground process group, and this child, in that
  // group, died of it while the region was about to drain through its proxies ("stop failed:
  // network host exited (SIGINT)"). Only the region process handles Ctrl-C; this child ends when
  // the region closes its channel, or by its lifeline when the region dies.
  const child: ChildProcess = spawn(cmd, args, {
    cwd: path.resolve(__dirname, '../../..'),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pending = new Map<number, { resolve: (r: { id?: number; port?: number }) => void; reject: (e: Error) => void }>();
  const proxies = new Map<number, { state: State; serverClosed: ServerClose[] }>();
  let nextReq = 1;
  let gone: Error | undefined;
  let ready!: () => void;
  const isReady = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`network host did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    const early = (code: number | null, sig: string | null) => {
      clearTimeout(timer);
      reject(new Error(`network host exited (${code ?? sig}) before it was ready`));
    };
    child.once('exit', early);
    ready = () => {
      clearTimeout(timer);
      child.off('exit', early);
      resolve();
    };
  });
  child.on('message', (m: Reply) => {
    if ('ev' in m) {
      if (m.ev === 'ready') {
        ready();
        return;
      }
      const p = proxies.get(m.id);
      if (!p) return;
      p.state = m.state;
      p.serverClosed.splice(m.state.closedFrom, Infinity, ...m.state.closed);
      return;
    }
    const w = pending.get(m.req);
    if (!w) return;
    pending.delete(m.req);
    if (m.ok) w.resolve(m);
    else w.reject(new Error(`network host: ${m.error}`));
  });
  child.once('exit', (code, sig) => {
    gone = new Error(`network host exited (${code ?? sig})`);
    for (const w of pending.values()) w.reject(gone);
    pending.clear();
  });
  const call = (op: Op) =>
    new Promise<{ id?: number; port?: number }>((resolve, reject) => {
      if (gone || !child.connected) return reject(gone ?? new Error('network host: channel closed'));
      const req = nextReq++;
      pending.set(req, { resolve, reject });
      child.send({ ...op, req } satisfies Request);
    });
  try {
    await isReady;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    pid: child.pid!,
    open: async (targetPort) => {
      const { id, port } = await call({ op: 'open', target: targetPort });
      const entry = {
        state: { mode: 'forward' as ProxyMode, connections: 0, upgraded: 0, closedFrom: 0, closed: [] },
        serverClosed: [] as ServerClose[],
      };
      proxies.set(id!, entry);
      const mode = (m: ProxyMode) => call({ op: 'mode', id: id!, mode: m }).then(() => undefined);
      return {
        port: port!,
        blackhole: () => mode('blackhole'),
        cut: () => mode('cut'),
        dropReplies: () => mode('drop_replies'),
        restore: () => mode('forward'),
        resetAll: () => call({ op: 'resetAll', id: id! }).then(() => undefined),
        get mode() {
          return entry.state.mode;
        },
        get connections() {
          return entry.state.connections;
        },
        get upgraded() {
          return entry.state.upgraded;
        },
        serverClosed: entry.serverClosed,
        close: async () => {
          if (gone) return;
          await call({ op: 'close', id: id! });
          proxies.delete(id!);
        },
      };
    },
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        if (child.connected) child.disconnect();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
    },
    killNow: () => {
      child.kill('SIGKILL');
    },
  };
}

/** The child: a map of proxies, one request at a time in order, state pushed once per turn. */
function serve(): void {
  const send = (m: Reply) => {
    if (process.connected) process.send!(m);
  };
  const proxies = new Map<number, { proxy: BlackholeProxy; sentClosed: number }>();
  const dirty = new Set<number>();
  let scheduled = false;
  const flush = (id: number) => {
    const p = proxies.get(id);
    dirty.delete(id);
    if (!p) return;
    const { proxy } = p;
    const closed = proxy.serverClosed.slice(p.sentClosed);
    send({
      ev: 'state',
      id,
      state: { mode: proxy.mode, connections: proxy.connections, upgraded: proxy.upgraded, closedFrom: p.sentClosed, closed },
    });
    p.sentClosed = proxy.serverClosed.length;
  };
  const flushAll = () => {
    scheduled = false;
    for (const id of [...dirty]) flush(id);
  };
  let nextId = 1;
  const handle = async (m: Request): Promise<Reply> => {
    if (m.op === 'open') {
      const id = nextId++;
      const proxy = await startBlackholeProxy(m.target, {
        onChange: () => {
          dirty.add(id);
          if (!scheduled) {
            scheduled = true;
            setImmediate(flushAll);
          }
        },
      });
      proxies.set(id, { proxy, sentClosed: 0 });
      return { req: m.req, ok: true, id, port: proxy.port };
    }
    const p = proxies.get(m.id);
    if (!p) return { req: m.req, ok: false, error: `no proxy ${m.id}` };
    if (m.op === 'mode') {
      const set = { blackhole: p.proxy.blackhole, cut: p.proxy.cut, drop_replies: p.proxy.dropReplies, forward: p.proxy.restore }[m.mode];
      if (!set) return { req: m.req, ok: false, error: `unknown mode ${String(m.mode)}` };
      await set();
    } else if (m.op === 'resetAll') {
      await p.proxy.resetAll();
    } else if (m.op === 'close') {
      await p.proxy.close();
      proxies.delete(m.id);
      return { req: m.req, ok: true };
    }
    // The counters as of this switch reach the parent before the reply does.
    flush(m.id);
    return { req: m.req, ok: true };
  };
  process.on('message', (m: Request) => {
    handle(m).then(send, (err: Error) => send({ req: m.req, ok: false, error: err.message }));
  });
  // The parent is gone (or closed the channel): nothing is left to serve.
  process.on('disconnect', () => process.exit(0));
  send({ ev: 'ready' });
}

if (require.main === module) serve();
