/**
 * The printed rollout plan: per step the exact config commands, the offline plan diff they cause
 * (infra/offline-preview rendering + unified diff: the same text `npm run plan:diff` shows) and the gate to pass.
 */
import { parseStackConfig, ParsedStackConfig } from '../config';
import { renderPreviewOf } from '../offline-preview/preview';
import { readStackFiles, StackFiles } from '../offline-preview/render';
import { unifiedDiff } from '../offline-preview/unified-diff';
import { gateLines, GateThresholds } from '../../app/gated-steps/gates';
import type { ResolvedThresholds } from './thresholds';
import { applyChanges, commandOf, releaseSteps, ReleaseSteps } from './steps';

export interface PrintedRollout {
  plan: ReleaseSteps;
  thresholds: GateThresholds;
  cfg: ParsedStackConfig;
  files: StackFiles;
  text: string;
  /** Per step: the plan diff's +/- line counts. */
  diffs: Array<{ index: number; added: number; removed: number; text: string }>;
}

/** Each threshold with where it came from (defaults: the timeouts contract). */
export function thresholdLines(r: ResolvedThresholds): string[] {
  const from = { default: 'default', stack: 'sluice:rollout.gates', flag: '--gate' } as const;
  return (Object.keys(r.thresholds) as Array<keyof GateThresholds>).map(
    (k) => `${k} = ${r.thresholds[k]} (${from[r.origin[k]]}${k === 'maxDrainMs' && r.origin[k] === 'default' ? ': drain.deadlineMs' : ''})`,
  );
}

export async function printRollout(
  root: string,
  stack: string,
  release: string,
  thresholds: (cfg: ParsedStackConfig) => ResolvedThresholds,
): Promise<PrintedRollout> {
  const files = readStackFiles(root, stack);
  const cfg = parseStackConfig(files.config, new Set(files.secretKeys));
  // The release must pass the same image rule as any pin: validate it as sluice:image would be.
  parseStackConfig({ ...files.config, 'sluice:image': release }, new Set(files.secretKeys));
  const plan = releaseSteps(stack, cfg, release);
  const resolved = thresholds(cfg);
  const th = resolved.thresholds;
  const lines = [
    `# rollout of ${release} on stack "${stack}": ${plan.steps.length} step(s), waves ${plan.waves.join(' -> ') || '(none)'}`,
    '# gate thresholds:',
    ...thresholdLines(resolved).map((l) => `#   ${l}`),
    '',
  ];
  const diffs: PrintedRollout['diffs'] = [];
  let config = files.config;
  let before = (await renderPreviewOf(root, stack, files)).text;
  for (const step of plan.steps) {
    config = applyChanges(config, step.changes);
    const after = (await renderPreviewOf(root, stack, { ...files, config })).text;
    const diff = unifiedDiff(before, after, `plan ${stack} before step ${step.index}`, `plan ${stack} after step ${step.index}`);
    diffs.push({ index: step.index, added: diff.added, removed: diff.removed, text: diff.text });
    lines.push(`== step ${step.index} (${step.wave}): ${step.title}`, 'config:');
    for (const c of step.changes) lines.push(`  ${commandOf(stack, c)}`);
    lines.push(`plan diff: ${diff.changed ? `+${diff.added} -${diff.removed} lines` : 'no changes'}`);
    if (diff.changed) lines.push(...diff.text.split('\n').map((l) => `  ${l}`));
    if (step.kind === 'finalize') {
      lines.push('gate: none (no resource changes; commit the stack file)');
    } else {
      lines.push(`gate before the next step (${step.regions.join(', ')}):`, ...gateLines(th).map((g) => `  ${g}`));
      lines.push(
        `rollback: the previous pin ${step.previous.map((p) => `${p.region}=${p.image}${p.canary ? `+canary ${p.canary.image}x${p.canary.targetSize}` : ''}`).join(', ')}`,
      );
    }
    lines.push('');
    before = after;
  }
  return { plan, cfg, files, thresholds: th, text: lines.join('\n'), diffs };
}
