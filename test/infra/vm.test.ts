/**
 * What runs on a server VM, read from the instance template the program renders: cloud-init with a
 * systemd unit running `docker run` (no container declaration), the server's environment (accepted
 * by the server's own config loader), and the shutdown script, executed here against a real server.
 */
import { spawn, spawnSync } from 'node:child_process';
import { resolveTimeouts } from '../../app/contract/timeouts';
import { loadConfig } from '../../app/server/config';
import { parseYaml } from '../../infra/offline-preview/yaml';
import { openRaw, startServer } from '../helpers/server';
import { imageAt, render, Rendered, T } from './harness';

let dev: Rendered;
beforeAll(async () => {
  dev = await render();
});

function metadata(r: Rendered): Record<string, string> {
  return r.plain(r.one(T.instanceTemplate)).metadata as Record<string, string>;
}

interface CloudConfig {
  write_files: Array<{ path: string; permissions: string; content: string }>;
  runcmd: string[];
}
function cloudConfig(r: Rendered): CloudConfig {
  const userData = metadata(r)['user-data'];
  expect(userData.startsWith('#cloud-config\n')).toBe(true);
  return parseYaml(userData) as CloudConfig;
}
function file(cc: CloudConfig, path: string): string {
  const f = cc.write_files.find((w) => w.path === path);
  if (!f) throw new Error(`cloud-init writes no ${path}`);
  return f.content;
}
function envFile(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe('instance template: Container-Optimized OS with cloud-init', () => {
  it('boots COS with cloud-init user-data and a shutdown script, not the deprecated container declaration', () => {
    const tpl = dev.one(T.instanceTemplate).inputs as Record<string, any>;
    expect(tpl.disks[0].sourceImage).toBe('https://www.googleapis.com/compute/v1/projects/cos-cloud/global/images/cos-121-18867-90-97');
    expect(Object.keys(metadata(dev)).sort()).toEqual([
      'block-project-ssh-keys',
      'enable-oslogin',
      'google-logging-enabled',
      'google-monitoring-enabled',
      'shutdown-script',
      'user-data',
    ]);
    expect(JSON.stringify(tpl)).not.toContain('gce-container-declaration');
    expect(tpl.shieldedInstanceConfig).toEqual({ enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true });
  });

  it('installs a systemd unit that runs the image with docker run and stops it with docker stop -t from the contract', () => {
    const cc = cloudConfig(dev);
    const unit = file(cc, '/etc/systemd/system/sluice.service');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/docker run --rm --name sluice --init --network host --log-driver gcplogs \\$/m);
    expect(unit).toContain(imageAt('1.2.3'));
    expect(unit).toContain('ExecStop=/usr/bin/docker stop --time 30 sluice');
    expect(unit).toContain('TimeoutStopSec=40');
    expect(unit).toContain('Before=google-shutdown-scripts.service');
    expect(cc.runcmd).toEqual(['systemctl daemon-reload', 'systemctl start sluice.service']);
    expect(unit).toMatch(/^Requires=docker.service sluice-firewall.service$/m);
    const prestart = file(cc, '/etc/sluice/prestart.sh');
    expect(prestart).toContain(
      'https://secretmanager.googleapis.com/v1/projects/sluice-test-project/secrets/sluice-test-server-env-us-central1/versions/1:access',
    );
    expect(prestart).toContain('docker-credential-gcr configure-docker --registries=us-docker.pkg.dev');
  });

  it('renders shell scripts that bash accepts', () => {
    for (const script of [file(cloudConfig(dev), '/etc/sluice/prestart.sh'), metadata(dev)['shutdown-script']]) {
      const r = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
  });

  it('docker stop -t follows gce.dockerStopTimeoutSec', async () => {
    const r = await render({ 'sluice:timeouts': { gce: { dockerStopTimeoutSec: 60 } } });
    expect(file(cloudConfig(r), '/etc/systemd/system/sluice.service')).toContain('ExecStop=/usr/bin/docker stop --time 60 sluice');
  });

  it('on Spot VMs: preemptible scheduling, and the shorter shutdown budget is enforced by the contract', async () => {
    const r = await render({
      'sluice:timeouts': { gce: { preemptible: true }, drain: { windowMs: 5_000, deadlineMs: 15_000, marginMs: 5_000 } },
    });
    expect(r.one(T.instanceTemplate).inputs.scheduling).toMatchObject({
      preemptible: true,
      provisioningModel: 'SPOT',
      automaticRestart: false,
    });
    expect(metadata(r)['shutdown-script']).toContain('--max-time 20 ');
  });
});

describe('the server container environment', () => {
  it('turns the watcher on, keeps admin on loopback, and carries the whole resolved contract', () => {
    const env = envFile(file(cloudConfig(dev), '/etc/sluice/server.env'));
    expect(env).toEqual({
      SLUICE_ENV: 'production',
      SLUICE_HOST: '0.0.0.0',
      SLUICE_PORT: '4000',
      SLUICE_ADMIN_HOST: '127.0.0.1',
      SLUICE_ADMIN_PORT: '9090',
      SLUICE_GCE_WATCHER: 'on',
      SLUICE_LOG_LEVEL: 'info',
      SLUICE_TIMEOUTS: expect.any(String),
      // The budget and the V8 heap limit derived from it (app/contract/memory.ts); docker run's --env-file hands both to node.
      SLUICE_MEMORY_BUDGET_BYTES: String(256 * 1024 * 1024),
      NODE_OPTIONS: '--max-old-space-size=480',
    });
    expect(JSON.parse(env.SLUICE_TIMEOUTS)).toEqual(resolveTimeouts());
    expect(Object.keys(env).join()).not.toMatch(/SECRET|REDIS/);
  });

  it("is accepted by the server's own config loader (with the secrets the VM adds at start)", async () => {
    const r = await render({ 'sluice:timeouts': { gce: { watcherPollIntervalMs: 2_000, watcherRequestTimeoutMs: 1_000 } } });
    const env = envFile(file(cloudConfig(r), '/etc/sluice/server.env'));
    const secretEnv = envFile(r.plain(r.one(T.secretVersion, 'sluice-server-env-us-central1')).secretData as string);
    const adminEnv = envFile(r.plain(r.one(T.secretVersion, 'sluice-admin-token')).secretData as string);
    const config = loadConfig({ ...env, ...secretEnv, ...adminEnv, SLUICE_SERVER_ID: 'sluice-us-central1-x7k2' });
    expect(config).toMatchObject({
      env: 'production',
      port: 4000,
      adminHost: '127.0.0.1',
      adminPort: 9090,
      gceWatcher: true,
      redisUrl: 'redis://:mock-redis-auth-string@10.200.0.3:6379',
    });
    expect(config.timeouts.gce.watcherPollIntervalMs).toBe(2_000);
  });
});

describe('the shutdown script (drain layer 2)', () => {
  function runScript(script: string, adminUrl: string): Promise<{ code: number | null; out: string; ms: number }> {
    return new Promise((resolve) => {
      const t0 = Date.now();
      const child = spawn('bash', ['-c', script], { env: { ...process.env, SLUICE_ADMIN_URL: adminUrl } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('exit', (code) => {
        clearTimeout(killer);
        resolve({ code, out, ms: Date.now() - t0 });
      });
    });
  }

  it('POSTs /drain?wait=1 on the admin port, bounded by the drain deadline + margin', () => {
    const script = metadata(dev)['shutdown-script'];
    expect(script).toContain('ADMIN_URL="${SLUICE_ADMIN_URL:-http://127.0.0.1:9090}"');
    expect(script).toContain(
      'curl -fsS -X POST --max-time 25 -H @<(printf \'Authorization: Bearer %s\\n\' "${token}") "${ADMIN_URL}/drain?wait=1"',
    );
  });

  it('drains a running server and returns only when the drain has finished', async () => {
    const ts = await startServer({ timeouts: { drain: { windowMs: 200, deadlineMs: 1_200, marginMs: 100 } } });
    try {
      const silent = await openRaw(await ts.urlFor('gw-silent', 'gateway'));
      silent.pause(); // never answers its close frame: the drain runs to its deadline
      const r = await runScript(metadata(dev)['shutdown-script'], ts.adminUrl);
      expect(r.code).toBe(0);
      expect(r.out).toContain('sluice shutdown: drain finished');
      expect(r.ms).toBeGreaterThanOrEqual(1_100);
      const report = await ts.server.drained();
      expect(report).toMatchObject({ reason: 'admin', total: 1, reset: 1 });
      silent.terminate();
    } finally {
      await ts.server.shutdown();
    }
  });

  it('exits 0 at once when nothing listens (already drained and stopped)', async () => {
    const r = await runScript(metadata(dev)['shutdown-script'], 'http://127.0.0.1:9');
    expect(r.code).toBe(0);
    expect(r.out).toContain('no drain answer');
    expect(r.ms).toBeLessThan(5_000);
  });
});
