/**
 * `npm run plan -- --stack <name>`: the deterministic offline plan of a stack (see render.ts and
 * format.ts). The text is what PR review reads until the real `pulumi preview` runs in CI.
 */
import path from 'node:path';
import {
  backendTimeoutSec,
  drainCompleteBoundMs,
  drainEndBoundMs,
  lbHealthyAfterSec,
  livenessSchedule,
  shortestLifetimeMs,
  shutdownBudgetSec,
  shutdownScriptWaitSec,
  Timeouts,
  watcherDetectionBoundMs,
} from '../../app/contract/timeouts';
import { parseStackConfig, regionReleases, StackConfig } from '../config';
import { artifactRegistryRepo } from '../components/vm-boot';
import { gkeContractSummary } from '../gke/summary';
import { formatOutputs, formatResources, formatValue, SECRET_MASK } from './format';
import { readStackFiles, renderProgram, StackFiles } from './render';

export interface PreviewResult {
  text: string;
  files: StackFiles;
}

/** Render the stack `stack` of the Pulumi project in `root` and format it. Throws what the program throws. */
export async function renderPreview(root: string, stack: string): Promise<PreviewResult> {
  return renderPreviewOf(root, stack, readStackFiles(root, stack));
}

/** The plan of already-read stack files (npm run rollout renders a stack file with a config change applied). */
export async function renderPreviewOf(root: string, stack: string, files: StackFiles): Promise<PreviewResult> {
  // Validate first: the same parse the program does, so a broken stack fails with the rule named
  // before anything is registered.
  const cfg = parseStackConfig(files.config, new Set(files.secretKeys));
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the program is loaded (and its resources registered) under the mocks, synchronously, as `pulumi preview` loads it
  const rendered = await renderProgram(() => require(files.main), {
    project: files.project,
    stack,
    config: files.config,
    secretKeys: files.secretKeys,
  });
  const lines: string[] = [
    `# sluice plan: stack "${stack}", rendered offline under pulumi.runtime.setMocks (npm run plan -- --stack ${stack})`,
    '# Ids, addresses and other computed values are placeholders; the cloud preview runs in CI (.github/workflows/preview.yml).',
    '',
    `== config (${path.relative(root, files.stackFile)})`,
    ...formatConfig(files),
    '',
    '== image (where the server image comes from)',
    ...formatImage(cfg),
    '',
    ...(cfg.platform === 'gce'
      ? ['== releases (per region: its image pin, else sluice:image; its canary)', ...formatReleases(cfg), '']
      : []),
    '== timeouts contract (app/contract/timeouts.ts, resolved for this stack; every rule holds)',
    ...contractSummary(cfg.timeouts),
    // GKE stacks: the pod and Gateway timers (the GCE lines above still hold, but no VM uses them).
    ...(cfg.gke ? gkeContractSummary(cfg.timeouts, cfg.gke.timeouts) : []),
    '',
    `== resources (${rendered.resources.length})`,
    ...formatResources(rendered.resources),
    '',
    '== outputs',
    ...formatOutputs(rendered.outputs),
    '',
  ];
  return { text: lines.join('\n'), files };
}

function formatConfig(files: StackFiles): string[] {
  const out: string[] = [];
  for (const key of Object.keys(files.config).sort()) {
    if (files.secretKeys.includes(key)) {
      const note = files.placeholders.includes(key) ? '  # secret: not readable offline, plan uses a placeholder' : '';
      out.push(`${key}: ${SECRET_MASK}${note}`);
      continue;
    }
    let value: unknown = files.config[key];
    try {
      value = JSON.parse(files.config[key]);
    } catch {
      // a plain string
    }
    const lines = formatValue(value, 2);
    if (lines.length === 1) out.push(`${key}: ${lines[0].trim()}`);
    else out.push(`${key}:`, ...lines);
  }
  return out;
}

/**
 * The image every VM/pod runs: its repository, its digest and who made it. The digest is the only
 * form config accepts (config.ts imageIssue); the deploy workflow's `image` job builds ./Dockerfile at
 * the commit being deployed and pushes it, and the rollout takes that digest (`--release`).
 */
