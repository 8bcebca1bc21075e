import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';

/** Length of each generated value: 64 characters of [A-Za-z0-9], about 380 bits. */
export const GENERATED_SECRET_LENGTH = 64;

/**
 * The secrets a stack makes for itself (issue 22): nobody types them, nobody commits them, and a new
 * stack's `pulumi preview` needs nothing from outside. Each is a `random.RandomPassword` ("Identical to
 * `random.RandomString` with the exception that the result is treated as sensitive and, thus, _not_
 * displayed in console output", @pulumi/random), so it lives encrypted in the stack's state, and the
 * program hands it on as a Pulumi secret to Secret Manager (ServerIdentity on GCE, the Kubernetes
 * Secret on GKE). Rotate one with `pulumi up --replace <urn>` (docs/deploy-gce.md).
 *
 * The one home of the stack's own secret material: when the peer tokens move to asymmetric issuer keys
 * (issue 23), the token-signing secret is replaced here and nowhere else.
 */
export class StackSecrets extends pulumi.ComponentResource {
  /** HS256 signing secret of peer tokens (SLUICE_TOKEN_SECRET). */
  readonly tokenSecret: pulumi.Output<string>;
  /** Bearer token of the admin port (SLUICE_ADMIN_TOKEN): the shutdown script, preStop and the rollout gates use it. */
  readonly adminToken: pulumi.Output<string>;

  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:infra:StackSecrets', name, {}, opts);
    // [A-Za-z0-9] only: the values travel in env files, HTTP headers and `KEY=value` lines unquoted.
    const make = (id: string) =>
      pulumi.secret(
        new random.RandomPassword(
          `${name}-${id}`,
          {
            length: GENERATED_SECRET_LENGTH,
            special: false,
            minLower: 1,
            minUpper: 1,
            minNumeric: 1,
          },
          { parent: this },
        ).result,
      );
    this.tokenSecret = make('token-secret');
    this.adminToken = make('admin-token');
    this.registerOutputs({});
  }
}
