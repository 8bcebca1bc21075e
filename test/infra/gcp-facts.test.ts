/**
 * Issue 10: what GCP does, not only what the program says. Each test here fails on the program as it
 * was before the issue; the doc sentence each rests on is quoted next to the code it tests.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { AddressInfo } from 'node:net';
import { defaultTimeouts } from '../../app/contract/timeouts';
import { rolloutShape } from '../../infra/components/fleet';
import { hostFirewallCommand } from '../../infra/components/vm-boot';
import { parseYaml } from '../../infra/offline-preview/yaml';
import { ADMIN_TOKEN, imageAt, render, Rendered, T } from './harness';

let dev: Rendered;
beforeAll(async () => {
  dev = await render();
});

const meta = (r: Rendered) => r.plain(r.one(T.instanceTemplate, 'sluice-us-central1-template')).metadata as Record<string, string>;
const files = (r: Rendered) => (parseYaml(meta(r)['user-data']) as { write_files: Array<{ path: string; content: string }> }).write_files;
const file = (r: Rendered, p: string) => files(r).find((f) => f.path === p)?.content ?? '';

describe('defect 1: COS host firewall (COS accepts inbound only for SSH by default)', () => {
  it('cloud-init installs a oneshot unit that opens exactly the serving port, required by sluice.service', () => {
    const unit = file(dev, '/etc/systemd/system/sluice-firewall.service');
    expect(unit).toContain(`ExecStart=/bin/sh -c '${hostFirewallCommand(4000)}'`);
    expect(unit).toMatch(/^Type=oneshot$/m);
    const server = file(dev, '/etc/systemd/system/sluice.service');
    expect(server).toMatch(/^Requires=.*sluice-firewall\.service/m);
    expect(server).toMatch(/^After=.*sluice-firewall\.service/m);
    expect(JSON.stringify(files(dev).filter((f) => /firewall/.test(f.path)))).not.toContain('9090');
  });

  it('the rule is idempotent: run twice against a recording iptables, it appends once (-C before -A), port 4000 only', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-iptables-'));
    try {
      // A stand-in iptables: -C succeeds once the rule was appended; every call is recorded.
      const fake = path.join(dir, 'iptables');
      fs.writeFileSync(
        fake,
        `#!/bin/bash\necho "$*" >> "${dir}/calls"\nif [ "$2" = "-C" ]; then [ -f "${dir}/added" ]; exit $?; fi\ntouch "${dir}/added"\n`,
        { mode: 0o755 },
      );
      const cmd = hostFirewallCommand(4000).replace(/\/sbin\/iptables/g, fake);
      for (let i = 0; i < 2; i++) expect(spawnSync('/bin/sh', ['-c', cmd]).status).toBe(0);
      const calls = fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n');
      expect(calls).toEqual([
        '-w -C INPUT -p tcp --dport 4000 -j ACCEPT',
        '-w -A INPUT -p tcp --dport 4000 -j ACCEPT',
        '-w -C INPUT -p tcp --dport 4000 -j ACCEPT',
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('defect 2: the watcher grant does not rely on unsupported IAM resource attributes', () => {
  it('grants the one-permission custom role without a condition', () => {
    const watcher = dev.all(T.projectMember).filter((m) => String(m.inputs.role).includes('sluiceWatcher'));
    expect(watcher).toHaveLength(1);
    expect(watcher[0].inputs.condition).toBeUndefined();
    expect(dev.one(T.customRole).inputs.permissions).toEqual(['compute.instanceGroupManagers.get']);
  });
});

describe('defect 3: one backplane per region, with a maintenance window', () => {
  it('two regions get two Memorystore instances, each in its own region, windows 4 h apart; each region reads its own URL', async () => {
    const r = await render({
      'sluice:redisTier': 'STANDARD_HA',
      'sluice:regions': [
        { region: 'us-central1', zones: ['us-central1-a'], replicas: 2, subnetCidr: '10.10.0.0/20' },
        { region: 'europe-west1', zones: ['europe-west1-b'], replicas: 2, subnetCidr: '10.10.16.0/20' },
      ],
    });
    const redis = r.all(T.redis).map((x) => x.inputs as Record<string, any>);
    expect(redis.map((x) => x.region).sort()).toEqual(['europe-west1', 'us-central1']);
    const windows = Object.fromEntries(redis.map((x) => [x.region, x.maintenancePolicy.weeklyMaintenanceWindows[0]]));
    expect(windows['us-central1']).toMatchObject({ day: 'SUNDAY', startTime: { hours: 3 } });
    expect(windows['europe-west1']).toMatchObject({ day: 'SUNDAY', startTime: { hours: 7 } });
    const prestart = (region: string) => {
      const tpl = r.plain(r.one(T.instanceTemplate, `sluice-${region}-template`));
      return (parseYaml(tpl.metadata['user-data']) as { write_files: Array<{ path: string; content: string }> }).write_files.find(
        (f) => f.path === '/etc/sluice/prestart.sh',
      )!.content;
    };
    expect(prestart('us-central1')).toContain('/secrets/sluice-test-server-env-us-central1/versions/1:access');
    expect(prestart('europe-west1')).toContain('/secrets/sluice-test-server-env-europe-west1/versions/1:access');
  });
});

describe('defect 6: rollout shape', () => {
  it('the surge is below the replica count and minReadySec comes from the contract', () => {
    const mig = dev.one(T.mig).inputs as Record<string, any>;
    expect(mig.updatePolicy.maxSurgeFixed).toBe(2);
    expect(mig.targetSize).toBe(4);
    expect(mig.updatePolicy.minReadySec).toBe(defaultTimeouts.gce.minReadySec);
    expect(rolloutShape(6, 3, undefined, defaultTimeouts)).toMatchObject({ surge: 3, waves: 2 });
  });

  it('a canary runs targetSize VMs of the canary image beside the primary version', async () => {
    const r = await render({ 'sluice:canary': { image: imageAt('1.3.0-rc1'), targetSize: 1 } });
    expect((r.one(T.mig).inputs as Record<string, any>).versions).toEqual([
      { name: 'primary', instanceTemplate: expect.stringContaining('/instanceTemplates/sluice-us-central1-template?') },
      {
        name: 'canary',
        instanceTemplate: expect.stringContaining('/instanceTemplates/sluice-us-central1-canary?'),
        targetSize: { fixed: 1 },
      },
    ]);
    expect(String(r.one(T.instanceTemplate, 'sluice-us-central1-canary').inputs.description)).toContain(imageAt('1.3.0-rc1'));
  });
});

describe('defect 7: deploy ordering and a red `pulumi up` for a broken image', () => {
  it('the MIG depends on every grant a first boot needs and waits for UPDATED with a rollout-sized timeout', () => {
    const mig = dev.one(T.mig);
    const deps = mig.dependsOn.map((u) => u.split('::').pop());
    expect(deps).toEqual(
      expect.arrayContaining([
        'sluice-watcher',
        'sluice-server-env-us-central1-accessor',
        'sluice-admin-token-accessor',
        'sluice-image-reader',
      ]),
    );
    expect(mig.inputs).toMatchObject({ waitForInstances: true, waitForInstancesStatus: 'UPDATED' });
    const shape = rolloutShape(4, 2, undefined, defaultTimeouts);
    expect(mig.customTimeouts).toEqual({ create: `${shape.timeoutMin}m`, update: `${shape.timeoutMin}m` });
  });

  it('regions roll one after the other: the second MIG depends on the first', async () => {
    const r = await render({
      'sluice:regions': [
        { region: 'us-central1', zones: ['us-central1-a'], replicas: 2, subnetCidr: '10.10.0.0/20' },
        { region: 'europe-west1', zones: ['europe-west1-b'], replicas: 2, subnetCidr: '10.10.16.0/20' },
      ],
    });
    const eu = r.all(T.mig).find((m) => m.name === 'sluice-europe-west1')!;
    expect(eu.dependsOn.map((u) => u.split('::').pop())).toContain('sluice-us-central1');
  });
});

describe('defect 8: the boot image is pinned to one reviewed LTS image', () => {
  it('boots the exact image named in sluice:bootImage (resolved with getImage), not a family', () => {
    const src = (dev.one(T.instanceTemplate, 'sluice-us-central1-template').inputs.disks as Array<Record<string, string>>)[0].sourceImage;
    expect(src).toBe('https://www.googleapis.com/compute/v1/projects/cos-cloud/global/images/cos-121-18867-90-97');
    expect(src).not.toContain('/family/');
  });

  it('an image outside a cos-NNN-lts family fails the program', async () => {
    await expect(render({ 'sluice:bootImage': 'cos-stable-1-2-3' })).rejects.toThrow(/sluice:bootImage/);
  });
});

describe('the shutdown script authenticates to the admin port (SLUICE_ADMIN_TOKEN)', () => {
  it('sends Authorization: Bearer <token from the tmpfs admin env>, without the token on its command line', async () => {
    const seen: Array<string | undefined> = [];
    const srv = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"state":"drained"}');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-admin-env-'));
    try {
      fs.writeFileSync(path.join(dir, 'admin.env'), `SLUICE_ADMIN_TOKEN=${ADMIN_TOKEN}\n`);
      const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn('bash', ['-c', meta(dev)['shutdown-script']], {
          env: { ...process.env, SLUICE_ADMIN_URL: url, SLUICE_ADMIN_ENV: path.join(dir, 'admin.env') },
        });
        child.once('exit', resolve);
      });
      expect(code).toBe(0);
      expect(seen).toEqual([`Bearer ${ADMIN_TOKEN}`]);
      expect(meta(dev)['shutdown-script']).not.toContain(ADMIN_TOKEN);
    } finally {
      srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
