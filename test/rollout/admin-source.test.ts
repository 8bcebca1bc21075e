/**
 * Issue 15, part 3: the admin GateSource reads real HTTP: fake admin listeners on 127.0.0.1 answer
 * GET /status, /metrics and /presence with the server's field and metric names. Then the whole
 * halt path through it: the first server's drain reports resets, the runner stops the step.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultTimeouts } from '../../app/contract/timeouts';
import { parseStackConfig } from '../../infra/config';
import { defaultThresholds, evaluateGates } from '../../app/gated-steps/gates';
import { releaseSteps } from '../../infra/release/steps';
import { runRollout } from '../../infra/release/run';
import { AdminGateSource, AdminTarget, metricValue } from '../../app/gated-steps/source';
import { BASE_CONFIG, imageAt, toRaw } from '../infra/harness';

const TH = defaultThresholds(defaultTimeouts);
const TOKEN = 'admin-token-for-the-gate-source-test-0123456789';

interface FakeState {
  state: string;
  connections: number;
  drain: null | { reason: string; startedAt: number; finishedAt: number; total: number; closeSent: number; reset: number };
  heartbeatTimeouts: number;
  peers: string[];
  /** Peers shown away (disconnected, their grace running). */
  away?: string[];
  /** /status answers 503 this many more times (a server too loaded to answer in time). */
  unavailable?: number;
  /** Awaited after /status read the state, before it answers (an answer still in flight). */
  hold?: () => Promise<void>;
}

