import { Duration, Lazy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_LIFECYCLE_HOOK_NAMES } from '../../shared/constants.ts';
import {
  globalTimeoutSeconds,
  HOOK_HEARTBEAT_TIMEOUT_RANGE,
  ISTIOD_GATE_POLL_SECONDS,
} from '../../shared/domain/lifecycle.ts';
import { REGISTRAR_EVENT_TYPES, type RegistrarEventType } from '../event-types.ts';
import { acknowledgeWildcardResource } from '../nag.ts';
import {
  FUNCTION_DEFAULTS,
  RegistrarFunctions,
  type RegistrarFunctionsProps,
} from './registrar-functions.ts';

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
  /**
   * The longest drain period the WorkloadGroups of this group's VMs use (their
   * `istio-vm-registrar.io/drain-seconds` annotation, else DRAIN_SECONDS): checked against the
   * terminate hook's global timeout (the registrar heartbeats through longer drains).
   * @default - the registrar's drainPeriod (DRAIN_SECONDS)
   */
  readonly drainPeriod?: Duration;
  /**
   * The launch gate the VMs' WorkloadGroups opt in to (annotation `istio-vm-registrar.io/launch-gate`):
   * sizes the launch hook's checks and, for `probe`, opens the probe's port from the functions to
   * the VMs.
   * @default - no launch gate
   */
  readonly launchGate?: LaunchGateOptions;
}

