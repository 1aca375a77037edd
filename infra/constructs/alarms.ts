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
      metric: registrarMetricQuery(props, Metric.InstancesRefused),
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
