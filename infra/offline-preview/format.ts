/**
 * The plan as text: a stable, reviewable rendering of a RenderedStack. Resources form a tree by
 * parent, siblings sorted by type then name; inputs are YAML-like with keys sorted, multi-line
 * strings (cloud-init, scripts) as blocks; every secret prints as [secret].
 */
import * as pulumi from '@pulumi/pulumi';
import type { RenderedResource, RenderedStack } from './render';

export const SECRET_MASK = '[secret]';

/** Provider inputs worth reviewing; the rest are environment-derived defaults (zone, version, ...). */
const PROVIDER_INPUTS = new Set(['project', 'region', 'defaultLabels', 'addPulumiAttributionLabel']);

export function isSecretValue(v: unknown): v is { value: unknown } {
  return (
    typeof v === 'object' && v !== null && (v as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig
  );
}

/** Lines for `value` at `indent`, as the continuation after "key:" (first element) plus nested lines. */
function valueLines(value: unknown, indent: number): { inline?: string; lines: string[] } {
  const pad = ' '.repeat(indent);
  if (isSecretValue(value)) return { inline: SECRET_MASK, lines: [] };
  if (value === null) return { inline: 'null', lines: [] };
  if (typeof value === 'string') {
    if (!value.includes('\n')) return { inline: JSON.stringify(value), lines: [] };
    const body = value.endsWith('\n') ? value.slice(0, -1) : value;
    return { inline: value.endsWith('\n') ? '|' : '|-', lines: body.split('\n').map((l) => (l === '' ? '' : pad + l)) };
  }
  if (typeof value !== 'object') return { inline: String(value), lines: [] };
  if (Array.isArray(value)) {
    if (value.length === 0) return { inline: '[]', lines: [] };
    const lines: string[] = [];
    for (const item of value) {
      const v = valueLines(item, indent + 2);
      if (v.inline !== undefined) {
        lines.push(`${pad}- ${v.inline}`, ...v.lines);
      } else {
        // An object item: its first key goes on the dash line.
        const [first, ...rest] = v.lines;
        lines.push(`${pad}- ${first.trimStart()}`, ...rest);
      }
    }
    return { lines };
  }
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return { inline: '{}', lines: [] };
  const lines: string[] = [];
  for (const [k, v] of entries) {
    const key = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(k) ? k : JSON.stringify(k);
    const r = valueLines(v, indent + 2);
    if (r.inline !== undefined) lines.push(`${pad}${key}: ${r.inline}`, ...r.lines);
    else lines.push(`${pad}${key}:`, ...r.lines);
  }
  return { lines };
}

export function formatValue(value: unknown, indent = 0): string[] {
  const r = valueLines(value, indent);
  return r.inline !== undefined ? [' '.repeat(indent) + r.inline, ...r.lines] : r.lines;
}

function shownInputs(r: RenderedResource): Record<string, unknown> {
  if (!r.type.startsWith('pulumi:providers:')) return r.inputs;
  // Providers receive structured values as JSON strings.
  return Object.fromEntries(
    Object.entries(r.inputs)
      .filter(([k]) => PROVIDER_INPUTS.has(k))
      .map(([k, v]) => [k, parseJsonObject(v)]),
  );
}

function parseJsonObject(v: unknown): unknown {
  if (typeof v !== 'string' || !/^[[{]/.test(v)) return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

export function formatResources(resources: RenderedResource[]): string[] {
  const byParent = new Map<string, RenderedResource[]>();
  const known = new Set(resources.map((r) => r.urn));
  for (const r of resources) {
    // Resources whose parent is the (unregistered) stack are roots.
    const key = r.parent && known.has(r.parent) ? r.parent : '';
    byParent.set(key, [...(byParent.get(key) ?? []), r]);
  }
  const order = (a: RenderedResource, b: RenderedResource) => {
    const ka = `${a.type}\u0000${a.name}`;
    const kb = `${b.type}\u0000${b.name}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };
  const nameOf = new Map(resources.map((r) => [r.urn, r.name]));
  const out: string[] = [];
  const walk = (parent: string, depth: number) => {
    for (const r of [...(byParent.get(parent) ?? [])].sort(order)) {
      const pad = '  '.repeat(depth);
      out.push(`${pad}+ ${r.type}  ${r.name}`);
      if (r.custom) out.push(...formatValue(shownInputs(r), depth * 2 + 4).filter((l) => l.trim() !== '{}'));
      // Resource options that decide deploy ordering and how long `pulumi up` waits.
      const deps = (r.dependsOn ?? []).map((u) => nameOf.get(u) ?? u);
      if (r.custom && deps.length > 0) out.push(`${pad}    (dependsOn): [${deps.join(', ')}]`);
      if (r.customTimeouts)
        out.push(`${pad}    (customTimeouts): create ${r.customTimeouts.create ?? '-'}, update ${r.customTimeouts.update ?? '-'}`);
      if (r.ignoreChanges) out.push(`${pad}    (ignoreChanges): [${r.ignoreChanges.join(', ')}]`);
      walk(r.urn, depth + 1);
    }
  };
  walk('', 0);
  return out;
}

export function formatOutputs(outputs: RenderedStack['outputs']): string[] {
  const shown = Object.fromEntries(
    Object.entries(outputs).map(([k, o]) => [
      k,
      o.secret ? { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: null } : o.value,
    ]),
  );
  return formatValue(shown, 0);
}
