import { ArnFormat, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import type { IAutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { environmentSchema } from '#shared/config/config.ts';
import {
  DEADLINE_MARGIN_MS,
  DEFAULT_MEMBER_ROLE_NAME,
  MANAGED_BY_VALUE,
  METRICS_NAMESPACE,
  WORKLOAD_GROUP_TAG,
} from '#shared/constants.ts';
import { parseNetworkMap, parseSpokes } from '#shared/domain/locations.ts';
import { acknowledgeWildcardResource } from '../nag.ts';
import type { SpokeLocation } from './hub.ts';
import { createNodeFunction } from './node-function.ts';

/** Powertools log levels the functions accept in POWERTOOLS_LOG_LEVEL. */
export type RegistrarLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface RegistrarFunctionsProps {
  /**
   * Namespaces the registrar may write WorkloadEntries into (ALLOWED_NAMESPACES). `*` allows every
   * namespace and is not recommended.
   */
  readonly allowedNamespaces: readonly string[];
  /** Name of the EKS cluster (CLUSTER_NAME): token authentication and the access entry use it. */
  readonly clusterName: string;
  /**
   * Kubernetes API URL (CLUSTER_ENDPOINT). With it and `clusterCertificateAuthorityData`, the
   * functions skip eks:DescribeCluster and get no permission for it.
   * @default - looked up with eks:DescribeCluster at cold start
   */
  readonly clusterEndpoint?: string;
  /**
   * Base64 PEM bundle of the cluster CA (CLUSTER_CA_DATA).
   * @default - looked up with eks:DescribeCluster at cold start
   */
  readonly clusterCertificateAuthorityData?: string;
  /**
   * Prefix of the instance tags the registrar reads (TAG_PREFIX).
   * @default - the functions' default (shared/config/config.ts): 'istio-vm/'
   */
  readonly tagPrefix?: string;
  /**
   * What happens to the entry of a stopping/stopped instance (STOPPED_INSTANCE_POLICY).
   * @default - the functions' default: 'delete'
   */
  readonly stoppedInstancePolicy?: 'delete' | 'keep';
  /**
   * Complete Auto Scaling lifecycle actions (CONTINUE) once the entry has converged
   * (COMPLETE_LIFECYCLE_ACTIONS). When false the registrar gets no autoscaling permission.
   * @default - the functions' default: true
   */
  readonly completeLifecycleActions?: boolean;
  /**
   * Default drain period of a scale-in (DRAIN_SECONDS, 0-3600 s): after the entry is deleted, the
   * terminate lifecycle action is completed this long later. A WorkloadGroup's
   * `istio-vm-registrar.io/drain-seconds` annotation overrides it.
   * @default - the functions' default: 30 s
   */
  readonly drainPeriod?: Duration;
  /**
   * Wait before a lifecycle record whose convergence failed is tried again
   * (LIFECYCLE_RETRY_SECONDS, 1-900 s); the hook is heartbeated when the wait needs it.
   * @default - the functions' default: 15 s
   */
  readonly lifecycleRetryDelay?: Duration;
  /**
   * How long a scale-in whose Kubernetes calls keep failing is retried, heartbeating its hook,
   * before the action is completed anyway (TERMINATE_RETRY_LIMIT_SECONDS, 60 s-48 h).
   * @default - the functions' default: 1 hour
   */
  readonly terminateRetryLimit?: Duration;
  /**
   * Parallel Kubernetes writes in one batch or sweep (KUBE_CONCURRENCY, 1-64).
   * @default - the functions' default (shared/config/config.ts; 10 when written)
   */
  readonly kubeConcurrency?: number;
  /**
   * A sweep that would delete more than this share of a group's entries stops unless forced
   * (RECONCILE_MAX_DELETE_RATIO, 0-1).
   * @default - the functions' default: 0.5
   */
  readonly reconcileMaxDeleteRatio?: number;
  /**
   * A WorkloadGroup without an allowed-autoscaling-groups or allowed-accounts annotation admits
   * nobody (REQUIRE_GROUP_ALLOW_LIST). Recommended: without it, whoever may tag an instance may
   * join any existing group in an allowed namespace.
   * @default - the functions' default: false
   */
  readonly requireGroupAllowList?: boolean;
  /**
   * Services for a WorkloadGroup without the `istio-vm-registrar.io/service` annotation
   * (DEFAULT_SERVICE_MODE): `none`, `service` or `serviceentry`. See README, "Services for VM workloads".
   * @default - the functions' default: 'none'
   */
  readonly defaultServiceMode?: 'none' | 'service' | 'serviceentry';
  /**
   * Server-side apply field manager (FIELD_MANAGER).
   * @default - the functions' default: 'istio-vm-registrar'
   */
  readonly fieldManager?: string;
  /**
   * How long a WorkloadGroup read stays cached (WORKLOAD_GROUP_CACHE_TTL_SECONDS, 0-3600 s).
   * @default - the functions' default: 30 s
   */
  readonly workloadGroupCacheTtl?: Duration;
  /**
   * Timeout of one Kubernetes request (KUBE_REQUEST_TIMEOUT_MS, 100 ms-120 s).
   * @default - the functions' default: 10 s
   */
  readonly kubeRequestTimeout?: Duration;
  /**
   * Auto Scaling groups whose lifecycle actions the registrar completes. The permission is scoped
   * to their ARNs.
   * @default - any group in this account and region (`autoScalingGroup:*:autoScalingGroupName/*`)
   */
  readonly autoScalingGroups?: readonly IAutoScalingGroup[];
  /**
   * POWERTOOLS_SERVICE_NAME of both functions: the `service` dimension of every custom metric,
   * which the alarms and the dashboard select on.
   * @default 'istio-vm-registrar'
   */
  readonly serviceName?: string;
  /**
   * CloudWatch namespace of the custom metrics (POWERTOOLS_METRICS_NAMESPACE).
   * @default 'IstioVmRegistrar'
   */
  readonly metricsNamespace?: string;
  /**
   * POWERTOOLS_LOG_LEVEL and the Lambda application log level.
   * @default 'INFO'
   */
  readonly logLevel?: RegistrarLogLevel;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default Duration.seconds(30) */
  readonly registrarTimeout?: Duration;
  /** @default 512 */
  readonly registrarMemorySize?: number;
  /** @default Duration.minutes(5) */
  readonly reconcilerTimeout?: Duration;
  /** @default 1024 */
  readonly reconcilerMemorySize?: number;
  /**
   * Reserved concurrency of the reconciler: 1 keeps sweeps (scheduled, and invoked by hand) from
   * overlapping. `false` leaves it unreserved, for accounts whose concurrency limit is too low to
   * reserve any (AWS keeps 10 unreserved); overlapping sweeps are then idempotent but wasteful.
   * @default 1
   */
  readonly reconcilerReservedConcurrency?: number | false;
  /**
   * VPC to run the functions in: needed when the cluster's API endpoint is private. The functions
   * then need a route to the EC2, Auto Scaling and EKS APIs (NAT gateway or interface endpoints).
   * @default - not in a VPC
   */
  readonly vpc?: IVpc;
  /** @default - the VPC's private subnets */
  readonly vpcSubnets?: SubnetSelection;
  /**
   * Security groups of the functions; they must be allowed into the cluster endpoint on 443.
   * @default - one new security group when `vpc` is set
   */
  readonly securityGroups?: readonly ISecurityGroup[];
  /**
   * EventBridge bus that receives `WorkloadEntry Registered`, `WorkloadEntry Deregistered`,
   * `Instance Refused` and `Reconcile Completed` (EVENT_BUS; schemas in docs/events/). Both roles
   * get `events:PutEvents` on this bus only.
   * @default - no events published
   */
  readonly eventBus?: events.IEventBus;
  /**
   * Kubernetes Events (KUBE_EVENTS): `all` (on the WorkloadGroup and on the entry), `workloadgroup`
   * (on the group only) or `none`.
   * @default - the functions' default: 'all'
   */
  readonly kubernetesEvents?: 'all' | 'workloadgroup' | 'none';
  /**
   * Distinct `WorkloadGroup` metric dimension values per container before the rest are counted as
   * `other` (METRICS_MAX_WORKLOAD_GROUPS, 0-500).
   * @default - the functions' default: 50
   */
  readonly metricsMaxWorkloadGroups?: number;
  /**
   * Other account/region pairs whose VMs the functions serve through the member role of each
   * account (SPOKE_ACCOUNT_REGIONS; HOME_ACCOUNT_ID is this stack's account). Each needs the spoke
   * stack; `RegistrarHub` forwards their events. The functions may assume the member role in these
   * accounts only.
   * @default - this account and region only
   */
  readonly spokes?: readonly SpokeLocation[];
  /**
   * `sts:ExternalId` presented to the member roles (MEMBER_EXTERNAL_ID): the spoke stacks'
   * `ExternalId` parameter. Required with `spokes`.
   * @default - none
   */
  readonly memberExternalId?: string;
  /**
   * Name of the member role in the spoke accounts (MEMBER_ROLE_NAME).
   * @default 'istio-vm-registrar-member'
   */
  readonly memberRoleName?: string;
  /**
   * Mesh network by account or account and VPC (NETWORK_MAP): keys `<account>` or
   * `<account>:<vpc-id>`, values network names. An instance's network tag wins over it; it wins over
   * the WorkloadGroup template's network.
   * @default - none
   */
  readonly networkMap?: Readonly<Record<string, string>>;
}

/**
 * The functions' own defaults (shared/config/config.ts), written out explicitly so the console shows
 * the effective configuration, and taken from the schema so CDK and the functions cannot disagree.
 */
export const FUNCTION_DEFAULTS = environmentSchema.parse({ ALLOWED_NAMESPACES: 'default' });

const LOG_LEVELS: Readonly<Record<RegistrarLogLevel, lambda.ApplicationLogLevel>> = {
  DEBUG: lambda.ApplicationLogLevel.DEBUG,
  INFO: lambda.ApplicationLogLevel.INFO,
  WARN: lambda.ApplicationLogLevel.WARN,
  ERROR: lambda.ApplicationLogLevel.ERROR,
};

/**
 * The registrar (SQS-triggered) and reconciler (scheduled or invoked) functions, one role each,
 * the configuration both read, and the IAM statements their AWS calls need, scoped as tightly as
 * the services allow:
 * - `ec2:DescribeInstances`, `autoscaling:DescribeAutoScalingInstances`, `DescribeAutoScalingGroups` and
 *   `DescribeWarmPool` on `*` (Describe actions
 *   support no resource-level permissions);
 * - `autoscaling:CompleteLifecycleAction` (registrar only) on the configured groups' ARNs, or on
 *   every group of this account and region;
 * - `eks:DescribeCluster` on this cluster's ARN, only when endpoint or CA are not given.
 * Kubernetes authentication is a presigned sts:GetCallerIdentity URL, which needs no permission.
 */
export class RegistrarFunctions extends Construct {
  public readonly registrar: lambda.Function;
  public readonly reconciler: lambda.Function;
  /** Environment both functions share (without NODE_OPTIONS). */
  public readonly environment: Readonly<Record<string, string>>;
  /** The `service` dimension of the custom metrics. */
  public readonly serviceName: string;
  public readonly metricsNamespace: string;
  /** Cluster ARN the functions may describe. */
  public readonly clusterArn: string;
  public readonly clusterName: string;
  /** Security groups the functions run with (empty outside a VPC). */
  public readonly securityGroups: readonly ISecurityGroup[];
  /** The other account/region pairs served (empty: this account and region only). */
  public readonly spokes: readonly SpokeLocation[];
  /** Name of the role assumed in the spoke accounts. */
  public readonly memberRoleName: string;
  /** Prefix of the instance and group tags the registrar reads. */
  public readonly tagPrefix: string;

  constructor(scope: Construct, id: string, props: RegistrarFunctionsProps) {
    super(scope, id);
    this.serviceName = props.serviceName ?? MANAGED_BY_VALUE;
    this.metricsNamespace = props.metricsNamespace ?? METRICS_NAMESPACE;
    this.clusterName = props.clusterName;
    this.tagPrefix = props.tagPrefix ?? FUNCTION_DEFAULTS.TAG_PREFIX;
    this.spokes = [...(props.spokes ?? [])];
    this.memberRoleName = props.memberRoleName ?? DEFAULT_MEMBER_ROLE_NAME;
    this.environment = {
      ...renderEnvironment(props, this.serviceName, this.metricsNamespace),
      ...fleetEnvironment(this, props),
    };
    validate(this, props, this.environment);

    const stack = Stack.of(this);
    this.clusterArn = stack.formatArn({
      service: 'eks',
      resource: 'cluster',
      resourceName: props.clusterName,
    });
    const logLevel = LOG_LEVELS[props.logLevel ?? 'INFO'];
    this.securityGroups = props.vpc ? (props.securityGroups ?? [this.createSecurityGroup(props.vpc)]) : [];
    const common = {
      environment: this.environment,
      applicationLogLevel: logLevel,
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      ...(props.vpc
        ? {
            vpc: props.vpc,
            ...(props.vpcSubnets ? { vpcSubnets: props.vpcSubnets } : {}),
            securityGroups: this.securityGroups,
          }
        : {}),
    };
    this.registrar = createNodeFunction(this, 'Registrar', {
      ...common,
      name: 'registrar',
      description: 'istio-vm-registrar: converges WorkloadEntries for EC2/Auto Scaling events (SQS batches)',
      timeout: props.registrarTimeout ?? Duration.seconds(30),
      memorySize: props.registrarMemorySize ?? 512,
    });
    this.reconciler = createNodeFunction(this, 'Reconciler', {
      ...common,
      name: 'reconciler',
      description:
        'istio-vm-registrar: sweeps every tagged instance and managed WorkloadEntry and repairs drift',
      timeout: props.reconcilerTimeout ?? Duration.minutes(5),
      memorySize: props.reconcilerMemorySize ?? 1024,
      ...(props.reconcilerReservedConcurrency !== false
        ? { reservedConcurrentExecutions: props.reconcilerReservedConcurrency ?? 1 }
        : {}),
    });
    const needsDescribeCluster = !(props.clusterEndpoint && props.clusterCertificateAuthorityData);
    for (const fn of [this.registrar, this.reconciler]) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadInstances',
          // Both reads of truth: EC2 state and the Auto Scaling lifecycle state (warm pool, standby,
          // terminating). Neither action supports resource-level permissions.
          actions: [
            'ec2:DescribeInstances',
            'autoscaling:DescribeAutoScalingInstances',
            'autoscaling:DescribeAutoScalingGroups',
            'autoscaling:DescribeWarmPool',
          ],
          resources: ['*'],
        }),
      );
      if (needsDescribeCluster) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            sid: 'DescribeCluster',
            actions: ['eks:DescribeCluster'],
            resources: [this.clusterArn],
          }),
        );
      }
    }
    this.grantAssumeMemberRoles(this.registrar);
    this.grantAssumeMemberRoles(this.reconciler);
    if (props.completeLifecycleActions ?? FUNCTION_DEFAULTS.COMPLETE_LIFECYCLE_ACTIONS) {
      // Heartbeats keep an action alive while the registrar waits (drain, launch gate, retries).
      this.grantLifecycleActions(
        this.registrar,
        ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
        props.autoScalingGroups,
      );
      // The hooks' heartbeat timeouts size every wait. Describe actions take no resource-level permissions.
      this.registrar.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadLifecycleHooks',
          actions: ['autoscaling:DescribeLifecycleHooks'],
          resources: ['*'],
        }),
      );
    }
    // The registrar's own events (docs/events/): PutEvents on that one bus.
    if (props.eventBus)
      for (const fn of [this.registrar, this.reconciler]) props.eventBus.grantPutEventsTo(fn);

    for (const fn of [this.registrar, this.reconciler]) {
      Validations.of(fn.role!).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Resource "*" is only on actions without resource-level permissions: ec2:DescribeInstances, autoscaling:DescribeAutoScalingInstances/Groups, autoscaling:DescribeWarmPool, autoscaling:DescribeLifecycleHooks ' +
          '(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html), ' +
          'xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing), and, in a VPC, the ' +
          'ec2:*NetworkInterface* actions Lambda validates against "*".',
      });
    }
  }

  /**
   * Lets `grantee` assume the member role in the spokes' accounts, and in no other account.
   * (Lambda's own account is included when a region of it is a spoke: every pair but the
   * function's own goes through the member role.)
   */
  public grantAssumeMemberRoles(grantee: iam.IGrantable): iam.Grant | undefined {
    const accounts = [...new Set(this.spokes.map((spoke) => spoke.account))].sort();
    if (accounts.length === 0) return undefined;
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['sts:AssumeRole'],
      resourceArns: accounts.map((account) => this.memberRoleArn(account)),
    });
  }

  /** ARN of the member role in `account`, in this stack's partition. */
  public memberRoleArn(account: string): string {
    return Stack.of(this).formatArn({
      service: 'iam',
      region: '',
      account,
      resource: 'role',
      resourceName: this.memberRoleName,
    });
  }

  /**
   * One group for both functions, so the cluster endpoint needs one ingress rule. Outbound is HTTPS
   * only: the EC2, Auto Scaling, EKS and Kubernetes APIs.
   */
  private createSecurityGroup(vpc: IVpc): ec2.ISecurityGroup {
    const group = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: 'istio-vm-registrar functions: HTTPS out to AWS APIs and the Kubernetes API',
      allowAllOutbound: false,
    });
    group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs and the Kubernetes API');
    return group;
  }

  /**
   * Lets `grantee` complete lifecycle actions of `groups`, or, when none are named, of the groups of
   * this account and region that carry the workload-group tag (`autoscaling:ResourceTag`): a role
   * that answers for the fleet's hooks cannot complete another team's. Seam for a reconciler that
   * completes actions stuck in Pending:Wait.
   */
  public grantCompleteLifecycleAction(
    grantee: iam.IGrantable,
    groups?: readonly IAutoScalingGroup[],
  ): iam.Grant {
    return this.grantLifecycleActions(grantee, ['autoscaling:CompleteLifecycleAction'], groups);
  }

  /** Lifecycle-action calls (`autoscaling:CompleteLifecycleAction`, `...Heartbeat`), scoped as above. */
  public grantLifecycleActions(
    grantee: iam.IGrantable,
    actions: readonly string[],
    groups?: readonly IAutoScalingGroup[],
  ): iam.Grant {
    const stack = Stack.of(this);
    const named = groups !== undefined && groups.length > 0;
    const resources = named
      ? groups.map((group) => group.autoScalingGroupArn)
      : [
          stack.formatArn({
            service: 'autoscaling',
            resource: 'autoScalingGroup',
            resourceName: '*:autoScalingGroupName/*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ];
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: [...actions],
      resourceArns: resources,
      ...(named
        ? {}
        : {
            conditions: {
              Null: { [`autoscaling:ResourceTag/${this.tagPrefix}${WORKLOAD_GROUP_TAG}`]: 'false' },
            },
          }),
    });
    const role = grantee.grantPrincipal instanceof iam.Role ? grantee.grantPrincipal : undefined;
    if (role) {
      for (const resource of resources) {
        acknowledgeWildcardResource(
          role,
          resource,
          named
            ? 'An Auto Scaling group ARN holds a UUID assigned at creation (autoScalingGroup:<uuid>:autoScalingGroupName/<name>); the "*" stands for that UUID only, the group name is fixed.'
            : `No Auto Scaling group names were configured (autoScalingGroupNames): the first "*" is the UUID in every group ARN, the second any group name, narrowed by the condition to groups tagged ${this.tagPrefix}${WORKLOAD_GROUP_TAG}. Configure the names to narrow it further.`,
        );
      }
    }
    return grant;
  }
}

