import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';

/**
 * The one permission the lifecycle watcher needs: regionInstanceGroupManagers.listManagedInstances
 * "requires the following IAM permission on the specified resource instanceGroupManager:
 * compute.instanceGroupManagers.get"
 * (https://cloud.google.com/compute/docs/reference/rest/v1/regionInstanceGroupManagers/listManagedInstances).
 *
 * Granted WITHOUT an IAM condition, on the project: a condition on `resource.name` only works where
 * IAM recognizes resource attributes, and "Resource attributes are available for the Google Cloud
 * services and resource types that are listed on this page. Other services and resource types do
 * not recognize resource attributes." (https://cloud.google.com/iam/docs/conditions-resource-attributes).
 * We could not find compute.googleapis.com/InstanceGroupManager (or its regional form) clearly listed
 * there, so a condition on the MIG's name may deny every call: layer 1 would be silently off. The
 * custom role holds this one read permission and nothing else, so the unconditioned grant lets the
 * VMs read MIG definitions in their project and do nothing with them.
 */
export const WATCHER_PERMISSIONS = ['compute.instanceGroupManagers.get'] as const;

/** Predefined roles the VMs need besides the watcher role: the COS logging agent and metrics. */
export const AGENT_ROLES = ['roles/logging.logWriter', 'roles/monitoring.metricWriter'] as const;

export interface ServerIdentityArgs {
  /** Project the service account, the custom role and the secret live in. */
  project: string;
  /** Short stack-unique name used in the account id, role id and secret id (lowercase, digits, hyphens). */
  stackName: string;
  /**
   * The server's secret environment (SLUICE_TOKEN_SECRET, SLUICE_REDIS_URL) as an env file, per region
   * (each region has its own backplane). Stored in Secret Manager; readable by this service account only.
   */
  secretEnv: Record<string, pulumi.Input<string>>;
  /** SLUICE_ADMIN_TOKEN (bearer auth of the admin port): its own secret, accessor for this account only. */
  adminToken: pulumi.Input<string>;
  /** Artifact Registry repository the image is pulled from: the account gets reader on it only. */
  imageRepository?: { project: string; location: string; repository: string };
}

/**
 * Who the server VMs are: a dedicated service account (no default compute account, no broad roles),
 * a custom role holding only what the lifecycle watcher reads, log/metric writers, and the server's
 * secrets in Secret Manager with accessor granted on that one secret.
 */
export class ServerIdentity extends pulumi.ComponentResource {
  readonly email: pulumi.Output<string>;
  /** `serviceAccount:<email>` */
  readonly member: pulumi.Output<string>;
  /** The custom role (projects/<p>/roles/<id>) granted to the account (unconditioned, see WATCHER_PERMISSIONS). */
  readonly watcherRole: pulumi.Output<string>;
  /** Per region: the secret env version the VMs read at start (a new version rolls the fleet). */
  readonly secretVersions: Record<string, pulumi.Output<string>>;
  /** The admin token version the VMs read at start. */
  readonly adminTokenVersion: pulumi.Output<string>;
  /** Every grant a VM needs on first boot: the MIGs depend on these (deploy ordering). */
  readonly grants: pulumi.Resource[] = [];

  constructor(name: string, args: ServerIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:infra:ServerIdentity', name, {}, opts);
    const parent = { parent: this };

    const account = new gcp.serviceaccount.Account(
      `${name}-server`,
      {
        accountId: `${args.stackName}-server`.slice(0, 30).replace(/-+$/, ''),
        displayName: `sluice server VMs (${args.stackName})`,
        description: 'Runs the sluice server container; reads its own MIG and its own secret. Managed by Pulumi.',
      },
      parent,
    );
    this.email = account.email;
    this.member = account.member;

    const role = new gcp.projects.IAMCustomRole(
      `${name}-watcher`,
      {
        roleId: `sluiceWatcher_${args.stackName.replace(/[^A-Za-z0-9]/g, '_')}`,
        title: `sluice lifecycle watcher (${args.stackName})`,
        description: 'List the managed instances of the MIG a sluice server belongs to (listManagedInstances).',
        permissions: [...WATCHER_PERMISSIONS],
        stage: 'GA',
      },
      parent,
    );
    this.watcherRole = role.name;

    this.grants.push(
      new gcp.projects.IAMMember(`${name}-watcher`, { project: args.project, role: role.name, member: account.member }, parent),
    );
    for (const r of AGENT_ROLES) {
      this.grants.push(
        new gcp.projects.IAMMember(
          `${name}-${r.split('/')[1].replace(/\./g, '-')}`,
          { project: args.project, role: r, member: account.member },
          parent,
        ),
      );
    }

    const secretFile = (id: string, data: pulumi.Input<string>): pulumi.Output<string> => {
      const secret = new gcp.secretmanager.Secret(
        `${name}-${id}`,
        { secretId: `${args.stackName}-${id}`, replication: { auto: {} } },
        parent,
      );
      const version = new gcp.secretmanager.SecretVersion(
        `${name}-${id}`,
        {
          secret: secret.id,
          secretData: pulumi.secret(data),
          // A new value makes a new version (and a new template, so the MIG rolls). The old version stays
          // readable until removed by hand: VMs of the previous template may restart during the rollout.
          deletionPolicy: 'ABANDON',
        },
        parent,
      );
      this.grants.push(
        new gcp.secretmanager.SecretIamMember(
          `${name}-${id}-accessor`,
          {
            secretId: secret.id,
            role: 'roles/secretmanager.secretAccessor',
            member: account.member,
          },
          parent,
        ),
      );
      return version.name;
    };
    this.secretVersions = Object.fromEntries(
      Object.entries(args.secretEnv).map(([region, env]) => [region, secretFile(`server-env-${region}`, env)]),
    );
    this.adminTokenVersion = secretFile(
      'admin-token',
      pulumi.output(args.adminToken).apply((t) => `SLUICE_ADMIN_TOKEN=${t}\n`),
    );

    if (args.imageRepository) {
      this.grants.push(
        new gcp.artifactregistry.RepositoryIamMember(
          `${name}-image-reader`,
          {
            project: args.imageRepository.project,
            location: args.imageRepository.location,
            repository: args.imageRepository.repository,
            role: 'roles/artifactregistry.reader',
            member: account.member,
          },
          parent,
        ),
      );
    }

    this.registerOutputs({ email: this.email, watcherRole: this.watcherRole, adminTokenVersion: this.adminTokenVersion });
  }
}
