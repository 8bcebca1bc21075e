/**
 * The status page's "look closer" controls against a real region (in-process servers on the memory
 * backplane, the built-in balancer): a peer's lookup (presence, server, region, client state, recent
 * signals), a test signal and its answer from the server (delivered and arrived; forbidden between
 * two clients), a deleted server kept in the table and healed (restore replaces it, never
 * `unknown_server`), and the POST guards (JSON only, same origin) on the new endpoints.
 */
import http from 'node:http';
import { Region, withTimeout } from '../../app/local/region/region';
import type { PeerView, TestResult } from '../../app/local/status/peers';
import { getJson, post, request, stateWhen, regionWithStatusPage, type RegionWithPage } from '../helpers/status-page';

jest.setTimeout(120_000);

describe('status page: lookup, test signal, heal', () => {
  let region: Region;
  let status: RegionWithPage['status'];
  const page = regionWithStatusPage(8);
  beforeAll(() => ({ region, status } = page));

  it('looks a fleet peer up: presence, its server, region, client state and recent signals', async () => {
    // Let the pair exchange a few numbered signals first (the page hooks the fleet on first use).
    await getJson(`${status.url}api/peer?id=fleet-c-0`);
    const partner = region.fleet!.peers.find((p) => p.spec.id === 'fleet-g-0')!;
    const before = partner.stats.received;
    await withTimeout(
      new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (partner.stats.received >= before + 2) {
            clearInterval(t);
            resolve();
          }
        }, 20);
      }),
      10_000,
      'two signals from fleet-c-0',
    );
    const v = await getJson<PeerView>(`${status.url}api/peer?id=fleet-c-0`);
    expect(v).toMatchObject({ id: 'fleet-c-0', presence: 'online', kind: 'client', region: 'local', account: 'local-region' });
    expect(region.live().map((s) => s.id)).toContain(v.server);
    expect(v.since).toBeLessThanOrEqual(Date.now());
    expect(v.fleet).toMatchObject({ state: 'joined', partner: 'fleet-g-0' });
    expect(v.fleet!.recent.length).toBeGreaterThanOrEqual(2);
    expect(v.fleet!.recent.length).toBeLessThanOrEqual(6);
    expect(v.fleet!.recent.some((n) => n.dir === 'out' && n.peer === 'fleet-g-0' && /^#\d+$/.test(n.what))).toBe(true);
    expect(v.fleet!.lastSignalAt).toBeGreaterThan(Date.now() - 10_000);
    // A peer nobody runs: offline, no fleet part; a bad id: the field and what is expected.
    expect(await getJson(`${status.url}api/peer?id=nobody-here`)).toMatchObject({ id: 'nobody-here', presence: 'offline' });
    const bad = await request(`${status.url}api/peer?id=${encodeURIComponent('<x>')}`, 'GET');
    expect(bad).toMatchObject({ status: 400, body: { error: 'invalid_peer', field: 'id' } });
  });

  it('sends a test signal: client -> gateway delivered and arrived; client -> client forbidden', async () => {
    const ok = await post(`${status.url}api/signal`, '{"from":"fleet-c-1","to":"fleet-g-2"}');
    expect(ok.status).toBe(200);
    const r = ok.body as unknown as TestResult;
    expect(r).toMatchObject({ from: 'fleet-c-1', to: 'fleet-g-2', result: 'delivered' });
    expect(r.arrivedMs).toBeGreaterThanOrEqual(0);
    expect(r.arrivedMs).toBeLessThan(10_000);
    const no = (await post(`${status.url}api/signal`, '{"from":"fleet-c-1","to":"fleet-c-2"}')).body as unknown as TestResult;
    expect(no.result).toBe('refused: forbidden');
    expect(no.arrivedMs).toBeUndefined();
    // The recipient's lookup shows the test signal; the page's state lists both results, newest first.
    const g = await getJson<PeerView>(`${status.url}api/peer?id=fleet-g-2`);
    expect(g.fleet!.recent.some((n) => n.dir === 'in' && n.peer === 'fleet-c-1' && n.what === `test ${r.id}`)).toBe(true);
    const s = await getJson<{ tests: TestResult[] }>(`${status.url}api/state`);
    expect(s.tests.map((t) => t.result)).toEqual(['refused: forbidden', 'delivered']);
    // Bad input: a sender outside the fleet, a bad id, no JSON, another origin.
    expect(await post(`${status.url}api/signal`, '{"from":"someone","to":"fleet-g-2"}')).toMatchObject({
      status: 400,
      body: { error: 'unknown_sender', field: 'from' },
    });
    expect((await post(`${status.url}api/signal`, '{"from":"fleet-c-1","to":"a b"}')).status).toBe(400);
    expect((await post(`${status.url}api/signal`, '{"from":"fleet-c-1","to":"fleet-g-2"}', 'text/plain')).status).toBe(415);
    const cross = await request(`${status.url}api/signal`, 'POST', '{"from":"fleet-c-1","to":"fleet-g-2"}', {
      'Content-Type': 'application/json',
      Origin: 'http://evil.example',
    });
    expect(cross).toMatchObject({ status: 403, body: { error: 'forbidden_origin' } });
  });

  it('a deleted server stays listed as deleted; restore replaces it (never unknown_server), heal only a deleted one', async () => {
    const victim = region.live()[0].id;
    expect(await post(`${status.url}api/break`, JSON.stringify({ mode: 'heal', server: victim }))).toMatchObject({
      status: 400,
      body: { error: 'not_deleted', field: 'server' },
    });
    expect((await post(`${status.url}api/break`, JSON.stringify({ mode: 'delete', server: victim }))).status).toBe(202);
    const deleted = await withTimeout(
      stateWhen(status.url, (x) => x.servers.some((r) => r.id === victim && r.state === 'deleted')),
      15_000,
      `${victim} shown deleted`,
    );
    expect(deleted.servers.find((r) => r.id === victim)).toMatchObject({ region: 'local', connections: 0, actions: ['heal', 'restore'] });
    expect(await post(`${status.url}api/break`, JSON.stringify({ mode: 'silence', server: victim }))).toMatchObject({
      status: 400,
      body: { error: 'server_deleted', field: 'mode' },
    });
    const restore = await post(`${status.url}api/break`, JSON.stringify({ mode: 'restore', server: victim }));
    expect(restore).toEqual({ status: 202, body: { mode: 'restore', server: victim } });
    const healed = await withTimeout(
      stateWhen(status.url, (x) => !!x.servers.find((r) => r.id === victim)?.healedBy),
      30_000,
      `${victim} replaced`,
    );
    const by = healed.servers.find((r) => r.id === victim)!.healedBy!;
    expect(region.live().map((s) => s.id)).toContain(by);
    expect(healed.releases[by]).toBe(healed.releases[victim]);
    expect(healed.servers.find((r) => r.id === victim)!.actions).toEqual([]);
    expect(healed.log.some((l) => l.includes(`restore ${victim}: its VM was deleted; replaced by ${by}`))).toBe(true);
    // Healed once: a second heal is refused with what happened.
    expect(await post(`${status.url}api/break`, JSON.stringify({ mode: 'heal', server: victim }))).toMatchObject({
      status: 400,
      body: { error: 'already_healed' },
    });
    expect(region.live()).toHaveLength(3);
    // Host guard still applies to the new routes.
    const rebound = await new Promise<number>((resolve, reject) => {
      http
        .get(`${status.url}api/peer?id=fleet-c-0`, { headers: { Host: `evil.example:${status.port}` } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect(rebound).toBe(403);
  });
});
