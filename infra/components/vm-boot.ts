/**
 * What a server VM runs, as text: the cloud-init user-data that installs a systemd unit running the
 * server container with `docker run` on Container-Optimized OS, and the shutdown script. Plain
 * functions of plain values (no Pulumi), so tests can read, parse and execute them.
 *
 * Not the `gce-container-declaration` metadata: the container startup agent is deprecated (no new
 * VMs with it from 31 Jul 2026, https://cloud.google.com/compute/docs/containers/prepare-for-container-agent-shutdown);
 * COS runs cloud-init `#cloud-config` from the `user-data` key on every boot
 * (https://cloud.google.com/container-optimized-os/docs/how-to/create-configure-instance#using_cloud-init).
 *
 * The three drain layers on the VM:
 *   1. the server's own lifecycle watcher (SLUICE_GCE_WATCHER=on) drains when the MIG schedules the VM's removal;
 *   2. the shutdown script POSTs /drain?wait=1 on the admin port and waits for the drain (paths layer 1 cannot see);
 *   3. `systemctl stop` runs `docker stop -t <gce.dockerStopTimeoutSec>`: SIGTERM drains, SIGKILL only after the deadline.
 */
import { shutdownScriptWaitSec, Timeouts } from '../../app/contract/timeouts';
import { ADMIN_PORT, SERVER_PORT } from '../../app/protocol/endpoints';
import { serverEnv } from './server-env';

export const CONTAINER_NAME = 'sluice';
/**
 * How the unit runs the image (besides --rm, --name and the env files): a tiny init as PID 1 that
 * forwards `docker stop`'s SIGTERM to node, and the host's network (no NAT, the serving port is the
 * VM's). test/container/image.test.ts runs the built image with exactly these flags.
 */
export const DOCKER_RUN_FLAGS = ['--init', '--network', 'host'] as const;
/**
 * Where the VM's container lines go: Docker's gcplogs driver, "docker run --log-driver=gcplogs ...",
 * which on GCE "discovers configuration from the instance metadata service"
 * (https://docs.docker.com/engine/logging/drivers/gcplogs/) and writes each stdout line as
 * `jsonPayload.message` of the log `gcplogs-docker-driver` (log-metrics.ts has the layout, from the
 * driver's source, and the filters that rely on it). It authenticates as the VM's service account
 * (Application Default Credentials), which holds roles/logging.logWriter (AGENT_ROLES in identity.ts).
 * Only the GCE unit adds it: podman (the container test) has no gcplogs driver.
 */
export const GCE_LOG_FLAGS = ['--log-driver', 'gcplogs'] as const;
/** tmpfs file with SLUICE_ADMIN_TOKEN=..., written by prestart, read by docker run and the shutdown script. */
export const ADMIN_ENV_FILE = '/run/sluice/admin.env';

/**
 * The host firewall (drain layer 0: the VM must be reachable at all). "By default, the
 * Container-Optimized OS host firewall allows outgoing connections and accepts incoming connections
 * only through the SSH service", and with --net=host "you must explicitly configure the host firewall
 * yourself"; rules "will not persist across reboots", so COS's own example configures them from
 * cloud-init on every boot (https://cloud.google.com/container-optimized-os/docs/how-to/firewall).
 * Exactly the serving port, idempotent (-C before -A), never the admin port.
 */
export function hostFirewallCommand(port: number = SERVER_PORT): string {
  const rule = `INPUT -p tcp --dport ${port} -j ACCEPT`;
  return `/sbin/iptables -w -C ${rule} || /sbin/iptables -w -A ${rule}`;
}

/** The oneshot unit that opens the serving port; sluice.service requires it and starts after it. */
export function firewallUnit(port: number = SERVER_PORT): string {
  return `[Unit]
Description=sluice: open TCP ${port} (the serving port only) in the COS host firewall
Before=sluice.service

[Service]
Type=oneshot
RemainAfterExit=true
ExecStart=/bin/sh -c '${hostFirewallCommand(port)}'
`;
}

