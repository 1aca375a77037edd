import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { RegistrarAlarms } from '../constructs/alarms.ts';
import { ClusterAccess } from '../constructs/cluster-access.ts';
import { RegistrarDashboard } from '../constructs/dashboard.ts';
import { RegistrarHub } from '../constructs/hub.ts';
import { Registrar, type RegistrarProps } from '../constructs/registrar.ts';
import { acknowledgeNoRouteTables } from './gateway-networking-stack.ts';

export interface RegistrarStackProps extends StackProps {
  /** Function, queue and schedule settings (see RegistrarProps); VPC and groups come from below. */
  readonly registrar: Omit<RegistrarProps, 'vpc' | 'vpcSubnets' | 'securityGroups' | 'autoScalingGroups'>;
  /**
   * Auto Scaling groups the registrar serves: narrows the Auto Scaling rules and the
   * CompleteLifecycleAction permission to them.
   * @default - every group of the account and region
   */
  readonly autoScalingGroupNames?: readonly string[];
  /**
   * Add launch and terminate lifecycle hooks to `autoScalingGroupNames`.
   * @default false
   */
  readonly createLifecycleHooks?: boolean;
  /**
   * Run the functions in this VPC (the cluster's, when its API endpoint is private).
   * @default - outside any VPC
   */
  readonly functionsVpc?: ec2.VpcAttributes;
  /**
   * Security group guarding the cluster API endpoint (the EKS cluster security group). With
   * `functionsVpc`, the functions' group is allowed into it on 443.
   * @default - no rule added
   */
  readonly clusterSecurityGroupId?: string;
  /** @default 'istio-vm-registrar' */
  readonly kubernetesGroup?: string;
  /**
   * Apply the RBAC objects with the kubectl provider (needs `kubectlRoleArn`).
   * @default false
   */
  readonly applyRbac?: boolean;
  /** @default - none */
  readonly kubectlRoleArn?: string;
  /**
   * SNS topic for alarm and OK notifications.
   * @default - alarms without actions
   */
  readonly alarmTopicArn?: string;
  /** @default - generated */
  readonly dashboardName?: string;
  /**
   * With `registrar.spokes`: the Organization (`o-...`) the spoke accounts must belong to for the hub
   * bus to admit their events.
   * @default - the spoke account list alone
   */
  readonly organizationId?: string;
  /**
   * Roles besides the rules and the registrar that may send to the event queue (the role you
   * redrive the dead-letter queue with); see RegistrarProps.queueSenders.
   * @default - none
   */
  readonly queueSenderRoleArns?: readonly string[];
  /**
   * EventBridge bus that receives the registrar's own events (EVENT_BUS; docs/events/): the
   * functions may PutEvents on this bus only.
   * @default - no events published
   */
  readonly eventBusArn?: string;
}

/** The registrar and reconciler, their access to the cluster, alarms, dashboard and outputs. */
export class RegistrarStack extends Stack {
  public readonly registrar: Registrar;
  public readonly clusterAccess: ClusterAccess;
  public readonly alarms: RegistrarAlarms;
  public readonly dashboard: RegistrarDashboard;
  /** The central bus of the spokes' events (when `registrar.spokes` is set). */
  public readonly hub?: RegistrarHub;

