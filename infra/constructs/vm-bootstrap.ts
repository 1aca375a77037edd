import { Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { TOKEN_PARAMETER, TOKEN_RECORD_PARAMETER } from '#shared/app/bootstrap.ts';
import {
  type BootstrapGroupRef,
  DEFAULT_PARAMETER_PREFIX,
  formatBootstrapGroup,
  groupParameterPath,
  loadBootstrapConfig,
  parseBootstrapGroup,
} from '#shared/config/bootstrap-config.ts';
import { MANAGED_BY_VALUE, METRICS_NAMESPACE, Metric } from '#shared/constants.ts';
import { BUNDLE_FILES, type MeshArchitecture } from '#shared/domain/bootstrap.ts';
import { DEFAULT_TOKEN_LIFETIME_SECONDS } from '#shared/domain/token-rotation.ts';
import {
  DEFAULT_BOOTSTRAP_KUBERNETES_GROUP,
  renderBootstrapRbacManifests,
} from '#shared/manifests/bootstrap-rbac.ts';
import { renderUserData } from '#shared/manifests/user-data.ts';
import { acknowledgeWildcardResource } from '../nag.ts';
import { registrarMetric, registrarMetricQuery } from './metrics.ts';
import { createNodeFunction } from './node-function.ts';

export interface VmBootstrapGroup {
  /** `namespace/name` of the WorkloadGroup, or `namespace/name:serviceaccount`. */
  readonly group: string;
  /**
   * Instance roles of the group's VMs: each may read this group's parameters and decrypt this
   * group's token, nothing else. More with {@link VmBootstrap.grantRead}.
   * @default - none
   */
  readonly instanceRoles?: readonly iam.IRole[];
}

export interface VmBootstrapProps {
  /** EKS cluster the function reads groups and mints tokens in (CLUSTER_NAME). */
  readonly clusterName: string;
  /** @default - eks:DescribeCluster at cold start */
  readonly clusterEndpoint?: string;
  /** @default - eks:DescribeCluster at cold start */
  readonly clusterCertificateAuthorityData?: string;
  /** The opted-in groups (BOOTSTRAP_GROUPS). */
  readonly groups: readonly VmBootstrapGroup[];
  /** Istio release of the mesh: the sidecar package VMs install (BOOTSTRAP_ISTIO_VERSION). */
  readonly istioVersion: string;
  /** DNS name of the east-west gateway: `GatewayNetworking.gatewayAddress` (BOOTSTRAP_GATEWAY_DNS_NAME). */
  readonly gatewayDnsName: string;
  /**
   * VPCs associated with the gateway's private hosted zone: their VMs resolve istiod by name
   * (BOOTSTRAP_ZONE_VPC_IDS).
   * @default - none: every VM gets a hosts entry
   */
  readonly zoneVpcIds?: readonly string[];
  /** @default 'single-network' */
  readonly architecture?: MeshArchitecture;
  /** The cluster's id in the mesh (BOOTSTRAP_CLUSTER_ID). @default 'Kubernetes' */
  readonly clusterId?: string;
  /** @default 'istio-system' */
  readonly controlPlaneNamespace?: string;
  /** @default '/istio-vm-registrar/bootstrap' */
  readonly parameterPrefix?: string;
  /** Lifetime of a minted token (600 s to 365 days). @default Duration.hours(24) */
  readonly tokenLifetime?: Duration;
  /** How often the function runs; at most a quarter of the token lifetime. @default Duration.hours(1) */
  readonly refreshInterval?: Duration;
  /** Key of the token SecureStrings. @default - a new key with yearly rotation */
  readonly encryptionKey?: kms.IKey;
  /** Kubernetes group of the function's role (EKS access entry). @default 'istio-vm-registrar-bootstrap' */
  readonly kubernetesGroup?: string;
  /** POWERTOOLS_SERVICE_NAME: the metrics' `service` dimension. @default 'istio-vm-registrar' */
  readonly serviceName?: string;
  /** @default 'IstioVmRegistrar' */
  readonly metricsNamespace?: string;
  /** @default 'INFO' */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default Duration.minutes(2) */
  readonly timeout?: Duration;
  /** VPC to run in (private cluster endpoint). @default - not in a VPC */
  readonly vpc?: ec2.IVpc;
  /** @default - the VPC's private subnets */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** @default - one new group, HTTPS egress only, when `vpc` is set */
  readonly securityGroups?: readonly ec2.ISecurityGroup[];
  /** Topic for alarm and OK notifications. @default - alarms without actions */
  readonly alarmTopic?: sns.ITopic;
}

const LOG_LEVELS = {
  DEBUG: lambda.ApplicationLogLevel.DEBUG,
  INFO: lambda.ApplicationLogLevel.INFO,
  WARN: lambda.ApplicationLogLevel.WARN,
  ERROR: lambda.ApplicationLogLevel.ERROR,
} as const;

/**
 * VM bootstrap without hand-copied files: a function on an EventBridge Scheduler schedule renders
 * each opted-in group's bundle into SSM Parameter Store and mints its `istio-ca` token (TokenRequest)
 * at half its lifetime, as a SecureString under a KMS key of its own; alarms on failed, late and
 * expired refreshes.
 *
 * Least privilege: the function may write only the opted-in groups' parameters and encrypt only
 * their tokens; each group's instance roles may read only that group's parameters and decrypt only
 * that group's token (`kms:Decrypt` bound to the token parameter's ARN by encryption context, through
 * SSM only). In the cluster, the function's own Kubernetes group may mint tokens for those groups'
 * service accounts only (shared/manifests/bootstrap-rbac.ts).
 */
export class VmBootstrap extends Construct {
  public readonly function: NodejsFunction;
  public readonly key: kms.IKey;
  public readonly schedule: scheduler.Schedule;
  public readonly scheduleRole: iam.Role;
  public readonly scheduleDeadLetterQueue: sqs.Queue;
  public readonly groups: readonly BootstrapGroupRef[];
  public readonly parameterPrefix: string;
  public readonly kubernetesGroup: string;
  public readonly environment: Readonly<Record<string, string>>;
  public readonly alarms: cloudwatch.Alarm[] = [];
  /** Security groups the function runs with (empty outside a VPC). */
  public readonly securityGroups: readonly ec2.ISecurityGroup[];

  constructor(scope: Construct, id: string, props: VmBootstrapProps) {
    super(scope, id);
    this.parameterPrefix = props.parameterPrefix ?? DEFAULT_PARAMETER_PREFIX;
    this.kubernetesGroup = props.kubernetesGroup ?? DEFAULT_BOOTSTRAP_KUBERNETES_GROUP;
    const lifetime = props.tokenLifetime ?? Duration.seconds(DEFAULT_TOKEN_LIFETIME_SECONDS);
    const interval = props.refreshInterval ?? Duration.hours(1);
    const serviceName = props.serviceName ?? MANAGED_BY_VALUE;
    const metricsNamespace = props.metricsNamespace ?? METRICS_NAMESPACE;
    this.groups = parseGroups(this, props.groups);

    this.key =
      props.encryptionKey ??
      new kms.Key(this, 'TokenKey', {
        description: 'istio-vm-registrar: encrypts the VM bootstrap tokens (SSM SecureString)',
        enableKeyRotation: true,
      });

    const env: Record<string, string> = {
      CLUSTER_NAME: props.clusterName,
      BOOTSTRAP_GROUPS: this.groups.map(formatBootstrapGroup).join(','),
      BOOTSTRAP_PARAMETER_PREFIX: this.parameterPrefix,
      BOOTSTRAP_KMS_KEY_ID: this.key.keyArn,
      BOOTSTRAP_TOKEN_LIFETIME_SECONDS: String(lifetime.toSeconds()),
      BOOTSTRAP_REFRESH_INTERVAL_SECONDS: String(interval.toSeconds()),
      BOOTSTRAP_ISTIO_VERSION: props.istioVersion,
      BOOTSTRAP_CLUSTER_ID: props.clusterId ?? 'Kubernetes',
      BOOTSTRAP_ARCHITECTURE: props.architecture ?? 'single-network',
      BOOTSTRAP_CONTROL_PLANE_NAMESPACE: props.controlPlaneNamespace ?? 'istio-system',
      BOOTSTRAP_GATEWAY_DNS_NAME: props.gatewayDnsName,
      BOOTSTRAP_ZONE_VPC_IDS: (props.zoneVpcIds ?? []).join(','),
      POWERTOOLS_SERVICE_NAME: serviceName,
      POWERTOOLS_METRICS_NAMESPACE: metricsNamespace,
      POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
      ...(props.clusterEndpoint ? { CLUSTER_ENDPOINT: props.clusterEndpoint } : {}),
      ...(props.clusterCertificateAuthorityData
        ? { CLUSTER_CA_DATA: props.clusterCertificateAuthorityData }
        : {}),
    };
    validate(this, env);
    this.environment = env;

    this.securityGroups = props.vpc ? (props.securityGroups ?? [this.createSecurityGroup(props.vpc)]) : [];
    this.function = createNodeFunction(this, 'Function', {
      name: 'bootstrap',
      description: 'istio-vm-registrar: VM bootstrap bundles and istio-ca tokens into SSM Parameter Store',
      environment: env,
      timeout: props.timeout ?? Duration.minutes(2),
      memorySize: 512,
      applicationLogLevel: LOG_LEVELS[props.logLevel ?? 'INFO'],
      // One run at a time: two would mint two tokens for the same group.
      reservedConcurrentExecutions: 1,
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      ...(props.vpc
        ? {
            vpc: props.vpc,
            ...(props.vpcSubnets ? { vpcSubnets: props.vpcSubnets } : {}),
            securityGroups: this.securityGroups,
          }
        : {}),
    });
    this.grantFunction(props);

    this.scheduleDeadLetterQueue = new sqs.Queue(this, 'ScheduleDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.scheduleDeadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue: the DeadLetterConfig of the bootstrap schedule target (AWS::Scheduler::Schedule), which cdk-nag only recognises for SQS redrive policies.',
    });
    const stack = Stack.of(this);
    this.scheduleRole = new iam.Role(this, 'ScheduleRole', {
      description: 'EventBridge Scheduler: invokes the istio-vm-registrar bootstrap function',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: {
            'aws:SourceAccount': stack.account,
            'aws:SourceArn': stack.formatArn({
              service: 'scheduler',
              resource: 'schedule-group',
              resourceName: 'default',
            }),
          },
        },
      }),
    });
    acknowledgeWildcardResource(
      this.scheduleRole,
      `${this.function.functionArn}:*`,
      'lambda:InvokeFunction on the bootstrap function ARN and its qualified ARNs ("<arn>:*": versions and aliases of this one function), as Function.grantInvoke writes it.',
    );
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      schedule: scheduler.ScheduleExpression.rate(interval),
      description: 'istio-vm-registrar: VM bootstrap bundles and token rotation',
      target: new LambdaInvoke(this.function, {
        role: this.scheduleRole,
        input: scheduler.ScheduleTargetInput.fromObject({}),
        deadLetterQueue: this.scheduleDeadLetterQueue,
        retryAttempts: 2,
        maxEventAge: Duration.minutes(Math.max(1, Math.min(interval.toMinutes(), 1440))),
      }),
    });

    for (const group of props.groups) {
      const ref = parseBootstrapGroup(group.group);
      for (const role of group.instanceRoles ?? []) this.grantRead(`${ref.namespace}/${ref.name}`, role);
    }
    this.createAlarms({ serviceName, metricsNamespace }, lifetime, interval, props.alarmTopic);
  }

  /** ARN of a group's parameter `name` (a bundle file, the token, the token record). */
  public parameterArn(group: string, name: string): string {
    const ref = this.group(group);
    return Stack.of(this).formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: `${groupParameterPath(this.parameterPrefix, ref)}/${name}`.slice(1),
    });
  }

  /**
   * Lets `grantee` (a group's instance role) read the group's bundle and token parameters, and
   * decrypt that token only: `kms:Decrypt` through SSM, for that parameter's ARN as encryption context.
   */
  public grantRead(group: string, grantee: iam.IGrantable): void {
    const stack = Stack.of(this);
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['ssm:GetParameter'],
      resourceArns: [...BUNDLE_FILES, TOKEN_PARAMETER].map((name) => this.parameterArn(group, name)),
    });
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [this.key.keyArn],
        conditions: {
          StringEquals: {
            'kms:ViaService': `ssm.${stack.region}.amazonaws.com`,
            'kms:EncryptionContext:PARAMETER_ARN': this.parameterArn(group, TOKEN_PARAMETER),
          },
        },
      }),
    );
  }

  /** The cloud-init user-data of a group's VMs (`vm-registrar bootstrap user-data`). */
  public userData(group: string, refreshInterval = '30min'): ec2.UserData {
    const ref = this.group(group);
    return ec2.UserData.custom(
      renderUserData({
        group: `${ref.namespace}/${ref.name}`,
        parameterPrefix: this.parameterPrefix,
        refreshInterval,
      }),
    );
  }

  /** The RBAC objects of the function's Kubernetes group. */
  public rbacManifests() {
    return renderBootstrapRbacManifests({
      groups: this.groups,
      controlPlaneNamespace: this.environment.BOOTSTRAP_CONTROL_PLANE_NAMESPACE!,
      kubernetesGroup: this.kubernetesGroup,
    });
  }

  private group(group: string): BootstrapGroupRef {
    const ref = parseBootstrapGroup(group);
    const found = this.groups.find((g) => g.namespace === ref.namespace && g.name === ref.name);
    if (!found) {
      throw new Error(`VmBootstrap (${this.node.path}): group "${group}" is not one of the bootstrap groups`);
    }
    return found;
  }

  private grantFunction(props: VmBootstrapProps): void {
    const stack = Stack.of(this);
    const fn = this.function;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadGroupPaths',
        actions: ['ssm:GetParametersByPath'],
        resources: this.groups.map((g) =>
          stack.formatArn({
            service: 'ssm',
            resource: 'parameter',
            resourceName: groupParameterPath(this.parameterPrefix, g).slice(1),
          }),
        ),
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'WriteGroupParameters',
        actions: ['ssm:PutParameter'],
        resources: this.groups.flatMap((g) =>
          [...BUNDLE_FILES, TOKEN_PARAMETER, TOKEN_RECORD_PARAMETER].map((name) =>
            this.parameterArn(`${g.namespace}/${g.name}`, name),
          ),
        ),
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'EncryptTokens',
        actions: ['kms:Encrypt'],
        resources: [this.key.keyArn],
        conditions: {
          StringEquals: {
            'kms:ViaService': `ssm.${stack.region}.amazonaws.com`,
            'kms:EncryptionContext:PARAMETER_ARN': this.groups.map((g) =>
              this.parameterArn(`${g.namespace}/${g.name}`, TOKEN_PARAMETER),
            ),
          },
        },
      }),
    );
    if (!(props.clusterEndpoint && props.clusterCertificateAuthorityData)) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'DescribeCluster',
          actions: ['eks:DescribeCluster'],
          resources: [
            stack.formatArn({ service: 'eks', resource: 'cluster', resourceName: props.clusterName }),
          ],
        }),
      );
    }
    Validations.of(fn.role!).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Resource "*" is only on actions without resource-level permissions: xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing), and, in a VPC, the ec2:*NetworkInterface* actions Lambda validates against "*".',
    });
  }

  private createSecurityGroup(vpc: ec2.IVpc): ec2.ISecurityGroup {
    const group = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: 'istio-vm-registrar bootstrap function: HTTPS out to AWS APIs and the Kubernetes API',
      allowAllOutbound: false,
    });
    group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs and the Kubernetes API');
    return group;
  }

  private createAlarms(
    source: { serviceName: string; metricsNamespace: string },
    lifetime: Duration,
    interval: Duration,
    topic?: sns.ITopic,
  ): void {
    // One period per run, at least 5 minutes (a metric arrives once per run).
    const period = Duration.seconds(Math.max(300, interval.toSeconds()));
    const add = (
      id: string,
      metric: cloudwatch.IMetric,
      description: string,
      extra: Partial<cloudwatch.AlarmProps> = {},
    ) => {
      const alarm = new cloudwatch.Alarm(this, id, {
        metric,
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
        ...extra,
      });
      this.alarms.push(alarm);
    };
    add(
      'BootstrapRefreshFailed',
      registrarMetricQuery(source, Metric.BootstrapRefreshFailed, { period, dimensions: ['Reason'] }),
      'A VM bootstrap bundle or token could not be refreshed (see the Reason dimension and the function log): VMs keep the last ones until the token expires.',
    );
    add(
      'BootstrapTokenLate',
      registrarMetric(source, Metric.BootstrapTokenLate, { period }),
      "A group's token was found 1.5 intervals past its refresh point: runs failed or did not happen.",
    );
    add(
      'BootstrapTokenExpired',
      registrarMetric(source, Metric.BootstrapTokenExpired, { period }),
      "A group's token in Parameter Store has expired: its VMs cannot renew their workload certificates.",
    );
    add(
      'BootstrapTokenLow',
      registrarMetric(source, Metric.BootstrapTokenSecondsLeft, {
        period,
        statistic: cloudwatch.Stats.MINIMUM,
      }),
      `The shortest-lived stored token has less than a quarter of its lifetime left, or no run reported for ${3 * period.toMinutes()} minutes.`,
      {
        threshold: Math.floor(lifetime.toSeconds() / 4),
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      },
    );
    add(
      'BootstrapErrors',
      this.function.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      'The bootstrap function failed (configuration, timeout).',
    );
    add(
      'BootstrapScheduleDeadLetterQueueNotEmpty',
      this.scheduleDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      'Scheduled bootstrap runs failed after their retries.',
    );
    if (topic) {
      const action = new SnsAction(topic);
      for (const alarm of this.alarms) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }
  }
}