export interface ServerBootSpec {
  /** Container image, pinned by tag or digest. */
  image: string;
  timeouts: Timeouts;
  /** Secret Manager secret version (projects/p/secrets/s/versions/n) holding the secret env file. */
  secretVersion: string;
  /** Secret Manager secret version holding SLUICE_ADMIN_TOKEN (bearer token of the admin port). */
  adminTokenVersion: string;
  /** Artifact Registry host to configure docker-credential-gcr for (e.g. us-docker.pkg.dev), if the image lives there. */
  registryHost?: string;
  logLevel?: string;
}

/** The shutdown script (drain layer 2). `SLUICE_ADMIN_URL` overrides the admin address (tests). */
export function shutdownScript(t: Timeouts): string {
  const wait = shutdownScriptWaitSec(t);
  return `#!/bin/bash
# sluice shutdown script: drain layer 2 (rendered by infra/components/vm-boot.ts).
# GCE runs it, best effort, when the VM stops or is deleted: about 90 s on on-demand VMs, 30 s on
# preemptible/Spot ones (https://cloud.google.com/compute/docs/shutdownscript). The lifecycle watcher
# has normally drained the server already; this covers what it cannot see (an operator's stop, host
# maintenance, a missed poll). POST /drain?wait=1 answers once the drain has finished; curl gives up
# after the drain deadline + margin (${wait} s, the contract's rule drain-fits-shutdown-budget).
# The admin port wants SLUICE_ADMIN_TOKEN as a bearer token (prestart wrote it to tmpfs, root only);
# the header goes to curl through a file descriptor, never on its command line.
ADMIN_URL="\${SLUICE_ADMIN_URL:-http://127.0.0.1:${ADMIN_PORT}}"
ADMIN_ENV="\${SLUICE_ADMIN_ENV:-${ADMIN_ENV_FILE}}"
token=""
if [ -r "\${ADMIN_ENV}" ]; then token="$(sed -n 's/^SLUICE_ADMIN_TOKEN=//p' "\${ADMIN_ENV}")"; fi
echo "sluice shutdown: POST \${ADMIN_URL}/drain?wait=1 (waiting up to ${wait} s)"
if curl -fsS -X POST --max-time ${wait} -H @<(printf 'Authorization: Bearer %s\\n' "\${token}") "\${ADMIN_URL}/drain?wait=1"; then
  echo
  echo "sluice shutdown: drain finished"
else
  echo "sluice shutdown: no drain answer (already drained, or not running); continuing"
fi
exit 0
`;
}

/** Runs before every container start: instance identity, registry credentials, the secret env file in tmpfs. */
export function prestartScript(spec: ServerBootSpec): string {
  const registry = spec.registryHost ? `docker-credential-gcr configure-docker --registries=${spec.registryHost}\n` : '';
  return `#!/bin/bash
# sluice prestart (ExecStartPre): writes /run/sluice/*.env (tmpfs, root only) and pulls the image.
set -euo pipefail
MD=http://metadata.google.internal/computeMetadata/v1
md() { curl -fsS --retry 10 --retry-connrefused --retry-delay 1 -H 'Metadata-Flavor: Google' "\${MD}/$1"; }
install -d -m 0700 /run/sluice "\${HOME:-/var/lib/sluice}"
printf 'SLUICE_SERVER_ID=%s\\n' "$(md instance/name)" > /run/sluice/instance.env
${registry}# The token secret and the Redis URL: read with the VM's own service account, never put in metadata.
token="$(md instance/service-accounts/default/token | tr -d '\\n' | sed -n 's/.*"access_token" *: *"\\([^"]*\\)".*/\\1/p')"
curl -fsS --retry 10 --retry-connrefused --retry-delay 2 -H "Authorization: Bearer \${token}" \\
  "https://secretmanager.googleapis.com/v1/${spec.secretVersion}:access" \\
  | tr -d '\\n' | sed -n 's/.*"data" *: *"\\([^"]*\\)".*/\\1/p' | base64 -d > /run/sluice/secret.env.tmp
chmod 0600 /run/sluice/secret.env.tmp
mv /run/sluice/secret.env.tmp /run/sluice/secret.env
# The admin bearer token (its own secret, same accessor-only grant): for the server and the shutdown script.
curl -fsS --retry 10 --retry-connrefused --retry-delay 2 -H "Authorization: Bearer \${token}" \\
  "https://secretmanager.googleapis.com/v1/${spec.adminTokenVersion}:access" \\
  | tr -d '\\n' | sed -n 's/.*"data" *: *"\\([^"]*\\)".*/\\1/p' | base64 -d > ${ADMIN_ENV_FILE}.tmp
chmod 0600 ${ADMIN_ENV_FILE}.tmp
mv ${ADMIN_ENV_FILE}.tmp ${ADMIN_ENV_FILE}
for attempt in 1 2 3 4 5; do docker pull ${spec.image} && exit 0; sleep $((attempt * 2)); done
echo "sluice prestart: could not pull ${spec.image}" >&2
exit 1
`;
}

