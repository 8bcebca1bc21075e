import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { backendTimeoutSec, LbKind, READINESS_PROBE, Timeouts } from '../../app/contract/timeouts';
import { READINESS_PATH, SOCKET_PATH } from '../../app/protocol/endpoints';

export interface LoadBalancerArgs {
  /**
   * `external-application`: global external Application LB (EXTERNAL_MANAGED). Backend `timeoutSec`
   * is the MAXIMUM LIFETIME of a WebSocket, idle or not; the server rotates connections before it.
   * `external-proxy-network`: global external proxy Network LB (target TCP/SSL proxy). Backend
   * `timeoutSec` is an IDLE timeout; heartbeats keep healthy connections under it.
   */
  kind: LbKind;
  /** Instance group URLs, one per region (each ServerFleet's MIG). */
  backends: pulumi.Input<string>[];
  /** The resolved timeouts contract: backend timeout and connection draining come from it. */
  timeouts: Timeouts;
  /** Named port of the MIGs and the port it maps to (probed by the health check). */
  portName: string;
  serverPort: number;
  /** Public DNS name: a Google-managed certificate and TLS on 443. Without it the LB serves plain ws://. */
  domain?: string;
  /** SSL policy of the HTTPS / SSL proxy (Edge), when there is a domain. */
  sslPolicy?: pulumi.Input<string>;
  /** Cloud Armor policy of the backend service (Edge). */
  securityPolicy?: pulumi.Input<string>;
  /**
   * Request log sampling of the backend service, 0..1 (0: logging off). Old clients' `?token=` lands
   * in the logged requestUrl: 0 is advised in production (infra/ops-config.ts).
   */
  logSampleRate?: number;
  /** capacityScaler per backend, same order as `backends` (default 1; 0 drains that region). */
  capacityScalers?: number[];
}

/**
 * The public entry point: a global IP, a backend service over every region's MIG with health check
 * on /readyz and connection draining from the contract, and the frontend for the LB kind.
 *
 * Backend service `timeoutSec` "has a different meaning depending on the type of load balancer"
 * (https://cloud.google.com/load-balancing/docs/backend-service#timeout-setting):
 *  - global external ALB: for WebSockets it bounds the connection's whole lifetime ("this timeout is
 *    not an idle timeout - it's a timeout on the connection lifetime",
 *    https://github.com/kubernetes/ingress-gce/tree/master/examples/websocket); Google advises <= 86,400 s
 *    because front ends restart for maintenance (https://gcpdiag.dev/rules/lb/BP/2025_002/);
 *  - external proxy Network LB (TCP/SSL proxy): an idle timeout on the proxied TCP connection (same
 *    page, and field reports: https://github.com/cockroachdb/docs/pull/2687,
 *    https://github.com/dbeaver/dbeaver/issues/6080, a 30 s default cutting idle connections).
 * backendTimeoutSec() in the contract picks the right value per kind; rules rotation-under-lb-max-lifetime
 * and lb-idle-exceeds-heartbeats check it against the server's rotation and the heartbeats.
 */
export class LoadBalancer extends pulumi.ComponentResource {
  /** wss://<domain>/socket/websocket, or ws://<ip>[:port]/socket/websocket without a domain. */
  readonly url: pulumi.Output<string>;
  /** The global address (point the domain's A record here). */
  readonly ipAddress: pulumi.Output<string>;

  constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:infra:LoadBalancer', name, {}, opts);
    const parent = { parent: this };
    const t = args.timeouts;
    const alb = args.kind === 'external-application';

    const address = new gcp.compute.GlobalAddress(`${name}-ip`, { addressType: 'EXTERNAL', ipVersion: 'IPV4' }, parent);
    this.ipAddress = address.address;

    // Readiness: 2 failed probes 5 s apart take a draining VM out of rotation for new connections. The
    // numbers are the contract's READINESS_PROBE (rule min-ready-covers-lb-health relies on them).
    const health = new gcp.compute.HealthCheck(
      `${name}-readyz`,
      {
        description: `sluice LB health: ${READINESS_PATH} (503 while draining)`,
        checkIntervalSec: READINESS_PROBE.intervalSec,
        timeoutSec: READINESS_PROBE.timeoutSec,
        healthyThreshold: READINESS_PROBE.healthyThreshold,
        unhealthyThreshold: READINESS_PROBE.unhealthyThreshold,
        httpHealthCheck: { port: args.serverPort, requestPath: READINESS_PATH },
        logConfig: { enable: false },
      },
      parent,
    );

