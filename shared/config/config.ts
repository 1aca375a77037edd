import * as z from 'zod';
import {
  DEFAULT_FIELD_MANAGER,
  DEFAULT_LIFECYCLE_HOOK_NAMES,
  DEFAULT_MEMBER_ROLE_NAME,
  DEFAULT_TAG_PREFIX,
} from '../constants.ts';
import { type Fleet, type NetworkMap, parseNetworkMap, parseSpokes } from '../domain/locations.ts';

/** Thrown when the environment does not describe a usable configuration. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const csv = z.string().transform((value) =>
  value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0),
);

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

/**
 * Every environment variable the functions and the CLI read. Names are the contract documented in
 * README.md ("Configuration"); CDK sets them in `infra/constructs/registrar.ts`.
 */
export const environmentSchema = z.object({
  AWS_REGION: z.string().min(1).optional(),
  /** EKS cluster name: enables EKS token authentication. */
  CLUSTER_NAME: z.string().min(1).optional(),
  /** Kubernetes API URL. With CLUSTER_NAME and without this, eks:DescribeCluster finds it. */
  CLUSTER_ENDPOINT: z.url().optional(),
  /** Base64 PEM bundle of the cluster CA. With CLUSTER_NAME and without this, DescribeCluster finds it. */
  CLUSTER_CA_DATA: z.string().min(1).optional(),
  /** Path to a kubeconfig, used when CLUSTER_NAME is not set (non-EKS clusters, local use). */
  KUBECONFIG: z.string().min(1).optional(),
  /** Namespaces the registrar may write into. `*` allows every namespace (not recommended). */
  ALLOWED_NAMESPACES: csv.pipe(
    z
      .array(
        z.string().regex(dns1123Label, 'each namespace must be a DNS-1123 label, or *').or(z.literal('*')),
      )
      .min(1, 'ALLOWED_NAMESPACES must name at least one namespace'),
  ),
  TAG_PREFIX: z.string().min(1).default(DEFAULT_TAG_PREFIX),
  /** What happens to the entry of a stopping/stopped instance. */
  STOPPED_INSTANCE_POLICY: z.enum(['delete', 'keep']).default('delete'),
  FIELD_MANAGER: z.string().min(1).max(128).default(DEFAULT_FIELD_MANAGER),
  WORKLOAD_GROUP_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
  /** Complete Auto Scaling lifecycle actions (CONTINUE) once the entry has converged. */
  COMPLETE_LIFECYCLE_ACTIONS: booleanFlag.default(true),
  /** Only actions of these hooks are completed; other hooks' actions are left to their owners. */
  LIFECYCLE_HOOK_NAMES: csv
    .pipe(z.array(z.string().min(1).max(255)).min(1, 'LIFECYCLE_HOOK_NAMES must name at least one hook'))
    .default([...DEFAULT_LIFECYCLE_HOOK_NAMES]),
  KUBE_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** Parallel Kubernetes writes in one batch or sweep. */
  KUBE_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(10),
  /** A WorkloadGroup without an allowed-autoscaling-groups/allowed-accounts annotation admits nobody. */
  REQUIRE_GROUP_ALLOW_LIST: booleanFlag.default(false),
  /**
   * The event queue's dead-letter queue: records that cannot succeed on retry (AccessDenied, a
   * request the API rejects) are moved there at once. Unset: they are retried until SQS moves them.
   */
  DEAD_LETTER_QUEUE_URL: z.url().optional(),
  /** A sweep that would delete more than this share of a group's entries stops unless forced. */
  RECONCILE_MAX_DELETE_RATIO: z.coerce.number().min(0).max(1).default(0.5),
  /** Account of the registrar's own credentials: its home location with AWS_REGION. */
  HOME_ACCOUNT_ID: z
    .string()
    .regex(/^\d{12}$/, 'HOME_ACCOUNT_ID must be a 12-digit account id')
    .optional(),
  /** Other account/region pairs served through the member role: `account:region`, comma-separated. */
  SPOKE_ACCOUNT_REGIONS: z.string().optional(),
  /** Fixed name of the role assumed in the spoke accounts. */
  MEMBER_ROLE_NAME: z
    .string()
    .regex(/^[\w+=,.@-]{1,64}$/, 'MEMBER_ROLE_NAME must be an IAM role name')
    .default(DEFAULT_MEMBER_ROLE_NAME),
  /** `sts:ExternalId` presented when assuming the member role. */
  MEMBER_EXTERNAL_ID: z
    .string()
    .regex(/^[\w+=,.@:/-]{2,1224}$/, 'MEMBER_EXTERNAL_ID must be 2-1224 characters of [A-Za-z0-9+=,.@:/_-]')
    .optional(),
  /** Mesh network by account or account and VPC: `account[:vpc-id]=network`, comma-separated. */
  NETWORK_MAP: z.string().optional(),
  /** Services for a WorkloadGroup without the `istio-vm-registrar.io/service` annotation. */
  DEFAULT_SERVICE_MODE: z.enum(['none', 'service', 'serviceentry']).default('none'),
  /**
   * EventBridge bus (name or ARN) that receives `WorkloadEntry Registered`, `WorkloadEntry
   * Deregistered`, `Instance Refused` and `Reconcile Completed` (docs/events/). Unset: none published.
   */
  EVENT_BUS: z
    .string()
    .regex(
      /^(arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[A-Za-z0-9._\-/]{1,256}|[A-Za-z0-9._\-/]{1,256})$/,
      'EVENT_BUS must be an event bus name or an event bus ARN',
    )
    .optional(),
  /**
   * Kubernetes Events (events.k8s.io/v1) for registrations, deregistrations, refusals and sweeps:
   * `all` on the WorkloadGroup and on the entry while it exists, `workloadgroup` on the group only,
   * `none` to write none.
   */
  KUBE_EVENTS: z.enum(['all', 'workloadgroup', 'none']).default('all'),
  /** Distinct WorkloadGroup metric dimension values per container; the rest are counted as `other`. */
  METRICS_MAX_WORKLOAD_GROUPS: z.coerce.number().int().min(0).max(500).default(50),
  /**
   * The registrar's own queue, where lifecycle waits (drain periods, launch gates, retries) are
   * parked as delayed continuation messages. Unset: lifecycle actions complete at once (no drain,
   * no gate), as from the CLI.
   */
  LIFECYCLE_QUEUE_URL: z.url().optional(),
  /** Default drain period of a scale-in (a WorkloadGroup's drain-seconds annotation overrides it). */
  DRAIN_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
  /** Wait before a lifecycle record whose convergence failed is tried again. */
  LIFECYCLE_RETRY_SECONDS: z.coerce.number().int().min(1).max(900).default(15),
  /** How long a failing scale-in is retried (heartbeating the hook) before it is completed anyway. */
  TERMINATE_RETRY_LIMIT_SECONDS: z.coerce.number().int().min(60).max(172_800).default(3600),
  /**
   * Time a continuation may take from becoming visible to its heartbeat (batching window plus an
   * invocation): waits end that long before the hook's timeout, or heartbeat first.
   */
  LIFECYCLE_HEARTBEAT_MARGIN_SECONDS: z.coerce.number().int().min(1).max(900).default(36),
});

