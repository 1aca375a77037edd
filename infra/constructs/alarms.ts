import { Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Metric } from '#shared/constants.ts';
import { type RegistrarMetricSource, registrarMetric, registrarMetricQuery } from './metrics.ts';

export interface RegistrarAlarmsProps extends RegistrarMetricSource {
  readonly registrarFunction: lambda.IFunction;
  readonly reconcilerFunction: lambda.IFunction;
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  /** @default - no alarm on a schedule dead-letter queue */
  readonly scheduleDeadLetterQueue?: sqs.IQueue;
  /**
   * Topic notified when an alarm fires and when it recovers.
   * @default - alarms without actions
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Age of the oldest queued event above which the registrar is falling behind.
   * @default Duration.minutes(5)
   */
  readonly maxEventAge?: Duration;
  /**
   * Consecutive 5-minute periods with retriable failures (EventsFailed, KubernetesErrors) before
   * alarming: single failures are retried and usually heal.
   * @default 3
   */
  readonly failurePeriods?: number;
  /**
   * p99 of TimeToMesh (register: from the EC2/Auto Scaling event to the entry written) above which
   * new VMs take too long to join the mesh, over three 5-minute periods in a row. A healthy
   * registrar takes a few seconds; SQS batching, Lambda cold starts and retries of a briefly failing
   * API server stay well under two minutes.
   * @default Duration.minutes(2)
   */
  readonly timeToMeshP99Threshold?: Duration;
  /**
   * Sweeps in a row that found drift (ReconcileDrift > 0) before alarming: one sweep repairing a
   * lost event is normal; drift every time means something undoes the registrar's work or events
   * do not arrive.
   * @default 3
   */
  readonly driftSweeps?: number;
  /**
   * How often the reconciler sweeps: the period of the drift alarm, so that N periods are N sweeps.
   * @default Duration.minutes(5)
   */
  readonly reconcileInterval?: Duration;
}

/**
 * Alarms on what needs a person: dead letters, function errors and throttles, a queue that is
 * falling behind, persistent event/Kubernetes failures, instances refused by policy, and reconcile
 * sweeps stopped by the delete-ratio safety.
 */