function parseGroups(scope: Construct, groups: readonly VmBootstrapGroup[]): BootstrapGroupRef[] {
  const problems: string[] = [];
  const refs: BootstrapGroupRef[] = [];
  for (const group of groups) {
    try {
      refs.push(parseBootstrapGroup(group.group));
    } catch (error) {
      problems.push(`groups: ${(error as Error).message}`);
    }
  }
  if (groups.length === 0) problems.push('groups must name at least one WorkloadGroup');
  if (problems.length > 0) {
    throw new Error(`VmBootstrap (${scope.node.path}): invalid configuration: ${problems.join('; ')}`);
  }
  return refs;
}

/** The function's environment, checked by the schema the function uses (tokens stand in as placeholders). */
function validate(scope: Construct, env: Record<string, string>): void {
  const concrete = Object.fromEntries(
    Object.entries(env).map(([key, value]) => {
      if (!Token.isUnresolved(value)) return [key, value];
      if (key === 'BOOTSTRAP_ZONE_VPC_IDS') return [key, ''];
      if (key === 'BOOTSTRAP_GATEWAY_DNS_NAME') return [key, 'gateway.example.internal'];
      return [key, 'placeholder'];
    }),
  );
  try {
    loadBootstrapConfig(concrete);
  } catch (error) {
    const message = (error as Error).message.replace(/^invalid bootstrap configuration: /, '');
    throw new Error(`VmBootstrap (${scope.node.path}): invalid configuration: ${message}`);
  }
}
