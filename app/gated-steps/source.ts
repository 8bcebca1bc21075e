/**
 * Where the gates' evidence comes from. A GateSource watches the servers of a step's regions from
 * begin() to end(); the runner calls sample() on one timer (mid-step hard gates) and reads evidence().
 *
 *   AdminGateSource           (here) each server's admin `GET /status` (state, connections, drain
 *                             report, lifecycleWatcher) and `GET /metrics` (sluice_heartbeat_timeouts_total,
 *                             sluice_drain_reset), presence from `GET /presence`: the local region
 *                             (app/local/region/replace-servers.ts), or a VM reached over IAP (the admin port listens
 *                             on loopback only)
 *   CloudMonitoringGateSource (infra/release/sources.ts) the log-based metrics of a GCE fleet
 */
import type { Evidence, PresenceAbsence, ServerObservation } from './gates';

export interface GateSource {
  readonly name: string;
  begin(regions: string[]): Promise<void>;
  /** One observation round. Throws when the source cannot observe (the runner halts: no evidence, no pass). */
  sample(): Promise<void>;
  evidence(): Evidence;
  end(): Promise<void>;
}

/** A server's admin endpoint. The token is sent as a bearer header, never in a URL or a log line. */
export interface AdminTarget {
  id: string;
  region: string;
  /** e.g. http://127.0.0.1:9101 (loopback: the admin listener never faces a network). */
  url: string;
  token?: string;
}

/** One Prometheus sample value (`name` or `name{labels}`); undefined when absent. Sums label sets. */
export function metricValue(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const v = Number(m[3]);
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}

/** The fields of an admin `GET /status` (or `POST /drain`) answer the gates read. */
export interface StatusBody {
  state?: string;
  connections?: number;
  drain?: { startedAt?: number; finishedAt?: number; total?: number; closeSent?: number; reset?: number } | null;
  lifecycleWatcher?: { up?: boolean; lastResult?: string; lastStatus?: number } | null;
}

/** GET /status + GET /metrics of each target (the set may change as a rollout adds servers). */
export class AdminGateSource implements GateSource {
  readonly name = 'admin /status + /metrics';
  private regions: string[] = [];
  private startedAt = 0;
  private before: ServerObservation[] = [];
  private latest = new Map<string, ServerObservation>();
  /** Peers online at the step's first presence read; undefined until one succeeded. */
  private onlineAtStart?: Set<string>;
  /** Per peer of onlineAtStart seen not online: since when (open absence) and its longest so far. */
  private absences = new Map<string, { since?: number; longestMs: number }>();
  private misses = new Map<string, number>();

  constructor(
    private readonly targets: () => AdminTarget[],
    private readonly opts: { timeoutMs?: number; now?: () => number; goneAfterMisses?: number } = {},
  ) {}

  async begin(regions: string[]): Promise<void> {
    this.regions = regions;
    this.startedAt = (this.opts.now ?? Date.now)();
    this.latest.clear();
    this.misses.clear();
    this.onlineAtStart = undefined;
    this.absences.clear();
    // The step's starting point must hold every listed server: one that did not answer the first
    // round (a loaded machine, a 2 s timeout) would be missing from `before`, and its connections
    // would count for nothing if it then left undrained. Ask again, as many rounds as make it gone.
    const rounds = this.opts.goneAfterMisses ?? 3;
    for (let i = 0; i < rounds; i++) {
      await this.sample();
      const listed = this.targets().filter((t) => this.regions.includes(t.region));
      if (listed.every((t) => this.latest.has(t.id))) break;
    }
    this.before = [...this.latest.values()].filter((s) => s.state !== 'gone');
  }

  async sample(): Promise<void> {
    const targets = this.targets().filter((t) => this.regions.includes(t.region));
    const seen = await Promise.all(targets.map((t) => this.observe(t)));
    const answered = new Set<string>();
    for (const o of seen) {
      if (!o) continue;
      answered.add(o.id);
      this.misses.delete(o.id);
      // A drain is one-way: an answer read before a recorded drain report (record(), which may land
      // while this round's requests are in flight) neither erases it nor turns it back to unfinished.
      this.latest.set(o.id, { ...o, drain: laterDrain(this.latest.get(o.id)?.drain ?? null, o.drain) });
    }
    // A server that left the target list, or missed `goneAfterMisses` rounds in a row, keeps its last
    // report, marked gone; one slow answer from a listed server (a loaded machine) is not a departure.
    const listed = new Set(targets.map((t) => t.id));
    for (const [id, o] of this.latest) {
      if (answered.has(id) || o.state === 'gone') continue;
      const misses = (this.misses.get(id) ?? 0) + 1;
      this.misses.set(id, misses);
      if (!listed.has(id) || misses >= (this.opts.goneAfterMisses ?? 3)) this.latest.set(id, { ...o, state: 'gone' });
    }
    await this.samplePresence(targets.filter((t) => this.latest.get(t.id)?.state === 'serving'));
  }