export type Environment = z.input<typeof environmentSchema>;

/** How the functions reach the Kubernetes API. */
export type ClusterAccess =
  | {
      readonly kind: 'eks';
      readonly clusterName: string;
      readonly endpoint?: string;
      readonly caData?: string;
      readonly region: string;
    }
  | { readonly kind: 'kubeconfig'; readonly path?: string };

/** Validated configuration shared by every entry point. */
export interface RegistrarConfig {
  readonly region: string;
  readonly cluster: ClusterAccess;
  /** Allowed namespaces; contains `*` when every namespace is allowed. */
  readonly allowedNamespaces: readonly string[];
  readonly tagPrefix: string;
  readonly stoppedInstancePolicy: 'delete' | 'keep';
  readonly fieldManager: string;
  readonly workloadGroupCacheTtlMs: number;
  readonly completeLifecycleActions: boolean;
  readonly lifecycleHookNames: readonly string[];
  readonly kubeRequestTimeoutMs: number;
  readonly kubeConcurrency: number;
  readonly reconcileMaxDeleteRatio: number;
  readonly requireGroupAllowList: boolean;
  /** Home (own credentials) and spoke locations (member role). */
  readonly fleet: Fleet;
  /** Role assumed in spoke accounts; set when spokes are configured. */
  readonly memberRole?: { readonly name: string; readonly externalId: string };
  /** Mesh network by account / VPC (the network tag wins). */
  readonly networkMap?: NetworkMap;
  /** Services for groups that do not say (annotation `istio-vm-registrar.io/service`). */
  readonly defaultServiceMode: 'none' | 'service' | 'serviceentry';
  /** Where records that cannot succeed on retry go at once; undefined: SQS redrive decides. */
  readonly deadLetterQueueUrl: string | undefined;
  /** EventBridge bus name or ARN for the registrar's own events; undefined: none published. */
  readonly eventBus: string | undefined;
  /** Which Kubernetes Events are written. */
  readonly kubeEvents: 'all' | 'workloadgroup' | 'none';
  /** Cap on distinct WorkloadGroup metric dimension values per container. */
  readonly metricsMaxWorkloadGroups: number;
  /** Lifecycle waits: see LIFECYCLE_QUEUE_URL and the lifecycle settings in shared/domain/lifecycle.ts. */
  readonly lifecycleQueueUrl?: string;
  readonly drainSeconds: number;
  readonly lifecycleRetrySeconds: number;
  readonly terminateRetryLimitSeconds: number;
  readonly lifecycleHeartbeatMarginSeconds: number;
}

