/**
 * Mocks for rendering the program without a cloud: every resource gets a deterministic id and the
 * computed outputs the program reads from it (self links, emails, the Redis host...), shaped like the
 * real ones but obviously fake (203.0.113.0/24 is TEST-NET-3). Nothing random, no timestamps: the
 * plan of a given config is byte-for-byte stable.
 */
import { createHash } from 'node:crypto';
import type * as pulumi from '@pulumi/pulumi';

type Inputs = Record<string, unknown>;

/** Compute collections by resource type: [scope, collection]; scope 'regions' uses inputs.region. */
const COMPUTE: Record<string, ['global' | 'regions', string]> = {
  'gcp:compute/network:Network': ['global', 'networks'],
  'gcp:compute/subnetwork:Subnetwork': ['regions', 'subnetworks'],
  'gcp:compute/router:Router': ['regions', 'routers'],
  'gcp:compute/firewall:Firewall': ['global', 'firewalls'],
  'gcp:compute/instanceTemplate:InstanceTemplate': ['global', 'instanceTemplates'],
  'gcp:compute/healthCheck:HealthCheck': ['global', 'healthChecks'],
  'gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager': ['regions', 'instanceGroupManagers'],
  'gcp:compute/globalAddress:GlobalAddress': ['global', 'addresses'],
  'gcp:compute/backendService:BackendService': ['global', 'backendServices'],
  'gcp:compute/uRLMap:URLMap': ['global', 'urlMaps'],
  'gcp:compute/targetHttpProxy:TargetHttpProxy': ['global', 'targetHttpProxies'],
  'gcp:compute/targetHttpsProxy:TargetHttpsProxy': ['global', 'targetHttpsProxies'],
  'gcp:compute/targetTCPProxy:TargetTCPProxy': ['global', 'targetTcpProxies'],
  'gcp:compute/targetSSLProxy:TargetSSLProxy': ['global', 'targetSslProxies'],
  'gcp:compute/managedSslCertificate:ManagedSslCertificate': ['global', 'sslCertificates'],
  'gcp:compute/globalForwardingRule:GlobalForwardingRule': ['global', 'forwardingRules'],
  'gcp:compute/sSLPolicy:SSLPolicy': ['global', 'sslPolicies'],
  'gcp:compute/securityPolicy:SecurityPolicy': ['global', 'securityPolicies'],
  'gcp:compute/regionAutoscaler:RegionAutoscaler': ['regions', 'autoscalers'],
};

export const MOCK_IP = '203.0.113.10';
/** A GKE control plane's address (TEST-NET-3, like MOCK_IP). */
export const MOCK_GKE_ENDPOINT = '203.0.113.20';
export const MOCK_REDIS = { host: '10.200.0.3', port: 6379, authString: 'mock-redis-auth-string' };

/**
 * What a `random.RandomPassword` named `name` yields under these mocks in GCP project `project`:
 * `length` characters of [A-Za-z0-9] derived from both (stable plans; obviously not a secret).
 */
export function mockRandomPassword(project: string, name: string, length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; out.length < length; i++) {
    for (const byte of createHash('sha256').update(`mock:${project}:${name}:${i}`).digest()) out += alphabet[byte % alphabet.length];
  }
  return out.slice(0, length);
}

export class PreviewMocks implements pulumi.runtime.Mocks {
  constructor(private readonly project: string) {}

  newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    const inputs = (args.inputs ?? {}) as Inputs;
    const name = typeof inputs.name === 'string' ? inputs.name : args.name;
    const p = this.project;
    const state: Inputs = { ...inputs, name };
    let id = `${name}-id`;

