/**
 * The region's status page on 127.0.0.1: plain HTML and small scripts (app/local/status/page/), the
 * state pushed over server-sent events on every monitor sample, and the controls:
 *
 *   GET  /               the page            GET /app.js   its script (with dom.js, look.js, chart-hover.js)
 *   GET  /api/state      the current state (JSON; the same object every SSE `state` event carries)
 *   GET  /api/events     SSE stream of states
 *   POST /api/rollout    {"release"?: "good" | "skip-drain" | "initial"}: roll a release out through the
 *                        rollout controller (app/local/region/replace-servers.ts: canary, then the rest, gated;
 *                        halts on a failed gate) (202; 409 while one runs). The outcome is the state's
 *                        `rollout` (a halt with its failed gates and rollback), the last ten `rollouts`.
 *   POST /api/break      {"mode": "silence" | "delete" | "restore" | "heal", "server": "<id>"} (servers.ts:
 *                        a deleted server stays listed; heal or restore replaces it)
 *   GET  /api/peer?id=X  one peer: presence, server, region, since, and for a fleet peer its client
 *                        state and recent signals (peers.ts)
 *   POST /api/signal     {"from": "<fleet peer>", "to": "<peer id>"}: a test signal; answers its result
 *
 * Every request must name this listener in `Host` (127.0.0.1, localhost or [::1] with its port; host.ts):
 * DNS rebinding cannot read the state. POSTs must be `Content-Type: application/json` and, when the browser sends an Origin, come from
 * this page's own origin: another site open in the same browser cannot press the buttons (the
 * listener is loopback-only, but a browser on this machine reaches loopback).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ChartData, regionSeries } from './charts';
import { allowedHosts, hostAllowed } from './host';
import type { Sample } from '../region/monitor';
import type { BreakMode, Region } from '../region/region';
import type { RegionView } from '../region/regions';
import { isLocalRelease, LOCAL_RELEASES } from '../region/replace-servers';
import { Rollouts, RolloutView } from './rollouts';
import { PageInputError, PEER_ID, PeerDesk, TestResult } from './peers';
import { ServerDesk, ServerRow } from './servers';
import { lineChart } from './svg';

const PAGE_DIR = path.join(__dirname, 'page');
/** The page's files: served as they are, read once at start. */
const FILES: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/look.js': 'look.js',
  '/chart-hover.js': 'chart-hover.js',
  '/dom.js': 'dom.js',
};
const MAX_BODY = 1024;
/** The chart's window. */
export const CHART_WINDOW_MS = 5 * 60_000;

/** The name of the page's region (rows and lookups carry it). */
export function regionName(region: Region): string {
  return region.opts.idPrefix ?? 'local';
}

export interface RegionState {
  lb: string;
  backplane: string;
  lbUrl: string;
  uptimeMs: number;
  rolling: Region['rolling'];
  sample: Sample | null;
  fleet: {
    peers: number;
    sent: number;
    delivered: number;
    lost: number;
    duplicated: number;
    reconnects: number;
    gapP99Ms: number;
    everOffline: number;
  } | null;
  chart: string;
  /** The chart's numbers, for the page's hover (the same the SVG draws). */
  chartData: ChartData;
  /** Live servers, then deleted ones (until healed), each with its region and its actions. */
  servers: ServerRow[];
  /** The last test signals, newest first. */
  tests: TestResult[];
  /** Fleet peer ids (the first 200), for the lookup and test signal pickers. */
  peerIds: string[];
  log: string[];
  /** The release of every server ever started (id -> release). */
  releases: Record<string, string>;
  /** The last rollout through the controller: its steps, how it ended (a halt), what it printed. */
  rollout: RolloutView | null;
  /** The last rollouts, newest first (steps, gate results, durations). */
  rollouts: Array<Omit<RolloutView, 'lines'>>;
  /** Several regions (docs/regions.md): this page's region, and every region with its cross-region signals. */
  region?: string;
  regions?: RegionView[];
}

export interface Desks {
  rollouts?: Rollouts;
  servers?: ServerDesk;
  peers?: PeerDesk;
  /** Several regions (`npm start -- --regions 2`, docs/regions.md): every region and its cross-region signals. */
  regions?: () => RegionView[];
}

