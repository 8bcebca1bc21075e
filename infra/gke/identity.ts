import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';

export interface PodIdentityArgs {
  /** Short stack-unique name for the account id (lowercase, digits, hyphens). */
  stackName: string;
  /** `<project>.svc.id.goog` of the cluster. */
  workloadPool: string;
  /** The Kubernetes namespace and service account the pods run as. */
  namespace: string;
  kubernetesServiceAccount: string;
  /** Wait for these (the cluster: its workload pool exists only once it does). */
  dependsOn: pulumi.Resource[];
}

/**
 * The server pods' Google identity through Workload Identity: a dedicated service account, and the
 * one binding that lets exactly `<namespace>/<ksa>` act as it (roles/iam.workloadIdentityUser on the
 * account itself, member `serviceAccount:<pool>[<namespace>/<ksa>]`). It holds no project role: the
 * server calls no Google API today; grant it only what it comes to call.
 */
export class PodIdentity extends pulumi.ComponentResource {
  readonly email: pulumi.Output<string>;
  readonly member: string;

  constructor(name: string, args: PodIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:gke:PodIdentity', name, {}, opts);
    const account = new gcp.serviceaccount.Account(
      name,
      {
        accountId: `${args.stackName}-pod`.slice(0, 30).replace(/-+$/, ''),
        displayName: `sluice server pods (${args.stackName})`,
        description: 'The sluice server on GKE (Workload Identity). Managed by Pulumi.',
      },
      { parent: this },
    );
    this.email = account.email;
    this.member = `serviceAccount:${args.workloadPool}[${args.namespace}/${args.kubernetesServiceAccount}]`;
    new gcp.serviceaccount.IAMMember(
      `${name}-workload-identity`,
      {
        serviceAccountId: account.id,
        role: 'roles/iam.workloadIdentityUser',
        member: this.member,
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    this.registerOutputs({ email: this.email });
  }
}
