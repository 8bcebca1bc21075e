import * as gcp from '@pulumi/gcp';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
// Types only (erased at run time): the custom resources' schemas, so an unknown or misspelt field fails
// the typecheck. Gateway API v1.4 CRDs (@kubernetes-models/gateway-api 2.0.0), GKE's networking.gke.io/v1
// policies (@kubernetes-models/gke 4.6.2); test/infra/k8s-schemas.test.ts validates the rendered objects.
import type { IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { IGCPBackendPolicy } from '@kubernetes-models/gke/networking.gke.io/v1/GCPBackendPolicy';
import type { IHealthCheckPolicy } from '@kubernetes-models/gke/networking.gke.io/v1/HealthCheckPolicy';
import { backendTimeoutSec, READINESS_PROBE, Timeouts } from '../../app/contract/timeouts';
import { READINESS_PATH, SERVER_PORT, SOCKET_PATH } from '../../app/protocol/endpoints';
import { ClusterApi, RequiredKind, servedCrds } from './requirements';

/** A schema type whose leaves may be Pulumi inputs (names of resources not created yet). */
export type DeepInput<T> = T extends string | number | boolean
  ? pulumi.Input<T>
  : T extends Array<infer U>
    ? Array<DeepInput<U>>
    : T extends object
      ? { [K in keyof T]: DeepInput<T[K]> }
      : T;
type Spec<R extends { spec?: unknown }> = DeepInput<NonNullable<R['spec']>>;

/** The global external Application LB (EXTERNAL_MANAGED), the same LB kind as the GCE stack's default. */
export const GATEWAY_CLASS = 'gke-l7-global-external-managed';

export interface ServerGatewayArgs {
  namespace: pulumi.Input<string>;
  serviceName: pulumi.Input<string>;
  timeouts: Timeouts;
  /** Public DNS name: a Google-managed certificate and HTTPS on 443 (80 redirects). Without it: plain ws:// on 80. */
  domain?: string;
  /** What the CRD reads wait for (the created cluster and its node pool; nothing for an existing cluster). */
  clusterReady: pulumi.Resource[];
  /** The cluster's API server (endpoint, CA): the CRD wait reads it before the reads above. */
  clusterApi: pulumi.Input<ClusterApi>;
}

/**
 * The public entry point on GKE, through the Gateway API (the default; Ingress + BackendConfig is the
 * documented alternative, see docs/deploy-gke.md): a global address, a Gateway of class
 * gke-l7-global-external-managed, an HTTPRoute to the server's Service, and the two policies that carry
 * the contract to the LB. "You cannot use a FrontendConfig or a BackendConfig to configure a Gateway.
 * You must use a Policy." (cloud.google.com/kubernetes-engine/docs/how-to/configure-gateway-resources)
 *
 *  - GCPBackendPolicy `timeoutSec`: on this LB kind the backend service timeout is the MAXIMUM LIFETIME
 *    of a WebSocket, not an idle timeout ("this timeout is not an idle timeout - it's a timeout on the
 *    connection lifetime", github.com/kubernetes/ingress-gce/tree/master/examples/websocket): the
 *    contract's lb.maxConnectionLifetimeSec through backendTimeoutSec(), as on GCE; the server rotates
 *    every connection before it (rule rotation-under-lb-max-lifetime).
 *  - GCPBackendPolicy `connectionDraining.drainingTimeoutSec`: "Connection draining is a process that
 *    ensures that existing, in-progress requests are given time to complete when ... an endpoint is
 *    removed from network endpoint groups (NEGs) that are zonal in scope"; "The load balancer doesn't
 *    send new connections to the removed VM or endpoint" (cloud.google.com/load-balancing/docs/enabling-connection-draining).
 *    The contract's lb.connectionDrainingSec (rule gke-lb-draining-covers-drain).
 *  - HealthCheckPolicy on /readyz with READINESS_PROBE: 503 from the first moment of a drain, so the
 *    endpoint leaves the LB within endpointRemovalBoundSec() even if the NEG detach lags.
 */
export class ServerGateway extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  readonly ipAddress: pulumi.Output<string>;

  constructor(name: string, args: ServerGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:gke:ServerGateway', name, {}, opts);
    const t = args.timeouts;
    // The GCP resources use the component's inherited gcp provider; the Kubernetes ones its k8s provider.
    const parent = { parent: this };

    const address = new gcp.compute.GlobalAddress(`${name}-ip`, { addressType: 'EXTERNAL', ipVersion: 'IPV4' }, parent);
    this.ipAddress = address.address;
    const cert = args.domain
      ? new gcp.compute.ManagedSslCertificate(`${name}-cert`, { managed: { domains: [args.domain] } }, parent)
      : undefined;

    // Each custom resource is sent only once its CRD is Established and serves v1 (requirements.ts).
    const crds = servedCrds(name, { parent: this, dependsOn: args.clusterReady }, args.clusterApi);
    const meta = (n: string, kind: RequiredKind) => crds.gate(kind).apply(() => ({ name: n, namespace: args.namespace }));
    const after = { parent: this, dependsOn: crds.reads };
    const targetRef = { group: '', kind: 'Service', name: args.serviceName };

    const listeners: Spec<IGateway>['listeners'] = [
      { name: 'http', protocol: 'HTTP', port: 80, allowedRoutes: { namespaces: { from: 'Same' } } },
    ];
    if (cert) {
      listeners.push({
        name: 'https',
        protocol: 'HTTPS',
        port: 443,
        hostname: args.domain,
        allowedRoutes: { namespaces: { from: 'Same' } },
        tls: { mode: 'Terminate', options: { 'networking.gke.io/pre-shared-certs': cert.name } },
      });
    }
    const gateway = new k8s.apiextensions.CustomResource(
      name,
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        metadata: meta('sluice', 'Gateway'),
        spec: {
          gatewayClassName: GATEWAY_CLASS,
          addresses: [{ type: 'NamedAddress', value: address.name }],
          listeners,
        } satisfies Spec<IGateway>,
      },
      after,
    );

    const backendRefs = [{ name: args.serviceName, port: SERVER_PORT }];
    new k8s.apiextensions.CustomResource(
      name,
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: meta('sluice', 'HTTPRoute'),
        spec: {
          parentRefs: [{ name: gateway.metadata.name, sectionName: cert ? 'https' : 'http' }],
          hostnames: args.domain ? [args.domain] : undefined,
          rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs }],
        } satisfies Spec<IHTTPRoute>,
      },
      after,
    );
    if (cert && args.domain) {
      // Port 80 only redirects to HTTPS.
      new k8s.apiextensions.CustomResource(
        `${name}-redirect`,
        {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'HTTPRoute',
          metadata: meta('sluice-http-redirect', 'HTTPRoute'),
          spec: {
            parentRefs: [{ name: gateway.metadata.name, sectionName: 'http' }],
            hostnames: [args.domain],
            rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', statusCode: 301 } }] }],
          } satisfies Spec<IHTTPRoute>,
        },
        after,
      );
    }

    new k8s.apiextensions.CustomResource(
      name,
      {
        apiVersion: 'networking.gke.io/v1',
        kind: 'GCPBackendPolicy',
        metadata: meta('sluice-server', 'GCPBackendPolicy'),
        spec: {
          default: {
            timeoutSec: backendTimeoutSec(t),
            connectionDraining: { drainingTimeoutSec: t.lb.connectionDrainingSec },
            // Off: LB request logs record the request URL, and a client still sending ?token= would leak its
            // token there (docs/security.md "Tokens out of URLs"); the server logs every refusal without it.
            logging: { enabled: false },
          },
          targetRef,
        } satisfies Spec<IGCPBackendPolicy>,
      },
      after,
    );

    new k8s.apiextensions.CustomResource(
      name,
      {
        apiVersion: 'networking.gke.io/v1',
        kind: 'HealthCheckPolicy',
        metadata: meta('sluice-server', 'HealthCheckPolicy'),
        spec: {
          default: {
            checkIntervalSec: READINESS_PROBE.intervalSec,
            timeoutSec: READINESS_PROBE.timeoutSec,
            healthyThreshold: READINESS_PROBE.healthyThreshold,
            unhealthyThreshold: READINESS_PROBE.unhealthyThreshold,
            logConfig: { enabled: false },
            config: { type: 'HTTP', httpHealthCheck: { port: SERVER_PORT, requestPath: READINESS_PATH } },
          },
          targetRef,
        } satisfies Spec<IHealthCheckPolicy>,
      },
      after,
    );

    this.url = args.domain
      ? pulumi.output(`wss://${args.domain}${SOCKET_PATH}`)
      : pulumi.interpolate`ws://${address.address}${SOCKET_PATH}`;
    this.registerOutputs({ url: this.url, ipAddress: this.ipAddress });
  }
}
