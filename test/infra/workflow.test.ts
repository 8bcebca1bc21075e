/**
 * Issue 10, defect 9: the preview workflow. Third-party actions pinned by commit SHA, a team-scoped
 * Pulumi token, and a clear failure (not a cryptic preview error) when a stack lacks its secrets.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseYaml } from '../../infra/plan/yaml';

const ROOT = path.resolve(__dirname, '../..');
const read = (f: string) => fs.readFileSync(path.join(ROOT, '.github/workflows', f), 'utf8');
type Step = { name?: string; uses?: string; run?: string; with?: Record<string, string> };
const steps = (f: string): Step[] => Object.values((parseYaml(read(f)) as { jobs: Record<string, { steps: Step[] }> }).jobs).flatMap((j) => j.steps);

describe('.github/workflows', () => {
  it.each(['ci.yml', 'preview.yml'])('%s pins every action by a full commit SHA', (f) => {
    const uses = steps(f).map((s) => s.uses).filter((u): u is string => Boolean(u));
    expect(uses.length).toBeGreaterThan(1);
    for (const u of uses) expect(u).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
  });

  it('asks Pulumi Cloud for a team token (scoped to the stacks), never an organization token', () => {
    const login = steps('preview.yml').find((s) => s.uses?.startsWith('pulumi/auth-actions@'))!;
    expect(login.with).toMatchObject({ 'requested-token-type': 'urn:pulumi:token-type:access_token:team', scope: 'team:${{ vars.PULUMI_PREVIEW_TEAM }}' });
    expect(read('preview.yml')).not.toContain('access_token:organization');
  });

  it('fails with the commands to run when a stack file lacks its encrypted secrets, passes when it has them', () => {
    const check = steps('preview.yml').find((s) => /encrypted secrets/.test(s.name ?? ''))!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-wf-'));
    try {
      const run = (stack: string) => spawnSync('bash', ['-e', '-c', check.run!.replace(/\$\{\{ matrix\.stack \}\}/g, stack)], { cwd: dir, encoding: 'utf8' });
      fs.copyFileSync(path.join(ROOT, 'Pulumi.dev.yaml'), path.join(dir, 'Pulumi.dev.yaml'));
      const bad = run('dev');
      expect(bad.status).toBe(1);
      expect(bad.stdout).toContain('lacks encrypted secrets: tokenSecret adminToken');
      expect(bad.stdout).toContain('pulumi config set --secret --stack dev sluice:<key>');
      fs.writeFileSync(path.join(dir, 'Pulumi.ok.yaml'), `config:\n  sluice:tokenSecret:\n    secure: AAABAxyz\n  sluice:adminToken:\n    secure: AAABAabc\n`);
      expect(run('ok').status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
