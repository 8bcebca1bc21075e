/**
 * What a drill scenario reports (drill.ts runs scenarios 1-4, evacuation.ts scenario 5; report.ts
 * writes them), and the steps and checks every scenario shares.
 */
import type { FleetSummary, Percentiles } from '../../peer/fleet';
import type { Region } from '../region/region';
import type { MachineReport } from './probe';

export interface Check {
  what: string;
  value: number;
  bound: number;
  ok: boolean;
}

export interface ScenarioResult {
  n: number;
  name: string;
  fails: string;
  acts: string;
  lb: string;
  backplane: string;
  peers: number;
  /** Peers on the failed server (all peers for the rollout). */
  affected: number;
  /** Per affected peer: from the event to its next join (scenario 1: its reconnect gaps). */
  outageMs: Percentiles;
  /**
   * Scenario 3: per affected peer, event -> its heartbeat gave up; server end, per connection on
   * the silent server: the last byte its VM network forwarded to it -> the server closed it.
   */
  clientDetectMs?: Percentiles;
  serverDetectMs?: Percentiles;
  deletedAtMs?: number;
  everOffline: number;
  summary: FleetSummary;
  checks: Check[];
  machine: MachineReport;
  chart: string;
  notes: string[];
}

/** Zero loss, zero duplicates, everything settled; `everOffline` null: not a bound here (scenario 4). */
export function lossChecks(s: FleetSummary, everOffline: number | null): Check[] {
  const out: Check[] = [
    { what: 'signals lost', value: s.lost, bound: 0, ok: s.lost === 0 && s.settled },
    { what: 'signals duplicated', value: s.duplicated, bound: 0, ok: s.duplicated === 0 },
  ];
  if (everOffline !== null) out.push({ what: 'peers ever shown offline', value: everOffline, bound: 0, ok: everOffline === 0 });
  return out;
}

/** Let the monitor take `n` more samples (the chart shows the end). */
export async function settleSamples(r: Region, n: number): Promise<void> {
  const target = r.monitor.samples.length + n;
  await until(() => r.monitor.samples.length >= target || r.monitor.samples.length >= 2_000, 10_000, 'samples');
}

/** Wait (bounded) for `pred`, checking every 50 ms; `fail` false: just stop waiting at the bound. */
export async function until(pred: () => boolean, ms: number, what: string, fail = true): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) {
      if (fail) throw new Error(`drill: timed out after ${ms} ms waiting for ${what}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
