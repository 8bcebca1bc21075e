/**
 * Issue 15, part 4: .github/workflows/deploy.yml, parsed. One job per rollout wave of the prod stack,
 * each behind its own environment, chained by `needs` in plan order; no overlapping deploys; least
 * privilege; every action pinned by a full commit SHA; each wave job runs its own rollout wave.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseStackConfig } from '../../infra/config';
import { readStackFiles } from '../../infra/offline-preview/render';
import { releaseSteps } from '../../infra/release/steps';
import { parseYaml } from '../../infra/offline-preview/yaml';
import { imageAt } from '../infra/harness';

const ROOT = path.resolve(__dirname, '../..');
type Step = { uses?: string; run?: string; name?: string; id?: string; with?: Record<string, string>; env?: Record<string, string> };
type Job = {
  needs?: string | string[];
  environment?: string;
  permissions?: Record<string, string>;
  'timeout-minutes'?: number;
  env?: Record<string, string>;
  outputs?: Record<string, string>;
  steps: Step[];
};
const TEXT = fs.readFileSync(path.join(ROOT, '.github/workflows/deploy.yml'), 'utf8');
const wf = parseYaml(TEXT) as {
  on: { push: { branches: string[] } };
  permissions: Record<string, string>;
  concurrency: { group: string; 'cancel-in-progress': boolean };
  jobs: Record<string, Job>;
};

describe('.github/workflows/deploy.yml', () => {
  const files = readStackFiles(ROOT, 'prod');
  const cfg = parseStackConfig(files.config, new Set(files.secretKeys));
  const plan = releaseSteps('prod', cfg, imageAt('9.9.9', 'us-docker.pkg.dev/sluice-prod-project/sluice/server'));
  const waveJobs = Object.entries(wf.jobs).filter(([, j]) => j.environment);

  it('runs on push to main, never two at once, and never cancels a running deploy', () => {
    expect(wf.on.push.branches).toEqual(['main']);
    expect(wf.concurrency).toEqual({ group: 'deploy-prod', 'cancel-in-progress': false });
  });

  it('builds the image first: plan and every wave need the image job and roll out its pushed digest', () => {
    expect(wf.jobs.image.needs).toBeUndefined();
    expect(wf.jobs.plan.needs).toBe('image');
    for (const [id, j] of Object.entries(wf.jobs).filter(([id]) => id !== 'image')) {
      expect([id, j.env?.RELEASE]).toEqual([id, '${{ needs.image.outputs.image }}']);
    }
    expect(wf.jobs.image.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
    expect(wf.jobs.image.outputs).toEqual({ image: '${{ steps.push.outputs.image }}' });
    const push = wf.jobs.image.steps.find((s) => s.run?.includes('docker push'))!;
    expect(push.run).toMatch(/docker build [\s\S]*-t "\$\{IMAGE_REPOSITORY\}:\$\{GITHUB_SHA\}" \.$/m);
    expect(push.run).toContain('echo "image=${image}" >> "$GITHUB_OUTPUT"');
    expect(push.run).toContain('@sha256:[0-9a-f]{64}$');
  });

  it('has one job per wave of the prod rollout, in plan order, each needing the image and the previous job', () => {
    expect(waveJobs.map(([id]) => id)).toEqual(plan.waves);
    expect(wf.jobs[plan.waves[0]].needs).toEqual(['image', 'plan']);
    plan.waves.slice(1).forEach((w, i) => expect(wf.jobs[w].needs).toEqual(['image', plan.waves[i]]));
  });

  it('puts each wave behind its own environment (the approval gate)', () => {
    const envs = waveJobs.map(([, j]) => j.environment);
    expect(envs).toEqual(plan.waves.map((w) => `prod-${w}`));
    expect(new Set(envs).size).toBe(envs.length);
    expect(wf.jobs.plan.environment).toBeUndefined();
  });

  it('grants least privilege: read at the top, OIDC only to the deploying jobs, no write anywhere', () => {
    expect(wf.permissions).toEqual({ contents: 'read' });
    expect(wf.jobs.plan.permissions).toEqual({ contents: 'read' });
    for (const [, j] of waveJobs) expect(j.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
  });

  it('each wave job applies its own wave; the plan job only prints', () => {
    for (const [, j] of waveJobs) {
      const run = j.steps.map((s) => s.run ?? '').find((r) => r.includes('npm run -s rollout'))!;
      expect(run).toBe('npm run -s rollout -- --stack "$STACK" --release "$RELEASE" --apply --wave "${{ github.job }}"');
    }
    const printed = wf.jobs.plan.steps.map((s) => s.run ?? '').filter((r) => r.includes('npm run -s rollout'));
    expect(printed).toEqual(['npm run -s rollout -- --stack "$STACK" --release "$RELEASE"']);
  });

  it('is plain YAML for js-yaml: no anchors or aliases, exactly the plan job and one job per wave, each with a time limit', () => {
    const code = TEXT.split('\n').map((l) => l.replace(/\s#.*$/, '').replace(/^\s*#.*$/, ''));
    expect(code.filter((l) => /(^|[\s:[,-])[&*][A-Za-z0-9_-]+(\s|$)/.test(l))).toEqual([]);
    expect(Object.keys(wf.jobs)).toEqual(['image', 'plan', ...plan.waves]);
    for (const j of Object.values(wf.jobs)) expect(j['timeout-minutes']).toBeGreaterThan(0);
  });

  it('gives every wave job the same steps, and the gates a Monitoring read token only', () => {
    const [first, ...rest] = waveJobs.map(([, j]) => j.steps);
    for (const steps of rest) expect(steps).toEqual(first);
    const auth = first.find((st) => st.uses?.startsWith('google-github-actions/auth@'))!;
    expect(auth).toMatchObject({
      id: 'gcp',
      with: { token_format: 'access_token', access_token_scopes: 'https://www.googleapis.com/auth/monitoring.read' },
    });
    const rollout = first.find((st) => st.run?.includes('--apply'))!;
    expect(rollout.env).toEqual({ SLUICE_MONITORING_TOKEN: '${{ steps.gcp.outputs.access_token }}' });
    expect(first.indexOf(auth)).toBeLessThan(first.indexOf(rollout));
    // The plan job runs the rollout tests before it prints the plan, and holds no cloud credential.
    expect(wf.jobs.plan.steps.map((st) => st.run ?? '')).toContain('npx jest test/infra test/rollout');
    expect(wf.jobs.plan.steps.some((st) => st.uses?.startsWith('google-github-actions/auth@'))).toBe(false);
  });

  it('pins every action by a full commit SHA', () => {
    const uses = Object.values(wf.jobs)
      .flatMap((j) => j.steps)
      .map((s) => s.uses)
      .filter((u): u is string => Boolean(u));
    expect(uses.length).toBeGreaterThan(4);
    for (const u of uses) expect(u).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
  });
});