  evidence(): Evidence {
    const absences: PresenceAbsence[] = [...this.absences].map(([peer, a]) => ({
      peer,
      longestMs: a.longestMs,
      absentNow: a.since !== undefined,
    }));
    return {
      startedAt: this.startedAt,
      before: this.before,
      latest: [...this.latest.values()],
      presenceFlaps: [],
      ...(this.onlineAtStart ? { presence: { onlineAtStart: this.onlineAtStart.size, absences } } : {}),
    };
  }

  async end(): Promise<void> {
    this.regions = [];
  }

  /**
   * An answer the caller got from the same admin endpoint itself (the executor's `POST /drain`, and
   * its `?wait=1` final report): a server that exits right after its drain may not be sampled in
   * between, and its report must not be lost with it. Merged over the latest observation.
   */
  record(t: AdminTarget, body: StatusBody): void {
    if (!this.regions.includes(t.region)) return;
    const prev = this.latest.get(t.id);
    const o = toObservation(t, body, '');
    this.latest.set(t.id, {
      ...o,
      connections: body.connections ?? prev?.connections ?? 0,
      heartbeatTimeouts: prev?.heartbeatTimeouts ?? 0,
      watcher: o.watcher ?? prev?.watcher ?? null,
      drain: laterDrain(prev?.drain ?? null, o.drain),
    });
  }

  private async get(t: AdminTarget, route: string): Promise<Response> {
    return fetch(`${t.url}${route}`, {
      headers: t.token ? { authorization: `Bearer ${t.token}` } : {},
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 2_000),
    });
  }

  /** undefined: no answer (down, or not started yet). A wrong token is an error, not an absence. */
  private async observe(t: AdminTarget): Promise<ServerObservation | undefined> {
    let status: Response;
    let metrics: Response;
    try {
      [status, metrics] = await Promise.all([this.get(t, '/status'), this.get(t, '/metrics')]);
    } catch {
      return undefined;
    }
    if (status.status === 401 || status.status === 403)
      throw new Error(`${t.id}: GET /status answered ${status.status}: check the admin token`);
    if (!status.ok || !metrics.ok) return undefined;
    try {
      return toObservation(t, (await status.json()) as StatusBody, await metrics.text());
    } catch {
      // The answer was cut off or is not JSON: a server going away mid-answer, not an observation.
      return undefined;
    }
  }

  /**
   * Presence from one serving server (the backplane's view, the same on every server). The first
   * read of a step fixes who was online at its start; after that, each of them not online (away, or
   * gone from presence) opens an absence, and online again closes it. A peer already away when the
   * step began (it left before the rollout, its away grace still running) is not watched.
   */
  private async samplePresence(serving: AdminTarget[]): Promise<void> {
    for (const t of serving) {
      let peers: Array<{ peerId: string; state?: string }>;
      try {
        const r = await this.get(t, '/presence');
        if (!r.ok) continue;
        peers = ((await r.json()) as { peers?: Array<{ peerId: string; state?: string }> }).peers ?? [];
      } catch {
        continue;
      }
      const at = (this.opts.now ?? Date.now)();
      // An entry without a state is an online one (servers older than the away state).
      const online = new Set(peers.filter((p) => (p.state ?? 'online') === 'online').map((p) => p.peerId));
      if (!this.onlineAtStart) {
        this.onlineAtStart = online;
        return;
      }
      for (const p of this.onlineAtStart) {
        const a = this.absences.get(p);
        if (online.has(p)) {
          if (a?.since !== undefined) a.since = undefined;
          continue;
        }
        const open = a ?? { longestMs: 0 };
        open.since ??= at;
        open.longestMs = Math.max(open.longestMs, at - open.since);
        this.absences.set(p, open);
      }
      return;
    }
  }
}

type DrainReport = ServerObservation['drain'];

/**
 * The more advanced of two reports of a server's drain: a later drain over an earlier one, a
 * finished one over the same drain still running; an answer without a drain changes nothing.
 */
export function laterDrain(prev: DrainReport, next: DrainReport): DrainReport {
  if (!next) return prev;
  if (!prev || next.startedAt > prev.startedAt) return next;
  if (next.startedAt < prev.startedAt) return prev;
  return prev.finishedAt > 0 && next.finishedAt === 0 ? prev : next;
}

function toObservation(t: AdminTarget, body: StatusBody, text: string): ServerObservation {
  const d = body.drain;
  const w = body.lifecycleWatcher;
  return {
    id: t.id,
    region: t.region,
    state: String(body.state ?? 'unknown'),
    connections: Number(body.connections ?? 0),
    drain: d
      ? {
          startedAt: Number(d.startedAt ?? 0),
          finishedAt: Number(d.finishedAt ?? 0),
          total: Number(d.total ?? 0),
          closeSent: Number(d.closeSent ?? 0),
          // The report and the gauge are the same count; take the larger if one lags.
          reset: Math.max(Number(d.reset ?? 0), metricValue(text, 'sluice_drain_reset') ?? 0),
        }
      : null,
    heartbeatTimeouts: metricValue(text, 'sluice_heartbeat_timeouts_total') ?? 0,
    watcher: w
      ? {
          up: Boolean(w.up),
          lastResult: String(w.lastResult ?? 'none'),
          ...(w.lastStatus !== undefined ? { lastStatus: Number(w.lastStatus) } : {}),
        }
      : null,
  };
}