export function formatImage(cfg: Pick<StackConfig, 'image' | 'platform'>): string[] {
  const at = cfg.image.lastIndexOf('@');
  const repository = cfg.image.slice(0, at);
  const ar = artifactRegistryRepo(cfg.image);
  return [
    `sluice:image: ${cfg.image}`,
    `repository: ${repository}${ar ? ` (Artifact Registry ${ar.project}/${ar.location}/${ar.repository}; the ${cfg.platform === 'gke' ? 'nodes pull' : "servers' account gets roles/artifactregistry.reader on it only"})` : ''}`,
    `digest: ${cfg.image.slice(at + 1)} (pinned: a tag is refused)`,
    'built from: ./Dockerfile (npm run build, non-root, no dev dependencies) by .github/workflows/deploy.yml job `image` at the deployed commit, pushed by digest',
  ];
}

/** Which region runs which release: one line per region. */
export function formatReleases(cfg: Pick<StackConfig, 'regions' | 'image' | 'canary'>): string[] {
  return regionReleases(cfg).map((r, i) => {
    const own = cfg.regions[i].image !== undefined ? 'pinned' : 'sluice:image';
    const canary = r.canary ? `; canary ${r.canary.image} on ${r.canary.targetSize} of ${cfg.regions[i].replicas} VMs` : '';
    return `${r.region}: ${r.image} (${own})${canary}`;
  });
}

function contractSummary(t: Timeouts): string[] {
  const s = (ms: number) => `${ms / 1000} s`;
  const alb = t.lb.kind === 'external-application';
  const live = livenessSchedule(t);
  return [
    `lb.kind: ${t.lb.kind}`,
    alb
      ? `backend timeoutSec: ${backendTimeoutSec(t)} s = lb.maxConnectionLifetimeSec (maximum WebSocket lifetime on the global ALB)`
      : `backend timeoutSec: ${backendTimeoutSec(t)} s = lb.idleTimeoutSec (idle timeout on the proxy Network LB)`,
    `connection rotation: 1012 after ${s(shortestLifetimeMs(t))} to ${s(t.server.maxConnectionLifetimeMs)}${alb ? `, + margin ${s(t.drain.marginMs)} <= ${t.lb.maxConnectionLifetimeSec} s` : ''}`,
    `heartbeats: client every ${s(live.heartbeatIntervalMs)}, reply timeout ${s(live.heartbeatTimeoutMs)} (dead after ${s(live.clientDetectionMs)} <= ${s(t.client.deadPeerDetectionMs)}); server pings a silent peer at ${s(live.firstPingMs)} and ${s(live.secondPingMs)}, idle limit ${s(live.idleLimitMs)} < LB idle ${t.lb.idleTimeoutSec} s`,
    `watcher detection: <= ${s(watcherDetectionBoundMs(t))} = poll every ${s(t.gce.watcherPollIntervalMs)} (fixed rate) + request timeout ${s(t.gce.watcherRequestTimeoutMs)}`,
    `connection draining: ${t.lb.connectionDrainingSec} s >= detection ${s(watcherDetectionBoundMs(t))} + drain deadline ${s(t.drain.deadlineMs)} + margin ${s(t.drain.marginMs)} = ${s(drainCompleteBoundMs(t))}`,
    `rollout: minReadySec ${t.gce.minReadySec} s >= LB readiness detection ${lbHealthyAfterSec()} s`,
    `drain: 1012 spread over ${s(t.drain.windowMs)}, RST at ${s(t.drain.deadlineMs)}`,
    `shutdown script wait: ${shutdownScriptWaitSec(t)} s <= ${t.gce.preemptible ? 'preemptible' : 'on-demand'} budget ${shutdownBudgetSec(t)} s`,
    `docker stop -t: ${t.gce.dockerStopTimeoutSec} s >= drain deadline + margin = ${s(drainEndBoundMs(t))}`,
  ];
}
