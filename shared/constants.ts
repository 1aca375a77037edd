/**
 * Names that form the project's public contract: labels, annotations, metric names and defaults.
 * Infra (dashboards, alarms, RBAC) and code import them from here so they cannot drift apart.
 */

/** Value of `app.kubernetes.io/managed-by` on everything the registrar owns. */
export const MANAGED_BY_VALUE = 'istio-vm-registrar';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** Label carrying the EC2 instance id on a WorkloadEntry. */
export const INSTANCE_ID_LABEL = 'istio-vm-registrar.io/instance-id';
/** Annotations written on each WorkloadEntry. */
export const ASG_ANNOTATION = 'istio-vm-registrar.io/autoscaling-group';
export const LAUNCH_TIME_ANNOTATION = 'istio-vm-registrar.io/launch-time';
export const ACCOUNT_ANNOTATION = 'istio-vm-registrar.io/account-id';
/** Digest of the applied content, to detect fields we stopped setting (see `entryMatches`). */
export const APPLIED_HASH_ANNOTATION = 'istio-vm-registrar.io/applied-hash';
/**
 * Annotations on a WorkloadGroup that narrow who may join it, each a comma-separated list: Auto
 * Scaling group names (from the instance's `aws:autoscaling:groupName` tag) and owner account ids.
 * An absent annotation does not narrow; a present one must match.
 */
export const ALLOWED_AUTOSCALING_GROUPS_ANNOTATION = 'istio-vm-registrar.io/allowed-autoscaling-groups';
export const ALLOWED_ACCOUNTS_ANNOTATION = 'istio-vm-registrar.io/allowed-accounts';

/**
 * Annotations on a WorkloadGroup that ask for Services (see shared/domain/services.ts and README,
 * "Services for VM workloads"). `service` names the mode: `service`, `serviceentry` or `none`
 * (default: DEFAULT_SERVICE_MODE).
 */
export const SERVICE_MODE_ANNOTATION = 'istio-vm-registrar.io/service';
/** Name of the Service or ServiceEntry (default: the group's name). */
export const SERVICE_NAME_ANNOTATION = 'istio-vm-registrar.io/service-name';
/** Comma-separated hosts of the ServiceEntry (default `<name>.<namespace>.svc.cluster.local`). */
export const SERVICE_HOSTS_ANNOTATION = 'istio-vm-registrar.io/service-hosts';
/** Comma-separated `<port name>=<appProtocol>`: wins over the protocol inferred from the port name. */
export const APP_PROTOCOLS_ANNOTATION = 'istio-vm-registrar.io/app-protocols';
/** `true`: a selectorless Service with EndpointSlices carrying the VMs' addresses. */
export const DIRECT_ENDPOINTS_ANNOTATION = 'istio-vm-registrar.io/direct-endpoints';
/** Name of that selectorless Service (default `<group>-direct`). */
export const DIRECT_SERVICE_NAME_ANNOTATION = 'istio-vm-registrar.io/direct-service-name';
/**
 * Label on every Service, ServiceEntry and EndpointSlice the registrar keeps: the uid of its
 * WorkloadGroup (a group name may be longer than a label value allows; a re-created group is another).
 */
export const WORKLOAD_GROUP_UID_LABEL = 'istio-vm-registrar.io/workload-group-uid';
/** Label naming an EndpointSlice's Service, as Kubernetes defines it. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Who manages an EndpointSlice; the EndpointSlice controller leaves slices with other values alone. */
export const ENDPOINT_SLICE_MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const ENDPOINT_SLICE_MANAGED_BY_VALUE = 'registrar.istio-vm-registrar.io';
/**
 * Lifecycle behaviour a WorkloadGroup opts in to (see shared/domain/lifecycle.ts and README,
 * "Lifecycle hooks"): the drain period of a scale-in, the launch gate and its timeout and result,
 * and whether an EC2 rebalance recommendation takes the VM out of the mesh at once.
 */
export const DRAIN_SECONDS_ANNOTATION = 'istio-vm-registrar.io/drain-seconds';
export const LAUNCH_GATE_ANNOTATION = 'istio-vm-registrar.io/launch-gate';
export const LAUNCH_GATE_TIMEOUT_ANNOTATION = 'istio-vm-registrar.io/launch-gate-timeout-seconds';
export const LAUNCH_GATE_RESULT_ANNOTATION = 'istio-vm-registrar.io/launch-gate-timeout-result';
export const REBALANCE_ANNOTATION = 'istio-vm-registrar.io/deregister-on-rebalance';
/**
 * Istio's own annotation on a WorkloadEntry: istiod keeps the entry out of endpoints until the VM's
 * proxy reports it healthy, and writes the `Healthy` condition. Written on the entries of groups
 * with the `istiod` launch gate.
 */
export const HEALTH_CHECKS_ANNOTATION = 'proxy.istio.io/health-checks-enabled';

/**
 * Lifecycle hooks whose actions the registrar completes (the hooks the CDK stack creates). Actions of
 * any other hook on the same groups belong to someone else (node drainers, bootstrap tooling) and
 * are left pending; their events are still used as hints.
 */
export const DEFAULT_LIFECYCLE_HOOK_NAMES = [
  'istio-vm-registrar-launch',
  'istio-vm-registrar-terminate',
] as const;

/**
 * Fixed name of the role the registrar assumes in every other account it serves (the spoke stack
 * creates it; MEMBER_ROLE_NAME overrides it on both sides).
 */
export const DEFAULT_MEMBER_ROLE_NAME = 'istio-vm-registrar-member';

/**
 * Time each function keeps back from its own timeout to report (the registrar its partial-batch
 * response, the reconciler its summary): calls still running then are cancelled. CDK refuses a
 * timeout that leaves less than one Kubernetes request after it.
 */
export const DEADLINE_MARGIN_MS = { registrar: 3_000, reconciler: 5_000 } as const;

/** Default server-side apply field manager. */
export const DEFAULT_FIELD_MANAGER = 'istio-vm-registrar';
export const DEFAULT_TAG_PREFIX = 'istio-vm/';
/** Tag suffixes (appended to the tag prefix). */
export const WORKLOAD_GROUP_TAG = 'workload-group';
export const NETWORK_TAG = 'network';
/** Auto Scaling puts this tag on every instance it launches. */
export const ASG_NAME_TAG = 'aws:autoscaling:groupName';

export const ISTIO_NETWORKING_GROUP = 'networking.istio.io';
export const ISTIO_NETWORKING_VERSION = 'v1';
export const WORKLOAD_ENTRY_PLURAL = 'workloadentries';
export const WORKLOAD_GROUP_PLURAL = 'workloadgroups';
export const SERVICE_ENTRY_PLURAL = 'serviceentries';
export const DISCOVERY_GROUP = 'discovery.k8s.io';
export const EVENTS_GROUP = 'events.k8s.io';

/** CloudWatch metric namespace (POWERTOOLS_METRICS_NAMESPACE overrides it). */
export const METRICS_NAMESPACE = 'IstioVmRegistrar';

/**
 * Metric names emitted by the functions, derived from the one definition list in shared/metrics.ts
 * (unit, dimension sets, meaning). Dashboards and alarms refer to these.
 */
export { Metric, type MetricName } from './metrics.ts';
