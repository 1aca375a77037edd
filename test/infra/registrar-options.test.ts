import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RegistrarStack } from '../../infra/stacks/registrar-stack.ts';
import { type EventPattern, matchesEventPattern } from './event-pattern.ts';
import {
  annotationMessages,
  buildTestApp,
  eventFixtures,
  getAtt,
  logicalId,
  nagFindings,
  roleStatements,
  type SynthesisedApp,
} from './helpers.ts';

// Every registrar option set through -c style strings, in a concrete account/region.
const OVERRIDES = {
  account: '123456789012',
  region: 'eu-west-1',
  deployGateway: 'false',
  allowedNamespaces: 'payments,reviews',
  autoScalingGroupNames: 'my-asg,web-asg',
  createLifecycleHooks: 'true',
  functionsInVpc: 'true',
  clusterSecurityGroupId: 'sg-0123456789abcdef0',
  clusterEndpoint: 'https://ABCDEF0123456789.gr7.eu-west-1.eks.amazonaws.com',
  clusterCaData: 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t',
  alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops',
  reconcileSchedule: 'cron(0/10 * * * ? *)',
  maxConcurrency: '5',
  batchSize: '25',
  maxBatchingWindowSeconds: '5',
  maxReceiveCount: '3',
  logLevel: 'DEBUG',
  logRetentionDays: '90',
  stoppedInstancePolicy: 'keep',
  kubeConcurrency: '4',
  reconcileMaxDeleteRatio: '0.2',
  tagPrefix: 'mesh/',
  kubernetesGroup: 'vm-registrars',
  dashboardName: 'istio-vm-registrar',
  queueSenderRoleArns: 'arn:aws:iam::123456789012:role/ops-redrive',
};

let built: SynthesisedApp;
let stack: RegistrarStack;
let template: Template;

beforeAll(() => {
  built = buildTestApp(OVERRIDES);
  stack = built.registrarStack!;
  template = Template.fromStack(stack);
});

