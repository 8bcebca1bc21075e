/// <reference lib="dom" />
/**
 * `npm start` for a short while, checked in real headless Chromium (Debian `chromium`, via
 * playwright-core; CHROMIUM_PATH or PATH): the page renders, its numbers match the servers'
 * admin /status, "roll out" moves every peer to new servers with no peer ever shown offline and
 * no signal lost; a release that skips its drain halts, shown as a red banner with the failing
 * gate and a "roll back to initial" button that puts the region back; a silenced server shows as
 * silent (and its line keeps the connections still held half-open); the break menu keeps its choice
 * across refreshes; a deleted server stays listed and its "heal" button replaces it; a peer's lookup
 * and a test signal (delivered, and forbidden between two clients) answer on the page; the chart's
 * legend is bounded and hovering it shows each series' value; Ctrl-C (SIGINT) drains and leaves no
 * process behind.
 *
 * Screenshots of the idle, rolling-out, halted and silenced states are test artefacts, written to
 * test-output/screenshots/ (git-ignored) on every run. The committed copies in docs/screenshots/ (the
 * README shows status-page.png and links the others) change only when asked:
 * `SLUICE_UPDATE_SCREENSHOTS=1 npx jest test/local/start-browser.test.ts`.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { chromium, Browser } from 'playwright-core';
import { chromiumPath } from '../helpers/chromium';

const ROOT = path.resolve(__dirname, '../..');
const OUT = path.join(ROOT, 'test-output/screenshots');
const COMMITTED = path.join(ROOT, 'docs/screenshots');
const SHOTS = ['status-page.png', 'status-rolling-out.png', 'status-halted.png', 'status-silenced.png'];
jest.setTimeout(300_000);

/** How long each phase took (printed at the end: the report's timings). */
const timings: Array<[string, number]> = [];
let phaseStart = Date.now();
function phase(name: string): void {
  const now = Date.now();
  timings.push([name, now - phaseStart]);
  phaseStart = now;
}

function getJson<T>(url: string): Promise<T> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => {
          b += d.toString();
        });
        res.on('end', () => {
          try {
            resolve(JSON.parse(b) as T);
          } catch (e) {
            reject(e);
          }
        });
      })
      .on('error', reject);
  });
}

