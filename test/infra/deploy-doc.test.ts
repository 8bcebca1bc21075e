/**
 * docs/deploy-gce.md walks a platform team from an empty project to a serving stack, one command per
 * step. The steps that need no cloud run here exactly as written (the build, the offline plan of the
 * example stacks); the cloud ones (gcloud, pulumi, docker push, gh) are checked to be there, in order.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const DOC = fs.readFileSync(path.join(ROOT, 'docs/deploy-gce.md'), 'utf8');
const walkthrough = DOC.slice(DOC.indexOf('### From an empty project to a serving stack'), DOC.indexOf('### Config keys'));
/** Command lines of the walkthrough's sh blocks, continuation lines joined, trailing comments dropped. */
const commands = [...walkthrough.matchAll(/```sh\n([\s\S]*?)```/g)]
  .flatMap((m) => m[1].replace(/\\\n\s*/g, '').split('\n'))
  .map((l) => l.replace(/\s+#\s.*$/, '').trim())
  .filter(Boolean);

describe('docs/deploy-gce.md: from an empty project to a serving stack', () => {
  it('has every step, in order: APIs, repository, build + push by digest, stack, plan, preview, up, serving check, CI', () => {
    const order = ['gcloud services enable', 'gcloud artifacts repositories create', 'npm run build', 'docker build', 'docker push',
      'export IMAGE=', 'pulumi stack init', 'pulumi config set sluice:image "$IMAGE"', 'npm run plan -- --stack "$STACK"', 'pulumi preview', 'pulumi up',
      'curl -fsS', 'npm run token', 'gcloud iam workload-identity-pools create', 'gh variable set IMAGE_REPOSITORY'];
    const at = order.map((c) => commands.findIndex((l) => l.startsWith(c)));
    expect(order.filter((_, i) => at[i] < 0)).toEqual([]);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // No secret is typed by hand anywhere in it.
    expect(commands.filter((l) => /config set --secret|openssl rand/.test(l))).toEqual([]);
  });

  it.each(['dev', 'prod'])('runs the local steps as written (STACK=%s): npm run build, npm run plan', (stack) => {
    const local = commands.filter((l) => l.startsWith('npm run build') || l.startsWith('npm run plan'));
    expect(local).toEqual(['npm run build', 'npm run plan -- --stack "$STACK"']);
    for (const cmd of local) {
      const r = spawnSync('bash', ['-e', '-c', cmd], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, STACK: stack }, timeout: 120_000 });
      expect({ cmd, status: r.status, stderr: r.stderr.replace(/^npm warn.*\n/gm, '') }).toEqual({ cmd, status: 0, stderr: '' });
      if (cmd.startsWith('npm run plan')) expect(r.stdout).toMatch(/^== image \(where the server image comes from\)\nsluice:image: us-docker\.pkg\.dev\/[^@]+@sha256:[0-9a-f]{64}$/m);
    }
    expect(fs.existsSync(path.join(ROOT, 'dist/server.js'))).toBe(true);
  }, 240_000);
});
