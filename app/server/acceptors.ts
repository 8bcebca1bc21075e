/**
 * More than one accept per event-loop turn on the public listener.
 *
 * Since libuv 1.45 (Node 20 ships 1.46) a listener accepts ONE connection each time the loop polls
 * it readable: libuv PR #3696 "unix: don't accept() connections in a loop" ("Accepting a single
 * connection and relying on level-triggered polling to get notified on the next incoming
 * connection"). So a process accepts at most one connection per event-loop turn, however many wait
 * in the kernel's queue: with the loop busy relaying and joining, turns of 2-30 ms accept 30-500
 * connections/s, a drain brings 500-1,000/s, the 511-deep queue fills and the kernel drops the
 * handshakes (the client retransmits after 1, 3, 7 s: the 5k/10k drain's reconnect gap,
 * docs/benchmarks.md issue 27 session 5). Measured: 1,399 accept4() for 1,399 epoll_pwait() in B
 * during a 5k drain, not one EAGAIN.
 *
 * The cure without SO_REUSEPORT (net's `reusePort` arrived in Node 22.12): the same listening socket
 * under several descriptors. Each is its own epoll registration and accepts one connection per
 * turn, all from the one kernel queue. Node duplicates a descriptor when a handle crosses an IPC
 * channel (child_process: "The sendHandle argument can be used, for instance, to pass the handle of
 * a TCP server object to the child process"), so a helper process with no other job is handed the
 * listener, sends it back `count` times, closes its own copy and exits. Connections are handed to
 * the HTTP server as its own (http: "This event can also be explicitly emitted by users to inject
 * connections into the HTTP server").
 *
 * The queue's length survives this only if set again at the end: a handle that crosses the IPC channel
 * arrives as a net.Server that Node listens on with ITS default backlog (net.js setupListenHandle:
 * `this._handle.listen(backlog || 511)`), and the kernel takes the last listen(2) on the socket as the
 * queue's length (proc_sys_net(5): somaxconn "defines a ceiling value for the backlog argument of
 * listen(2)"; the value itself is the latest call's). Measured: a listener made with 4,096 showed
 * 511 in `ss -ltn` once its acceptors were back (docs/benchmarks.md, issue 27 session 6), so
 * addAcceptors re-applies the listener's backlog on the server's own handle once any came back.
 */
import { spawn } from 'node:child_process';
import type http from 'node:http';
import type net from 'node:net';

/** Descriptors accepting beside the listener's own: up to 1 + this many connections per loop turn. */
export const EXTRA_ACCEPTORS = 7;

/** The helper: returns the handle it is sent `n` times, then closes its copy (it must not accept) and exits. */
const HELPER = `process.on('message', (m, server) => {
  let left = m.n;
  const next = () => { if (left-- > 0) process.send('acceptor', server, {}, next); else { server.close(); process.disconnect(); } };
  next();
});`;

/**
 * `count` more descriptors of `server`'s listening socket, each a listening net.Server whose
 * connections go to `server` ('connection') and whose errors (EMFILE) to its 'error' listeners.
 * `backlog`: the accept queue `server` listens with, set again once the descriptors are back.
 * Resolves [] if the helper cannot run (the listener then accepts alone, as before).
 */
export function addAcceptors(server: http.Server, count = EXTRA_ACCEPTORS, backlog = 511, timeoutMs = 10_000): Promise<net.Server[]> {
  if (count <= 0) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const got: net.Server[] = [];
    let done = false;
    // No inherited environment (NODE_OPTIONS could ask for a profile or a loader): plain node.
    const helper = spawn(process.execPath, ['-e', HELPER], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env: {} });
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const arrived = got.length;
      if (got.length < count) {
        for (const s of got) s.close();
        got.length = 0;
      }
      if (helper.exitCode === null) helper.kill();
      // Every descriptor that arrived was listened on with Node's 511, kept or not: the socket's
      // queue is the last listen(2)'s, so set it again on the server's own handle.
      try {
        if (arrived > 0) relisten(server, backlog);
      } catch (err) {
        for (const s of got) s.close();
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      resolve(got);
    };
    const timer = setTimeout(finish, timeoutMs);
    helper.on('error', finish);
    // Done when the helper is gone, not at its last message: until it exits it still holds its copy
    // of the listening socket, which the kernel keeps open (and queues connections on) after the
    // server closed every descriptor of its own. 'close' comes after its exit, and after its last
    // message (the IPC channel is read to its end first). Resolving at the last message let a server
    // stopped right after start keep its port open: test/server/acceptors.test.ts "stop closes every
    // acceptor" failed 3 of 8 runs beside two busy loops.
    helper.on('close', finish);
    helper.on('message', (_m: unknown, handle: net.Server | undefined) => {
      if (!handle || done) return;
      handle.on('connection', (socket: net.Socket) => server.emit('connection', socket));
      handle.on('error', (err: Error) => server.emit('error', err));
      got.push(handle);
    });
    helper.send({ n: count }, server);
  });
}

/**
 * listen(2) again on a listening socket: only its accept queue's length changes. net.Server has no
 * public call for it (listen() on a listening server throws ERR_SERVER_ALREADY_LISTEN); its TCP
 * handle's listen() is the one Node itself calls. Throws if Node's internals changed (addAcceptors
 * then rejects and the server does not start), so it never runs silently with another queue than
 * it asked for.
 */
function relisten(listener: net.Server, backlog: number): void {
  const handle = (listener as unknown as { _handle?: { listen?: (backlog: number) => number } })._handle;
  if (typeof handle?.listen !== 'function') throw new Error('acceptors: the listening handle has no listen(): cannot set the accept queue');
  const err = handle.listen(backlog);
  if (err !== 0) throw new Error(`acceptors: listen(${backlog}) on the listening socket failed (${err})`);
}