const exe = chromiumPath();
(exe ? describe : describe.skip)('npm start in Chromium', () => {
  let proc: ChildProcess;
  let browser: Browser | undefined;
  const lines: string[] = [];
  afterAll(async () => {
    // Still open: the test failed in the page; say what the page showed then (and keep a picture).
    const open = browser?.contexts()[0]?.pages()[0];
    if (open) {
      await open.screenshot({ path: path.join(OUT, 'failed.png'), fullPage: true }).catch(() => undefined);
      const shown = await open.evaluate(() => document.body.innerText).catch((e: Error) => `(page unreadable: ${e.message})`);
      console.log(`start-browser failed; the page showed:\n${shown}\nregion output (last 40 lines):\n${lines.slice(-40).join('\n')}`);
    }
    await browser?.close();
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    console.log(`start-browser timings (ms): ${timings.map(([n, ms]) => `${n} ${ms}`).join(', ')}`);
  });

  test('page, roll out with zero offline and zero lost, clean Ctrl-C', async () => {
    phaseStart = Date.now();
    proc = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'app/local/main.ts'), '--port', '0', '--status-port', '0', '--peers', '30', '--quick'],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
    readline.createInterface({ input: proc.stderr! }).on('line', (l) => lines.push(l));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no status URL: ${lines.join('\n')}`)), 60_000);
      const check = () => {
        const m = lines.join('\n').match(/status page {2}: (http:\/\/127\.0\.0\.1:\d+\/)/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        } else setTimeout(check, 50);
      };
      check();
    });
    const admins = [...lines.join('\n').matchAll(/(local-\d+) admin: (http:\/\/127\.0\.0\.1:\d+)\/status/g)].map((m) => ({
      id: m[1],
      url: m[2],
    }));
    expect(admins.map((a) => a.id).sort()).toEqual(['local-1', 'local-2', 'local-3']);

    phase('region up');
    browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1100, height: 1100 } });
    await page.goto(url);
    await page.waitForFunction(
      () => document.querySelectorAll('#servers tbody tr').length === 3 && document.getElementById('peers-online')!.textContent === '30',
    );
    await page.waitForSelector('#chart svg');
    fs.mkdirSync(OUT, { recursive: true });
    // Idle: a settled fleet (every peer online, signals flowing) with a chart of a few samples.
    await page.waitForFunction(() => Number(document.body.getAttribute('data-updated')) > 8_000);
    await page.screenshot({ path: path.join(OUT, 'status-page.png'), fullPage: true });
    phase('page idle');

    // The page's per-server numbers match each server's own /status (read around one page update).
    const shown = await page.$$eval('#servers tbody tr', (rows) =>
      rows.map((r) => ({
        id: r.getAttribute('data-server'),
        state: r.querySelector('.state')!.getAttribute('data-state'),
        connections: Number(r.querySelector('.connections')!.textContent),
      })),
    );
    const truth = await Promise.all(
      admins.map((a) => getJson<{ serverId: string; state: string; connections: number }>(`${a.url}/status`)),
    );
    for (const t of truth) {
      const row = shown.find((s) => s.id === t.serverId)!;
      expect(row.state).toBe(t.state);
      expect(row.connections).toBe(t.connections); // a settled fleet: no peer moves between reads
    }
    expect(shown.reduce((a, s) => a + s.connections, 0)).toBe(30);

    await page.click('#rollout');
    await page.waitForFunction(() => document.getElementById('rollout-state')!.textContent!.startsWith('rolling out'));
    // Rolling out: a drain in progress (or just finished: a --quick drain lasts about 2 s and the page
    // samples every second, fewer under load, so a sample may fall just after it).
    await page
      .waitForFunction(
        () =>
          Array.from(document.querySelectorAll('#servers tbody tr .state')).some((td) =>
            ['draining', 'drained'].includes(td.getAttribute('data-state')!),
          ),
        undefined,
        { timeout: 60_000 },
      )
      .catch(async (err: Error) => {
        // Say what the page showed instead (and keep it as a picture).
        await page.screenshot({ path: path.join(OUT, 'failed-rolling-out.png'), fullPage: true });
        const shown = await page.evaluate(() =>
          [
            document.getElementById('rollout-state')!.textContent,
            ...Array.from(document.querySelectorAll('#servers tbody tr')).map((r) => r.textContent),
            document.getElementById('log')!.textContent,
          ].join('\n'),
        );
        throw new Error(`${err.message}\npage:\n${shown}`);
      });
    await page.screenshot({ path: path.join(OUT, 'status-rolling-out.png'), fullPage: true });
    // Done: three new servers, all 30 peers online on them.
    await page.waitForFunction(
      () => {
        const ids = Array.from(document.querySelectorAll('#servers tbody tr')).map((r) => r.getAttribute('data-server'));
        return (
          document.getElementById('rollout-state')!.textContent === 'idle' &&
          ids.length === 3 &&
          ids.every((id) => ['local-4', 'local-5', 'local-6'].includes(id!)) &&
          document.getElementById('peers-online')!.textContent === '30'
        );
      },
      undefined,
      { timeout: 120_000 },
    );
    expect(await page.textContent('#ever-offline')).toBe('0');
    const state = await getJson<{ fleet: { reconnects: number; everOffline: number } }>(`${url}api/state`);
    expect(state.fleet.reconnects).toBeGreaterThanOrEqual(30);
    expect(state.fleet.everOffline).toBe(0);
    expect(await page.$$eval('#history tbody tr', (rows) => rows.map((r) => r.children[2].textContent))).toEqual(['done']);
    phase('roll out');

    // A release that skips its drain: halted after the canary, a red banner with the failing gate
    // and its numbers, the way back to the release the replaced server ran, with this page's URL.
    await page.selectOption('#release', 'skip-drain');
    await page.click('#rollout');
    await page.waitForSelector('#halt:not([hidden])', { timeout: 90_000 });
    expect(await page.textContent('#rollout-state')).toMatch(/^HALTED: rollout of skip-drain stopped at step 1 \(canary\)$/);
    expect(await page.textContent('#halt-title')).toMatch(/^Rollout of skip-drain HALTED at step 1 \(canary\)/);
    expect(await page.$$eval('#halt-gates li', (li) => li.map((l) => l.getAttribute('data-gate')))).toContain('drain-resets');
    expect(await page.textContent('#halt-gates')).toMatch(/drain-resets: [1-9]\d* reset \(RST\) on local-4 .*\(threshold <= 0\)/);
    expect(await page.textContent('#rollback')).toBe('roll back to good');
    expect(await page.textContent('#rollback-command')).toBe(
      `curl -X POST -H 'Content-Type: application/json' -d '{"release":"good"}' ${url}api/rollout`,
    );
    expect(await page.evaluate(() => getComputedStyle(document.getElementById('halt')!).borderColor)).toBe('rgb(204, 0, 0)');
    await page.screenshot({ path: path.join(OUT, 'status-halted.png'), fullPage: true });
    // The banner's button rolls back: only the halted rollout's server is replaced, the banner goes.
    await page.click('#rollback');
    await page.waitForFunction(
      () =>
        document.getElementById('rollout-state')!.textContent === 'idle' &&
        document.getElementById('halt')!.hidden &&
        document.querySelectorAll('#history tbody tr').length === 3,
      undefined,
      { timeout: 120_000 },
    );
    expect(
      await page.$$eval('#history tbody tr', (rows) => rows.map((r) => `${r.children[1].textContent} ${r.children[2].textContent}`)),
    ).toEqual(['good done', 'skip-drain halted', 'good done']);
    phase('halt and roll back');

    // Silenced: a server's traffic black-holed (no FIN, no RST): its row says so, and its line shows
    // the connections its network still holds, half-open to their peers, not 0.
    const victim = await page.$eval('#servers tbody tr', (r) => r.getAttribute('data-server')!);
    await page.selectOption('#break-mode', 'silence');
    await page.selectOption('#break-server', victim);
    await page.click('#break');
    const stateOf = (id: string) =>
      page.waitForFunction(
        ([id, want]) => document.querySelector(`#servers tbody tr[data-server="${id}"] .state`)?.getAttribute('data-state') === want,
        [id, 'silent'],
        { timeout: 30_000 },
      );
    await stateOf(victim);
    // A few samples later, so the chart shows it.
    const at = Number(await page.getAttribute('body', 'data-updated'));
    await page.waitForFunction((t) => Number(document.body.getAttribute('data-updated')) > t + 3_000, at, { timeout: 30_000 });
    expect(await page.textContent('#chart svg')).toContain(`${victim} silent`);
    await page.screenshot({ path: path.join(OUT, 'status-silenced.png'), fullPage: true });
    await page.selectOption('#break-mode', 'restore');
    await page.selectOption('#break-server', victim);
    await page.click('#break');
    await page.waitForFunction(
      (id) => document.querySelector(`#servers tbody tr[data-server="${id}"] .state`)?.getAttribute('data-state') === 'serving',
      victim,
      { timeout: 30_000 },
    );
    await page.waitForFunction(() => document.getElementById('peers-online')!.textContent === '30', undefined, { timeout: 60_000 });
    phase('silence and restore');

    // The break menu keeps the user's choice across refreshes (not the first server again).
    const ids = await page.$$eval('#break-server option', (o) => o.map((x) => (x as HTMLOptionElement).value));
    const chosen = ids[ids.length - 1];
    expect(chosen).not.toBe(ids[0]);
    await page.selectOption('#break-server', chosen);
    await page.selectOption('#break-mode', 'delete');
    const t1 = Number(await page.getAttribute('body', 'data-updated'));
    await page.waitForFunction((t) => Number(document.body.getAttribute('data-updated')) >= t + 2_000, t1, { timeout: 30_000 });
    expect(await page.inputValue('#break-server')).toBe(chosen);
    expect(await page.inputValue('#break-mode')).toBe('delete');

    // Deleted: the row stays, as deleted, with a heal button that replaces it with a new server.
    await page.click('#break');
    await page.waitForSelector(`#servers tbody tr[data-server="${chosen}"] button.heal`, { timeout: 30_000 });
    expect(await page.getAttribute(`#servers tbody tr[data-server="${chosen}"] .state`, 'data-state')).toBe('deleted');
    await page.click(`#servers tbody tr[data-server="${chosen}"] button.heal`);
    await page.waitForFunction(
      (id) => /^deleted, replaced by \S+$/.test(document.querySelector(`#servers tbody tr[data-server="${id}"] .state`)?.textContent ?? ''),
      chosen,
      { timeout: 60_000 },
    );
    const healer = (await page.textContent(`#servers tbody tr[data-server="${chosen}"] .state`))!.split(' ').pop()!;
    await page.waitForFunction(
      (id) => document.querySelector(`#servers tbody tr[data-server="${id}"] .state`)?.getAttribute('data-state') === 'serving',
      healer,
      { timeout: 30_000 },
    );
    phase('delete and heal');

    // Look closer: a fleet peer's presence, server and region; a test signal and its answer.
    await page.fill('#peer-id', 'fleet-c-0');
    await page.click('#lookup');
    await page.waitForSelector('#peer-view td[data-field="presence"]');
    expect(await page.textContent('#peer-view td[data-field="region"]')).toBe('local');
    expect(await page.textContent('#peer-view td[data-field="client state"]')).toBe('joined');
    expect(['online', 'away']).toContain(await page.textContent('#peer-view td[data-field="presence"]'));
    await page.fill('#signal-from', 'fleet-c-0');
    await page.fill('#signal-to', 'fleet-g-0');
    await page.click('#signal');
    await page.waitForSelector('#signal-result[data-result]', { timeout: 30_000 });
    expect(await page.getAttribute('#signal-result', 'data-result')).toBe('delivered');
    expect(await page.textContent('#signal-result')).toMatch(/fleet-c-0 -> fleet-g-0: delivered in \d+ ms, arrived after \d+ ms/);
    await page.fill('#signal-to', 'fleet-c-1');
    await page.click('#signal');
    await page.waitForFunction(
      () => document.getElementById('signal-result')!.getAttribute('data-result') === 'refused: forbidden',
      undefined,
      {
        timeout: 30_000,
      },
    );
    phase('lookup and test signals');

    // The legend is bounded (9 servers have been in the window, with peers offline: 10 series) and
    // hovering the plot lists every series' value at that time.
    await page.waitForSelector('#chart svg [data-legend-more]');
    // Two seconds of samples since the healer came up, so it has a line under the mouse near the end.
    const t2 = Number(await page.getAttribute('body', 'data-updated'));
    await page.waitForFunction((t) => Number(document.body.getAttribute('data-updated')) >= t + 2_000, t2, { timeout: 30_000 });
    expect(await page.$$eval('#chart svg [data-legend]', (l) => l.length)).toBeLessThanOrEqual(8);
    const plot = await page.$eval('#chart svg', (svg) => {
      const b = svg.getBoundingClientRect();
      return { x: b.left + Number(svg.getAttribute('data-left')) + Number(svg.getAttribute('data-plot-width')) - 2, y: b.top + 100 };
    });
    await page.mouse.move(plot.x, plot.y);
    await page.waitForSelector('#hover:not([hidden])');
    expect(await page.textContent('#hover')).toMatch(/^\d\d:\d\d:\d\d\npeers offline: 0\n/);
    expect(await page.textContent('#hover')).toMatch(new RegExp(`${healer}: \\d+`));
    phase('legend and hover');
    await browser.close();
    browser = undefined;
    // The committed copies (README) change only when asked.
    if (process.env.SLUICE_UPDATE_SCREENSHOTS === '1') for (const f of SHOTS) fs.copyFileSync(path.join(OUT, f), path.join(COMMITTED, f));

    proc.kill('SIGINT');
    expect(await exited).toBe(0);
    const summary = lines.find((l) => l.startsWith('fleet: '))!;
    expect(summary).toMatch(/ 0 lost, 0 duplicated, /);
    expect(summary).toMatch(/peers ever offline 0/);
    // Nothing left listening: the status page and every server's admin port refuse connections.
    for (const target of [url, ...admins.map((a) => `${a.url}/status`)]) {
      await expect(getJson(target)).rejects.toThrow(/ECONNREFUSED/);
    }
    phase('Ctrl-C');
  });
});