export class RegistrarAlarms extends Construct {
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: RegistrarAlarmsProps) {
    super(scope, id);
    const failurePeriods = props.failurePeriods ?? 3;
    const maxEventAge = props.maxEventAge ?? Duration.minutes(5);
    if (!Number.isInteger(failurePeriods) || failurePeriods < 1 || failurePeriods > 288) {
      throw new Error(`RegistrarAlarms (${this.node.path}): failurePeriods ${failurePeriods} must be 1-288`);
    }
    if (!Token.isUnresolved(maxEventAge.toSeconds()) && maxEventAge.toSeconds() < 60) {
      throw new Error(`RegistrarAlarms (${this.node.path}): maxEventAge must be at least one minute`);
    }

    const oneMinuteMax = { period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM };
    this.add('DeadLetterQueueNotEmpty', {
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible(oneMinuteMax),
      description:
        'Events the registrar gave up on are waiting in the dead-letter queue: inspect, fix, then redrive.',
    });
    if (props.scheduleDeadLetterQueue) {
      this.add('ScheduleDeadLetterQueueNotEmpty', {
        metric: props.scheduleDeadLetterQueue.metricApproximateNumberOfMessagesVisible(oneMinuteMax),
        description: 'Scheduled reconcile invocations failed after their retries.',
      });
    }
    this.add('EventAgeTooHigh', {
      metric: props.queue.metricApproximateAgeOfOldestMessage(oneMinuteMax),
      threshold: maxEventAge.toSeconds(),
      evaluationPeriods: 5,
      description: `The oldest queued event is older than ${maxEventAge.toSeconds()}s: the registrar is failing or falling behind.`,
    });
    for (const [name, fn] of [
      ['Registrar', props.registrarFunction],
      ['Reconciler', props.reconcilerFunction],
    ] as const) {
      this.add(`${name}Errors`, {
        metric: fn.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
        description: `The ${name.toLowerCase()} function failed (unhandled error or timeout).`,
      });
      this.add(`${name}Throttles`, {
        metric: fn.metricThrottles({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
        description: `The ${name.toLowerCase()} function was throttled.`,
      });
    }
    this.add('EventsFailed', {
      metric: registrarMetric(props, Metric.EventsFailed),
      evaluationPeriods: failurePeriods,
      description: 'Events keep failing with retriable errors and returning to the queue.',
    });
    this.add('KubernetesErrors', {
      metric: registrarMetric(props, Metric.KubernetesErrors),
      evaluationPeriods: failurePeriods,
      description: 'Kubernetes API calls keep failing (authentication, RBAC, API server health).',
    });
    this.add('InstancesRefused', {
      // Emitted with a Reason dimension: a Metrics Insights query sums every reason.
      metric: registrarMetricQuery(props, Metric.InstancesRefused, { dimensions: ['Reason'] }),
      description:
        'Tagged instances were refused (namespace not allowed, bad tag, missing WorkloadGroup, no private IP): they are not in the mesh.',
    });
    this.add('ReconcileSafetyStops', {
      metric: registrarMetric(props, Metric.ReconcileSafetyStops),
      description:
        'A reconcile sweep would have deleted more than RECONCILE_MAX_DELETE_RATIO of a group and stopped: check, then invoke with force.',
    });
    this.add('ReconcileErrors', {
      metric: registrarMetric(props, Metric.ReconcileErrors),
      evaluationPeriods: failurePeriods,
      description:
        'Reconcile sweeps keep failing (a listing or writes): lost events are not being repaired. Check the reconciler logs (RBAC, EC2 permissions, API server).',
    });
    const ttm = props.timeToMeshP99Threshold ?? Duration.minutes(2);
    this.add('TimeToMeshP99High', {
      metric: registrarMetric(props, Metric.TimeToMesh, {
        dimensions: { Action: 'register' },
        statistic: cloudwatch.Stats.percentile(99),
        period: Duration.minutes(5),
      }),
      threshold: ttm.toMilliseconds(),
      evaluationPeriods: 3,
      description: `New VMs take more than ${ttm.toSeconds()}s (p99) from their launch event to their WorkloadEntry: look at the first dashboard row (errors, queue age), then Kubernetes and EC2 latency.`,
    });
    const driftSweeps = props.driftSweeps ?? 3;
    if (!Number.isInteger(driftSweeps) || driftSweeps < 1 || driftSweeps > 100) {
      throw new Error(`RegistrarAlarms (${this.node.path}): driftSweeps ${driftSweeps} must be 1-100`);
    }
    this.add('ReconcileDriftPersistent', {
      metric: registrarMetricQuery(props, Metric.ReconcileDrift, {
        dimensions: ['Kind'],
        period: props.reconcileInterval ?? Duration.minutes(5),
      }),
      evaluationPeriods: driftSweeps,
      description: `The reconciler found drift on ${driftSweeps} sweeps in a row: events are lost, or something else changes or deletes the registrar's entries. See the drift-by-kind widget and vm-registrar status.`,
    });
    this.add('LifecycleActionsNotCompletedByRegistrar', {
      metric: registrarMetric(props, Metric.LifecycleActionsNotPending),
      description:
        "Lifecycle actions were gone when the registrar completed them: their hook timed out (the default result applied, not the registrar), or they were completed twice. Check heartbeat timeouts against the registrar's retries and queue age.",
    });
    if (props.alarmTopic) this.notify(props.alarmTopic);
  }

  private add(
    id: string,
    options: {
      metric: cloudwatch.IMetric;
      description: string;
      threshold?: number;
      evaluationPeriods?: number;
    },
  ): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric: options.metric,
      threshold: options.threshold ?? 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: options.description,
    });
    this.alarms.push(alarm);
    return alarm;
  }

  /** Sends every alarm and recovery to `topic` (done at construction when `alarmTopic` is set). */
  public notify(topic: sns.ITopic): void {
    const action = new SnsAction(topic);
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }
}
