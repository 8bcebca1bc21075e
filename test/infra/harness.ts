/**
 * Render the Pulumi program under mocks with a given stack config, in-process, and look resources up.
 * The config is written like a stack file (plain JS values); secrets are marked like `--secret`.
 */
import { createHash } from 'node:crypto';
import * as pulumi from '@pulumi/pulumi';
import type { StackOutputs } from '../../infra/program';
import { isSecretValue } from '../../infra/offline-preview/format';
import { renderProgram, RenderedResource, RenderedStack } from '../../infra/offline-preview/render';
import { mockRandomPassword } from '../../infra/offline-preview/mocks';
import { GENERATED_SECRET_LENGTH } from '../../infra/components/secrets';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const program = require('../../infra/index') as () => StackOutputs;

/** The values the stack's StackSecrets generate under the plan mocks (infra/components/secrets.ts). */
export const TOKEN_SECRET = mockRandomPassword('sluice-test-project', 'sluice-token-secret', GENERATED_SECRET_LENGTH);
export const ADMIN_TOKEN = mockRandomPassword('sluice-test-project', 'sluice-admin-token', GENERATED_SECRET_LENGTH);
export const BOOT_IMAGE = 'cos-121-18867-90-97';
export const TEST_REPOSITORY = 'us-docker.pkg.dev/sluice-test-project/sluice/server';
/** A server image pinned by digest (stacks accept nothing else): a stable fake digest per version. */
export const imageAt = (version: string, repository = TEST_REPOSITORY): string =>
  `${repository}@sha256:${createHash('sha256').update(version).digest('hex')}`;

/** A small valid stack: one region, two zones, four servers (surge 2 < 4), BASIC Redis, the global ALB. */
export const BASE_CONFIG: Record<string, unknown> = {
  'sluice:project': 'sluice-test-project',
  'sluice:image': imageAt('1.2.3'),
  'sluice:bootImage': BOOT_IMAGE,
  'sluice:regions': [{ region: 'us-central1', zones: ['us-central1-a', 'us-central1-b'], replicas: 4, subnetCidr: '10.10.0.0/20' }],
};

export interface Rendered extends RenderedStack {
  all(type: string): RenderedResource[];
  one(type: string, name?: string): RenderedResource;
  /** The inputs with secrets replaced by their values (for assertions on content). */
  plain(r: RenderedResource): Record<string, any>;
}

export function toRaw(config: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(config)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  );
}

export async function render(
  overrides: Record<string, unknown> = {},
  secretKeys = ['sluice:tokenSecret', 'sluice:adminToken'],
): Promise<Rendered> {
  const config = toRaw({ ...BASE_CONFIG, ...overrides });
  const stack = await renderProgram(() => program, { project: 'sluice', stack: 'test', config, secretKeys });
  const all = (type: string) => stack.resources.filter((r) => r.type === type);
  return {
    ...stack,
    all,
    one(type, name) {
      const found = all(type).filter((r) => name === undefined || r.name === name);
      if (found.length !== 1)
        throw new Error(
          `expected one ${type}${name ? ` named ${name}` : ''}, found ${found.length}: ${found.map((r) => r.name).join(', ')}`,
        );
      return found[0];
    },
    plain: (r) => reveal(r.inputs) as Record<string, any>,
  };
}

export function reveal(v: unknown): unknown {
  if (isSecretValue(v)) return reveal(v.value);
  if (Array.isArray(v)) return v.map(reveal);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)]));
  return v;
}

export const T = {
  instanceTemplate: 'gcp:compute/instanceTemplate:InstanceTemplate',
  mig: 'gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager',
  firewall: 'gcp:compute/firewall:Firewall',
  healthCheck: 'gcp:compute/healthCheck:HealthCheck',
  backendService: 'gcp:compute/backendService:BackendService',
  urlMap: 'gcp:compute/uRLMap:URLMap',
  httpProxy: 'gcp:compute/targetHttpProxy:TargetHttpProxy',
  httpsProxy: 'gcp:compute/targetHttpsProxy:TargetHttpsProxy',
  tcpProxy: 'gcp:compute/targetTCPProxy:TargetTCPProxy',
  sslProxy: 'gcp:compute/targetSSLProxy:TargetSSLProxy',
  cert: 'gcp:compute/managedSslCertificate:ManagedSslCertificate',
  forwardingRule: 'gcp:compute/globalForwardingRule:GlobalForwardingRule',
  subnet: 'gcp:compute/subnetwork:Subnetwork',
  router: 'gcp:compute/router:Router',
  nat: 'gcp:compute/routerNat:RouterNat',
  account: 'gcp:serviceaccount/account:Account',
  customRole: 'gcp:projects/iAMCustomRole:IAMCustomRole',
  projectMember: 'gcp:projects/iAMMember:IAMMember',
  secret: 'gcp:secretmanager/secret:Secret',
  secretVersion: 'gcp:secretmanager/secretVersion:SecretVersion',
  secretMember: 'gcp:secretmanager/secretIamMember:SecretIamMember',
  repoMember: 'gcp:artifactregistry/repositoryIamMember:RepositoryIamMember',
  redis: 'gcp:redis/instance:Instance',
  provider: 'pulumi:providers:gcp',
} as const;

export { pulumi };
