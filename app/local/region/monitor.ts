/**
 * What the status page and the drill watch, sampled on one timer: per server its state,
 * connections and drain progress (admin `GET /status`), the fleet's presence (admin `GET /presence`
 * of a serving server: online, away, and offline = peers of the fleet in neither), signals per
 * second and delivery latency (each numbered signal carries its send time). Samples are kept for
 * `keepMs` (a bounded ring), so memory does not grow with the region's uptime.
 */
import { EventEmitter } from 'node:events';
import type { PresenceEntry } from '../../backplane/types';
import { percentiles } from '../../peer/fleet';
import type { FleetController } from '../../peer/fleet';
import type { LocalServer, ServerStatus } from './servers';

export interface ServerSample {
  id: string;
  state: ServerStatus['state'] | 'silent' | 'unreachable';
  connections: number;
  /** Drain progress: 1012s sent / connections at drain start; RSTs at the deadline. */
  drainTotal: number;
  drainClosed: number;
  drainReset: number;
  /**
   * WebSockets its VM network still holds with a side open. Silenced, the server's own count drops
   * as its idle limit closes its ends, but nothing crosses the black hole: their peers hold them
   * half-open until a FIN or RST does (status/charts.ts shows this for a silent server).
   */
  held: number;
  /** When its /status answer arrived (ms since the region started): an upper bound on when it was true. */
  at: number;
  /** Several regions (docs/regions.md): its region, and the signals it published into another region's backplane. */
  region?: string;
  crossRegion?: number;
}

export interface Sample {
  /** ms since the region started. */
  t: number;
  servers: ServerSample[];
  online: number;
  away: number;
  offline: number;
  delivered: number;
  signalsPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

export interface MonitorSource {
  servers(): LocalServer[];
  fleet(): FleetController | undefined;
  /** Servers whose network is black-holed (shown as silent; their admin still answers). */
  silent(): Set<string>;
}

export class Monitor extends EventEmitter {
  readonly startedAt = Date.now();
  readonly samples: Sample[] = [];
  /** Fleet peers ever missing from presence after their first join: what an admin portal shows offline. */
  readonly everOffline = new Set<string>();
  /** When and by whose presence each of them was first seen offline (for the report). */
  readonly offlineSeen: Array<{ peer: string; t: number; reader: string }> = [];
  /** Peer id -> server id, from the last presence read. */
  placement = new Map<string, string>();
  private latencies: number[] = [];
  private lastDelivered = 0;
  private lastAt = Date.now();
  private timer?: NodeJS.Timeout;
  private busy = false;
  private hooked?: FleetController;

  constructor(
    private readonly src: MonitorSource,
    private readonly everyMs: number,
    private readonly keepMs = 10 * 60_000,
  ) {
    super();
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Count delivery latency of the fleet's numbered signals (`{n, at}`). */
  private hook(fleet: FleetController): void {
    if (this.hooked === fleet) return;
    this.hooked = fleet;
    this.lastDelivered = 0;
    for (const p of fleet.peers) {
      p.client.on('signal', (s) => {
        const at = (s.data as { at?: unknown } | null)?.at;
        if (typeof at === 'number' && this.latencies.length < 100_000) this.latencies.push(Date.now() - at);
      });
    }
  }

  latest(): Sample | undefined {
    return this.samples.at(-1);
  }

  async tick(): Promise<Sample | undefined> {
    if (this.busy) return undefined;
    this.busy = true;
    try {
      const sample = await this.take();
      this.samples.push(sample);
      while (this.samples.length > 0 && sample.t - this.samples[0].t > this.keepMs) this.samples.shift();
      this.emit('sample', sample);
      return sample;
    } finally {
      this.busy = false;
    }
  }

  private async take(): Promise<Sample> {
    const servers = this.src.servers().filter((s) => !s.gone);
    const silent = this.src.silent();
    const answeredAt: number[] = [];
    const statuses = await Promise.all(
      servers.map((s, i) =>
        s
          .status()
          .catch(() => undefined)
          .finally(() => {
            answeredAt[i] = Date.now() - this.startedAt;
          }),
      ),
    );
    const serverSamples: ServerSample[] = servers.map((s, i) => {
      const st = statuses[i];
      return {
        id: s.id,
        state: !st ? 'unreachable' : silent.has(s.id) ? 'silent' : st.state,
        connections: st?.connections ?? 0,
        drainTotal: st?.drain?.total ?? 0,
        drainClosed: st?.drain?.closeSent ?? 0,
        drainReset: st?.drain?.reset ?? 0,
        held: s.network.upgraded,
        at: answeredAt[i],
        ...(st?.regions ? { region: st.regions.region, crossRegion: st.regions.crossRegion } : {}),
      };
    });
    const fleet = this.src.fleet();
    let online = 0;
    let away = 0;
    let offline = 0;
    let delivered = 0;
    if (fleet) {
      this.hook(fleet);
      // Peers joined before the presence read starts: one that joins during the read is not missing.
      const joinedBefore = new Set(fleet.peers.filter((p) => p.joined).map((p) => p.spec.id));
      // The oldest serving server answers (a server just started may still be connecting to Redis).
      let entries: PresenceEntry[] | undefined;
      let reader = '';
      for (const [i, s] of servers.entries()) {
        if (statuses[i]?.state !== 'serving' || silent.has(s.id)) continue;
        entries = await s.presence().catch(() => undefined);
        reader = s.id;
        if (entries) break;
      }
      if (entries) {
        const byId = new Map(entries.map((e) => [e.peerId, e]));
        this.placement = new Map(entries.filter((e) => e.state === 'online').map((e) => [e.peerId, e.serverId]));
        for (const p of fleet.peers) {
          const e = byId.get(p.spec.id);
          if (e?.state === 'online') online++;
          else if (e?.state === 'away') away++;
          else if (joinedBefore.has(p.spec.id)) {
            offline++;
            if (!this.everOffline.has(p.spec.id)) this.offlineSeen.push({ peer: p.spec.id, t: Date.now() - this.startedAt, reader });
            this.everOffline.add(p.spec.id);
          }
        }
      }
      delivered = fleet.snapshot().delivered;
    }
    const now = Date.now();
    const lat = percentiles(this.latencies.splice(0));
    const signalsPerSec = Math.max(0, ((delivered - this.lastDelivered) * 1000) / Math.max(1, now - this.lastAt));
    this.lastDelivered = delivered;
    this.lastAt = now;
    return {
      t: now - this.startedAt,
      servers: serverSamples,
      online,
      away,
      offline,
      delivered,
      signalsPerSec: Math.round(signalsPerSec),
      latencyP50Ms: lat.p50,
      latencyP99Ms: lat.p99,
    };
  }
}
