/**
 * @sluice/client's browser build in real headless Chromium (Debian `chromium`, or CHROMIUM_PATH,
 * through playwright-core), against local servers on one backplane: the browser example of
 * app/client/README.md as written, then the SDK itself on the native WebSocket: connect and join,
 * heartbeats, a drain (close 1012) and the reconnect to the next URL, and a resume that replays
 * what was stored for the page while it was away.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import { MemoryBackplane } from '../../app/backplane/memory';
import { defaultTimeouts } from '../../app/contract/timeouts';
import type { ReceivedSignal } from '../../app/client/index';
import { freePort } from '../backplane/helpers';
import { fencedBlocks, ROOT } from '../docs/snippets';
import { startServer, TestServer, token, until } from '../helpers/server';
import { chromiumPath } from '../helpers/chromium';
import { client, closeClients, fastTimeouts } from './helpers';

jest.setTimeout(300_000);

/** The page the SDK checks run in: the client on the page's session, every event kept in `window.events`. */
const SDK_PAGE = `<!doctype html>
<script type="importmap">{ "imports": { "@sluice/client": "/sluice-client.mjs" } }</script>
<script type="module">
  import { SluiceClient } from '@sluice/client';
  const { url, token, timeouts } = await (await fetch('/sluice-session')).json();
  const events = (window.events = []);
  const client = new SluiceClient({ url, token, timeouts });
  for (const name of ['connected', 'disconnected', 'signal', 'resumed', 'gap', 'heartbeat', 'error']) {
    client.on(name, (e) => events.push({ name, ...(e instanceof Error ? { code: e.code, message: e.message } : e) }));
  }
  window.client = client;
  client.connect();
</script>`;