/** What `addLifecycleHooks` needs to know of a launch gate. */
export interface LaunchGateOptions {
  readonly mode: 'istiod' | 'probe';
  /**
   * The gate timeout the groups use (annotation `istio-vm-registrar.io/launch-gate-timeout-seconds`).
   * @default Duration.seconds(300)
   */
  readonly timeout?: Duration;
  /** `probe`: the port of the WorkloadGroup's probe; the functions are allowed to reach it. */
  readonly probePort?: number;
  /**
   * `probe`: the probe's periodSeconds.
   * @default Duration.seconds(10)
   */
  readonly probePeriod?: Duration;
  /**
   * `probe`: the VMs' security groups, opened to the functions on the probe port.
   * @default - the Auto Scaling group's own connections (a group created in this app)
   */
  readonly instances?: ec2.IConnectable;
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
  /** What the lifecycle checks of {@link addLifecycleHooks} need (synth time only). */
  readonly #lifecycle: {
    readonly registrarTimeout: Duration;
    readonly batchingWindow: Duration;
    readonly retryDelaySeconds: number;
    readonly terminateRetryLimitSeconds: number;
    readonly drainSeconds: number;
    readonly completes: boolean;
    readonly inVpc: boolean;
  };

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
    // Lifecycle waits (drain periods, launch gates, retries) park continuation messages on this
    // queue, delayed by the wait: the registrar sends to its own queue.
    const completes = props.completeLifecycleActions ?? FUNCTION_DEFAULTS.COMPLETE_LIFECYCLE_ACTIONS;
    if (completes) {
      this.functions.registrar.addEnvironment('LIFECYCLE_QUEUE_URL', this.queue.queueUrl);
      this.functions.registrar.addEnvironment(
        'LIFECYCLE_HEARTBEAT_MARGIN_SECONDS',
        String(lifecycleMarginSeconds(registrarTimeout, batchingWindow)),
      );
      this.queue.grantSendMessages(this.functions.registrar);
    }
    this.#lifecycle = {
      registrarTimeout,
      batchingWindow,
      retryDelaySeconds: props.lifecycleRetryDelay?.toSeconds() ?? FUNCTION_DEFAULTS.LIFECYCLE_RETRY_SECONDS,
      terminateRetryLimitSeconds:
        props.terminateRetryLimit?.toSeconds() ?? FUNCTION_DEFAULTS.TERMINATE_RETRY_LIMIT_SECONDS,
      drainSeconds: props.drainPeriod?.toSeconds() ?? FUNCTION_DEFAULTS.DRAIN_SECONDS,
      completes,
      inVpc: props.vpc !== undefined,
    };

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
   * The hooks' heartbeat timeout is checked against the registrar's waits: it must outlast one
   * retry of a failing lifecycle record (and one poll of the launch gate), and the drain period and
   * gate timeout must end within the action's global timeout (100 x heartbeat timeout, at most
   * 48 h). With a `probe` launch gate the functions (in a VPC) are let in on the probe's port.
   *
   * @throws when the Auto Scaling rules are narrowed to other groups than this one, or a check fails.
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
    this.#checkHookTimeouts(name, options);
    if (options.launchGate?.mode === 'probe') this.#openProbePort(group, options.launchGate);
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

  #checkHookTimeouts(name: string, options: LifecycleHookOptions): void {
    const l = this.#lifecycle;
    const problems: string[] = [];
    const heartbeat = (options.heartbeatTimeout ?? Duration.minutes(5)).toSeconds();
    const { min, max } = HOOK_HEARTBEAT_TIMEOUT_RANGE;
    if (heartbeat < min || heartbeat > max)
      problems.push(`heartbeatTimeout ${heartbeat}s must be ${min}-${max}s`);
    const margin = lifecycleMarginSeconds(l.registrarTimeout, l.batchingWindow);
    const oneRetry = l.retryDelaySeconds + margin;
    if (l.completes && heartbeat < oneRetry) {
      problems.push(
        `heartbeatTimeout ${heartbeat}s is shorter than one retry of a lifecycle record (${oneRetry}s: lifecycleRetryDelay ${l.retryDelaySeconds}s + registrarTimeout ${l.registrarTimeout.toSeconds()}s + maxBatchingWindow ${l.batchingWindow.toSeconds()}s + 5s), so the hook would time out between two attempts`,
      );
    }
    const global = globalTimeoutSeconds(heartbeat);
    const drain = options.drainPeriod?.toSeconds() ?? l.drainSeconds;
    if (drain > 3600) problems.push(`drainPeriod ${drain}s exceeds 3600s`);
    if (drain + margin > global) {
      problems.push(
        `drainPeriod ${drain}s does not end within the terminate action's global timeout (${global}s)`,
      );
    }
    if (l.completes && l.terminateRetryLimitSeconds > global) {
      problems.push(
        `terminateRetryLimit ${l.terminateRetryLimitSeconds}s outlasts the terminate action's global timeout (${global}s): Auto Scaling would end a failing scale-in first`,
      );
    }
    const gate = options.launchGate;
    if (gate) {
      if (!l.completes) problems.push('launchGate needs completeLifecycleActions');
      const timeout = (gate.timeout ?? Duration.seconds(300)).toSeconds();
      if (timeout + margin > global) {
        problems.push(
          `launchGate timeout ${timeout}s does not end within the launch action's global timeout (${global}s)`,
        );
      }
      const poll =
        gate.mode === 'istiod'
          ? ISTIOD_GATE_POLL_SECONDS
          : (gate.probePeriod ?? Duration.seconds(10)).toSeconds();
      if (heartbeat < poll + margin) {
        problems.push(
          `heartbeatTimeout ${heartbeat}s is shorter than one poll of the launch gate (${poll + margin}s)`,
        );
      }
      if (gate.mode === 'probe') {
        if (!l.inVpc)
          problems.push(
            'a probe launch gate needs the functions in a VPC (vpc): they probe the VMs directly',
          );
        const port = gate.probePort;
        if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) {
          problems.push('a probe launch gate needs probePort (1-65535), the port of the WorkloadGroup probe');
        }
      }
    }
    if (problems.length > 0) {
      throw new Error(`Registrar (${this.node.path}): addLifecycleHooks (${name}): ${problems.join('; ')}`);
    }
  }

  /** Lets the functions reach the VMs on the probe's port (ingress on the VMs, egress on the functions). */
  #openProbePort(group: autoscaling.IAutoScalingGroup, gate: LaunchGateOptions): void {
    const target = gate.instances ?? (isConnectable(group) ? group : undefined);
    if (!target) {
      throw new Error(
        `Registrar (${this.node.path}): addLifecycleHooks: a probe launch gate on an imported group needs launchGate.instances (the VMs' security groups)`,
      );
    }
    const functions = new ec2.Connections({ securityGroups: [...this.functions.securityGroups] });
    target.connections.allowFrom(
      functions,
      ec2.Port.tcp(gate.probePort!),
      'istio-vm-registrar readiness probe',
    );
  }
}

/**
 * Time a lifecycle continuation may take from becoming visible to its heartbeat: the batching
 * window, one invocation, and 5 s for SQS's delivery (LIFECYCLE_HEARTBEAT_MARGIN_SECONDS).
 */
export function lifecycleMarginSeconds(registrarTimeout: Duration, batchingWindow: Duration): number {
  return registrarTimeout.toSeconds() + batchingWindow.toSeconds() + 5;
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

function isConnectable(value: unknown): value is ec2.IConnectable {
  return typeof value === 'object' && value !== null && 'connections' in value;
}