/**
 * Reads and validates the configuration. Throws {@link ConfigError} listing every problem at once,
 * so a misconfigured function fails at init with one readable log line.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): RegistrarConfig {
  const parsed = environmentSchema.safeParse(stripEmpty(env));
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`,
    );
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const region = e.AWS_REGION ?? 'us-east-1';
  const fleet = readFleet(e, region);
  const cluster: ClusterAccess = e.CLUSTER_NAME
    ? {
        kind: 'eks',
        clusterName: e.CLUSTER_NAME,
        region,
        ...(e.CLUSTER_ENDPOINT ? { endpoint: e.CLUSTER_ENDPOINT } : {}),
        ...(e.CLUSTER_CA_DATA ? { caData: e.CLUSTER_CA_DATA } : {}),
      }
    : { kind: 'kubeconfig', ...(e.KUBECONFIG ? { path: e.KUBECONFIG } : {}) };
  return {
    region,
    cluster,
    allowedNamespaces: e.ALLOWED_NAMESPACES,
    tagPrefix: e.TAG_PREFIX,
    stoppedInstancePolicy: e.STOPPED_INSTANCE_POLICY,
    fieldManager: e.FIELD_MANAGER,
    workloadGroupCacheTtlMs: e.WORKLOAD_GROUP_CACHE_TTL_SECONDS * 1000,
    completeLifecycleActions: e.COMPLETE_LIFECYCLE_ACTIONS,
    lifecycleHookNames: e.LIFECYCLE_HOOK_NAMES,
    kubeRequestTimeoutMs: e.KUBE_REQUEST_TIMEOUT_MS,
    kubeConcurrency: e.KUBE_CONCURRENCY,
    reconcileMaxDeleteRatio: e.RECONCILE_MAX_DELETE_RATIO,
    requireGroupAllowList: e.REQUIRE_GROUP_ALLOW_LIST,
    defaultServiceMode: e.DEFAULT_SERVICE_MODE,
    deadLetterQueueUrl: e.DEAD_LETTER_QUEUE_URL,
    eventBus: e.EVENT_BUS,
    kubeEvents: e.KUBE_EVENTS,
    metricsMaxWorkloadGroups: e.METRICS_MAX_WORKLOAD_GROUPS,
    ...(e.LIFECYCLE_QUEUE_URL ? { lifecycleQueueUrl: e.LIFECYCLE_QUEUE_URL } : {}),
    drainSeconds: e.DRAIN_SECONDS,
    lifecycleRetrySeconds: e.LIFECYCLE_RETRY_SECONDS,
    terminateRetryLimitSeconds: e.TERMINATE_RETRY_LIMIT_SECONDS,
    lifecycleHeartbeatMarginSeconds: e.LIFECYCLE_HEARTBEAT_MARGIN_SECONDS,
    fleet: fleet.fleet,
    ...(fleet.fleet.spokes.length > 0
      ? { memberRole: { name: e.MEMBER_ROLE_NAME, externalId: e.MEMBER_EXTERNAL_ID ?? '' } }
      : {}),
    ...(fleet.networkMap ? { networkMap: fleet.networkMap } : {}),
  };
}

/** The locations served and the network map; the cross-field rules of multi-account mode. */
function readFleet(
  e: z.output<typeof environmentSchema>,
  region: string,
): { fleet: Fleet; networkMap?: NetworkMap } {
  const problems: string[] = [];
  const { spokes, problems: spokeProblems } = parseSpokes(e.SPOKE_ACCOUNT_REGIONS ?? '', region);
  problems.push(...spokeProblems.map((p) => `SPOKE_ACCOUNT_REGIONS: ${p}`));
  if (spokes.length > 0 || spokeProblems.length > 0) {
    if (!e.HOME_ACCOUNT_ID) {
      problems.push(
        'HOME_ACCOUNT_ID: required with SPOKE_ACCOUNT_REGIONS (the account of the registrar’s own credentials)',
      );
    }
    if (!e.MEMBER_EXTERNAL_ID) {
      problems.push('MEMBER_EXTERNAL_ID: required with SPOKE_ACCOUNT_REGIONS (the spoke stacks’ ExternalId)');
    }
  }
  for (const spoke of spokes) {
    if (spoke.account === e.HOME_ACCOUNT_ID && spoke.region === region) {
      problems.push(
        `SPOKE_ACCOUNT_REGIONS: "${spoke.account}:${spoke.region}" is the registrar's own account and region`,
      );
    }
  }
  const network = e.NETWORK_MAP ? parseNetworkMap(e.NETWORK_MAP) : undefined;
  problems.push(...(network?.problems ?? []).map((p) => `NETWORK_MAP: ${p}`));
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return {
    fleet: { home: { region, ...(e.HOME_ACCOUNT_ID ? { account: e.HOME_ACCOUNT_ID } : {}) }, spokes },
    ...(network ? { networkMap: network.map } : {}),
  };
}

/** Empty strings count as unset, as CloudFormation and shells tend to produce them. */
function stripEmpty(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') out[key] = value;
  }
  return out;
}
