import { Duration, Lazy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_LIFECYCLE_HOOK_NAMES } from '../../shared/constants.ts';
import { REGISTRAR_EVENT_TYPES, type RegistrarEventType } from '../event-types.ts';
import { acknowledgeWildcardResource } from '../nag.ts';
import { RegistrarFunctions, type RegistrarFunctionsProps } from './registrar-functions.ts';

export interface RegistrarProps extends RegistrarFunctionsProps {
  /**
   * Records per registrar invocation (1-10, or up to 10,000 with a batching window).
   * @default 10
   */
  readonly batchSize?: number;
  /**
   * How long the event source mapping gathers records before invoking (0-300 s).
   * @default Duration.seconds(1)
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * Most concurrent registrar invocations the queue drives (2-1000): this bounds the write rate on
   * the Kubernetes API server, together with KUBE_CONCURRENCY.
   * @default 2
   */
  readonly maxConcurrency?: number;
  /**
   * Receives before a message moves to the dead-letter queue.
   * @default 5
   */
  readonly maxReceiveCount?: number;
  /**
   * Visibility timeout of the event queue; at least 6x the registrar timeout (AWS guidance for
   * Lambda event sources) plus the batching window.
   * @default - 6 x registrarTimeout + maxBatchingWindow
   */
  readonly queueVisibilityTimeout?: Duration;
  /**
   * When the reconciler sweeps. A `rate(...)`, `cron(...)` or `at(...)` expression.
   * @default scheduler.ScheduleExpression.rate(Duration.minutes(5))
   */
  readonly reconcileSchedule?: scheduler.ScheduleExpression;
  /**
   * Create the schedule enabled.
   * @default true
   */
  readonly reconcileScheduleEnabled?: boolean;
  /**
   * Retries of a failed scheduled invocation before it goes to the schedule's dead-letter queue.
   * @default 2
   */
  readonly reconcileRetryAttempts?: number;
  /**
   * Age after which a scheduled invocation is no longer retried (the next sweep supersedes it).
   * @default Duration.minutes(5)
   */
  readonly reconcileMaxEventAge?: Duration;
  /**
   * Principals besides the event rules and the registrar's own role that may send to the event
   * queue: the queue policy denies `sqs:SendMessage` to everyone else, since a forged event is a
   * request to look at an instance. Add the role you redrive the dead-letter queue with.
   * @default - none
   */
  readonly queueSenders?: readonly iam.IRole[];
}

export interface LifecycleHookOptions {
  /**
   * How long an instance waits in Pending:Wait / Terminating:Wait for the registrar before the
   * default result applies.
   * @default Duration.minutes(5)
   */
  readonly heartbeatTimeout?: Duration;
  /**
   * Result when the registrar does not answer in time. CONTINUE keeps a broken registrar from
   * failing launches; the reconciler registers the instance on its next sweep.
   * @default autoscaling.DefaultResult.CONTINUE
   */
  readonly defaultResult?: autoscaling.DefaultResult;
}

/**
 * The event-driven registrar: one EventBridge rule per EC2/Auto Scaling event type into an
 * encrypted SQS queue (with a dead-letter queue) that drives the registrar function with partial
 * batch responses, and the reconciler on an EventBridge Scheduler schedule.
 *
 * Seams: {@link addEventRule} (more event types), {@link addLifecycleHooks} (Auto Scaling lifecycle
 * hooks on users' groups), `functions` (more grants, more functions).
 */
export class Registrar extends Construct {
  public readonly functions: RegistrarFunctions;
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  /** Dead-letter queue of the reconcile schedule's target. */
  public readonly scheduleDeadLetterQueue: sqs.Queue;
  public readonly schedule: scheduler.Schedule;
  /** Role EventBridge Scheduler assumes to invoke the reconciler. */
  public readonly scheduleRole: iam.Role;
  /** The event rules, one per event type (and any added later). */
  public readonly rules: events.Rule[] = [];
  /** Auto Scaling group names the Auto Scaling rules are narrowed to (empty: every group). */
  public readonly autoScalingGroupNames: readonly string[];

  constructor(scope: Construct, id: string, props: RegistrarProps) {
    super(scope, id);
    const registrarTimeout = props.registrarTimeout ?? Duration.seconds(30);
    const batchingWindow = props.maxBatchingWindow ?? Duration.seconds(1);
    const visibilityTimeout =
      props.queueVisibilityTimeout ??
      Duration.seconds(6 * registrarTimeout.toSeconds() + batchingWindow.toSeconds());
    validate(this, props, registrarTimeout, batchingWindow, visibilityTimeout);

    this.autoScalingGroupNames = (props.autoScalingGroups ?? []).map((group) => group.autoScalingGroupName);
    this.functions = new RegistrarFunctions(this, 'Functions', props);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    // SSE-SQS rather than a KMS key: EventBridge can deliver to it with no key policy to manage.
    this.queue = new sqs.Queue(this, 'EventQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
    });

