import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ESM_REQUIRE_BANNER } from '../../infra/bundling.ts';
import { FUNCTION_DEFAULTS } from '../../infra/constructs/registrar-functions.ts';
import { REGISTRAR_EVENT_TYPES } from '../../infra/event-types.ts';
import type { RegistrarStack } from '../../infra/stacks/registrar-stack.ts';
import { METRICS_NAMESPACE, Metric } from '../../shared/constants.ts';
import { type EventPattern, matchesEventPattern } from './event-pattern.ts';
import {
  annotationMessages,
  buildTestApp,
  eventFixtures,
  getAtt,
  logicalId,
  nagFindings,
  pseudoArn,
  ref,
  roleStatements,
  type SynthesisedApp,
} from './helpers.ts';

// One synth (with esbuild bundling) shared by every test in this file.
let built: SynthesisedApp;
let stack: RegistrarStack;
let template: Template;
let rules: Array<{ id: string; pattern: EventPattern }>;

beforeAll(() => {
  built = buildTestApp({}, { bundling: true });
  stack = built.registrarStack!;
  template = Template.fromStack(stack);
  rules = Object.entries(template.findResources('AWS::Events::Rule')).map(([id, resource]) => ({
    id,
    pattern: resource.Properties.EventPattern as EventPattern,
  }));
});

const ruleIdFor = (detailType: string): string => {
  const eventType = REGISTRAR_EVENT_TYPES.find((type) => type.detailType === detailType);
  if (!eventType) throw new Error(`no event type for ${detailType}`);
  return logicalId(stack.registrar.node.findChild(`${eventType.id}Rule`));
};

describe('RegistrarStack (cdk.json defaults): event rules', () => {
  it('has one rule per handled event type, each with exactly its pattern, all into the event queue', () => {
    expect(rules).toHaveLength(8);
    const expected: Record<string, EventPattern> = {
      'EC2 Instance State-change Notification': {
        source: ['aws.ec2'],
        'detail-type': ['EC2 Instance State-change Notification'],
        detail: { state: ['pending', 'running', 'shutting-down', 'terminated', 'stopping', 'stopped'] },
      },
      'EC2 Spot Instance Interruption Warning': {
        source: ['aws.ec2'],
        'detail-type': ['EC2 Spot Instance Interruption Warning'],
      },
      'EC2 Instance Rebalance Recommendation': {
        source: ['aws.ec2'],
        'detail-type': ['EC2 Instance Rebalance Recommendation'],
      },
      'EC2 Instance Launch Successful': {
        source: ['aws.autoscaling'],
        'detail-type': ['EC2 Instance Launch Successful'],
      },
      'EC2 Instance Launch Unsuccessful': {
        source: ['aws.autoscaling'],
        'detail-type': ['EC2 Instance Launch Unsuccessful'],
      },
      'EC2 Instance Terminate Successful': {
        source: ['aws.autoscaling'],
        'detail-type': ['EC2 Instance Terminate Successful'],
      },
      'EC2 Instance-launch Lifecycle Action': {
        source: ['aws.autoscaling'],
        'detail-type': ['EC2 Instance-launch Lifecycle Action'],
      },
      'EC2 Instance-terminate Lifecycle Action': {
        source: ['aws.autoscaling'],
        'detail-type': ['EC2 Instance-terminate Lifecycle Action'],
      },
    };
    for (const [detailType, pattern] of Object.entries(expected)) {
      const rule = rules.find((candidate) => candidate.id === ruleIdFor(detailType));
      expect(rule?.pattern, detailType).toEqual(pattern);
    }
    template.allResourcesProperties('AWS::Events::Rule', {
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: getAtt(stack.registrar.queue),
          DeadLetterConfig: { Arn: getAtt(stack.registrar.deadLetterQueue) },
        }),
      ],
    });
  });

  it('routes every verbatim EC2/Auto Scaling sample to exactly the rule meant for it', () => {
    const fixtures = eventFixtures();
    // Every sample with a detail-type is from aws.ec2 or aws.autoscaling (the S3 capture is inside an SQS envelope).
    const relevant = fixtures.filter(({ event }) =>
      ['aws.ec2', 'aws.autoscaling'].includes(event.source as string),
    );
    // The samples cover all eight event types.
    expect(new Set(relevant.map(({ event }) => event['detail-type']))).toEqual(
      new Set(REGISTRAR_EVENT_TYPES.map((type) => type.detailType)),
    );
    for (const { file, event } of relevant) {
      const matching = rules
        .filter((rule) => matchesEventPattern(rule.pattern, event))
        .map((rule) => rule.id);
      expect(matching, file).toEqual([ruleIdFor(event['detail-type'] as string)]);
    }
  });

  it('does not pick up events of other sources or detail-types', () => {
    const s3 = { source: 'aws.s3', 'detail-type': 'Object Created', detail: {} };
    const ec2Other = { source: 'aws.ec2', 'detail-type': 'EBS Volume Notification', detail: {} };
    const unknownState = {
      source: 'aws.ec2',
      'detail-type': 'EC2 Instance State-change Notification',
      detail: { 'instance-id': 'i-1', state: 'rebooting' },
    };
    for (const event of [s3, ec2Other, unknownState]) {
      expect(rules.filter((rule) => matchesEventPattern(rule.pattern, event))).toEqual([]);
    }
  });
});

