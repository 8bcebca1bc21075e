/**
 * Issue 22 point 8: every Kubernetes object the GKE stack renders, validated against the published
 * schemas (test/infra/k8s/validate.mjs: kubernetes-models for Kubernetes 1.34, Gateway API v1.4,
 * GKE networking.gke.io/v1). The custom resources are also typed with the same packages' interfaces
 * (`satisfies` in infra/gke/gateway.ts), so an unknown field fails `npm run typecheck`.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { render, Rendered } from './harness';

const VALIDATOR = path.resolve(__dirname, 'k8s/validate.mjs');

interface Verdict {
  kind: string;
  name?: string;
  errors: string[];
}

function validate(objects: object[]): Verdict[] {
  const r = spawnSync(process.execPath, [VALIDATOR], { input: JSON.stringify(objects), encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`validator failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Verdict[];
}

/** The objects as the provider would send them: apiVersion and kind from the Pulumi type, the inputs as the body. */
function objects(r: Rendered): Array<Record<string, any>> {
  return r.resources
    .filter((x) => x.custom && x.type.startsWith('kubernetes:') && !x.type.startsWith('pulumi:'))
    .map((x) => {
      const [, group, kind] = /^kubernetes:([^:]+):(.+)$/.exec(x.type)!;
      const [g, v] = group.split('/');
      const apiVersion = g === 'core' ? v : `${g}/${v}`;
      const body = r.plain(x);
      return { ...body, apiVersion: body.apiVersion ?? apiVersion, kind: body.kind ?? kind };
    });
}

describe('rendered Kubernetes objects against the real schemas', () => {
  let rendered: Array<Record<string, any>>;
  beforeAll(async () => {
    rendered = objects(
      await render({
        'sluice:platform': 'gke',
        'sluice:bootImage': undefined,
        'sluice:domain': 'signal.example.com',
        'sluice:regions': [
          { region: 'us-central1', zones: ['us-central1-a', 'us-central1-b', 'us-central1-c'], replicas: 3, subnetCidr: '10.30.0.0/20' },
        ],
      }),
    );
  }, 60_000);

  it('renders every kind the stack needs, and each one validates', () => {
    expect(rendered.map((o) => o.kind).sort()).toEqual([
      'Deployment',
      'GCPBackendPolicy',
      'Gateway',
      'HTTPRoute',
      'HTTPRoute',
      'HealthCheckPolicy',
      'HorizontalPodAutoscaler',
      'Namespace',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Secret',
      'Service',
      'ServiceAccount',
    ]);
    const verdicts = validate(rendered);
    expect(verdicts.filter((v) => v.errors.length > 0)).toEqual([]);
    expect(verdicts).toHaveLength(rendered.length);
  });

  it('the validator is real: a broken copy of each custom resource and of the Deployment is refused', () => {
    const pick = (kind: string) => structuredClone(rendered.find((o) => o.kind === kind)!);
    const gateway = pick('Gateway');
    gateway.spec.listeners[0].port = 'eighty';
    const backend = pick('GCPBackendPolicy');
    backend.spec.default.timeoutSec = 'long';
    const health = pick('HealthCheckPolicy');
    health.spec.default.config.type = 'SMTP';
    const route = pick('HTTPRoute');
    delete route.spec.parentRefs[0].name;
    const deployment = pick('Deployment');
    deployment.spec.template.spec.containers[0].ports[0].containerPort = 'ws';
    const verdicts = validate([gateway, backend, health, route, deployment]);
    expect(verdicts.map((v) => [v.kind, v.errors.length > 0])).toEqual([
      ['Gateway', true],
      ['GCPBackendPolicy', true],
      ['HealthCheckPolicy', true],
      ['HTTPRoute', true],
      ['Deployment', true],
    ]);
  });
});