    const backend = new gcp.compute.BackendService(
      `${name}-backend`,
      {
        description: alb
          ? `sluice: timeoutSec = max WebSocket lifetime (${t.lb.maxConnectionLifetimeSec} s), server rotates before it`
          : `sluice: timeoutSec = idle timeout (${t.lb.idleTimeoutSec} s), heartbeats keep connections busy`,
        loadBalancingScheme: 'EXTERNAL_MANAGED',
        protocol: alb ? 'HTTP' : 'TCP',
        portName: args.portName,
        timeoutSec: backendTimeoutSec(t),
        // GCP drains a VM leaving the MIG for this long before deleting it; the drain fits inside
        // (contract rule drain-inside-lb-draining).
        connectionDrainingTimeoutSec: t.lb.connectionDrainingSec,
        healthChecks: health.id,
        sessionAffinity: 'NONE',
        // UTILIZATION (CPU) balances long-lived sockets; RATE would count only upgrade requests.
        backends: args.backends.map((group, i) => ({
          group,
          balancingMode: 'UTILIZATION',
          maxUtilization: 0.8,
          capacityScaler: args.capacityScalers?.[i] ?? 1,
        })),
        logConfig: (args.logSampleRate ?? 1) > 0 ? { enable: true, sampleRate: args.logSampleRate ?? 1 } : { enable: false },
        securityPolicy: args.securityPolicy,
      },
      parent,
    );

    let port: number;
    let target: pulumi.Output<string>;
    let certificates: pulumi.Input<string>[] | undefined;
    if (args.domain) {
      const cert = new gcp.compute.ManagedSslCertificate(`${name}-cert`, { managed: { domains: [args.domain] } }, parent);
      certificates = [cert.id];
    }

    if (alb) {
      const urlMap = new gcp.compute.URLMap(`${name}-urlmap`, { defaultService: backend.id }, parent);
      if (certificates) {
        target = new gcp.compute.TargetHttpsProxy(
          `${name}-https`,
          { urlMap: urlMap.id, sslCertificates: certificates, sslPolicy: args.sslPolicy },
          parent,
        ).id;
        port = 443;
        // Port 80 only redirects to HTTPS.
        const redirect = new gcp.compute.URLMap(
          `${name}-redirect`,
          {
            defaultUrlRedirect: { httpsRedirect: true, stripQuery: false, redirectResponseCode: 'MOVED_PERMANENTLY_DEFAULT' },
          },
          parent,
        );
        const http = new gcp.compute.TargetHttpProxy(`${name}-http-redirect`, { urlMap: redirect.id }, parent);
        new gcp.compute.GlobalForwardingRule(
          `${name}-http-redirect`,
          {
            loadBalancingScheme: 'EXTERNAL_MANAGED',
            ipProtocol: 'TCP',
            portRange: '80',
            ipAddress: address.address,
            target: http.id,
          },
          parent,
        );
      } else {
        target = new gcp.compute.TargetHttpProxy(`${name}-http`, { urlMap: urlMap.id }, parent).id;
        port = 80;
      }
    } else if (certificates) {
      target = new gcp.compute.TargetSSLProxy(
        `${name}-ssl`,
        { backendService: backend.id, sslCertificates: certificates, proxyHeader: 'NONE', sslPolicy: args.sslPolicy },
        parent,
      ).id;
      port = 443;
    } else {
      // 443 is in every proxy NLB's supported port list (https://cloud.google.com/load-balancing/docs/tcp).
      target = new gcp.compute.TargetTCPProxy(`${name}-tcp`, { backendService: backend.id, proxyHeader: 'NONE' }, parent).id;
      port = 443;
    }
    new gcp.compute.GlobalForwardingRule(
      `${name}-${port}`,
      {
        loadBalancingScheme: 'EXTERNAL_MANAGED',
        ipProtocol: 'TCP',
        portRange: String(port),
        ipAddress: address.address,
        target,
      },
      parent,
    );

    this.url = args.domain
      ? pulumi.output(`wss://${args.domain}${SOCKET_PATH}`)
      : pulumi.interpolate`ws://${address.address}${port === 80 ? '' : `:${port}`}${SOCKET_PATH}`;
    this.registerOutputs({ url: this.url, ipAddress: this.ipAddress });
  }
}
