/**
 * The offline plan of the GKE example stack (Pulumi.gke.yaml), compared with its reviewed copy. A
 * difference fails with the diff: review it like a `pulumi preview`, then regenerate the copy with
 *   npm run plan -- --stack gke --out test/infra/previews/gke.preview.txt
 */
import fs from 'node:fs';
import path from 'node:path';
import { renderPreview } from '../../infra/offline-preview/preview';
import { unifiedDiff } from '../../infra/offline-preview/unified-diff';

const ROOT = path.resolve(__dirname, '../..');
const FILE = path.join(__dirname, 'previews', 'gke.preview.txt');

describe('the gke plan', () => {
  it('matches the reviewed plan, and renders the same twice', async () => {
    const { text } = await renderPreview(ROOT, 'gke');
    const reviewed = fs.existsSync(FILE) ? fs.readFileSync(FILE, 'utf8') : '';
    const diff = unifiedDiff(reviewed, text, `reviewed ${path.relative(ROOT, FILE)}`, 'rendered gke');
    if (diff.changed)
      throw new Error(
        `the gke plan changed. Review the diff, then: npm run plan -- --stack gke --out ${path.relative(ROOT, FILE)}\n${diff.text}`,
      );
    expect((await renderPreview(ROOT, 'gke')).text).toBe(text);
  });

  it('shows what review needs: the GKE timers, one cluster, the policies, no VM, no secret in clear', () => {
    const plan = fs.readFileSync(FILE, 'utf8');
    expect(plan).toContain('gke terminationGracePeriodSeconds: 35 s >= preStop wait 25 s + margin 5 s = 30 s');
    expect(plan).toContain('gke endpoint removal: <= 15 s');
    expect(plan.match(/^ {2}\+ gcp:container\/cluster:Cluster {2}/gm)).toHaveLength(1);
    expect(plan).toMatch(/^ {2}\+ kubernetes:networking\.gke\.io\/v1:GCPBackendPolicy {2}/m);
    expect(plan).toMatch(/^ {2}\+ kubernetes:networking\.gke\.io\/v1:HealthCheckPolicy {2}/m);
    expect(plan).toContain('terminationGracePeriodSeconds: 35');
    expect(plan).not.toMatch(/regionInstanceGroupManager|instanceTemplate/);
    expect(plan).toContain('stringData: [secret]');
    expect(plan).not.toMatch(/plan-placeholder-secret|SLUICE_TOKEN_SECRET=|redis:\/\/:/);
    expect(plan).toContain('url: "wss://ws-gke.sluice.example.com/socket/websocket"');
  });
});

describe('the PR preview workflow', () => {
  it('previews the gke stack with the others', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { parseYaml } = require('../../infra/offline-preview/yaml') as typeof import('../../infra/offline-preview/yaml');
    const wf = parseYaml(fs.readFileSync(path.join(ROOT, '.github/workflows/preview.yml'), 'utf8')) as {
      jobs: { preview: { strategy: { matrix: { stack: string[] } } } };
    };
    expect(wf.jobs.preview.strategy.matrix.stack).toEqual(expect.arrayContaining(['dev', 'prod', 'gke']));
    expect(fs.existsSync(path.join(ROOT, 'Pulumi.gke.yaml'))).toBe(true);
  });
});
