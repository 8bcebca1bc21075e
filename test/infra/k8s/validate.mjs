// Validate Kubernetes objects against the published schemas (run with plain node: the model packages
// are ESM-only). stdin: a JSON array of objects; stdout: a JSON array of {kind, name, errors} per object.
//   kubernetes-models 5.1.0          core API, Kubernetes 1.34 (resource.k8s.io/v1, PodSpec.hostnameOverride)
//   @kubernetes-models/gateway-api   Gateway API v1.4 CRDs (BackendTLSPolicy in v1)
//   @kubernetes-models/gke 4.6.2     GKE networking.gke.io/v1 (GCPBackendPolicy, HealthCheckPolicy)
// .validate() does not reject unknown fields (the infra code's `satisfies` does, at compile time).
import { Namespace, ServiceAccount, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { Gateway, HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import { GCPBackendPolicy, HealthCheckPolicy } from '@kubernetes-models/gke/networking.gke.io/v1';

const MODELS = {
  Namespace,
  ServiceAccount,
  Secret,
  Service,
  Deployment,
  PodDisruptionBudget,
  HorizontalPodAutoscaler,
  NetworkPolicy,
  Gateway,
  HTTPRoute,
  GCPBackendPolicy,
  HealthCheckPolicy,
};

let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = JSON.parse(input).map((obj) => {
  const Model = MODELS[obj.kind];
  const name = obj.metadata?.name;
  if (!Model) return { kind: obj.kind, name, errors: [`no schema model for ${obj.apiVersion} ${obj.kind}`] };
  if (Model.apiVersion !== obj.apiVersion)
    return { kind: obj.kind, name, errors: [`apiVersion ${obj.apiVersion}, schema has ${Model.apiVersion}`] };
  try {
    new Model(obj).validate();
    return { kind: obj.kind, name, errors: [] };
  } catch (err) {
    return { kind: obj.kind, name, errors: [String(err.message ?? err)] };
  }
});
process.stdout.write(JSON.stringify(out));
