import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';

/**
 * The one permission the lifecycle watcher needs: regionInstanceGroupManagers.listManagedInstances
 * "requires the following IAM permission on the specified resource instanceGroupManager:
 * compute.instanceGroupManagers.get"
 * (https://cloud.google.com/compute/docs/reference/rest/v1/regionInstanceGroupManagers/listManagedInstances).
 * Each ServerFleet grants the role on its own MIG only (an IAM condition on the resource name).
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
   * The server's secret environment (SLUICE_TOKEN_SECRET, SLUICE_REDIS_URL) as an env file. Stored in
   * Secret Manager; readable by this service account only; must be a Pulumi secret.
   */
  secretEnv: pulumi.Input<string>;
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
  /** The custom role (projects/<p>/roles/<id>) that ServerFleet binds, conditioned on its MIG. */
  readonly watcherRole: pulumi.Output<string>;
  /** The secret version the VMs read at start (a new version rolls the fleet). */
  readonly secretVersion: pulumi.Output<string>;

  constructor(name: string, args: ServerIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:infra:ServerIdentity', name, {}, opts);
    const parent = { parent: this };

    const account = new gcp.serviceaccount.Account(`${name}-server`, {
      accountId: `${args.stackName}-server`.slice(0, 30).replace(/-+$/, ''),
      displayName: `sluice server VMs (${args.stackName})`,
      description: 'Runs the sluice server container; reads its own MIG and its own secret. Managed by Pulumi.',
    }, parent);
    this.email = account.email;
    this.member = account.member;

    const role = new gcp.projects.IAMCustomRole(`${name}-watcher`, {
      roleId: `sluiceWatcher_${args.stackName.replace(/[^A-Za-z0-9]/g, '_')}`,
      title: `sluice lifecycle watcher (${args.stackName})`,
      description: 'List the managed instances of the MIG a sluice server belongs to (listManagedInstances).',
      permissions: [...WATCHER_PERMISSIONS],
      stage: 'GA',
    }, parent);
    this.watcherRole = role.name;

    for (const r of AGENT_ROLES) {
      new gcp.projects.IAMMember(`${name}-${r.split('/')[1].replace(/\./g, '-')}`, { project: args.project, role: r, member: account.member }, parent);
    }

    const secret = new gcp.secretmanager.Secret(`${name}-server-env`, {
      secretId: `${args.stackName}-server-env`,
      replication: { auto: {} },
    }, parent);
    const version = new gcp.secretmanager.SecretVersion(`${name}-server-env`, {
      secret: secret.id,
      secretData: pulumi.secret(args.secretEnv),
      // A new value makes a new version (and a new template, so the MIG rolls). The old version stays
      // readable until removed by hand: VMs of the previous template may restart during the rollout.
      deletionPolicy: 'ABANDON',
    }, parent);
    this.secretVersion = version.name;
    new gcp.secretmanager.SecretIamMember(`${name}-server-env-accessor`, {
      secretId: secret.id,
      role: 'roles/secretmanager.secretAccessor',
      member: account.member,
    }, parent);

    if (args.imageRepository) {
      new gcp.artifactregistry.RepositoryIamMember(`${name}-image-reader`, {
        project: args.imageRepository.project,
        location: args.imageRepository.location,
        repository: args.imageRepository.repository,
        role: 'roles/artifactregistry.reader',
        member: account.member,
      }, parent);
    }

    this.registerOutputs({ email: this.email, watcherRole: this.watcherRole, secretVersion: this.secretVersion });
  }
}
