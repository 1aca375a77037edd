import { HANDLED_DETAIL_TYPES } from '../shared/domain/events.ts';
import { INSTANCE_STATES } from '../shared/domain/types.ts';

/**
 * The EC2 and Auto Scaling events the registrar handles, one EventBridge rule each. The event is
 * only a hint that an instance may have changed (the handler reads the instance's state from the
 * EC2 API), so every state and every transition is delivered; the domain decides what each means.
 *
 * References:
 * - https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instance-state-changes.html
 * - https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html
 * - https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/rebalance-recommendations.html
 * - https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-event-reference.html
 */

export interface RegistrarEventType {
  /** Construct id of the rule (also its position in the rule list). */
  readonly id: string;
  readonly source: 'aws.ec2' | 'aws.autoscaling';
  readonly detailType: string;
  /** Extra `detail` filter, if any. */
  readonly detail?: Readonly<Record<string, readonly string[]>>;
  /**
   * Whether the event names its Auto Scaling group in `detail.AutoScalingGroupName`, so the rule
   * can be narrowed to the configured groups.
   */
  readonly carriesAutoScalingGroupName: boolean;
}

/** Construct id of a rule: `Ec2InstanceStateChange`, `AutoScalingInstanceLaunchSuccessful`, ... */
function ruleId(source: string, detailType: string): string {
  const words = detailType
    .replace(/^EC2 /, '')
    .split(/[\s-]+/)
    .filter((word) => word !== 'Notification');
  const prefix = source === 'aws.ec2' ? 'Ec2' : 'AutoScaling';
  return prefix + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

/**
 * One rule per event type the registrar's intake understands (`HANDLED_DETAIL_TYPES`, derived from
 * the zod routes in shared/domain/events.ts), so a new event type cannot be handled without a rule.
 */
export const REGISTRAR_EVENT_TYPES: readonly RegistrarEventType[] = HANDLED_DETAIL_TYPES.map(
  ({ source, detailType }) => ({
    id: ruleId(source, detailType),
    source: source as RegistrarEventType['source'],
    detailType,
    ...(detailType === 'EC2 Instance State-change Notification'
      ? { detail: { state: INSTANCE_STATES } }
      : {}),
    carriesAutoScalingGroupName: source === 'aws.autoscaling',
  }),
);
