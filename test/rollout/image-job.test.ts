/**
 * Issue 22: deploy.yml's `image` job script, run as written with `docker` and `gcloud` stand-ins on
 * PATH (they log their arguments and answer like the real ones): it builds ./Dockerfile at the commit,
 * pushes it and outputs REPO@sha256:<digest> for the rollout, and fails when the push yields no digest
 * of that repository. And the gates' token never reaches Pulumi as GOOGLE_OAUTH_ACCESS_TOKEN.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseYaml } from '../../infra/offline-preview/yaml';
import { defaultTokenProvider, MONITORING_TOKEN_ENV, providerCredentialClash } from '../../infra/release/sources';

const ROOT = path.resolve(__dirname, '../..');
type Step = { id?: string; run?: string };
const wf = parseYaml(fs.readFileSync(path.join(ROOT, '.github/workflows/deploy.yml'), 'utf8')) as { jobs: { image: { steps: Step[] } } };
const script = wf.jobs.image.steps.find((s) => s.id === 'push')!.run!;
const REPO = 'us-docker.pkg.dev/sluice-prod-project/sluice/server';
const SHA = 'a'.repeat(40);
const DIGEST = `sha256:${'b'.repeat(64)}`;

function runJob(repoDigest: string): { status: number | null; output: string; calls: string[]; stderr: string; stdout: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-image-job-'));
  try {
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    const log = path.join(dir, 'calls.log');
    fs.writeFileSync(path.join(bin, 'gcloud'), `#!/bin/bash\necho "gcloud $*" >> ${log}\n`, { mode: 0o755 });
    fs.writeFileSync(
      path.join(bin, 'docker'),
      `#!/bin/bash\necho "docker $*" >> ${log}\nif [ "$1" = inspect ]; then echo '${repoDigest}'; fi\n`,
      { mode: 0o755 },
    );
    const output = path.join(dir, 'output');
    fs.writeFileSync(output, '');
    const r = spawnSync('bash', ['-c', script], {
      cwd: ROOT,
      encoding: 'utf8',
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        IMAGE_REPOSITORY: REPO,
        GITHUB_SHA: SHA,
        GITHUB_OUTPUT: output,
        GITHUB_SERVER_URL: 'https://github.com',
        GITHUB_REPOSITORY: 'o/sluice',
      },
    });
    return {
      status: r.status,
      output: fs.readFileSync(output, 'utf8'),
      calls: fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [],
      stderr: r.stderr,
      stdout: r.stdout,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('deploy.yml job image', () => {
  it('builds ./Dockerfile at the commit, pushes it and outputs the pushed digest', () => {
    const r = runJob(`${REPO}@${DIGEST}`);
    expect(r.status).toBe(0);
    expect(r.calls).toEqual([
      'gcloud auth configure-docker us-docker.pkg.dev --quiet',
      `docker build --pull --label org.opencontainers.image.revision=${SHA} --label org.opencontainers.image.source=https://github.com/o/sluice -t ${REPO}:${SHA} .`,
      `docker push ${REPO}:${SHA}`,
      `docker inspect --format {{index .RepoDigests 0}} ${REPO}:${SHA}`,
    ]);
    expect(r.output).toBe(`image=${REPO}@${DIGEST}\n`);
  });

  it.each([
    ['no digest', ''],
    ['a digest of another repository', `us-docker.pkg.dev/other/repo/server@${DIGEST}`],
    ['a short digest', `${REPO}@sha256:abc`],
  ])('fails, with no output, when the push yields %s', (_what, repoDigest) => {
    const r = runJob(repoDigest);
    expect(r.status).toBe(1);
    expect(r.output).toBe('');
    expect(r.stdout).toContain(`::error::pushed ${REPO}:${SHA} but got no digest of that repository`);
  });
});

describe("the gates' token is not a provider credential", () => {
  it('npm run rollout --apply refuses to start with GOOGLE_OAUTH_ACCESS_TOKEN in its environment', () => {
    expect(providerCredentialClash({ GOOGLE_OAUTH_ACCESS_TOKEN: 'ya29.x' })).toMatch(
      /^GOOGLE_OAUTH_ACCESS_TOKEN is set: the Google provider would use it .* as SLUICE_MONITORING_TOKEN$/,
    );
    expect(providerCredentialClash({ [MONITORING_TOKEN_ENV]: 'ya29.x' })).toBeUndefined();
  });

  it('the gates read SLUICE_MONITORING_TOKEN', async () => {
    await expect(defaultTokenProvider({ [MONITORING_TOKEN_ENV]: ' ya29.gates \n' })()).resolves.toBe('ya29.gates');
  });
});
