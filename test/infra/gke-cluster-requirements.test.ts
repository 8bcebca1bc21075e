/**
 * Issue 22 point 8: what a cluster must provide before the GKE stack's objects mean anything, checked
 * from what the cluster reports (requirements.ts): NetworkPolicy enforcement (Dataplane V2, Autopilot
 * or networkPolicy enabled), the Gateway API and its CRDs Established and serving v1. The pure checks
 * for every case, then a whole program against an existing legacy cluster (mock fixture `legacy-*`),
 * refused with the reasons.
 */
import * as pulumi from '@pulumi/pulumi';
import { GkeCluster } from '../../infra/gke/cluster';
import { crdProblem } from '../../infra/gke/crd-wait';
import { clusterProblems, refusal, REQUIRED_CRDS } from '../../infra/gke/requirements';
import { PreviewMocks } from '../../infra/offline-preview/mocks';

describe('cluster requirements', () => {
  const fit = { name: 'c', gatewayApiConfig: { channel: 'CHANNEL_STANDARD' } };
  it.each([
    ['Dataplane V2', { ...fit, datapathProvider: 'ADVANCED_DATAPATH' }, 0],
    ['Autopilot', { ...fit, enableAutopilot: true }, 0],
    [
      'the legacy dataplane with network policy (Calico) on',
      { ...fit, datapathProvider: 'LEGACY_DATAPATH', networkPolicy: { enabled: true, provider: 'CALICO' } },
      0,
    ],
    ['the legacy dataplane without network policy', { ...fit, datapathProvider: 'LEGACY_DATAPATH', networkPolicy: { enabled: false } }, 1],
    ['nothing reported about the dataplane', { ...fit }, 1],
    [
      'Dataplane V2 with the Gateway API off',
      { name: 'c', datapathProvider: 'ADVANCED_DATAPATH', gatewayApiConfig: { channel: 'CHANNEL_DISABLED' } },
      1,
    ],
    [
      'Dataplane V2 without the HttpLoadBalancing add-on',
      { ...fit, datapathProvider: 'ADVANCED_DATAPATH', addonsConfig: { httpLoadBalancing: { disabled: true } } },
      1,
    ],
  ] as const)('%s', (_name, facts, problems) => {
    expect(clusterProblems(facts)).toHaveLength(problems);
  });

  it('the refusal passes a fit cluster', async () => {
    await expect((refusal('c', []) as unknown as { promise(): Promise<unknown> }).promise()).resolves.toBe(true);
  });

  it('a CRD must be installed, Established and serve the version the stack sends', () => {
    const crd = 'gateways.gateway.networking.k8s.io';
    const established = { conditions: [{ type: 'Established', status: 'True' }] };
    expect(crdProblem(crd, 'v1', undefined)).toBe(`CRD ${crd} is not installed`);
    expect(
      crdProblem(crd, 'v1', {
        spec: { versions: [{ name: 'v1', served: true }] },
        status: { conditions: [{ type: 'Established', status: 'False' }] },
      }),
    ).toMatch(/not Established/);
    expect(
      crdProblem(crd, 'v1', {
        spec: {
          versions: [
            { name: 'v1beta1', served: true },
            { name: 'v1', served: false },
          ],
        },
        status: established,
      }),
    ).toMatch(/does not serve v1/);
    expect(crdProblem(crd, 'v1', { spec: { versions: [{ name: 'v1', served: true }] }, status: established })).toBeUndefined();
    expect(
      Object.values(REQUIRED_CRDS)
        .map((c) => c.crd)
        .sort(),
    ).toEqual([
      'gateways.gateway.networking.k8s.io',
      'gcpbackendpolicies.networking.gke.io',
      'healthcheckpolicies.networking.gke.io',
      'httproutes.gateway.networking.k8s.io',
    ]);
  });
});

describe('an existing cluster, read under the plan mocks', () => {
  const existing = (name: string) =>
    new GkeCluster('sluice', {
      project: 'sluice-test-project',
      region: 'us-central1',
      zones: ['us-central1-a'],
      stackName: 'sluice-test',
      cluster: { existing: { name, location: 'us-central1' } },
    });
  /** The settled value of an output (Output.promise is the SDK's own accessor). */
  const settle = (o: pulumi.Output<unknown>) => (o as unknown as { promise(): Promise<unknown> }).promise();

  beforeAll(() => pulumi.runtime.setMocks(new PreviewMocks('sluice-test-project'), 'sluice', 'test', false));

  // gkeStack's refusal() throws these (failing the deployment before the namespace, which waits on it,
  // is sent); the problems are asserted here because a rejected apply ends the jest worker.
  it('without NetworkPolicy enforcement or the Gateway API: both reasons', async () => {
    const problems = (await settle(existing('legacy-shared').problems)) as string[];
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(
      /does not enforce NetworkPolicy \(datapathProvider LEGACY_DATAPATH, networkPolicy disabled\).*--enable-network-policy/,
    );
    expect(problems[1]).toMatch(/Gateway API off \(gatewayApiConfig CHANNEL_DISABLED\)/);
  });

  it('with Dataplane V2 and the Gateway API: accepted', async () => {
    const c = existing('shared');
    expect(await settle(c.problems)).toEqual([]);
  });
});