describe('RegistrarStack: queues', () => {
  it('encrypts the event queue with SSE-SQS, sizes its visibility timeout and redrives to the DLQ after 5 receives', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 6 * 30 + 1,
      RedrivePolicy: { deadLetterTargetArn: getAtt(stack.registrar.deadLetterQueue), maxReceiveCount: 5 },
    });
    const eventQueue = template.findResources('AWS::SQS::Queue')[logicalId(stack.registrar.queue)]!;
    expect(eventQueue.Properties.KmsMasterKeyId).toBeUndefined();
  });

  it('keeps dead letters 14 days, encrypted', () => {
    for (const queue of [stack.registrar.deadLetterQueue, stack.registrar.scheduleDeadLetterQueue]) {
      expect(template.findResources('AWS::SQS::Queue')[logicalId(queue)]!.Properties).toEqual({
        MessageRetentionPeriod: 14 * 24 * 3600,
        SqsManagedSseEnabled: true,
        Tags: expect.any(Array),
      });
    }
  });

  it('admits to the event queue only EventBridge, per rule ARN, and only over TLS', () => {
    const policy = Object.values(template.findResources('AWS::SQS::QueuePolicy')).find(
      (resource) =>
        JSON.stringify(resource.Properties.Queues) === JSON.stringify([ref(stack.registrar.queue)]),
    )!;
    const statements = policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>;
    expect(statements[0]).toEqual({
      Action: 'sqs:*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Resource: getAtt(stack.registrar.queue),
    });
    const allows = statements.slice(1, -1);
    expect(allows).toHaveLength(8);
    expect(allows).toEqual(
      stack.registrar.rules.map((rule) => ({
        Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        Condition: { ArnEquals: { 'aws:SourceArn': getAtt(rule) } },
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Resource: getAtt(stack.registrar.queue),
      })),
    );
    // Everyone else (a hand-sent "Spot warning", say) is denied, whatever their IAM policy says.
    expect(statements.at(-1)).toEqual({
      Sid: 'OnlyRulesAndRegistrarSend',
      Action: 'sqs:SendMessage',
      Condition: {
        ArnNotEquals: { 'aws:SourceArn': stack.registrar.rules.map((rule) => getAtt(rule)) },
        ArnNotLike: { 'aws:PrincipalArn': [getAtt(stack.registrar.functions.registrar.role!, 'Arn')] },
      },
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Resource: getAtt(stack.registrar.queue),
    });
  });

  it('lets the rules dead-letter undeliverable events into the DLQ, per rule ARN', () => {
    const policy = Object.values(template.findResources('AWS::SQS::QueuePolicy')).find(
      (resource) =>
        JSON.stringify(resource.Properties.Queues) === JSON.stringify([ref(stack.registrar.deadLetterQueue)]),
    )!;
    const allows = (policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>).slice(1);
    expect(allows.map((statement) => [statement.Action, statement.Condition])).toEqual(
      stack.registrar.rules.map((rule) => [
        'sqs:SendMessage',
        { ArnEquals: { 'aws:SourceArn': getAtt(rule) } },
      ]),
    );
  });
});

