/**
 * SocketBudget: at most `max` TCP sockets on one HTTP listener, so the process never runs out of
 * file descriptors (docs/security.md "Limits and failure behaviour"). A socket is `idle` from accept until a
 * request starts, and again between keep-alive requests; a request in progress or an upgrade
 * (WebSocket) makes it busy. Past the budget the OLDEST idle socket is destroyed to make room: a
 * flood of silent or slowloris connections can never lock out the next health check, which gets its
 * slot and keeps it until `max` newer idle sockets arrive. With no idle socket to shed, the new one
 * is destroyed (the WebSocket cap keeps that from happening on the public listener).
 */
import type http from 'node:http';
import type { Socket } from 'node:net';

export class SocketBudget {
  private readonly idle = new Set<Socket>();
  private open = 0;
  /** Sockets destroyed to stay within the budget. */
  shed = 0;
  /**
   * One 'close' listener for every socket of this budget (EventEmitter calls it with the socket as
   * `this`): a `once` closure per socket held ~250 B of heap for each idle WebSocket (bench/heap.ts).
   * 'close' is emitted once per socket, so `on` is `once` here without the wrapper.
   */
  private readonly closed: (this: Socket) => void;

  constructor(
    readonly max: number,
    private readonly onShed: (why: 'oldest_idle' | 'no_room') => void = () => undefined,
  ) {
    this.closed = closeListener(this);
  }

  get size(): number {
    return this.open;
  }

  /**
   * Track `server`'s sockets. `upgrades`: the server handles 'upgrade' (an upgraded socket is busy
   * for good). Never listen for 'upgrade' on a server that does not: a listener makes Node hand it
   * every Upgrade request, which would then go unanswered.
   */
  attach(server: http.Server, opts: { upgrades: boolean }): this {
    server.on('connection', (socket: Socket) => this.accepted(socket));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.idle.delete(req.socket);
      res.once('close', () => {
        if (!req.socket.destroyed) this.idle.add(req.socket); // keep-alive: idle again, youngest
      });
    });
    if (opts.upgrades) server.on('upgrade', (req: http.IncomingMessage) => this.idle.delete(req.socket));
    return this;
  }

  /** A socket of this budget closed (its one 'close' listener). */
  socketClosed(socket: Socket): void {
    this.open--;
    this.idle.delete(socket);
  }

  private accepted(socket: Socket): void {
    this.open++;
    this.idle.add(socket);
    socket.on('close', this.closed);
    if (this.open <= this.max) return;
    const oldest = this.idle.values().next().value as Socket;
    const victim = oldest !== socket ? oldest : undefined;
    this.shed++;
    if (victim) {
      this.idle.delete(victim);
      victim.destroy();
      this.onShed('oldest_idle');
    } else {
      this.idle.delete(socket);
      socket.destroy();
      this.onShed('no_room');
    }
  }
}

/** The 'close' listener shared by all of `budget`'s sockets: EventEmitter passes the socket as `this`. */
function closeListener(budget: SocketBudget): (this: Socket) => void {
  return function (this: Socket) {
    budget.socketClosed(this);
  };
}
