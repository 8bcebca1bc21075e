/** HAProxy's configuration is rendered from the contract, and HAProxy itself accepts it. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderHaproxyConfig } from '../../app/local/lb/haproxy';
import { healthCheckFor } from '../../app/local/lb/load-balancer';
import { regionTimeouts } from '../../app/local/region/timeouts';

const t = regionTimeouts(false);
const cfg = renderHaproxyConfig({ port: 4000, socketPath: '/tmp/x/haproxy.sock', slots: 8, timeouts: t, health: healthCheckFor(t) });

test('timeouts come from the contract', () => {
  expect(cfg).toContain(`timeout tunnel ${t.lb.idleTimeoutSec}s`);
  expect(cfg).toContain('option httpchk GET /readyz');
  expect(cfg).toContain(`slowstart ${t.drain.windowMs}ms`);
  expect(cfg).toContain('bind 127.0.0.1:4000');
  // Sessions of a server marked down are kept (the directive is only named in a comment).
  expect(
    cfg
      .split('\n')
      .filter((l) => !l.trim().startsWith('#'))
      .join('\n'),
  ).not.toContain('shutdown-sessions');
  expect(
    renderHaproxyConfig({
      port: 4000,
      socketPath: '/tmp/x/haproxy.sock',
      slots: 8,
      timeouts: regionTimeouts(true),
      health: healthCheckFor(regionTimeouts(true)),
    }),
  ).toContain('timeout tunnel 6s');
});

test('the rendering is stable', () => {
  expect(cfg).toMatchSnapshot();
});

const haproxy = spawnSync('haproxy', ['-v']).status === 0;
(haproxy ? test : test.skip)('haproxy -c accepts it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-hacfg-'));
  const file = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(
    file,
    renderHaproxyConfig({ port: 4000, socketPath: path.join(dir, 's.sock'), slots: 8, timeouts: t, health: healthCheckFor(t) }),
  );
  const r = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  expect(r.stderr + r.stdout).not.toMatch(/ALERT/);
  expect(r.status).toBe(0);
});