function renderEnvironment(
  props: RegistrarFunctionsProps,
  serviceName: string,
  metricsNamespace: string,
): Record<string, string> {
  const defaults = FUNCTION_DEFAULTS;
  const env: Record<string, string> = {
    ALLOWED_NAMESPACES: props.allowedNamespaces.join(','),
    CLUSTER_NAME: props.clusterName,
    TAG_PREFIX: props.tagPrefix ?? defaults.TAG_PREFIX,
    STOPPED_INSTANCE_POLICY: props.stoppedInstancePolicy ?? defaults.STOPPED_INSTANCE_POLICY,
    FIELD_MANAGER: props.fieldManager ?? defaults.FIELD_MANAGER,
    WORKLOAD_GROUP_CACHE_TTL_SECONDS: String(
      props.workloadGroupCacheTtl?.toSeconds() ?? defaults.WORKLOAD_GROUP_CACHE_TTL_SECONDS,
    ),
    COMPLETE_LIFECYCLE_ACTIONS: String(props.completeLifecycleActions ?? defaults.COMPLETE_LIFECYCLE_ACTIONS),
    // The hooks Registrar.addLifecycleHooks creates; other hooks' actions are never completed.
    LIFECYCLE_HOOK_NAMES: defaults.LIFECYCLE_HOOK_NAMES.join(','),
    KUBE_REQUEST_TIMEOUT_MS: String(
      props.kubeRequestTimeout?.toMilliseconds() ?? defaults.KUBE_REQUEST_TIMEOUT_MS,
    ),
    KUBE_CONCURRENCY: String(props.kubeConcurrency ?? defaults.KUBE_CONCURRENCY),
    RECONCILE_MAX_DELETE_RATIO: String(props.reconcileMaxDeleteRatio ?? defaults.RECONCILE_MAX_DELETE_RATIO),
    REQUIRE_GROUP_ALLOW_LIST: String(props.requireGroupAllowList ?? defaults.REQUIRE_GROUP_ALLOW_LIST),
    DEFAULT_SERVICE_MODE: props.defaultServiceMode ?? defaults.DEFAULT_SERVICE_MODE,
    KUBE_EVENTS: props.kubernetesEvents ?? defaults.KUBE_EVENTS,
    METRICS_MAX_WORKLOAD_GROUPS: String(
      props.metricsMaxWorkloadGroups ?? defaults.METRICS_MAX_WORKLOAD_GROUPS,
    ),
    DRAIN_SECONDS: String(props.drainPeriod?.toSeconds() ?? defaults.DRAIN_SECONDS),
    LIFECYCLE_RETRY_SECONDS: String(
      props.lifecycleRetryDelay?.toSeconds() ?? defaults.LIFECYCLE_RETRY_SECONDS,
    ),
    TERMINATE_RETRY_LIMIT_SECONDS: String(
      props.terminateRetryLimit?.toSeconds() ?? defaults.TERMINATE_RETRY_LIMIT_SECONDS,
    ),
    POWERTOOLS_SERVICE_NAME: serviceName,
    POWERTOOLS_METRICS_NAMESPACE: metricsNamespace,
    POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
  };
  if (props.clusterEndpoint) env.CLUSTER_ENDPOINT = props.clusterEndpoint;
  if (props.clusterCertificateAuthorityData) env.CLUSTER_CA_DATA = props.clusterCertificateAuthorityData;
  if (props.eventBus) env.EVENT_BUS = props.eventBus.eventBusArn;
  return env;
}

