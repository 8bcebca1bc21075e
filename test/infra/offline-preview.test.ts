/**
 * The offline plans of the example stacks, compared with reviewed copies in test/infra/previews/. A
 * difference fails with the diff: review it like a `pulumi preview`, then regenerate the copy with
 *   npm run plan -- --stack dev --out test/infra/previews/dev.preview.txt
 * (never automatically: these files are the reviewed record of what each stack deploys).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderPreview } from '../../infra/offline-preview/preview';
import { unifiedDiff } from '../../infra/offline-preview/unified-diff';

const ROOT = path.resolve(__dirname, '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

describe.each(['dev', 'prod'])('the %s plan', (stack) => {
  it('matches the reviewed plan', async () => {
    const { text } = await renderPreview(ROOT, stack);
    const file = path.join(__dirname, 'previews', `${stack}.preview.txt`);
    const reviewed = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const diff = unifiedDiff(reviewed, text, `reviewed ${path.relative(ROOT, file)}`, `rendered ${stack}`);
    if (diff.changed) {
      throw new Error(
        `the ${stack} plan changed. Review the diff, then: npm run plan -- --stack ${stack} --out ${path.relative(ROOT, file)}\n${diff.text}`,
      );
    }
  });

  it('is deterministic', async () => {
    const a = await renderPreview(ROOT, stack);
    const b = await renderPreview(ROOT, stack);
    expect(b.text).toBe(a.text);
  });
});

describe('the plans cover what review needs', () => {
  it('prod shows what issue 10 fixed: host firewall, pinned image, reduced surge, waitForInstances, grants, a backplane per region', () => {
    const prod = fs.readFileSync(path.join(__dirname, 'previews', 'prod.preview.txt'), 'utf8');
    expect(prod).toContain(
      "ExecStart=/bin/sh -c '/sbin/iptables -w -C INPUT -p tcp --dport 4000 -j ACCEPT || /sbin/iptables -w -A INPUT -p tcp --dport 4000 -j ACCEPT'",
    );
    expect(prod).toContain('sourceImage: "https://www.googleapis.com/compute/v1/projects/cos-cloud/global/images/cos-121-18867-90-97"');
    expect(prod.match(/^ {8}maxSurgeFixed: 3$/gm)).toHaveLength(2);
    expect(prod.match(/^ {6}targetSize: 6$/gm)).toHaveLength(2);
    expect(prod.match(/^ {6}waitForInstances: true$/gm)).toHaveLength(2);
    // A backplane per region: since issue 26 a Memorystore Cluster, each region's servers reaching both (docs/regions.md).
    expect(prod.match(/^ {2}\+ gcp:redis\/cluster:Cluster {2}/gm)).toHaveLength(2);
    expect(prod.match(/^ {2}\+ gcp:networkconnectivity\/serviceConnectionPolicy:ServiceConnectionPolicy {2}/gm)).toHaveLength(2);
    expect(prod).toMatch(
      /^regionBackplanes:\n {2}europe-west1: "redis-cluster:\/\/[0-9.]+:6379"\n {2}us-central1: "redis-cluster:\/\/[0-9.]+:6379"$/m,
    );
    expect(prod).toContain('sluice-admin-token-accessor');
    expect(prod).not.toMatch(/condition:/);
  });

  it('prod has a MIG per region behind one backend service, TLS, and no secret in clear', () => {
    const prod = fs.readFileSync(path.join(__dirname, 'previews', 'prod.preview.txt'), 'utf8');
    expect(prod.match(/^ {2}\+ gcp:compute\/regionInstanceGroupManager:RegionInstanceGroupManager {2}/gm)).toHaveLength(2);
    expect(prod.match(/^ {2}\+ gcp:compute\/backendService:BackendService/gm)).toHaveLength(1);
    expect(prod).toContain('url: "wss://ws.sluice.example.com/socket/websocket"');
    expect(prod).toContain('secretData: [secret]');
    expect(prod).not.toMatch(/SLUICE_TOKEN_SECRET=|plan-placeholder-secret/);
  });
});

describe('npm run plan:diff', () => {
  it('shows what a change to a stack does to the plan, against a git ref', () => {
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-plan-diff-'));
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      for (const f of ['Pulumi.yaml', 'Pulumi.dev.yaml']) fs.copyFileSync(path.join(ROOT, f), path.join(repo, f));
      fs.cpSync(path.join(ROOT, 'infra'), path.join(repo, 'infra'), { recursive: true });
      fs.cpSync(path.join(ROOT, 'app'), path.join(repo, 'app'), { recursive: true });
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(repo, 'node_modules'), 'dir');
      fs.writeFileSync(path.join(repo, '.gitignore'), 'node_modules\n');
      // The base commit keeps the plan tool where commits before issue 24 had it (infra/plan/); the
      // working tree has it at infra/offline-preview/: plan:diff runs each side's own.
      fs.renameSync(path.join(repo, 'infra/offline-preview'), path.join(repo, 'infra/plan'));
      git('init', '-q', '-b', 'main');
      git('add', '.');
      git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '-m', 'base');
      fs.renameSync(path.join(repo, 'infra/plan'), path.join(repo, 'infra/offline-preview'));
      const stackFile = path.join(repo, 'Pulumi.dev.yaml');
      fs.writeFileSync(stackFile, fs.readFileSync(stackFile, 'utf8').replace('replicas: 4', 'replicas: 6'));

      const r = spawnSync(TSX, [path.join(repo, 'infra/offline-preview/diff.ts'), '--base', 'main', '--root', repo], {
        cwd: repo,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^### stack dev: \+3 -3 lines$/m);
      expect(r.stdout).toContain('-    replicas: 4\n+    replicas: 6');
      expect(r.stdout).toContain('-      targetSize: 4\n+      targetSize: 6');
      // One more wave: `pulumi up` waits longer for UPDATED.
      expect(r.stdout).toMatch(/^\+ {6}\(customTimeouts\): create \d+m, update \d+m$/m);
      // The surge follows the zones, not the replicas: unchanged.
      expect(r.stdout).toMatch(/^ {9}maxSurgeFixed: 2$/m);
    } finally {
      if (fs.existsSync(path.join(repo, 'node_modules'))) fs.unlinkSync(path.join(repo, 'node_modules'));
      fs.rmSync(repo, { recursive: true, force: true });
    }
  });
});
