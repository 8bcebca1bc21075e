/**
 * podman for the container test: the runtime settings of these machines (.ci/containers.conf: runc,
 * cgroupfs, ulimits the VM allows) and the build of the repository's Dockerfile on the local Node base
 * (.ci/node-base.sh). The CA bundle and an npmrc naming it are mounted for the build only: TLS here goes
 * through a CA of the machine's own, and nothing of it may end up in a layer.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const BASE_IMAGE = 'localhost/node-base:20';
export const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
export const PODMAN_ENV = { ...process.env, CONTAINERS_CONF: path.join(ROOT, '.ci/containers.conf') };

/** Why the container test cannot run here, or undefined when it can. */
export function unavailable(): string | undefined {
  try {
    execFileSync('podman', ['--version'], { env: PODMAN_ENV, stdio: 'ignore' });
  } catch {
    return 'podman is not installed (bash .ci/run installs it: apt-get install podman runc mmdebstrap zstd)';
  }
  try {
    execFileSync('podman', ['image', 'exists', BASE_IMAGE], { env: PODMAN_ENV, stdio: 'ignore' });
  } catch {
    return `the base image ${BASE_IMAGE} is missing: run bash .ci/node-base.sh (bash .ci/run does)`;
  }
  return undefined;
}

export function podman(args: string[], timeoutMs = 60_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('podman', args, { env: PODMAN_ENV, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { message: `podman ${args.join(' ')}: ${err.message}\n${stderr}` }));
      else resolve({ stdout, stderr });
    });
  });
}

/**
 * `podman build` of the Dockerfile on the local base, as the deploy workflow builds it on the official
 * one. The host's npm cache is mounted too (prefer-offline), so a rebuild does not download 500 packages.
 */
export async function buildImage(tag: string): Promise<void> {
  const npmrc = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-npmrc-')), 'npmrc');
  fs.writeFileSync(npmrc, `cafile=${HOST_CA_BUNDLE}\nprefer-offline=true\n`);
  const cache = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim();
  try {
    await podman(
      [
        'build',
        '--pull=never',
        '--network',
        'host',
        '--build-arg',
        `BASE=${BASE_IMAGE}`,
        '-v',
        `${HOST_CA_BUNDLE}:${HOST_CA_BUNDLE}:ro`,
        '-v',
        `${npmrc}:/usr/local/etc/npmrc:ro`,
        '-v',
        `${cache}:/root/.npm:rw`,
        '--label',
        'org.opencontainers.image.source=sluice container test',
        '-t',
        tag,
        ROOT,
      ],
      9 * 60_000,
    );
  } finally {
    fs.rmSync(path.dirname(npmrc), { recursive: true, force: true });
  }
}