describe('RegistrarStack: registrar function', () => {
  it('consumes the queue with partial batch responses and at most 2 concurrent invocations', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: getAtt(stack.registrar.queue),
      FunctionName: ref(stack.registrar.functions.registrar),
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 1,
      ScalingConfig: { MaximumConcurrency: 2 },
    });
  });

  it('runs both functions on nodejs24.x, arm64, traced, JSON logs in their own log group', () => {
    for (const fn of [stack.registrar.functions.registrar, stack.registrar.functions.reconciler]) {
      const properties = template.findResources('AWS::Lambda::Function')[logicalId(fn)]!.Properties;
      expect(properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: {
          LogFormat: 'JSON',
          ApplicationLogLevel: 'INFO',
          SystemLogLevel: 'WARN',
          LogGroup: expect.objectContaining({ Ref: expect.stringMatching(/LogGroup/) }),
        },
      });
      expect(properties.VpcConfig).toBeUndefined();
    }
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('gives both functions the configuration shared/config/config.ts reads', () => {
    const expected = {
      ALLOWED_NAMESPACES: 'vm-workloads',
      CLUSTER_NAME: 'mesh',
      TAG_PREFIX: 'istio-vm/',
      STOPPED_INSTANCE_POLICY: 'delete',
      FIELD_MANAGER: 'istio-vm-registrar',
      WORKLOAD_GROUP_CACHE_TTL_SECONDS: '30',
      COMPLETE_LIFECYCLE_ACTIONS: 'true',
      LIFECYCLE_HOOK_NAMES: 'istio-vm-registrar-launch,istio-vm-registrar-terminate',
      KUBE_REQUEST_TIMEOUT_MS: '10000',
      KUBE_CONCURRENCY: String(FUNCTION_DEFAULTS.KUBE_CONCURRENCY),
      RECONCILE_MAX_DELETE_RATIO: '0.5',
      REQUIRE_GROUP_ALLOW_LIST: 'false',
      DEFAULT_SERVICE_MODE: 'none',
      KUBE_EVENTS: 'all',
      METRICS_MAX_WORKLOAD_GROUPS: '50',
      POWERTOOLS_SERVICE_NAME: 'istio-vm-registrar',
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      NODE_OPTIONS: '--enable-source-maps --max-semi-space-size=4',
      DRAIN_SECONDS: '30',
      LIFECYCLE_RETRY_SECONDS: '15',
      TERMINATE_RETRY_LIMIT_SECONDS: '3600',
    };
    const variables = (fn: object) =>
      template.findResources('AWS::Lambda::Function')[logicalId(fn as never)]!.Properties.Environment
        .Variables;
    expect(variables(stack.registrar.functions.reconciler)).toEqual(expected);
    // The registrar alone moves records that cannot succeed on retry to the DLQ, and waits on its own
    // queue (with the margin of a wait: 30 s timeout + 1 s window + 5 s).
    expect(variables(stack.registrar.functions.registrar)).toEqual({
      ...expected,
      DEAD_LETTER_QUEUE_URL: ref(stack.registrar.deadLetterQueue),
      LIFECYCLE_QUEUE_URL: ref(stack.registrar.queue),
      LIFECYCLE_HEARTBEAT_MARGIN_SECONDS: '36',
    });
  });

  it('reserves one concurrent execution for the reconciler, so sweeps never overlap', () => {
    const properties =
      template.findResources('AWS::Lambda::Function')[logicalId(stack.registrar.functions.reconciler)]!
        .Properties;
    expect(properties.ReservedConcurrentExecutions).toBe(1);
  });

  it('bundles each handler as minified ESM with a source map and the require banner', () => {
    const assembly = built.app.synth();
    for (const fn of [stack.registrar.functions.registrar, stack.registrar.functions.reconciler]) {
      const code = template.findResources('AWS::Lambda::Function')[logicalId(fn)]!.Properties.Code;
      const assetDir = path.join(assembly.directory, `asset.${(code.S3Key as string).replace(/\.zip$/, '')}`);
      const bundle = readFileSync(path.join(assetDir, 'index.mjs'), 'utf8');
      expect(bundle.startsWith(ESM_REQUIRE_BANNER)).toBe(true);
      expect(existsSync(path.join(assetDir, 'index.mjs.map'))).toBe(true);
      expect(bundle).toMatch(/export\s*\{[^}]*as handler/);
    }
  });
});

describe('RegistrarStack: reconcile schedule', () => {
  it('invokes the reconciler every 5 minutes with retries and a dead-letter queue', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: getAtt(stack.registrar.functions.reconciler),
        RoleArn: getAtt(stack.registrar.scheduleRole),
        Input: '{}',
        DeadLetterConfig: { Arn: getAtt(stack.registrar.scheduleDeadLetterQueue) },
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 300 },
      },
    });
  });
});