async function fakeAdmin(s: FakeState): Promise<{ url: string; close(): Promise<void>; auth: string[] }> {
  const auth: string[] = [];
  const server = http.createServer((req, res) => {
    auth.push(req.headers.authorization ?? '');
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401).end();
      return;
    }
    if (req.url === '/status') {
      if (s.unavailable) {
        s.unavailable--;
        res.writeHead(503).end();
        return;
      }
      const body = JSON.stringify({
        serverId: 'x',
        state: s.state,
        ready: s.state === 'serving',
        connections: s.connections,
        drain: s.drain,
        backplane: { kind: 'redis' },
        lifecycleWatcher: null,
      });
      void (s.hold?.() ?? Promise.resolve()).then(() => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    } else if (req.url === '/metrics') {
      res
        .writeHead(200, { 'content-type': 'text/plain' })
        .end(
          [
            '# HELP sluice_heartbeat_timeouts_total Connections terminated after the idle limit',
            '# TYPE sluice_heartbeat_timeouts_total counter',
            `sluice_heartbeat_timeouts_total ${s.heartbeatTimeouts}`,
            `sluice_drain_reset ${s.drain?.reset ?? 0}`,
            `sluice_connections_closed_total{reason="drain"} 4`,
            `sluice_connections_closed_total{reason="idle"} 1`,
            '',
          ].join('\n'),
        );
    } else if (req.url === '/presence') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          peers: [
            ...s.peers.map((peerId) => ({ peerId, kind: 'client', serverId: 'x', state: 'online', since: 0 })),
            ...(s.away ?? []).map((peerId) => ({ peerId, kind: 'client', serverId: 'x', state: 'away', since: 0, awayUntil: 1 })),
          ],
        }),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    auth,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('AdminGateSource', () => {
  it('sums Prometheus samples over label sets', () => {
    expect(metricValue('a_total{r="x"} 2\na_total{r="y"} 3\nab 9\n', 'a_total')).toBe(5);
    expect(metricValue('# a_total 4\n', 'a_total')).toBeUndefined();
  });

  it('reads /status, /metrics and /presence with the bearer token; a vanished server keeps its last report, marked gone', async () => {
    const a: FakeState = { state: 'serving', connections: 10, drain: null, heartbeatTimeouts: 1, peers: ['p1', 'p2'] };
    const b: FakeState = { state: 'serving', connections: 10, drain: null, heartbeatTimeouts: 0, peers: ['p1', 'p2'] };
    const [sa, sb] = [await fakeAdmin(a), await fakeAdmin(b)];
    let targets: AdminTarget[] = [
      { id: 'a', region: 'r1', url: sa.url, token: TOKEN },
      { id: 'b', region: 'r1', url: sb.url, token: TOKEN },
      { id: 'z', region: 'r2', url: sb.url, token: TOKEN },
    ];
    const src = new AdminGateSource(() => targets);
    try {
      await src.begin(['r1']);
      expect(src.evidence().before.map((s) => s.id)).toEqual(['a', 'b']);
      a.state = 'drained';
      a.drain = { reason: 'watcher', startedAt: Date.now(), finishedAt: Date.now() + 2000, total: 10, closeSent: 8, reset: 2 };
      a.connections = 0;
      b.connections = 18;
      b.heartbeatTimeouts = 2;
      b.peers = ['p1'];
      await src.sample();
      targets = targets.filter((t) => t.id !== 'a');
      await src.sample();
      const e = src.evidence();
      expect(e.latest.find((s) => s.id === 'a')).toMatchObject({ state: 'gone', drain: { total: 10, reset: 2, closeSent: 8 } });
      expect(e.latest.find((s) => s.id === 'b')).toMatchObject({ state: 'serving', connections: 18, heartbeatTimeouts: 2, watcher: null });
      expect(e.presence).toEqual({
        onlineAtStart: 2,
        absences: [{ peer: 'p2', longestMs: expect.any(Number) as number, absentNow: true }],
      });
      expect(new Set([...sa.auth, ...sb.auth])).toEqual(new Set([`Bearer ${TOKEN}`]));
      await expect(new AdminGateSource(() => [{ id: 'b', region: 'r1', url: sb.url, token: 'wrong' }]).begin(['r1'])).rejects.toThrow(
        /b: GET \/status answered 401: check the admin token/,
      );
    } finally {
      await sa.close();
      await sb.close();
    }
  });

  it("begin asks again until every listed server answered: one too slow for the first round is still in the step's start", async () => {
    const a: FakeState = { state: 'serving', connections: 7, drain: null, heartbeatTimeouts: 0, peers: ['p1'], unavailable: 1 };
    const sa = await fakeAdmin(a);
    let targets: AdminTarget[] = [{ id: 'a', region: 'r1', url: sa.url, token: TOKEN }];
    try {
      const src = new AdminGateSource(() => targets);
      await src.begin(['r1']);
      expect(src.evidence().before).toMatchObject([{ id: 'a', connections: 7 }]);
      // Deleted without a drain: its 7 connections were cut, the hard gate fails.
      targets = [];
      await src.sample();
      const resets = evaluateGates(src.evidence(), TH, { regions: ['r1'], final: false }).find((g) => g.gate === 'drain-resets')!;
      expect(resets).toMatchObject({ verdict: 'fail', observed: '7 reset (RST) on a (7 of 7: left without a drain)' });
    } finally {
      await sa.close();
    }
  });

  it('a status answer read mid-drain and landing after the recorded final report does not turn the drain back to unfinished', async () => {
    const a: FakeState = { state: 'serving', connections: 5, drain: null, heartbeatTimeouts: 0, peers: ['p1'] };
    const sa = await fakeAdmin(a);
    const target: AdminTarget = { id: 'a', region: 'r1', url: sa.url, token: TOKEN };
    let targets = [target];
    try {
      const src = new AdminGateSource(() => targets);
      await src.begin(['r1']);
      const startedAt = Date.now();
      a.state = 'draining';
      a.drain = { reason: 'admin', startedAt, finishedAt: 0, total: 5, closeSent: 0, reset: 0 };
      // The round reads the running drain; its answer is held until the final report was recorded.
      let answer!: () => void;
      let asked!: () => void;
      const read = new Promise<void>((resolve) => (asked = resolve));
      a.hold = () => (asked(), new Promise<void>((resolve) => (answer = resolve)));
      const round = src.sample();
      await read;
      src.record(target, { state: 'drained', drain: { startedAt, finishedAt: startedAt + 300, total: 5, closeSent: 5, reset: 0 } });
      answer();
      await round;
      targets = [];
      await src.sample();
      expect(src.evidence().latest).toMatchObject([{ id: 'a', state: 'gone', drain: { finishedAt: startedAt + 300, closeSent: 5 } }]);
      const gates = evaluateGates(src.evidence(), TH, { regions: ['r1'], final: false });
      expect(gates.find((g) => g.gate === 'drain-duration')).toMatchObject({ verdict: 'pass', observed: 'longest 300 ms over 1 drain(s)' });
    } finally {
      await sa.close();
    }
  });

  it('presence: peers away when the step began are not watched; an online one away past the window is a flap, one back within it is not', async () => {
    const a: FakeState = {
      state: 'serving',
      connections: 4,
      drain: null,
      heartbeatTimeouts: 0,
      peers: ['on-1', 'on-2', 'on-3'],
      away: ['left-before'],
    };
    const sa = await fakeAdmin(a);
    let now = 1_000_000;
    const src = new AdminGateSource(() => [{ id: 'a', region: 'r1', url: sa.url, token: TOKEN }], { now: () => now });
    const presence = () => evaluateGates(src.evidence(), TH, { regions: ['r1'], final: true }).find((g) => g.gate === 'presence-flaps')!;
    try {
      await src.begin(['r1']);
      // The peer that left before the step: its grace runs out, it leaves presence. Not a flap.
      a.away = [];
      // on-1 drained: away, back 2 s later. on-2 killed: away, then gone from presence.
      a.peers = ['on-3'];
      a.away = ['on-1', 'on-2'];
      now += 100;
      await src.sample();
      expect(presence()).toMatchObject({
        verdict: 'fail',
        observed: expect.stringMatching(/^2 peer\(s\) of 3 online at the step's start away, not back yet/),
      });
      now += 2_000;
      a.peers = ['on-1', 'on-3'];
      a.away = ['on-2'];
      await src.sample();
      expect(presence()).toMatchObject({ verdict: 'fail', observed: expect.stringMatching(/not back yet \(window \d+ ms\): on-2$/) });
      now += TH.presenceWindowMs;
      a.away = [];
      await src.sample();
      expect(src.evidence().presence!.absences).toEqual([
        { peer: 'on-1', longestMs: 0, absentNow: false },
        { peer: 'on-2', longestMs: TH.presenceWindowMs + 2_000, absentNow: true },
      ]);
      expect(presence()).toMatchObject({
        verdict: 'fail',
        observed: `1 peer(s) of 3 online at the step's start not back within ${TH.presenceWindowMs} ms: on-2`,
      });
      // A new step starts from who is online then.
      await src.begin(['r1']);
      expect(presence()).toMatchObject({ verdict: 'pass', observed: "no peer of 2 online at the step's start left presence" });
    } finally {
      await sa.close();
    }
  });

  it('halts the rollout after the first server whose /status drain reports resets', async () => {
    const states: FakeState[] = [0, 1, 2, 3].map(() => ({
      state: 'serving',
      connections: 25,
      drain: null,
      heartbeatTimeouts: 0,
      peers: [],
    }));
    const admins = await Promise.all(states.map(fakeAdmin));
    try {
      const cfg = parseStackConfig(toRaw(BASE_CONFIG), new Set(['sluice:tokenSecret', 'sluice:adminToken']));
      const plan = releaseSteps('dev', cfg, imageAt('2.0.0'));
      const source = new AdminGateSource(() => admins.map((s, i) => ({ id: `s${i}`, region: 'us-central1', url: s.url, token: TOKEN })));
      const drained: number[] = [];
      const lines: string[] = [];
      const result = await runRollout({
        plan,
        cfg,
        source,
        thresholds: defaultThresholds(defaultTimeouts),
        pollMs: 5,
        settleMs: 100,
        out: (l) => lines.push(l),
        executor: {
          deployed: async () => undefined,
          apply: async (_step, _changes, ctx) => {
            for (const [i, s] of states.entries()) {
              const now = Date.now();
              s.drain = { reason: 'watcher', startedAt: now, finishedAt: now + 20, total: 25, closeSent: 24, reset: i === 0 ? 1 : 0 };
              s.state = 'drained';
              drained.push(i);
              await ctx.sampled();
              if (ctx.signal.aborted) throw new Error('cancelled');
            }
          },
        },
      });
      expect(result.status).toBe('halted');
      expect(drained).toEqual([0]);
      expect(lines.join('\n')).toMatch(/\[FAIL\] drain-resets: 1 reset \(RST\) on s0 \(1 of 25\)/);
      expect(lines.join('\n')).toContain("pulumi config rm --stack dev --path 'sluice:regions[0].canary'");
    } finally {
      await Promise.all(admins.map((a) => a.close()));
    }
  });

  it('a listed server is gone after three missed rounds, not one; an answer cut off mid-body is a miss, not a source error', async () => {
    const a: FakeState = { state: 'serving', connections: 10, drain: null, heartbeatTimeouts: 0, peers: [] };
    const sa = await fakeAdmin(a);
    let cut = false;
    const sb = http.createServer((req, res) => {
      if (cut) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
        res.write('{"state":"serv');
        res.socket?.destroy();
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(req.url === '/status' ? JSON.stringify({ state: 'serving', connections: 7, drain: null }) : '');
    });
    await new Promise<void>((resolve) => sb.listen(0, '127.0.0.1', resolve));
    const bUrl = `http://127.0.0.1:${(sb.address() as AddressInfo).port}`;
    const src = new AdminGateSource(() => [
      { id: 'a', region: 'r1', url: sa.url, token: TOKEN },
      { id: 'b', region: 'r1', url: bUrl },
    ]);
    const stateOf = (id: string) => src.evidence().latest.find((s) => s.id === id)!.state;
    try {
      await src.begin(['r1']);
      expect(stateOf('b')).toBe('serving');
      cut = true;
      await src.sample();
      await src.sample();
      expect(stateOf('b')).toBe('serving');
      await src.sample();
      expect(src.evidence().latest.find((s) => s.id === 'b')).toMatchObject({ state: 'gone', connections: 7 });
      expect(stateOf('a')).toBe('serving');
    } finally {
      await sa.close();
      sb.closeAllConnections();
      await new Promise((resolve) => sb.close(resolve));
    }
  });
});