    const compute = COMPUTE[args.type];
    if (compute) {
      const scope = compute[0] === 'global' ? 'global' : `regions/${String(inputs.region ?? 'mock-region')}`;
      id = `projects/${p}/${scope}/${compute[1]}/${name}`;
      state.selfLink = `https://www.googleapis.com/compute/v1/${id}`;
      if (args.type === 'gcp:compute/instanceTemplate:InstanceTemplate') state.selfLinkUnique = `${state.selfLink}?uniqueId=1`;
      if (args.type === 'gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager') {
        state.instanceGroup = `https://www.googleapis.com/compute/v1/projects/${p}/${scope}/instanceGroups/${name}`;
      }
      if (args.type === 'gcp:compute/globalAddress:GlobalAddress') state.address = MOCK_IP;
    }
    switch (args.type) {
      case 'random:index/randomPassword:RandomPassword':
        state.result = mockRandomPassword(p, args.name, Number(inputs.length ?? 16));
        break;
      case 'gcp:compute/routerNat:RouterNat':
        id = `${p}/${String(inputs.region)}/${String(inputs.router)}/${name}`;
        break;
      case 'gcp:serviceaccount/account:Account': {
        const email = `${String(inputs.accountId)}@${p}.iam.gserviceaccount.com`;
        id = `projects/${p}/serviceAccounts/${email}`;
        Object.assign(state, { email, member: `serviceAccount:${email}` });
        break;
      }
      case 'gcp:projects/iAMCustomRole:IAMCustomRole':
        id = `projects/${p}/roles/${String(inputs.roleId)}`;
        state.name = id;
        break;
      case 'gcp:secretmanager/secret:Secret':
        id = `projects/${p}/secrets/${String(inputs.secretId)}`;
        state.name = id;
        break;
      case 'gcp:secretmanager/secretVersion:SecretVersion':
        id = `${String(inputs.secret)}/versions/1`;
        state.name = id;
        break;
      case 'gcp:redis/instance:Instance':
        id = `projects/${p}/locations/${String(inputs.region)}/instances/${name}`;
        Object.assign(state, MOCK_REDIS);
        break;
      case 'gcp:redis/cluster:Cluster': {
        // The discovery endpoint Memorystore assigns from the PSC subnet: a made-up address per region.
        id = `projects/${p}/locations/${String(inputs.region)}/clusters/${name}`;
        const n = [...String(inputs.region)].reduce((a, ch) => (a * 31 + ch.charCodeAt(0)) % 250, 7) + 2;
        state.discoveryEndpoints = [{ address: `10.201.0.${n}`, port: MOCK_REDIS.port }];
        // managedServerCas "will only be populated if Redis Cluster's transitEncryptionMode is
        // TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION" (@pulumi/gcp redis.Cluster): a made-up PEM per region.
        if (inputs.transitEncryptionMode === 'TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION')
          state.managedServerCas = [
            { caCerts: [{ certificates: [`-----BEGIN CERTIFICATE-----\nMOCK${n}\n-----END CERTIFICATE-----\n`] }] },
          ];
        break;
      }
      case 'gcp:container/cluster:Cluster': {
        // Created (inputs) or read with Cluster.get (the id names it): the kubeconfig needs endpoint and CA.
        const ref = /locations\/([^/]+)\/clusters\/([^/]+)$/.exec(args.id ?? '');
        const location = String(inputs.location ?? ref?.[1] ?? 'mock-location');
        const clusterName = typeof inputs.name === 'string' ? inputs.name : (ref?.[2] ?? name);
        id = `projects/${p}/locations/${location}/clusters/${clusterName}`;
        if (args.id) {
          // A read (Cluster.get): what the existing cluster reports. Fixture: a cluster named legacy-*
          // is an old-dataplane cluster without NetworkPolicy enforcement or the Gateway API.
          const legacy = clusterName.startsWith('legacy-');
          Object.assign(
            state,
            legacy
              ? {
                  datapathProvider: 'LEGACY_DATAPATH',
                  networkPolicy: { enabled: false },
                  gatewayApiConfig: { channel: 'CHANNEL_DISABLED' },
                }
              : { datapathProvider: 'ADVANCED_DATAPATH', gatewayApiConfig: { channel: 'CHANNEL_STANDARD' } },
          );
        }
        Object.assign(state, {
          name: clusterName,
          location,
          endpoint: MOCK_GKE_ENDPOINT,
          network: inputs.network ?? `projects/${p}/global/networks/mock-gke-network`,
          masterAuth: { clusterCaCertificate: Buffer.from('mock cluster CA').toString('base64') },
        });
        break;
      }
      case 'kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition':
        // A read of a CRD the cluster serves (GKE installs them with the Gateway API).
        id = args.id ?? name;
        Object.assign(state, {
          metadata: { name: id },
          spec: { versions: [{ name: 'v1', served: true, storage: true }] },
          status: { conditions: [{ type: 'Established', status: 'True' }] },
        });
        break;
      case 'gcp:monitoring/notificationChannel:NotificationChannel':
        id = `projects/${p}/notificationChannels/${name}`;
        state.name = id;
        break;
      case 'gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig':
        state.uptimeCheckId = name;
        id = `projects/${p}/uptimeCheckConfigs/${name}`;
        state.name = id;
        break;
      default:
        break;
    }
    return { id, state };
  }

  /**
   * Data sources. Only getImage is allowed (the pinned boot image): it answers with the image NAME the
   * program asked for, in the family its milestone implies (cos-121-... -> cos-121-lts), so the plan
   * shows exactly the image a VM boots. Anything else fails: the plan must not depend on the cloud.
   */
  call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
    if (args.token === 'gcp:compute/getImage:getImage') {
      const name = String(args.inputs.name ?? '');
      const project = String(args.inputs.project ?? this.project);
      const milestone = /^cos-([0-9]+)-/.exec(name)?.[1];
      if (!name || !milestone) throw new Error(`plan mocks: getImage needs a cos image name, got ${JSON.stringify(args.inputs)}`);
      return {
        name,
        project,
        family: `cos-${milestone}-lts`,
        selfLink: `https://www.googleapis.com/compute/v1/projects/${project}/global/images/${name}`,
        status: 'READY',
      };
    }
    throw new Error(`the program must not call data sources other than getImage (offline plan): ${args.token}`);
  }
}