describe('RegistrarStack: IAM (every statement)', () => {
  it('registrar role: X-Ray, its own logs, DescribeInstances, DescribeCluster, lifecycle actions and hooks, the queue', () => {
    const functions = stack.registrar.functions;
    expect(roleStatements(template, logicalId(functions.registrar.role!))).toEqual([
      { Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Effect: 'Allow', Resource: '*' },
      {
        Sid: 'WriteOwnLogs',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Effect: 'Allow',
        Resource: getAtt(functions.node.findChild('RegistrarLogGroup')),
      },
      {
        Sid: 'ReadInstances',
        Action: [
          'autoscaling:DescribeAutoScalingGroups',
          'autoscaling:DescribeAutoScalingInstances',
          'autoscaling:DescribeWarmPool',
          'ec2:DescribeInstances',
        ],
        Effect: 'Allow',
        Resource: '*',
      },
      {
        Sid: 'DescribeCluster',
        Action: 'eks:DescribeCluster',
        Effect: 'Allow',
        Resource: pseudoArn('eks', 'cluster/mesh'),
      },
      {
        Action: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
        Condition: { Null: { 'autoscaling:ResourceTag/istio-vm/workload-group': 'false' } },
        Effect: 'Allow',
        Resource: pseudoArn('autoscaling', 'autoScalingGroup:*:autoScalingGroupName/*'),
      },
      {
        Sid: 'ReadLifecycleHooks',
        Action: 'autoscaling:DescribeLifecycleHooks',
        Effect: 'Allow',
        Resource: '*',
      },
      {
        // Consumes its queue and sends lifecycle continuations to it.
        Action: [
          'sqs:ChangeMessageVisibility',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'sqs:GetQueueUrl',
          'sqs:ReceiveMessage',
          'sqs:SendMessage',
        ],
        Effect: 'Allow',
        Resource: getAtt(stack.registrar.queue),
      },
      {
        Action: 'sqs:SendMessage',
        Effect: 'Allow',
        Resource: getAtt(stack.registrar.deadLetterQueue),
      },
    ]);
  });

  it('reconciler role: X-Ray, its own logs, DescribeInstances, DescribeCluster, nothing else', () => {
    const functions = stack.registrar.functions;
    expect(roleStatements(template, logicalId(functions.reconciler.role!))).toEqual([
      { Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Effect: 'Allow', Resource: '*' },
      {
        Sid: 'WriteOwnLogs',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Effect: 'Allow',
        Resource: getAtt(functions.node.findChild('ReconcilerLogGroup')),
      },
      {
        Sid: 'ReadInstances',
        Action: [
          'autoscaling:DescribeAutoScalingGroups',
          'autoscaling:DescribeAutoScalingInstances',
          'autoscaling:DescribeWarmPool',
          'ec2:DescribeInstances',
        ],
        Effect: 'Allow',
        Resource: '*',
      },
      {
        Sid: 'DescribeCluster',
        Action: 'eks:DescribeCluster',
        Effect: 'Allow',
        Resource: pseudoArn('eks', 'cluster/mesh'),
      },
    ]);
  });

  it('schedule role: invoke the reconciler (and its versions), dead-letter into its queue', () => {
    const reconciler = getAtt(stack.registrar.functions.reconciler);
    expect(roleStatements(template, logicalId(stack.registrar.scheduleRole))).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        Effect: 'Allow',
        Resource: [reconciler, { 'Fn::Join': ['', [reconciler, ':*']] }],
      },
      {
        Action: 'sqs:SendMessage',
        Effect: 'Allow',
        Resource: getAtt(stack.registrar.scheduleDeadLetterQueue),
      },
    ]);
  });

  it('has no other identity policy, no managed policy, and roles only Lambda or the scheduler can assume', () => {
    template.resourceCountIs('AWS::IAM::Policy', 3);
    template.resourceCountIs('AWS::IAM::Role', 3);
    const roles = template.findResources('AWS::IAM::Role');
    for (const role of Object.values(roles)) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    for (const fn of [stack.registrar.functions.registrar, stack.registrar.functions.reconciler]) {
      expect(roles[logicalId(fn.role!)]!.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
    }
    expect(
      roles[logicalId(stack.registrar.scheduleRole)]!.Properties.AssumeRolePolicyDocument.Statement,
    ).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: {
          StringEquals: {
            'aws:SourceAccount': { Ref: 'AWS::AccountId' },
            'aws:SourceArn': pseudoArn('scheduler', 'schedule-group/default'),
          },
        },
      },
    ]);
  });
});