/** The chart's title says the window it shows: the last 5 min, or since the first sample kept. */
export function chartTitle(samples: Sample[]): string {
  const last = samples.at(-1);
  const first = samples[0];
  if (!last || !first) return 'connections per server, peers offline';
  if (last.t - first.t >= CHART_WINDOW_MS) return 'connections per server, peers offline: last 5 min';
  return `connections per server, peers offline: since the start (${Math.round((last.t - first.t) / 1000)} s)`;
}

export function regionState(region: Region, log: string[], desks: Desks = {}): RegionState {
  const { rollouts } = desks;
  const f = region.fleet?.snapshot();
  const samples = region.monitor.samples;
  const last = samples.at(-1);
  const chart = regionSeries(samples, {
    title: chartTitle(samples),
    since: last ? Math.max(samples[0].t, last.t - CHART_WINDOW_MS) : 0,
    clockOrigin: region.monitor.startedAt,
  });
  const servers =
    desks.servers ??
    new ServerDesk(
      region,
      regionName(region),
      () => undefined,
      () => undefined,
    );
  return {
    lb: region.lb.kind,
    backplane: region.backplaneKind,
    lbUrl: region.lbUrl,
    uptimeMs: Date.now() - region.monitor.startedAt,
    rolling: region.rolling,
    sample: last ?? null,
    fleet: f
      ? {
          peers: f.peers,
          sent: f.sent,
          delivered: f.delivered,
          lost: f.lost,
          duplicated: f.duplicated,
          reconnects: f.reconnects,
          gapP99Ms: f.gapMs.p99,
          everOffline: region.monitor.everOffline.size,
        }
      : null,
    chart: lineChart(chart.spec),
    chartData: chart.data,
    servers: servers.rows(last),
    tests: desks.peers?.testResults() ?? [],
    peerIds: desks.peers?.fleetIds() ?? [],
    log: log.slice(-12),
    releases: Object.fromEntries(region.releases),
    rollout: rollouts?.latest() ?? null,
    rollouts: rollouts?.history() ?? [],
    ...(desks.regions ? { region: regionName(region), regions: desks.regions() } : {}),
  };
}

