/**
 * Issue 10, defect 9: the preview workflow. Third-party actions pinned by commit SHA, a team-scoped
 * Pulumi token; issue 22: every stack previews with no secret typed by hand, no Pulumi step carries a
 * GOOGLE_* credential, and every workflow passes a real schema linter.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseYaml } from '../../infra/offline-preview/yaml';

const ROOT = path.resolve(__dirname, '../..');
const read = (f: string) => fs.readFileSync(path.join(ROOT, '.github/workflows', f), 'utf8');
type Step = { name?: string; uses?: string; run?: string; with?: Record<string, string> };
const steps = (f: string): Step[] =>
  Object.values((parseYaml(read(f)) as { jobs: Record<string, { steps: Step[] }> }).jobs).flatMap((j) => j.steps);

describe('.github/workflows', () => {
  it.each(['ci.yml', 'preview.yml'])('%s pins every action by a full commit SHA', (f) => {
    const uses = steps(f)
      .map((s) => s.uses)
      .filter((u): u is string => Boolean(u));
    expect(uses.length).toBeGreaterThan(1);
    for (const u of uses) expect(u).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
  });

  it('asks Pulumi Cloud for a team token (scoped to the stacks), never an organization token', () => {
    const login = steps('preview.yml').find((s) => s.uses?.startsWith('pulumi/auth-actions@'))!;
    expect(login.with).toMatchObject({
      'requested-token-type': 'urn:pulumi:token-type:access_token:team',
      scope: 'team:${{ vars.PULUMI_PREVIEW_TEAM }}',
    });
    expect(read('preview.yml')).not.toContain('access_token:organization');
  });

  it.each(['dev', 'prod', 'gke'])(
    'the preview guard passes on the %s stack: it renders offline with no secret typed by hand',
    (stack) => {
      const check = steps('preview.yml').find((s) => /no secret typed by hand/.test(s.name ?? ''))!;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-wf-'));
      try {
        // As written in the workflow, from the repository root; the plan goes to a scratch file.
        const run = check
          .run!.replace(/\$\{\{ matrix\.stack \}\}/g, stack)
          .replace(`"plan-${stack}.txt"`, JSON.stringify(path.join(dir, 'plan.txt')));
        const r = spawnSync('bash', ['-e', '-c', run], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
        expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
        expect(fs.readFileSync(path.join(dir, 'plan.txt'), 'utf8')).toContain('+ sluice:infra:StackSecrets');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    150_000,
  );
});

/**
 * Issue 22 point 2: a step that runs Pulumi must not carry a GOOGLE_* variable of its own (workflow,
 * job or step `env`): "The Pulumi Google Cloud provider reads the project and OAuth access token from
 * the environment" (GOOGLE_OAUTH_ACCESS_TOKEN, https://www.pulumi.com/docs/esc/providers/login/gcp-login/),
 * and prefers it over the credentials file the auth action writes, so a read-only token there fails
 * every write.
 */
type AnyStep = Step & { env?: Record<string, string> };
type Workflow = { env?: Record<string, string>; jobs: Record<string, { env?: Record<string, string>; steps?: AnyStep[] }> };
const runsPulumi = (s: AnyStep): boolean =>
  (s.uses?.startsWith('pulumi/actions@') === true && s.with?.command !== undefined) ||
  /(^|[\s;&|(])pulumi\s+(up|preview|destroy|refresh|import|stack|config)\b/.test(s.run ?? '') ||
  /npm run( -s)? rollout\b.*--apply/.test(s.run ?? '');

function googleEnvOnPulumiSteps(wf: Workflow): string[] {
  const out: string[] = [];
  for (const [id, job] of Object.entries(wf.jobs)) {
    for (const [i, step] of (job.steps ?? []).entries()) {
      if (!runsPulumi(step)) continue;
      const env = { ...wf.env, ...job.env, ...step.env };
      for (const k of Object.keys(env).filter((k) => k.startsWith('GOOGLE_')))
        out.push(`${id}.steps[${i}] (${step.name ?? step.uses ?? step.run}): ${k}`);
    }
  }
  return out;
}

describe('no step that runs Pulumi exposes a GOOGLE_* variable', () => {
  const files = fs.readdirSync(path.join(ROOT, '.github/workflows')).filter((f) => /\.ya?ml$/.test(f));

  it.each(files)('%s', (f) => {
    const wf = parseYaml(read(f)) as Workflow;
    // Not vacuous: deploy.yml and preview.yml do run Pulumi.
    if (f !== 'ci.yml')
      expect(
        Object.values(wf.jobs)
          .flatMap((j) => j.steps ?? [])
          .filter(runsPulumi).length,
      ).toBeGreaterThan(0);
    expect(googleEnvOnPulumiSteps(wf)).toEqual([]);
  });

  it('catches the clash at step, job and workflow level (the deploy.yml of before issue 22)', () => {
    const rollout = { name: 'Roll out', run: 'npm run -s rollout -- --stack "$STACK" --release "$RELEASE" --apply --wave canary' };
    expect(
      googleEnvOnPulumiSteps({
        jobs: { canary: { steps: [{ ...rollout, env: { GOOGLE_OAUTH_ACCESS_TOKEN: '${{ steps.gcp.outputs.access_token }}' } }] } },
      }),
    ).toEqual(['canary.steps[0] (Roll out): GOOGLE_OAUTH_ACCESS_TOKEN']);
    expect(
      googleEnvOnPulumiSteps({
        jobs: { j: { env: { GOOGLE_CREDENTIALS: 'x' }, steps: [{ uses: 'pulumi/actions@abc', with: { command: 'preview' } }] } },
      }),
    ).toHaveLength(1);
    expect(
      googleEnvOnPulumiSteps({ env: { GOOGLE_APPLICATION_CREDENTIALS: '/k.json' }, jobs: { j: { steps: [{ run: 'pulumi up --yes' }] } } }),
    ).toHaveLength(1);
    // A GOOGLE_* variable on a step that does not run Pulumi, and a printed (not applied) plan, are fine.
    expect(
      googleEnvOnPulumiSteps({
        jobs: {
          j: {
            steps: [{ run: 'gcloud info', env: { GOOGLE_CLOUD_PROJECT: 'p' } }, { run: 'npm run -s rollout -- --stack prod --release x' }],
          },
        },
      }),
    ).toEqual([]);
  });
});

describe('actionlint-style schema check (@action-validator/cli)', () => {
  const bin = path.join(ROOT, 'node_modules/.bin/action-validator');
  const files = fs.readdirSync(path.join(ROOT, '.github/workflows')).filter((f) => /\.ya?ml$/.test(f));

  it.each(files)('%s validates against the GitHub workflow schema', (f) => {
    const r = spawnSync(bin, [path.join(ROOT, '.github/workflows', f)], { encoding: 'utf8' });
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 0, stdout: '' });
  });

  it('fails on a workflow with an unknown job key', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-wf-'));
    try {
      fs.writeFileSync(
        path.join(dir, 'bad.yml'),
        'name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needz: b\n    steps:\n      - run: echo\n',
      );
      const r = spawnSync(bin, [path.join(dir, 'bad.yml')], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stdout + r.stderr).toContain("Additional property 'needz' is not allowed");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