describe('RegistrarStack: cluster access', () => {
  it('maps each function role to the istio-vm-registrar group with an access entry and no access policy', () => {
    template.resourceCountIs('AWS::EKS::AccessEntry', 2);
    for (const fn of [stack.registrar.functions.registrar, stack.registrar.functions.reconciler]) {
      template.hasResourceProperties('AWS::EKS::AccessEntry', {
        ClusterName: 'mesh',
        PrincipalArn: getAtt(fn.role!),
        Type: 'STANDARD',
        KubernetesGroups: ['istio-vm-registrar'],
        AccessPolicies: Match.absent(),
      });
    }
  });

  it('does not deploy the kubectl provider unless applyRbac is set', () => {
    template.resourceCountIs('AWS::CloudFormation::Stack', 0);
    template.resourceCountIs('Custom::AWSCDK-EKS-KubernetesResource', 0);
  });
});

describe('RegistrarStack: alarms and dashboard', () => {
  const alarmOn = (metricName: string) =>
    Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
      (alarm) => alarm.Properties.MetricName === metricName,
    );

  it('alarms on dead letters, errors, throttles and the age of the oldest event', () => {
    expect(alarmOn('ApproximateNumberOfMessagesVisible')).toHaveLength(2);
    expect(alarmOn('Errors')).toHaveLength(2);
    expect(alarmOn('Throttles')).toHaveLength(2);
    const [age] = alarmOn('ApproximateAgeOfOldestMessage');
    expect(age?.Properties).toMatchObject({
      Threshold: 300,
      ComparisonOperator: 'GreaterThanThreshold',
      Dimensions: [{ Name: 'QueueName', Value: getAtt(stack.registrar.queue, 'QueueName') }],
    });
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions).toBeUndefined();
      expect(alarm.Properties.TreatMissingData).toBe('notBreaching');
    }
  });

  it('alarms on the custom metrics of shared/constants.ts by their service dimension', () => {
    for (const name of [
      Metric.EventsFailed,
      Metric.KubernetesErrors,
      Metric.ReconcileSafetyStops,
      Metric.ReconcileErrors,
    ]) {
      const [alarm] = alarmOn(name);
      expect(alarm?.Properties, name).toMatchObject({
        Namespace: METRICS_NAMESPACE,
        Dimensions: [{ Name: 'service', Value: 'istio-vm-registrar' }],
        Statistic: 'Sum',
        Threshold: 0,
      });
    }
    expect(alarmOn(Metric.EventsFailed)[0]?.Properties.EvaluationPeriods).toBe(3);
    // InstancesRefused (by Reason), time to mesh, drift and lifecycle alarms: test/infra/observability.test.ts.
    template.resourceCountIs('AWS::CloudWatch::Alarm', 15);
  });

  it('puts the Lambda/SQS metrics on one dashboard (the custom ones: test/infra/observability.test.ts)', () => {
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]!.Properties.DashboardBody);
    for (const name of ['Invocations', 'Duration', 'ConcurrentExecutions', 'ApproximateAgeOfOldestMessage']) {
      expect(body).toContain(name);
    }
  });
});

describe('RegistrarStack: outputs', () => {
  it('exports what operators and the VM bootstrap need', () => {
    const outputs = template.findOutputs('*');
    expect(Object.keys(outputs).sort()).toEqual(
      [
        'DashboardName',
        'DeadLetterQueueArn',
        'DeadLetterQueueUrl',
        'EventQueueArn',
        'EventQueueUrl',
        'KubernetesGroup',
        'ReconcileScheduleName',
        'ReconcilerFunctionName',
        'ReconcilerRoleArn',
        'RegistrarFunctionName',
        'RegistrarRoleArn',
        'ScheduleDeadLetterQueueUrl',
      ].sort(),
    );
    expect(outputs.EventQueueUrl!.Value).toEqual(ref(stack.registrar.queue));
    expect(outputs.ReconcileScheduleName!.Value).toEqual(ref(stack.registrar.schedule));
    expect(outputs.KubernetesGroup!.Value).toBe('istio-vm-registrar');
  });
});

describe('RegistrarStack: cdk-nag', () => {
  it('reports no unacknowledged AwsSolutions finding and no CDK warning', () => {
    expect(nagFindings(stack)).toEqual([]);
    expect(annotationMessages(stack)).toEqual([]);
  });
});
