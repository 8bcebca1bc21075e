/**
 * Cross-server routing. The publish script appends every delivery for an online peer to its
 * owner's inbox stream in the same atomic step that numbers it and stores it in history, so:
 *   - the owner sees a peer's deliveries in seq order (one reader, one stream): the connection never
 *     receives seq n+1 before n (it would drop n as already sent);
 *   - nothing is lost when the owner is briefly cut off from Redis: it reads on from its last id;
 *   - the publisher learns the outcome from a small ack (pub/sub, `reqId 1|0`). A lost or late ack
 *     costs nothing but precision: the publisher answers `stored`, which is still true (the signal
 *     is in history).
 */
import type { RedisLike } from './lua';
import type { Logger } from 'pino';

export type InboxEntry =
  | {
      kind: 'deliver';
      peer: string;
      epoch: string;
      seq: number;
      from: string;
      id: string;
      data: string;
      ts: number;
      replyTo: string;
      reqId: string;
    }
  | { kind: 'evict'; peer: string; epoch: string };

export function parseInboxEntry(fields: string[]): InboxEntry | undefined {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
  if (f.k === 'evict') return { kind: 'evict', peer: f.p, epoch: f.e };
  if (f.k !== 'deliver') return undefined;
  return {
    kind: 'deliver',
    peer: f.p,
    epoch: f.e,
    seq: Number(f.s),
    from: f.f,
    id: f.i,
    data: f.d,
    ts: Number(f.t),
    replyTo: f.r,
    reqId: f.q,
  };
}

/** Publishers waiting for the owner's word on a routed signal. */
export class AckWaiters {
  private readonly waiting = new Map<string, { resolve(handed: boolean | null): void; timer?: NodeJS.Timeout }>();
  private n = 0;

  /** `nonce` tells apart two processes that reuse a server id (a restart): acks never cross over. */
  constructor(private readonly nonce: string) {}

  /** Register before publishing: the ack may arrive before the publish script's own reply does. */
  register(): { reqId: string; result: Promise<boolean | null> } {
    const reqId = `${this.nonce}.${++this.n}`;
    const result = new Promise<boolean | null>((resolve) => this.waiting.set(reqId, { resolve }));
    return { reqId, result };
  }

  /** Start the clock once the signal is routed; resolves null when the owner does not answer in time. */
  arm(reqId: string, ms: number): void {
    const w = this.waiting.get(reqId);
    if (w && !w.timer) w.timer = setTimeout(() => this.settle(reqId, null), ms);
  }

  settle(reqId: string, handed: boolean | null): void {
    const w = this.waiting.get(reqId);
    if (!w) return;
    this.waiting.delete(reqId);
    if (w.timer) clearTimeout(w.timer);
    w.resolve(handed);
  }

  /** `reqId 1\nreqId 0 ...` from an owner's ack message. */
  settleMessage(text: string): void {
    for (const line of text.split('\n')) {
      const [reqId, handed] = line.split(' ');
      if (reqId) this.settle(reqId, handed === '1');
    }
  }

  settleAll(): void {
    for (const reqId of [...this.waiting.keys()]) this.settle(reqId, null);
  }
}

export interface InboxReaderOptions {
  reader: RedisLike;
  /** For trimming what has been read (the reader connection is busy blocking). */
  command: RedisLike;
  /** The inbox streams this reader reads in one XREAD (one Redis: all buckets; a Cluster: one). */
  keys: string[];
  blockMs: number;
  log: Logger;
  handle(entries: InboxEntry[]): void;
}

/** Reads this server's inboxes, each in order, forever, across Redis outages. */
export class InboxReader {
  private readonly lastIds: string[];
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();

  constructor(private readonly o: InboxReaderOptions) {
    this.lastIds = o.keys.map(() => '0-0');
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let res: Array<[string, Array<[string, string[]]>]> | null;
      try {
        res = (await this.o.reader.xread('COUNT', 512, 'BLOCK', this.o.blockMs, 'STREAMS', ...this.o.keys, ...this.lastIds)) as typeof res;
      } catch (err) {
        if (!this.running) break;
        this.o.log.debug({ err: (err as Error).message }, 'inbox read failed; waiting for Redis');
        await this.untilReady();
        continue;
      }
      if (!res || !this.running) continue;
      const entries: InboxEntry[] = [];
      const read: Array<[string, string]> = [];
      for (const [key, items] of res) {
        const i = this.o.keys.indexOf(key);
        for (const [id, fields] of items) {
          if (i >= 0) this.lastIds[i] = id;
          const e = parseInboxEntry(fields);
          if (e) entries.push(e);
        }
        if (i >= 0 && items.length > 0) read.push([key, this.lastIds[i]]);
      }
      try {
        this.o.handle(entries);
      } catch (err) {
        this.o.log.error({ err: (err as Error).message }, 'inbox handler failed');
      }
      // Read entries are done with; keeping the last one is harmless (XTRIM MINID keeps it).
      for (const [key, id] of read) this.o.command.xtrim(key, 'MINID', id).catch(() => undefined);
    }
  }

  /** Resolves when the reader connection is ready again, or after a short pause (bounded wait). */
  private untilReady(): Promise<void> {
    const r = this.o.reader;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        r.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, r.status === 'ready' ? 100 : 1_000);
      if (r.status !== 'ready') r.once('ready', done);
    });
  }
}