const exe = chromiumPath();
(exe ? describe : describe.skip)('@sluice/client in Chromium', () => {
  let out: string;
  let backplane: MemoryBackplane;
  let a: TestServer;
  let b: TestServer | undefined;
  let bPort: number;
  let web: http.Server;
  let base: string;
  let browser: Browser;
  /** What /sluice-session answers next. */
  let session: Record<string, unknown> = {};
  const gwReceived: ReceivedSignal[] = [];
  const serverTimeouts = { drain: { windowMs: 300, deadlineMs: 900, marginMs: 300 } };

  beforeAll(async () => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-client-browser-'));
    // Built to a directory of its own: package.test.ts builds and packs dist/ meanwhile.
    const built = await new Promise<number | null>((resolve) =>
      execFile(process.execPath, [path.join(ROOT, 'app/client/build.mjs'), '--out', out], { timeout: 240_000 }, (err) =>
        resolve(err ? (typeof err.code === 'number' ? err.code : null) : 0),
      ),
    );
    expect(built).toBe(0);
    const bundle = fs.readFileSync(path.join(out, 'browser/index.mjs'));
    const readmePage = fencedBlocks('app/client/README.md', fs.readFileSync(path.join(ROOT, 'app/client/README.md'), 'utf8')).find((blk) =>
      blk.tags.includes('file=index.html'),
    )!.body;

    backplane = new MemoryBackplane(defaultTimeouts.resume);
    a = await startServer({ serverId: 'a', backplane, timeouts: serverTimeouts });
    bPort = await freePort();
    web = http.createServer((req, res) => {
      const send = (type: string, body: string | Buffer) => res.writeHead(200, { 'content-type': type }).end(body);
      if (req.url === '/') send('text/html', readmePage);
      else if (req.url === '/sdk.html') send('text/html', SDK_PAGE);
      else if (req.url === '/sluice-client.mjs') send('text/javascript', bundle);
      else if (req.url === '/sluice-session') send('application/json', JSON.stringify(session));
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
    await closeClients();
    await new Promise((resolve) => web?.close(resolve));
    await a?.server.shutdown();
    await b?.server.shutdown();
    await backplane?.close();
    if (out) fs.rmSync(out, { recursive: true, force: true });
  });

  async function gateway(): Promise<void> {
    const gw = await client(a.socketUrl, 'gw-1');
    gw.on('signal', (s) => gwReceived.push(s));
    await gw.connect().ready();
  }

  test('the README browser example runs as written: the page joins and its signal reaches gw-1', async () => {
    await gateway();
    session = { url: a.socketUrl, token: await token('c-readme') };
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    await page.waitForFunction(() => document.title.startsWith('sent: '), undefined, { timeout: 20_000 });
    expect(await page.title()).toBe('sent: delivered');
    await until(() => gwReceived.some((s) => s.from === 'c-readme'), 5_000, 'gw-1 receiving');
    expect(gwReceived.find((s) => s.from === 'c-readme')).toMatchObject({ data: { offer: 'v=0' } });
    expect(errors).toEqual([]);
    await page.close();
  });

  test('connect, heartbeats, drain reconnect to the next URL, and resume with the stored signals replayed', async () => {
    const gw = await client(a.socketUrl, 'gw-2');
    await gw.connect().ready();
    // The page is told two URLs: a, and b (not started yet). Fast client timers (heartbeat 200 ms).
    session = { url: [a.socketUrl, `ws://127.0.0.1:${bPort}/socket/websocket`], token: await token('c-page'), timeouts: fastTimeouts() };
    const page: Page = await browser.newPage();
    await page.goto(`${base}/sdk.html`);
    const events = () => page.evaluate(() => (window as unknown as { events: Array<Record<string, unknown>> }).events);
    const state = () => page.evaluate(() => (window as unknown as { client: { state: string } }).client.state);

    // Connect: joined on a, over the browser's own WebSocket.
    await page.waitForFunction(() => (window as unknown as { client?: { state: string } }).client?.state === 'joined', undefined, {
      timeout: 20_000,
    });
    expect(a.server.connectionCount).toBeGreaterThanOrEqual(1);
    expect((await events()).filter((e) => e.name === 'connected')[0]).toMatchObject({ url: `${a.socketUrl}`, peerId: 'c-page' });

    // Heartbeats: answered, with their round trip.
    await page.waitForFunction(
      () => (window as unknown as { events: Array<{ name: string }> }).events.filter((e) => e.name === 'heartbeat').length >= 3,
      undefined,
      { timeout: 10_000 },
    );
    for (const h of (await events()).filter((e) => e.name === 'heartbeat')) expect(h.rttMs).toEqual(expect.any(Number));

    // A signal while joined: seq 1.
    expect(await gw.send('c-page', { n: 1 })).toBe('delivered');
    await page.waitForFunction(
      () => (window as unknown as { events: Array<{ name: string }> }).events.some((e) => e.name === 'signal'),
      undefined,
      { timeout: 5_000 },
    );

    // Drain a: the page gets 1012 and moves on; b is not up, so it waits, away. What gw-2 sends now is stored.
    const report = await a.server.drain('browser test');
    expect(report).toMatchObject({ closeSent: expect.any(Number), reset: 0 });
    await until(async () => (await events()).some((e) => e.name === 'disconnected' && e.code === 1012), 5_000, 'the page seeing 1012');
    expect(await state()).not.toBe('joined');
    // The sender sits on a third server of the backplane, one the page does not know.
    const c = await startServer({ serverId: 'c', backplane, timeouts: serverTimeouts });
    try {
      const gw3 = await client(c.socketUrl, 'gw-3');
      await gw3.connect().ready();
      expect(await gw3.send('c-page', { n: 2 })).toBe('stored');
      expect(await gw3.send('c-page', { n: 3 })).toBe('stored');
      await gw3.close();
    } finally {
      await c.server.shutdown();
    }
    b = await startServer({ serverId: 'b', backplane, timeouts: serverTimeouts, port: bPort });

    // Resume on b: joined with last_seq 1, the two stored signals replayed, each seq once, in order.
    await until(async () => (await state()) === 'joined' && b!.server.connectionCount >= 1, 20_000, 'the page joined on b');
    await until(async () => (await events()).filter((e) => e.name === 'signal').length >= 3, 10_000, 'three signals in the page');
    const all = await events();
    const signals = all.filter((e) => e.name === 'signal');
    expect(signals.map((s) => s.seq)).toEqual([1, 2, 3]);
    expect(signals.map((s) => (s.data as { n: number }).n)).toEqual([1, 2, 3]);
    expect(all.filter((e) => e.name === 'connected').map((e) => e.url)).toEqual([
      `${a.socketUrl}`,
      `ws://127.0.0.1:${bPort}/socket/websocket`,
    ]);
    expect(all.find((e) => e.name === 'resumed')).toMatchObject({ fromSeq: 1, lastSeq: 3, replayed: 2 });
    expect(signals.map((s) => s.replayed)).toEqual([false, true, true]);
    expect(all.filter((e) => e.name === 'error')).toEqual([]);
    await page.close();
  });
});