    for (const eventType of REGISTRAR_EVENT_TYPES) {
      this.addEventRule(eventType.id, eventPatternFor(eventType, this.autoScalingGroupNames), {
        description: `istio-vm-registrar: ${eventType.source} "${eventType.detailType}" to the registrar queue`,
      });
    }

    // Only the rules (by ARN) and the registrar itself may send: anyone else in the account with
    // sqs:SendMessage could otherwise make the registrar act on any instance. The rule list is read
    // at synth, so rules added later through addEventRule are admitted too.
    this.queue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyRulesAndRegistrarSend',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['sqs:SendMessage'],
        resources: [this.queue.queueArn],
        conditions: {
          ArnNotEquals: { 'aws:SourceArn': Lazy.list({ produce: () => this.rules.map((r) => r.ruleArn) }) },
          ArnNotLike: {
            'aws:PrincipalArn': [
              this.functions.registrar.role!.roleArn,
              ...(props.queueSenders ?? []).map((role) => role.roleArn),
            ],
          },
        },
      }),
    );

    this.functions.registrar.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: props.batchSize ?? 10,
        maxBatchingWindow: batchingWindow,
        reportBatchItemFailures: true,
        maxConcurrency: props.maxConcurrency ?? 2,
      }),
    );
    // Records that cannot succeed on retry (AccessDenied, a rejected request) go to the DLQ at once.
    this.functions.registrar.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.deadLetterQueue.queueArn] }),
    );
    this.functions.registrar.addEnvironment('DEAD_LETTER_QUEUE_URL', this.deadLetterQueue.queueUrl);

    this.scheduleDeadLetterQueue = new sqs.Queue(this, 'ScheduleDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.scheduleDeadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue: the DeadLetterConfig of the reconcile schedule target (AWS::Scheduler::Schedule), which cdk-nag only recognises for SQS redrive policies.',
    });
    // The schedule's role, owned here (rather than the per-stack role LambdaInvoke would create) so it
    // can be reasoned about: trusted by EventBridge Scheduler for the default group of this account only.
    const stack = Stack.of(this);
    this.scheduleRole = new iam.Role(this, 'ScheduleRole', {
      description: 'EventBridge Scheduler: invokes the istio-vm-registrar reconciler',
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
      `${this.functions.reconciler.functionArn}:*`,
      'lambda:InvokeFunction on the reconciler function ARN and its qualified ARNs ("<arn>:*": versions and aliases of this one function), as Function.grantInvoke writes it.',
    );
    this.schedule = new scheduler.Schedule(this, 'ReconcileSchedule', {
      schedule: props.reconcileSchedule ?? scheduler.ScheduleExpression.rate(Duration.minutes(5)),
      description: 'istio-vm-registrar: periodic reconcile sweep',
      enabled: props.reconcileScheduleEnabled ?? true,
      target: new LambdaInvoke(this.functions.reconciler, {
        role: this.scheduleRole,
        input: scheduler.ScheduleTargetInput.fromObject({}),
        deadLetterQueue: this.scheduleDeadLetterQueue,
        retryAttempts: props.reconcileRetryAttempts ?? 2,
        maxEventAge: props.reconcileMaxEventAge ?? Duration.minutes(5),
      }),
    });
  }

  /**
   * Adds an EventBridge rule (default bus, or `options.eventBus`: the hub's) that delivers matching
   * events to the registrar queue,
   * with the dead-letter queue for deliveries EventBridge cannot make. The queue policy admits it by
   * its ARN (aws:SourceArn).
   */
  public addEventRule(
    id: string,
    eventPattern: events.EventPattern,
    options: { description?: string; eventBus?: events.IEventBus } = {},
  ): events.Rule {
    const rule = new events.Rule(this, `${id}Rule`, {
      eventPattern,
      ...(options.eventBus ? { eventBus: options.eventBus } : {}),
      ...(options.description ? { description: options.description } : {}),
      targets: [new targets.SqsQueue(this.queue, { deadLetterQueue: this.deadLetterQueue })],
    });
    this.rules.push(rule);
    return rule;
  }

  /**
   * Adds launch and terminate lifecycle hooks to a group (created here or imported by name), with
   * no notification target: Auto Scaling then emits the lifecycle action events to EventBridge,
   * the registrar registers or deregisters the instance and completes the action.
   *
   * @throws when the Auto Scaling rules are narrowed to other groups than this one.
   */
  public addLifecycleHooks(
    group: autoscaling.IAutoScalingGroup,
    options: LifecycleHookOptions = {},
  ): autoscaling.LifecycleHook[] {
    const name = group.autoScalingGroupName;
    if (
      this.autoScalingGroupNames.length > 0 &&
      !Token.isUnresolved(name) &&
      !this.autoScalingGroupNames.includes(name)
    ) {
      throw new Error(
        `Registrar (${this.node.path}): addLifecycleHooks: group "${name}" is not in autoScalingGroups (${this.autoScalingGroupNames.join(', ')}), so its events would never reach the registrar`,
      );
    }
    const id = Token.isUnresolved(name) ? group.node.addr : name;
    const common = {
      autoScalingGroup: group,
      heartbeatTimeout: options.heartbeatTimeout ?? Duration.minutes(5),
      defaultResult: options.defaultResult ?? autoscaling.DefaultResult.CONTINUE,
    };
    return [
      new autoscaling.LifecycleHook(this, `LaunchHook-${id}`, {
        ...common,
        lifecycleHookName: DEFAULT_LIFECYCLE_HOOK_NAMES[0],
        lifecycleTransition: autoscaling.LifecycleTransition.INSTANCE_LAUNCHING,
      }),
      new autoscaling.LifecycleHook(this, `TerminateHook-${id}`, {
        ...common,
        lifecycleHookName: DEFAULT_LIFECYCLE_HOOK_NAMES[1],
        lifecycleTransition: autoscaling.LifecycleTransition.INSTANCE_TERMINATING,
      }),
    ];
  }
}