/** The multi-account settings: empty unless spokes are configured or a network map is given. */
function fleetEnvironment(scope: Construct, props: RegistrarFunctionsProps): Record<string, string> {
  const env: Record<string, string> = {};
  if (props.spokes && props.spokes.length > 0) {
    env.HOME_ACCOUNT_ID = Stack.of(scope).account;
    env.SPOKE_ACCOUNT_REGIONS = props.spokes.map((spoke) => `${spoke.account}:${spoke.region}`).join(',');
    env.MEMBER_ROLE_NAME = props.memberRoleName ?? DEFAULT_MEMBER_ROLE_NAME;
    if (props.memberExternalId) env.MEMBER_EXTERNAL_ID = props.memberExternalId;
  }
  if (props.networkMap && Object.keys(props.networkMap).length > 0) {
    env.NETWORK_MAP = Object.entries(props.networkMap)
      .map(([key, network]) => `${key}=${network}`)
      .join(',');
  }
  return env;
}

/** Fails synth with every problem at once, checked by the same schema the functions use at init. */
function validate(
  scope: Construct,
  props: RegistrarFunctionsProps,
  env: Readonly<Record<string, string>>,
): void {
  const problems: string[] = [];
  const concrete = Object.fromEntries(Object.entries(env).filter(([, value]) => !Token.isUnresolved(value)));
  const parsed = environmentSchema.safeParse(concrete);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
  }
  if (
    !Token.isUnresolved(props.clusterName) &&
    !/^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$/.test(props.clusterName)
  ) {
    problems.push(`clusterName "${props.clusterName}" is not an EKS cluster name`);
  }
  if (props.securityGroups && !props.vpc) problems.push('securityGroups needs vpc');
  if (props.spokes && props.spokes.length > 0) {
    if (!props.memberExternalId) problems.push('spokes need memberExternalId (the spoke stacks’ ExternalId)');
    const concrete = props.spokes.filter(
      (s) => !Token.isUnresolved(s.account) && !Token.isUnresolved(s.region),
    );
    const region = Stack.of(scope).region;
    const parsed = parseSpokes(
      concrete.map((s) => `${s.account}:${s.region}`).join(','),
      Token.isUnresolved(region) ? (concrete[0]?.region ?? 'us-east-1') : region,
    );
    for (const problem of parsed.problems) problems.push(`spokes: ${problem}`);
    const account = Stack.of(scope).account;
    for (const s of concrete) {
      if (
        !Token.isUnresolved(account) &&
        !Token.isUnresolved(region) &&
        s.account === account &&
        s.region === region
      )
        problems.push(`spokes: ${s.account}:${s.region} is this stack's own account and region`);
    }
  }
  if (props.networkMap) {
    const text = Object.entries(props.networkMap)
      .map(([key, network]) => `${key}=${network}`)
      .join(',');
    for (const problem of parseNetworkMap(text).problems) problems.push(`networkMap: ${problem}`);
  }
  if (props.vpcSubnets && !props.vpc) problems.push('vpcSubnets needs vpc');
  const reserved = props.reconcilerReservedConcurrency;
  if (reserved !== undefined && reserved !== false && !(Number.isInteger(reserved) && reserved >= 1)) {
    problems.push('reconcilerReservedConcurrency must be an integer of at least 1, or false');
  }
  // Each function stops its calls DEADLINE_MARGIN_MS before its timeout to report; what is left
  // must hold at least one whole Kubernetes request, or every record would fail unattempted.
  const requestMs = props.kubeRequestTimeout?.toMilliseconds() ?? FUNCTION_DEFAULTS.KUBE_REQUEST_TIMEOUT_MS;
  for (const [name, timeout] of [
    ['registrar', props.registrarTimeout ?? Duration.seconds(30)],
    ['reconciler', props.reconcilerTimeout ?? Duration.minutes(5)],
  ] as const) {
    if (timeout.isUnresolved()) continue;
    const left = timeout.toMilliseconds() - DEADLINE_MARGIN_MS[name];
    if (left < requestMs) {
      problems.push(
        `${name}Timeout ${timeout.toSeconds()}s leaves ${Math.max(0, left) / 1000}s after the ${DEADLINE_MARGIN_MS[name] / 1000}s kept back to report, less than one Kubernetes request (kubeRequestTimeout ${requestMs / 1000}s)`,
      );
    }
  }
  if (problems.length > 0) {
    throw new Error(`RegistrarFunctions (${scope.node.path}): invalid configuration: ${problems.join('; ')}`);
  }
}