  constructor(scope: Construct, id: string, props: RegistrarStackProps) {
    super(scope, id, {
      description: 'istio-vm-registrar: keeps Istio WorkloadEntries in step with EC2 and Auto Scaling',
      ...props,
    });
    const vpc = props.functionsVpc ? ec2.Vpc.fromVpcAttributes(this, 'Vpc', props.functionsVpc) : undefined;
    if (vpc) acknowledgeNoRouteTables(vpc);
    const groups = (props.autoScalingGroupNames ?? []).map((name) =>
      autoscaling.AutoScalingGroup.fromAutoScalingGroupName(this, `Group-${name}`, name),
    );

    const queueSenders = (props.queueSenderRoleArns ?? []).map((arn, i) =>
      iam.Role.fromRoleArn(this, `QueueSender${i}`, arn, { mutable: false }),
    );
    this.registrar = new Registrar(this, 'Registrar', {
      ...props.registrar,
      ...(props.eventBusArn
        ? { eventBus: events.EventBus.fromEventBusArn(this, 'EventBus', props.eventBusArn) }
        : {}),
      ...(queueSenders.length > 0 ? { queueSenders } : {}),
      ...(vpc ? { vpc } : {}),
      ...(groups.length > 0 ? { autoScalingGroups: groups } : {}),
    });
    const functions = this.registrar.functions;
    if (functions.spokes.length > 0) {
      this.hub = new RegistrarHub(this, 'Hub', {
        registrar: this.registrar,
        ...(props.organizationId ? { organizationId: props.organizationId } : {}),
      });
    }
    if (props.createLifecycleHooks) {
      for (const group of groups) this.registrar.addLifecycleHooks(group);
    }
    if (vpc && props.clusterSecurityGroupId) {
      const clusterGroup = ec2.SecurityGroup.fromSecurityGroupId(
        this,
        'ClusterSecurityGroup',
        props.clusterSecurityGroupId,
      );
      for (const group of functions.securityGroups) {
        clusterGroup.addIngressRule(
          group,
          ec2.Port.tcp(443),
          'istio-vm-registrar functions to the Kubernetes API',
        );
      }
    }

    this.clusterAccess = new ClusterAccess(this, 'ClusterAccess', {
      clusterName: props.registrar.clusterName,
      roles: [functions.registrar.role!, functions.reconciler.role!],
      namespaces: props.registrar.allowedNamespaces,
      ...(props.kubernetesGroup ? { kubernetesGroup: props.kubernetesGroup } : {}),
      ...(props.applyRbac ? { applyRbac: true } : {}),
      ...(props.kubectlRoleArn ? { kubectlRoleArn: props.kubectlRoleArn } : {}),
      ...(vpc && props.functionsVpc
        ? {
            kubectlVpc: vpc,
            kubectlPrivateSubnetIds: props.functionsVpc.privateSubnetIds ?? [],
            kubectlSecurityGroup: functions.securityGroups[0]!,
          }
        : {}),
    });

    const source = { metricsNamespace: functions.metricsNamespace, serviceName: functions.serviceName };
    this.alarms = new RegistrarAlarms(this, 'Alarms', {
      ...source,
      registrarFunction: functions.registrar,
      reconcilerFunction: functions.reconciler,
      queue: this.registrar.queue,
      deadLetterQueue: this.registrar.deadLetterQueue,
      scheduleDeadLetterQueue: this.registrar.scheduleDeadLetterQueue,
      ...(props.alarmTopicArn
        ? { alarmTopic: sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn) }
        : {}),
    });
    this.dashboard = new RegistrarDashboard(this, 'Dashboard', {
      ...source,
      registrarFunction: functions.registrar,
      reconcilerFunction: functions.reconciler,
      queue: this.registrar.queue,
      deadLetterQueue: this.registrar.deadLetterQueue,
      alarms: this.alarms.alarms,
      ...(props.dashboardName ? { dashboardName: props.dashboardName } : {}),
    });

    const output = (name: string, value: string, description: string) =>
      new CfnOutput(this, name, { value, description });
    output('EventQueueUrl', this.registrar.queue.queueUrl, 'Registrar event queue URL');
    output('EventQueueArn', this.registrar.queue.queueArn, 'Registrar event queue ARN');
    output(
      'DeadLetterQueueUrl',
      this.registrar.deadLetterQueue.queueUrl,
      'Events the registrar gave up on (redrive to EventQueue)',
    );
    output(
      'DeadLetterQueueArn',
      this.registrar.deadLetterQueue.queueArn,
      'DLQ ARN, for aws sqs start-message-move-task --source-arn',
    );
    output(
      'ScheduleDeadLetterQueueUrl',
      this.registrar.scheduleDeadLetterQueue.queueUrl,
      'Failed scheduled reconcile invocations',
    );
    output('RegistrarFunctionName', functions.registrar.functionName, 'Registrar function (SQS-triggered)');
    output(
      'ReconcilerFunctionName',
      functions.reconciler.functionName,
      'Reconciler function (aws lambda invoke --payload {"dryRun":true})',
    );
    output(
      'ReconcileScheduleName',
      this.registrar.schedule.scheduleName,
      'EventBridge Scheduler schedule of the reconciler',
    );
    output(
      'RegistrarRoleArn',
      functions.registrar.role!.roleArn,
      'IAM role of the registrar (mapped by an EKS access entry)',
    );
    output(
      'ReconcilerRoleArn',
      functions.reconciler.role!.roleArn,
      'IAM role of the reconciler (mapped by an EKS access entry)',
    );
    output(
      'KubernetesGroup',
      this.clusterAccess.kubernetesGroup,
      'Kubernetes group of both roles: bind it with `vm-registrar rbac`',
    );
    output('DashboardName', this.dashboard.dashboard.dashboardName, 'CloudWatch dashboard');
    if (this.hub) {
      output(
        'HubEventBusArn',
        this.hub.eventBus.eventBusArn,
        'Central event bus of the spokes (spoke stack parameter HubEventBusArn)',
      );
      output(
        'MemberRoleName',
        functions.memberRoleName,
        'Role the functions assume in each spoke account (created by the spoke stack)',
      );
    }
  }
}