/** The systemd unit (drain layer 3: systemctl stop -> docker stop -t). */
export function systemdUnit(spec: ServerBootSpec): string {
  const stopSec = spec.timeouts.gce.dockerStopTimeoutSec;
  return `[Unit]
Description=sluice WebSocket control-plane server
Requires=docker.service sluice-firewall.service
After=docker.service network-online.target sluice-firewall.service
Wants=network-online.target
# Units stop in the reverse order of Before/After: this one stops after google-shutdown-scripts.service
# has run the shutdown script, so layer 2 (POST /drain) drains before layer 3 (docker stop) is needed.
Before=google-shutdown-scripts.service
StartLimitIntervalSec=0

[Service]
Environment=HOME=/var/lib/sluice
ExecStartPre=/bin/bash /etc/sluice/prestart.sh
ExecStartPre=-/usr/bin/docker rm -f ${CONTAINER_NAME}
ExecStart=/usr/bin/docker run --rm --name ${CONTAINER_NAME} ${DOCKER_RUN_FLAGS.join(' ')} ${GCE_LOG_FLAGS.join(' ')} \\
  --env-file /etc/sluice/server.env --env-file /run/sluice/instance.env --env-file /run/sluice/secret.env --env-file ${ADMIN_ENV_FILE} \\
  ${spec.image}
# SIGTERM starts the drain; SIGKILL only after gce.dockerStopTimeoutSec (rule docker-stop-covers-drain).
ExecStop=/usr/bin/docker stop --time ${stopSec} ${CONTAINER_NAME}
TimeoutStopSec=${stopSec + 10}
# After an admin drain the server exits 0 and comes back fresh. After a watcher or preemption drain
# it stays up drained (app/server/shutdown.ts): no exit, so no restart loop while the VM is removed.
Restart=always
RestartSec=5
`;
}

/** The cloud-init user-data (`#cloud-config`) for the instance template. */
export function cloudInit(spec: ServerBootSpec): string {
  const env =
    Object.entries(serverEnv(spec))
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n';
  const files: Array<{ path: string; permissions: string; content: string }> = [
    { path: '/etc/sluice/server.env', permissions: '0644', content: env },
    { path: '/etc/sluice/prestart.sh', permissions: '0644', content: prestartScript(spec) },
    { path: '/etc/systemd/system/sluice-firewall.service', permissions: '0644', content: firewallUnit() },
    { path: '/etc/systemd/system/sluice.service', permissions: '0644', content: systemdUnit(spec) },
  ];
  const body = files
    .map((f) => `  - path: ${f.path}\n    permissions: "${f.permissions}"\n    owner: root\n    content: |\n${indent(f.content, 6)}`)
    .join('');
  return `#cloud-config
# sluice server on Container-Optimized OS (rendered by infra/components/vm-boot.ts; do not edit on the VM).
write_files:
${body}runcmd:
  - systemctl daemon-reload
  - systemctl start sluice.service
`;
}

function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((l) => (l === '' ? '' : pad + l))
    .join('\n')
    .replace(/\n*$/, '\n');
}

/** `REGION-docker.pkg.dev/PROJECT/REPO/...`: the Artifact Registry repository an image lives in, if any. */
export function artifactRegistryRepo(image: string): { host: string; location: string; project: string; repository: string } | undefined {
  const m = /^(([a-z0-9-]+)-docker\.pkg\.dev)\/([^/]+)\/([^/]+)\//.exec(image);
  return m ? { host: m[1], location: m[2], project: m[3], repository: m[4] } : undefined;
}