/** The rule pattern of one event type, narrowed to the given Auto Scaling groups where it can be. */
export function eventPatternFor(
  eventType: RegistrarEventType,
  autoScalingGroupNames: readonly string[] = [],
): events.EventPattern {
  const detail: Record<string, unknown> = { ...(eventType.detail ?? {}) };
  for (const [key, values] of Object.entries(detail)) detail[key] = [...(values as readonly string[])];
  if (eventType.carriesAutoScalingGroupName && autoScalingGroupNames.length > 0) {
    detail.AutoScalingGroupName = [...autoScalingGroupNames];
  }
  return {
    source: [eventType.source],
    detailType: [eventType.detailType],
    ...(Object.keys(detail).length > 0 ? { detail } : {}),
  };
}

function validate(
  scope: Construct,
  props: RegistrarProps,
  registrarTimeout: Duration,
  batchingWindow: Duration,
  visibilityTimeout: Duration,
): void {
  const problems: string[] = [];
  const batchSize = props.batchSize ?? 10;
  const windowSeconds = batchingWindow.toSeconds();
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > (windowSeconds > 0 ? 10_000 : 10)) {
    problems.push(`batchSize ${batchSize} must be 1-10, or 1-10000 with a batching window`);
  }
  if (windowSeconds > 300) problems.push(`maxBatchingWindow ${windowSeconds}s exceeds 300s`);
  const maxConcurrency = props.maxConcurrency ?? 2;
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 2 || maxConcurrency > 1000) {
    problems.push(`maxConcurrency ${maxConcurrency} must be 2-1000 (the SQS event source minimum is 2)`);
  }
  const maxReceiveCount = props.maxReceiveCount ?? 5;
  if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
    problems.push(`maxReceiveCount ${maxReceiveCount} must be 1-1000`);
  }
  const minimumVisibility = 6 * registrarTimeout.toSeconds();
  if (visibilityTimeout.toSeconds() < minimumVisibility) {
    problems.push(
      `queueVisibilityTimeout ${visibilityTimeout.toSeconds()}s must be at least 6 x the registrar timeout (${minimumVisibility}s)`,
    );
  }
  if (visibilityTimeout.toSeconds() > 43_200) problems.push('queueVisibilityTimeout exceeds 12 hours');
  const retries = props.reconcileRetryAttempts ?? 2;
  if (!Number.isInteger(retries) || retries < 0 || retries > 185) {
    problems.push(`reconcileRetryAttempts ${retries} must be 0-185`);
  }
  const names = (props.autoScalingGroups ?? []).map((group) => group.autoScalingGroupName);
  if (new Set(names).size !== names.length) problems.push('autoScalingGroups names a group twice');
  if (problems.length > 0) {
    throw new Error(`Registrar (${scope.node.path}): invalid configuration: ${problems.join('; ')}`);
  }
}
