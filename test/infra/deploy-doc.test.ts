/**
 * docs/deploy-gce.md walks a platform team from an empty project to a serving stack, one command per
 * step: every step is there, in order, and no secret is typed. test/docs/commands.test.ts runs its
 * offline commands as written (npm run build, npm run plan -- --stack dev).
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const DOC = fs.readFileSync(path.join(ROOT, 'docs/deploy-gce.md'), 'utf8');
const walkthrough = DOC.slice(DOC.indexOf('### From an empty project to a serving stack'), DOC.indexOf('### Config keys'));
/** Command lines of the walkthrough's sh blocks, continuation lines joined, trailing comments dropped. */
const commands = [...walkthrough.matchAll(/```sh[^\n]*\n([\s\S]*?)```/g)]
  .flatMap((m) => m[1].replace(/\\\n\s*/g, '').split('\n'))
  .map((l) => l.replace(/\s+#\s.*$/, '').trim())
  .filter(Boolean);

describe('docs/deploy-gce.md: from an empty project to a serving stack', () => {
  it('has every step, in order: APIs, repository, build + push by digest, stack, plan, preview, up, serving check, CI', () => {
    const order = [
      'gcloud services enable',
      'gcloud artifacts repositories create',
      'npm run build',
      'docker build',
      'docker push',
      'export IMAGE=',
      'pulumi stack init dev',
      'pulumi config set sluice:image "$IMAGE"',
      'npm run plan -- --stack dev',
      'pulumi preview',
      'pulumi up',
      'curl -fsS',
      'npm run token',
      'gcloud iam workload-identity-pools create',
      'gh variable set IMAGE_REPOSITORY',
    ];
    const at = order.map((c) => commands.findIndex((l) => l.startsWith(c)));
    expect(order.filter((_, i) => at[i] < 0)).toEqual([]);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // No secret is typed by hand anywhere in it.
    expect(commands.filter((l) => /config set --secret|openssl rand/.test(l))).toEqual([]);
  });
});