export async function startStatusServer(
  region: Region,
  port: number,
  regions?: () => RegionView[],
): Promise<{ port: number; url: string; close(): Promise<void> }> {
  const files = new Map(Object.entries(FILES).map(([route, file]) => [route, fs.readFileSync(path.join(PAGE_DIR, file))]));
  const streams = new Set<http.ServerResponse>();
  const log: string[] = [];
  const note = (line: string) => {
    log.push(`${new Date().toISOString().slice(11, 19)} ${line}`);
    if (log.length > 100) log.shift();
  };
  let origin = '';
  const rollouts = new Rollouts(
    region,
    () => `${origin}/`,
    (line) => {
      if (line) note(line);
      push();
    },
  );
  const servers = new ServerDesk(region, regionName(region), note, () => push());
  const peers = new PeerDesk(region, regionName(region));
  const state = () => regionState(region, log, { rollouts, servers, peers, regions });
  const push = () => {
    const data = `event: state\ndata: ${JSON.stringify(state())}\n\n`;
    for (const s of streams) s.write(data);
  };
  region.monitor.on('sample', push);

  const server = http.createServer((req, res) => {
    try {
      handle(req, res);
    } catch (err) {
      if (!res.headersSent) send(res, 500, { error: 'internal_error' });
      else res.end();
      note(`error: ${(err as Error).message}`);
    }
  });

  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const bound = (server.address() as AddressInfo).port;
    if (!hostAllowed(req.headers.host, bound))
      return send(res, 403, { error: 'forbidden_host', field: 'Host', expected: allowedHosts(bound) });
    const url = new URL(req.url ?? '/', 'http://local');
    const route = `${req.method} ${url.pathname}`;
    const file = req.method === 'GET' ? files.get(url.pathname) : undefined;
    if (file) return sendRaw(res, 200, url.pathname === '/' ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8', file);
    if (route === 'GET /api/state') return send(res, 200, state());
    if (route === 'GET /api/peer') {
      const id = url.searchParams.get('id') ?? '';
      if (!PEER_ID.test(id)) return send(res, 400, { error: 'invalid_peer', field: 'id', expected: PEER_ID.source });
      return void peers.lookup(id).then(
        (v) => send(res, 200, v),
        (e: Error) => send(res, 500, { error: 'lookup_failed', detail: e.message }),
      );
    }
    if (route === 'GET /api/events') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
      res.write(`event: state\ndata: ${JSON.stringify(state())}\n\n`);
      streams.add(res);
      res.on('close', () => streams.delete(res));
      return;
    }
    if (req.method === 'POST' && ['/api/rollout', '/api/break', '/api/signal'].includes(url.pathname)) {
      const o = req.headers.origin;
      const localOrigins = [origin, origin.replace('127.0.0.1', 'localhost')];
      if (o !== undefined && !localOrigins.includes(o)) return send(res, 403, { error: 'forbidden_origin' });
      if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
        return send(res, 415, { error: 'expected application/json' });
      return readBody(req, (err, body) => {
        if (err) return send(res, 413, { error: err.message });
        if (url.pathname === '/api/rollout') return rollout(res, body);
        if (url.pathname === '/api/signal') return testSignal(res, body);
        return breakServer(res, body);
      });
    }
    send(res, 404, { error: 'not_found' });
  };

  const rollout = (res: http.ServerResponse, body: unknown) => {
    const b = body as { release?: unknown } | null;
    const releases = Object.keys(LOCAL_RELEASES);
    if (!b || typeof b !== 'object' || Array.isArray(b))
      return send(res, 400, { error: 'invalid_body', expected: `{"release"?: ${releases.map((r) => `"${r}"`).join('|')}}` });
    const release = b.release ?? 'good';
    if (!isLocalRelease(release)) return send(res, 400, { error: 'invalid_release', field: 'release', expected: releases });
    if (region.rolling) return send(res, 409, { error: 'rollout_running', rolling: region.rolling });
    const { view } = rollouts.start(release);
    send(res, 202, { started: true, release, servers: view.servers, id: view.id });
  };

  const breakServer = (res: http.ServerResponse, body: unknown) => {
    const b = body as { mode?: unknown; server?: unknown } | null;
    const modes: Array<BreakMode | 'heal'> = ['silence', 'delete', 'restore', 'heal'];
    if (!b || typeof b !== 'object')
      return send(res, 400, { error: 'invalid_body', expected: '{"mode": "silence"|"delete"|"restore"|"heal", "server": "<id>"}' });
    if (!modes.includes(b.mode as BreakMode)) return send(res, 400, { error: 'invalid_mode', field: 'mode', expected: modes });
    const mode = b.mode as BreakMode | 'heal';
    const refused = servers.check(mode, b.server);
    if (refused) return send(res, 400, refused);
    const id = b.server as string;
    void servers.apply(mode, id);
    send(res, 202, { mode, server: id });
  };

  const testSignal = (res: http.ServerResponse, body: unknown) => {
    const b = body as { from?: unknown; to?: unknown } | null;
    if (!b || typeof b !== 'object' || typeof b.from !== 'string' || typeof b.to !== 'string')
      return send(res, 400, { error: 'invalid_body', expected: '{"from": "<fleet peer id>", "to": "<peer id>"}' });
    if (!PEER_ID.test(b.to)) return send(res, 400, { error: 'invalid_peer', field: 'to', expected: PEER_ID.source });
    peers.testSignal(b.from, b.to).then(
      (r) => {
        note(`test signal ${r.id} ${r.from} -> ${r.to}: ${r.result}`);
        push();
        send(res, 200, r);
      },
      (e: Error) =>
        e instanceof PageInputError
          ? send(res, e.code === 'too_many_tests' ? 429 : 400, { error: e.code, field: e.field, expected: e.expected })
          : send(res, 500, { error: 'test_signal_failed', detail: e.message }),
    );
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${bound}`;
  return {
    port: bound,
    url: `${origin}/`,
    close: async () => {
      region.monitor.off('sample', push);
      for (const s of streams) s.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function readBody(req: http.IncomingMessage, done: (err: Error | null, body: unknown) => void): void {
  let size = 0;
  const chunks: Buffer[] = [];
  let failed = false;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size > MAX_BODY && !failed) {
      failed = true;
      done(new Error(`body over ${MAX_BODY} bytes`), null);
      req.destroy();
    } else chunks.push(c);
  });
  req.on('end', () => {
    if (failed) return;
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = {};
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      body = null;
    }
    done(null, body);
  });
  req.on('error', () => undefined);
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  sendRaw(res, status, 'application/json', Buffer.from(JSON.stringify(body)));
}

function sendRaw(res: http.ServerResponse, status: number, type: string, body: Buffer): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
  });
  res.end(body);
}
