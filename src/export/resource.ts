/**
 * The OTLP resource: who is reporting. `service.*` and `host.*` always; Kubernetes and cloud
 * attributes when the environment says where we run. The operator's `OTEL_RESOURCE_ATTRIBUTES`
 * and `OTEL_SERVICE_NAME` win over everything detected here, as the SDK specification requires.
 */
import { hostname } from 'node:os';
import type { Attributes } from '@opentelemetry/api';
import {
  defaultResource,
  detectResources,
  envDetector,
  type Resource,
  resourceFromAttributes,
} from '@opentelemetry/resources';

/** What the daemon knows about its host (`readHostIdentity()` gives both). */
export interface ResourceHost {
  /**
   * Stable host id: the one signed batches carry. Never the raw `/etc/machine-id`, which
   * machine-id(5) says is confidential; this is why the SDK's `hostDetector` is not used.
   */
  readonly hostId?: string;
  readonly hostname?: string;
}

/** Options of {@link buildOtlpResource}. */
export interface OtlpResourceOptions {
  readonly serviceVersion: string;
  readonly host?: ResourceHost;
  /** Defaults to `process.env`; tests pass their own. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Builds the resource shared by the metrics and the logs exporter: SDK defaults, then
 * `service.name=wattledger`, `service.version`, `host.name`, `host.id`, Kubernetes and cloud
 * attributes from the environment, then `OTEL_RESOURCE_ATTRIBUTES` / `OTEL_SERVICE_NAME` on top.
 */
export function buildOtlpResource(options: OtlpResourceOptions): Resource {
  const env = options.env ?? process.env;
  const ours: Attributes = {
    'service.name': 'wattledger',
    'service.version': options.serviceVersion,
    'host.name': options.host?.hostname ?? hostname(),
    ...(options.host?.hostId ? { 'host.id': options.host.hostId } : {}),
    ...kubernetesAttributes(env),
    ...cloudAttributes(env),
  };
  // `merge` lets the argument's attributes win, so the operator's variables go last.
  return defaultResource()
    .merge(resourceFromAttributes(ours))
    .merge(detectResources({ detectors: [envDetector] }));
}

/**
 * Kubernetes attributes from the variables the downward API conventionally sets. The Helm chart
 * sets `NODE_NAME`; `K8S_*` names are the OpenTelemetry Operator's. Only inside a cluster
 * (`KUBERNETES_SERVICE_HOST`), so a stray `NODE_NAME` on a plain host adds nothing.
 */
export function kubernetesAttributes(env: NodeJS.ProcessEnv): Attributes {
  if (!env.KUBERNETES_SERVICE_HOST) return {};
  const pick = (...names: string[]) => names.map((name) => env[name]?.trim()).find((value) => value);
  const found: Record<string, string | undefined> = {
    'k8s.node.name': pick('K8S_NODE_NAME', 'NODE_NAME'),
    'k8s.pod.name': pick('K8S_POD_NAME', 'POD_NAME'),
    'k8s.pod.uid': pick('K8S_POD_UID', 'POD_UID'),
    'k8s.namespace.name': pick('K8S_NAMESPACE_NAME', 'POD_NAMESPACE'),
  };
  return defined(found);
}

/**
 * Cloud attributes where the platform announces itself in the environment. Anything else (zone,
 * account, instance type) belongs in `OTEL_RESOURCE_ATTRIBUTES` or a collector `resourcedetection`
 * processor, which can query the metadata services this daemon deliberately does not call.
 */
export function cloudAttributes(env: NodeJS.ProcessEnv): Attributes {
  const awsRegion = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (awsRegion) return { 'cloud.provider': 'aws', 'cloud.region': awsRegion };
  const gcpProject = env.GOOGLE_CLOUD_PROJECT;
  if (gcpProject) return { 'cloud.provider': 'gcp', 'cloud.account.id': gcpProject };
  return {};
}

function defined(attributes: Record<string, string | undefined>): Attributes {
  return Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== undefined));
}
