/**
 * Bad stack configs are rejected before any resource exists, by the program itself (what `pulumi
 * preview` runs) and by `npm run plan`, naming the key or the broken contract rule.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseStackConfig, StackConfigError } from '../../infra/config';
import { BASE_CONFIG, imageAt, render, toRaw } from './harness';

const ROOT = path.resolve(__dirname, '../..');
const SECRET = new Set(['sluice:tokenSecret', 'sluice:adminToken']);

function issues(overrides: Record<string, unknown>, secretKeys = SECRET): string[] {
  try {
    parseStackConfig(toRaw({ ...BASE_CONFIG, ...overrides }), secretKeys);
  } catch (err) {
    if (err instanceof StackConfigError) return err.issues.map((i) => `${i.key}: ${i.rule ? `[${i.rule}] ` : ''}${i.message}`);
    throw err;
  }
  return [];
}

describe('broken timeouts are rejected with the contract rule named', () => {
  it.each([
    ['LB idle timeout shorter than the heartbeats', { lb: { idleTimeoutSec: 8 } }, 'lb-idle-exceeds-heartbeats'],
    ['connection draining too short for poll + drain + margin', { lb: { connectionDrainingSec: 25 } }, 'drain-inside-lb-draining'],
    [
      'a drain that outlasts the Spot shutdown budget (30 s)',
      { gce: { preemptible: true }, drain: { deadlineMs: 28_000 } },
      'drain-fits-shutdown-budget',
    ],
    ['docker stop shorter than the drain', { gce: { dockerStopTimeoutSec: 20 } }, 'docker-stop-covers-drain'],
    ['rotation later than the ALB lifetime', { lb: { maxConnectionLifetimeSec: 1_800 } }, 'rotation-under-lb-max-lifetime'],
    ["a lifetime beyond Google's advice", { lb: { maxConnectionLifetimeSec: 100_000 } }, 'lb-lifetime-advised-maximum'],
    ['an unknown timeouts key', { drain: { windowSec: 3 } }, 'known-keys'],
  ])('%s', (_what, timeouts, rule) => {
    const found = issues({ 'sluice:timeouts': timeouts });
    expect(found.some((l) => l.startsWith(`sluice:timeouts: [${rule}]`))).toBe(true);
  });

  it('the idle-timeout rule matters for the proxy NLB too: there timeoutSec is that idle timeout', () => {
    expect(issues({ 'sluice:lbKind': 'external-proxy-network', 'sluice:timeouts': { lb: { idleTimeoutSec: 8 } } }).join('\n')).toContain(
      '[lb-idle-exceeds-heartbeats]',
    );
    // The ALB lifetime rule does not apply to the proxy NLB.
    expect(issues({ 'sluice:lbKind': 'external-proxy-network', 'sluice:timeouts': { lb: { maxConnectionLifetimeSec: 1_800 } } })).toEqual(
      [],
    );
  });

  it('accepts scalars as `pulumi config set --path` stores them (strings), rejects wrong types by key', () => {
    expect(
      issues({ 'sluice:timeouts': { gce: { watcherPollIntervalMs: '2000', watcherRequestTimeoutMs: '1000', preemptible: 'false' } } }),
    ).toEqual([]);
    expect(
      parseStackConfig(
        toRaw({ ...BASE_CONFIG, 'sluice:timeouts': { gce: { watcherPollIntervalMs: '2000', watcherRequestTimeoutMs: '1000' } } }),
        SECRET,
      ).timeouts.gce.watcherPollIntervalMs,
    ).toBe(2000);
    expect(issues({ 'sluice:timeouts': { drain: { deadlineMs: 'soon' } } })).toEqual([
      'sluice:timeouts.drain.deadlineMs: must be a number, got "soon"',
    ]);
  });

  it('the LB kind is set once, with sluice:lbKind', () => {
    expect(issues({ 'sluice:timeouts': { lb: { kind: 'external-proxy-network' } } }).join('\n')).toContain(
      'sluice:timeouts.lb.kind: set the LB kind with sluice:lbKind',
    );
  });
});

describe('broken keys are rejected with the key named', () => {
  it.each([
    ['a missing project', { 'sluice:project': undefined }, 'sluice:project'],
    ['a missing image', { 'sluice:image': undefined }, 'sluice:image'],
    ['an unpinned image', { 'sluice:image': 'us-docker.pkg.dev/p/r/server' }, 'sluice:image'],
    ['a :latest image', { 'sluice:image': 'us-docker.pkg.dev/p/r/server:latest' }, 'sluice:image'],
    ['an image pinned by tag only', { 'sluice:image': 'us-docker.pkg.dev/p/r/server:1.4.2' }, 'sluice:image'],
    ['a short digest', { 'sluice:image': 'us-docker.pkg.dev/p/r/server@sha256:abc123' }, 'sluice:image'],
    ['an unknown key', { 'sluice:replicas': 3 }, 'sluice:replicas'],
    ['an unknown LB kind', { 'sluice:lbKind': 'classic' }, 'sluice:lbKind'],
    [
      'a zone of another region',
      { 'sluice:regions': [{ region: 'us-central1', zones: ['us-east1-b'], replicas: 1, subnetCidr: '10.10.0.0/20' }] },
      'sluice:regions[0].zones[0]',
    ],
    [
      'zero replicas',
      { 'sluice:regions': [{ region: 'us-central1', zones: ['us-central1-a'], replicas: 0, subnetCidr: '10.10.0.0/20' }] },
      'sluice:regions[0].replicas',
    ],
    [
      'a bad CIDR',
      { 'sluice:regions': [{ region: 'us-central1', zones: ['us-central1-a'], replicas: 1, subnetCidr: '10.10.0.1/20' }] },
      'sluice:regions[0].subnetCidr',
    ],
    [
      'overlapping subnets',
      {
        'sluice:regions': [
          { region: 'us-central1', zones: ['us-central1-a'], replicas: 1, subnetCidr: '10.10.0.0/16' },
          { region: 'europe-west1', zones: ['europe-west1-b'], replicas: 1, subnetCidr: '10.10.32.0/20' },
        ],
      },
      'sluice:regions[1].subnetCidr',
    ],
    ['no Redis with several servers', { 'sluice:redisTier': 'none' }, 'sluice:redisTier'],
    ['a shared Redis region (one backplane per region now)', { 'sluice:redisRegion': 'us-central1' }, 'sluice:redisRegion'],
    [
      'a boot image family instead of a pinned image',
      { 'sluice:bootImage': 'projects/cos-cloud/global/images/family/cos-stable' },
      'sluice:bootImage',
    ],
    ['no boot image', { 'sluice:bootImage': undefined }, 'sluice:bootImage'],
    [
      'a surge that replaces the whole region at once',
      { 'sluice:regions': [{ region: 'us-central1', zones: ['us-central1-a', 'us-central1-b'], replicas: 2, subnetCidr: '10.10.0.0/20' }] },
      'sluice:regions[0].replicas',
    ],
    [
      'a surge below the zone count',
      {
        'sluice:regions': [
          { region: 'us-central1', zones: ['us-central1-a', 'us-central1-b'], replicas: 4, maxSurge: 1, subnetCidr: '10.10.0.0/20' },
        ],
      },
      'sluice:regions[0].maxSurge',
    ],
    ['a bad domain', { 'sluice:domain': 'WS.Example.com' }, 'sluice:domain'],
  ])('%s', (_what, overrides, key) => {
    const found = issues(overrides);
    expect(found.some((l) => l.startsWith(`${key}:`))).toBe(true);
  });

  it('no secret is config: the stack generates them, and a hand-typed one is refused with the way out (issue 22)', () => {
    expect(issues({}, new Set())).toEqual([]);
    expect(issues({ 'sluice:tokenSecret': 'x'.repeat(48), 'sluice:adminToken': 'y'.repeat(48) }, new Set(['sluice:tokenSecret']))).toEqual([
      'sluice:tokenSecret: is generated by the stack now (infra/components/secrets.ts, stored in Secret Manager): remove it with pulumi config rm sluice:tokenSecret',
      'sluice:adminToken: is generated by the stack now (infra/components/secrets.ts, stored in Secret Manager): remove it with pulumi config rm sluice:adminToken (and rotate it: it was readable in the stack file)',
    ]);
  });

  it('a single server may run without Redis', () => {
    const one = {
      'sluice:redisTier': 'none',
      'sluice:regions': [{ region: 'us-central1', zones: ['us-central1-a'], replicas: 1, subnetCidr: '10.10.0.0/20' }],
    };
    expect(issues(one)).toEqual([]);
  });
});

describe('the program and the plan fail on a broken stack', () => {
  it('the Pulumi program throws before registering anything, naming the rule', async () => {
    await expect(render({ 'sluice:timeouts': { lb: { idleTimeoutSec: 8 } } })).rejects.toThrow(
      /\[lb-idle-exceeds-heartbeats\] lb\.idleTimeoutSec \(8\)/,
    );
  });

  it('npm run plan exits 1 and names the rule', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bad-stack-'));
    try {
      fs.copyFileSync(path.join(ROOT, 'Pulumi.yaml'), path.join(dir, 'Pulumi.yaml'));
      const dev = fs.readFileSync(path.join(ROOT, 'Pulumi.dev.yaml'), 'utf8');
      fs.writeFileSync(path.join(dir, 'Pulumi.broken.yaml'), `${dev}  sluice:timeouts:\n    lb:\n      idleTimeoutSec: 8\n`);
      // The program is the repository's; only the stack files come from `dir`.
      fs.symlinkSync(path.join(ROOT, 'infra'), path.join(dir, 'infra'));
      fs.symlinkSync(path.join(ROOT, 'app'), path.join(dir, 'app'));
      const r = spawnSync(path.join(ROOT, 'node_modules/.bin/tsx'), ['infra/offline-preview/cli.ts', '--stack', 'broken', '--root', dir], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('sluice:timeouts: [lb-idle-exceeds-heartbeats]');
      expect(r.stdout).toBe('');
    } finally {
      for (const link of ['infra', 'app']) if (fs.existsSync(path.join(dir, link))) fs.unlinkSync(path.join(dir, link));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sluice:image is accepted by digest only (issue 22)', () => {
  const check = (image: string) => () =>
    parseStackConfig(toRaw({ ...BASE_CONFIG, 'sluice:image': image }), new Set(['sluice:tokenSecret', 'sluice:adminToken']));

  it('refuses a tag with the digest form and the command that finds it', () => {
    expect(check('us-docker.pkg.dev/p/r/server:1.4.2')).toThrow(
      "sluice:image: us-docker.pkg.dev/p/r/server:1.4.2 is not pinned by digest: use the digest the deploy workflow's image job pushed, e.g. us-docker.pkg.dev/p/r/server@sha256:<64 hex> (docker buildx imagetools inspect us-docker.pkg.dev/p/r/server:1.4.2 shows it)",
    );
  });

  it('refuses what is not an image reference at all', () => {
    expect(check('not an image')).toThrow(
      'sluice:image: "not an image" is not a container image reference REGISTRY/PATH/NAME@sha256:<64 hex digest>',
    );
  });

  it('accepts REPO@sha256:<64 hex>', () => {
    expect(check(imageAt('1.4.2'))().image).toBe(imageAt('1.4.2'));
  });
});
