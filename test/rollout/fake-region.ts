/**
 * Test doubles for the rollout runner: a fleet of fake servers per region, an executor that replaces
 * them one by one like a MIG's rolling update (new server up, old one drains, its clients move to the
 * survivors), and a GateSource that reads the fleet. A scenario decides how each drain goes.
 */
import type { Evidence, ServerObservation } from '../../app/gated-steps/gates';
import type { ConfigChange, ReleaseStep } from '../../infra/release/steps';
import type { Deployed, RolloutExecutor, StepContext } from '../../infra/release/run';
import type { GateSource } from '../../app/gated-steps/source';

export interface DrainOutcome {
  /** Connections reset at the deadline. */
  reset?: number;
  durationMs?: number;
  /** Connections that do not come back on a survivor. */
  lost?: number;
  /** Report a lifecycle watcher error on the new server. */
  watcherError?: number;
}

export class FakeFleet {
  servers: ServerObservation[] = [];
  presence = new Set<string>();
  flapped: string[] = [];
  /** Every server drained, in order (what the tests assert on). */
  drained: string[] = [];
  applied: Array<{ step: number; changes: ConfigChange[] }> = [];
  deployedReleases: Deployed;
  private seq = 0;
  clock = 1_000_000;

  constructor(
    regions: Record<string, number>,
    image: string,
    private readonly outcome: (server: ServerObservation) => DrainOutcome = () => ({}),
  ) {
    this.deployedReleases = Object.fromEntries(Object.keys(regions).map((r) => [r, { image }]));
    for (const [region, n] of Object.entries(regions)) for (let i = 0; i < n; i++) this.add(region, 100);
  }

  private add(region: string, connections: number): ServerObservation {
    const s: ServerObservation = {
      id: `${region}-${++this.seq}`,
      region,
      state: 'serving',
      connections,
      drain: null,
      heartbeatTimeouts: 0,
      watcher: { up: true, lastResult: 'ok' },
    };
    this.servers.push(s);
    return s;
  }

  /** Replace one server of `region`: a new one joins, `old` drains and leaves. */
  replace(old: ServerObservation): void {
    const o = this.outcome(old);
    const fresh = this.add(old.region, 0);
    if (o.watcherError) fresh.watcher = { up: false, lastResult: 'error', lastStatus: o.watcherError };
    const reset = o.reset ?? 0;
    const lost = o.lost ?? 0;
    const startedAt = (this.clock += 1000);
    old.drain = {
      startedAt,
      finishedAt: startedAt + (o.durationMs ?? 3000),
      total: old.connections,
      closeSent: old.connections - reset,
      reset,
    };
    old.state = 'drained';
    const survivors = this.servers.filter((s) => s.region === old.region && s.state === 'serving');
    let moving = old.connections - lost;
    for (let i = 0; moving > 0; i = (i + 1) % survivors.length, moving--) survivors[i].connections++;
    old.connections = 0;
    this.drained.push(old.id);
  }

  executor(): RolloutExecutor & { apply(step: ReleaseStep, changes: ConfigChange[], ctx: StepContext): Promise<void> } {
    return {
      deployed: async () => this.deployedReleases,
      apply: async (step, changes, ctx) => {
        this.applied.push({ step: step.index, changes });
        for (const region of step.regions) {
          const old = this.servers.filter((s) => s.region === region && s.state === 'serving');
          const count = step.kind === 'canary' ? Number(step.target[0].canary?.targetSize ?? 1) : old.length;
          for (const s of old.slice(0, count)) {
            this.replace(s);
            // Like `pulumi up` waiting on the MIG: the next VM only after the runner has looked.
            await ctx.sampled();
            if (ctx.signal.aborted) throw new Error('update cancelled');
          }
        }
        for (const t of step.target) this.deployedReleases[t.region] = t.canary ? { image: t.image, canary: t.canary } : { image: t.image };
      },
    };
  }

  source(): GateSource & { samples: number } {
    let regions: string[] = [];
    let startedAt = 0;
    let before: ServerObservation[] = [];
    const source: GateSource & { samples: number } = {
      name: 'fake fleet',
      samples: 0,
      begin: async (r) => {
        regions = r;
        startedAt = this.clock + 1;
        before = this.servers.filter((s) => regions.includes(s.region) && s.state === 'serving').map((s) => ({ ...s }));
      },
      sample: async () => {
        source.samples++;
      },
      evidence: (): Evidence => ({
        startedAt,
        before,
        latest: this.servers.filter((s) => regions.includes(s.region)).map((s) => ({ ...s, drain: s.drain && { ...s.drain } })),
        presenceFlaps: this.flapped,
      }),
      end: async () => {},
    };
    return source;
  }
}
