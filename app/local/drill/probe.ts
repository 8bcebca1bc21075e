/**
 * What the machine did to a drill scenario, recorded beside its checks so a missed bound can be
 * told apart from a starved run: the event-loop delay of the drill process (where the peers and
 * every measurement live: a late timer here is a late measurement; the VM networks forward on
 * their own event loop, network-host.ts), the load
 * average before and after, and the peers' failed connection attempts by reason (a
 * `connect_timeout` is an upgrade the server did not answer within `client.connectTimeoutMs`).
 */
import os from 'node:os';
import { monitorEventLoopDelay, IntervalHistogram } from 'node:perf_hooks';
import type { FleetController } from '../../peer/fleet';

export interface MachineReport {
  cores: number;
  /** 1-minute load average at the scenario's start and end. */
  loadStart: number;
  loadEnd: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  /** Connection attempts that failed before a join, by reason (all peers, the whole scenario). */
  failedAttempts: Record<string, number>;
}

export class ScenarioProbe {
  private readonly eld: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private readonly loadStart = os.loadavg()[0];
  private readonly failed: Record<string, number> = {};

  constructor() {
    this.eld.enable();
  }

  watch(fleet: FleetController): void {
    for (const p of fleet.peers) {
      p.client.on('disconnected', (d) => {
        if (d.wasJoined || d.reason === 'client_closed') return;
        const k = d.status ? `${d.reason} (${d.status})` : d.reason;
        this.failed[k] = (this.failed[k] ?? 0) + 1;
      });
    }
  }

  finish(): MachineReport {
    this.eld.disable();
    const ms = (ns: number) => Math.round(ns / 1e6);
    return {
      cores: os.cpus().length,
      loadStart: round1(this.loadStart),
      loadEnd: round1(os.loadavg()[0]),
      eventLoopDelayP99Ms: ms(this.eld.percentile(99)),
      eventLoopDelayMaxMs: ms(this.eld.max),
      failedAttempts: { ...this.failed },
    };
  }
}

export function machineNote(m: MachineReport): string {
  const failed =
    Object.entries(m.failedAttempts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none';
  return (
    `machine: load average ${m.loadStart} -> ${m.loadEnd} on ${m.cores} cores; drill process event-loop delay p99 ${m.eventLoopDelayP99Ms} ms, ` +
    `max ${m.eventLoopDelayMaxMs} ms; failed connection attempts: ${failed}`
  );
}

const round1 = (x: number) => Math.round(x * 10) / 10;