describe('RegistrarStack with every option set', () => {
  it('deploys only the registrar stack, in the given account and region', () => {
    expect(built.gatewayStack).toBeUndefined();
    expect(stack.account).toBe('123456789012');
    expect(stack.region).toBe('eu-west-1');
  });

  it('narrows the Auto Scaling rules (only those) to the configured groups', () => {
    const patterns = Object.values(template.findResources('AWS::Events::Rule')).map(
      (rule) =>
        rule.Properties.EventPattern as EventPattern & { source: string[]; detail?: Record<string, unknown> },
    );
    expect(patterns).toHaveLength(8);
    for (const pattern of patterns) {
      if (pattern.source[0] === 'aws.autoscaling') {
        expect(pattern.detail).toEqual({ AutoScalingGroupName: ['my-asg', 'web-asg'] });
      } else {
        expect(pattern.detail?.AutoScalingGroupName).toBeUndefined();
      }
    }
    // Samples from my-asg still match one rule; samples from other groups match none.
    for (const { file, event } of eventFixtures()) {
      const group = (event.detail as Record<string, unknown>).AutoScalingGroupName;
      const matches = patterns.filter((pattern) => matchesEventPattern(pattern, event)).length;
      expect(matches, file).toBe(group === undefined || group === 'my-asg' ? 1 : 0);
    }
  });

  it('scopes CompleteLifecycleAction (and heartbeats) to the groups and drops DescribeCluster when endpoint and CA are given', () => {
    const statements = roleStatements(template, logicalId(stack.registrar.functions.registrar.role!));
    expect(statements).toContainEqual({
      Action: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
      Effect: 'Allow',
      Resource: [
        'arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/my-asg',
        'arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/web-asg',
      ],
    });
    for (const fn of [stack.registrar.functions.registrar, stack.registrar.functions.reconciler]) {
      const actions = roleStatements(template, logicalId(fn.role!)).flatMap((statement) => statement.Action);
      expect(actions).not.toContain('eks:DescribeCluster');
    }
  });

  it('adds launch and terminate lifecycle hooks (EventBridge only, CONTINUE by default) to each group', () => {
    template.resourceCountIs('AWS::AutoScaling::LifecycleHook', 4);
    for (const group of ['my-asg', 'web-asg']) {
      for (const [name, transition] of [
        ['istio-vm-registrar-launch', 'autoscaling:EC2_INSTANCE_LAUNCHING'],
        ['istio-vm-registrar-terminate', 'autoscaling:EC2_INSTANCE_TERMINATING'],
      ]) {
        template.hasResourceProperties('AWS::AutoScaling::LifecycleHook', {
          AutoScalingGroupName: group,
          LifecycleHookName: name,
          LifecycleTransition: transition,
          DefaultResult: 'CONTINUE',
          HeartbeatTimeout: 300,
          NotificationTargetARN: Match.absent(),
          RoleARN: Match.absent(),
        });
      }
    }
  });

  it('runs the functions in the cluster VPC with an HTTPS-only group admitted to the cluster endpoint', () => {
    const [group] = stack.registrar.functions.securityGroups;
    for (const fn of [stack.registrar.functions.registrar, stack.registrar.functions.reconciler]) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: Match.absent(),
        Role: getAtt(fn.role!),
        VpcConfig: {
          SubnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
          SecurityGroupIds: [getAtt(group!, 'GroupId')],
        },
      });
      expect(roleStatements(template, logicalId(fn.role!))).toContainEqual({
        Sid: 'ManageVpcNetworkInterfaces',
        Action: [
          'ec2:AssignPrivateIpAddresses',
          'ec2:CreateNetworkInterface',
          'ec2:DeleteNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:UnassignPrivateIpAddresses',
        ],
        Effect: 'Allow',
        Resource: '*',
      });
    }
    template.resourceCountIs('AWS::EC2::SecurityGroup', 1);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupEgress: [
        { CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Description: Match.anyValue() },
      ],
      SecurityGroupIngress: Match.absent(),
    });
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 1);
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: 'sg-0123456789abcdef0',
      SourceSecurityGroupId: getAtt(group!, 'GroupId'),
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
    });
  });

  it('passes every setting to the functions', () => {
    const variables =
      template.findResources('AWS::Lambda::Function')[logicalId(stack.registrar.functions.registrar)]!
        .Properties.Environment.Variables;
    expect(variables).toMatchObject({
      ALLOWED_NAMESPACES: 'payments,reviews',
      CLUSTER_ENDPOINT: OVERRIDES.clusterEndpoint,
      CLUSTER_CA_DATA: OVERRIDES.clusterCaData,
      TAG_PREFIX: 'mesh/',
      STOPPED_INSTANCE_POLICY: 'keep',
      KUBE_CONCURRENCY: '4',
      RECONCILE_MAX_DELETE_RATIO: '0.2',
      POWERTOOLS_LOG_LEVEL: 'DEBUG',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      LoggingConfig: Match.objectLike({ ApplicationLogLevel: 'DEBUG' }),
    });
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });

  it('applies the queue, batching and schedule settings', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 25,
      MaximumBatchingWindowInSeconds: 5,
      ScalingConfig: { MaximumConcurrency: 5 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 6 * 30 + 5,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 3 }),
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0/10 * * * ? *)',
    });
  });

  it('lets the configured redrive role send to the event queue besides the rules and the registrar', () => {
    const policy = Object.values(template.findResources('AWS::SQS::QueuePolicy')).find(
      (resource) =>
        JSON.stringify(resource.Properties.Queues) ===
        JSON.stringify([{ Ref: logicalId(stack.registrar.queue) }]),
    )!;
    const deny = (policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>).find(
      (statement) => statement.Sid === 'OnlyRulesAndRegistrarSend',
    );
    expect(deny?.Condition).toEqual({
      ArnNotEquals: { 'aws:SourceArn': stack.registrar.rules.map((rule) => getAtt(rule)) },
      ArnNotLike: {
        'aws:PrincipalArn': [
          getAtt(stack.registrar.functions.registrar.role!),
          OVERRIDES.queueSenderRoleArns,
        ],
      },
    });
  });

  it('maps the roles to the configured Kubernetes group', () => {
    template.allResourcesProperties('AWS::EKS::AccessEntry', { KubernetesGroups: ['vm-registrars'] });
  });

  it('notifies the topic of every alarm and recovery', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(15);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([OVERRIDES.alarmTopicArn]);
      expect(alarm.Properties.OKActions).toEqual([OVERRIDES.alarmTopicArn]);
    }
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'istio-vm-registrar' });
  });

  it('reports no unacknowledged AwsSolutions finding and no CDK warning', () => {
    expect(nagFindings(stack)).toEqual([]);
    expect(annotationMessages(stack)).toEqual([]);
  });
});
