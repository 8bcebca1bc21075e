/**
 * Issue 15, part 1: per-region release pins under pulumi.runtime.setMocks. A region's `image` pins its
 * instance template, its `canary` becomes the MIG's second version; the offline plan lists which
 * region runs which release; bad pins fail with the key named.
 */
import { parseStackConfig, regionReleases } from '../../infra/config';
import { formatReleases } from '../../infra/offline-preview/preview';
import { BASE_CONFIG, imageAt, render, T, toRaw } from '../infra/harness';

const IMG = (version: string) => imageAt(version);
const TWO_REGIONS = [
  { region: 'us-central1', zones: ['us-central1-a', 'us-central1-b'], replicas: 4, subnetCidr: '10.10.0.0/20' },
  { region: 'europe-west1', zones: ['europe-west1-b', 'europe-west1-c'], replicas: 4, subnetCidr: '10.10.16.0/20' },
];
const SECRETS = new Set(['sluice:tokenSecret', 'sluice:adminToken']);
const issues = (overrides: Record<string, unknown>): string[] => {
  try {
    parseStackConfig(toRaw({ ...BASE_CONFIG, ...overrides }), SECRETS);
    return [];
  } catch (err) {
    return (err as { issues?: Array<{ key: string; message: string }> }).issues?.map((i) => `${i.key}: ${i.message}`) ?? [String(err)];
  }
};

describe('per-region release pins', () => {
  it('a region runs its own image; the others run sluice:image', async () => {
    const r = await render({ 'sluice:regions': [{ ...TWO_REGIONS[0], image: IMG('2.0.0') }, TWO_REGIONS[1]] });
    expect(String(r.one(T.instanceTemplate, 'sluice-us-central1-template').inputs.description)).toBe(`sluice server ${IMG('2.0.0')}`);
    expect(String(r.one(T.instanceTemplate, 'sluice-europe-west1-template').inputs.description)).toBe(`sluice server ${IMG('1.2.3')}`);
    expect(String(r.plain(r.one(T.instanceTemplate, 'sluice-us-central1-template')).metadata['user-data'])).toContain(IMG('2.0.0'));
    expect(r.outputs.releases.value).toEqual({ 'us-central1': { image: IMG('2.0.0') }, 'europe-west1': { image: IMG('1.2.3') } });
  });

  it("a region's canary is a second MIG version of targetSize VMs, in that region only", async () => {
    const r = await render({
      'sluice:regions': [TWO_REGIONS[0], { ...TWO_REGIONS[1], canary: { image: IMG('2.0.0-rc1'), targetSize: '1' } }],
    });
    const eu = r.one(T.mig, 'sluice-europe-west1').inputs.versions as Array<Record<string, unknown>>;
    expect(eu).toEqual([
      { name: 'primary', instanceTemplate: expect.stringContaining('/instanceTemplates/sluice-europe-west1-template?') },
      {
        name: 'canary',
        instanceTemplate: expect.stringContaining('/instanceTemplates/sluice-europe-west1-canary?'),
        targetSize: { fixed: 1 },
      },
    ]);
    expect(r.one(T.mig, 'sluice-us-central1').inputs.versions).toHaveLength(1);
    expect(
      r
        .all(T.instanceTemplate)
        .map((t) => t.name)
        .sort(),
    ).toEqual(['sluice-europe-west1-canary', 'sluice-europe-west1-template', 'sluice-us-central1-template']);
    expect(String(r.one(T.instanceTemplate, 'sluice-europe-west1-canary').inputs.description)).toContain(IMG('2.0.0-rc1'));
  });

  it('the plan lists which region runs which release', () => {
    const cfg = parseStackConfig(
      toRaw({
        ...BASE_CONFIG,
        'sluice:regions': [
          { ...TWO_REGIONS[0], image: IMG('2.0.0') },
          { ...TWO_REGIONS[1], canary: { image: IMG('2.0.0'), targetSize: 1 } },
        ],
      }),
      SECRETS,
    );
    expect(formatReleases(cfg)).toEqual([
      `us-central1: ${IMG('2.0.0')} (pinned)`,
      `europe-west1: ${IMG('1.2.3')} (sluice:image); canary ${IMG('2.0.0')} on 1 of 4 VMs`,
    ]);
    expect(
      regionReleases({ ...cfg, canary: { image: IMG('9'), targetSize: 1 }, regions: cfg.regions.map(({ canary, ...r }) => r) })[0].canary,
    ).toEqual({ image: IMG('9'), targetSize: 1 });
  });

  it('refuses bad pins with the key named', () => {
    expect(
      issues({ 'sluice:regions': [{ ...TWO_REGIONS[0], image: 'us-docker.pkg.dev/sluice-test-project/sluice/server:latest' }] }),
    ).toEqual([expect.stringMatching(/^sluice:regions\[0\]\.image: .*server:latest is not pinned by digest/)]);
    expect(issues({ 'sluice:regions': [{ ...TWO_REGIONS[0], canary: { image: IMG('2'), targetSize: 4 } }] })).toEqual([
      expect.stringMatching(/^sluice:regions\[0\]\.canary\.targetSize: 4 must be below the region's replicas \(4\)/),
    ]);
    expect(
      issues({
        'sluice:canary': { image: IMG('2'), targetSize: 1 },
        'sluice:regions': [{ ...TWO_REGIONS[0], canary: { image: IMG('3'), targetSize: 1 } }],
      }),
    ).toEqual([expect.stringMatching(/^sluice:regions\[0\]\.canary: sluice:canary is set too: express the canary one way/)]);
    expect(
      issues({ 'sluice:regions': [{ ...TWO_REGIONS[0], image: imageAt('2', 'us-docker.pkg.dev/other-project/repo/server') }] }),
    ).toEqual([
      expect.stringMatching(
        /^sluice:regions\[0\]\.image: .* is not in us-docker\.pkg\.dev\/sluice-test-project\/sluice, the repository of sluice:image/,
      ),
    ]);
  });

  it('validates the rollout order: known regions, each once, all covered', () => {
    const regions = [
      ...TWO_REGIONS,
      { region: 'asia-east1', zones: ['asia-east1-a', 'asia-east1-b'], replicas: 4, subnetCidr: '10.10.32.0/20' },
    ];
    expect(
      issues({ 'sluice:regions': regions, 'sluice:rollout': { canaryRegion: 'europe-west1', waves: [['us-central1', 'asia-east1']] } }),
    ).toEqual([]);
    expect(issues({ 'sluice:regions': regions, 'sluice:rollout': { canaryRegion: 'mars-north1' } })).toEqual([
      expect.stringMatching(/^sluice:rollout\.canaryRegion: mars-north1 is not one of sluice:regions/),
    ]);
    expect(issues({ 'sluice:regions': regions, 'sluice:rollout': { waves: [['us-central1'], ['europe-west1']] } })).toEqual([
      'sluice:rollout.waves[0][0]: us-central1 is the canary region: each region rolls once',
      'sluice:rollout.waves: must list every region but the canary; missing: asia-east1',
    ]);
    expect(issues({ 'sluice:regions': regions, 'sluice:rollout': { canaryTargetSize: 4 } })).toEqual([
      "sluice:rollout.canaryTargetSize: 4 must be below us-central1's replicas (4)",
    ]);
    const cfg = parseStackConfig(toRaw({ ...BASE_CONFIG, 'sluice:regions': regions }), SECRETS);
    expect(cfg.rollout).toEqual({ canaryRegion: 'us-central1', canaryTargetSize: 1, waves: [['europe-west1'], ['asia-east1']] });
  });
});
