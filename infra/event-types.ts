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

/** Every state in an `EC2 Instance State-change Notification`. */
export const EC2_INSTANCE_STATES = [
  'pending',
  'running',
  'stopping',
  'stopped',
  'shutting-down',
  'terminated',
] as const;

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

export const REGISTRAR_EVENT_TYPES: readonly RegistrarEventType[] = [
  {
    id: 'Ec2InstanceStateChange',
    source: 'aws.ec2',
    detailType: 'EC2 Instance State-change Notification',
    detail: { state: EC2_INSTANCE_STATES },
    carriesAutoScalingGroupName: false,
  },
  {
    id: 'Ec2SpotInstanceInterruptionWarning',
    source: 'aws.ec2',
    detailType: 'EC2 Spot Instance Interruption Warning',
    carriesAutoScalingGroupName: false,
  },
  {
    id: 'Ec2InstanceRebalanceRecommendation',
    source: 'aws.ec2',
    detailType: 'EC2 Instance Rebalance Recommendation',
    carriesAutoScalingGroupName: false,
  },
  {
    id: 'AutoScalingLaunchSuccessful',
    source: 'aws.autoscaling',
    detailType: 'EC2 Instance Launch Successful',
    carriesAutoScalingGroupName: true,
  },
  {
    id: 'AutoScalingLaunchUnsuccessful',
    source: 'aws.autoscaling',
    detailType: 'EC2 Instance Launch Unsuccessful',
    carriesAutoScalingGroupName: true,
  },
  {
    id: 'AutoScalingTerminateSuccessful',
    source: 'aws.autoscaling',
    detailType: 'EC2 Instance Terminate Successful',
    carriesAutoScalingGroupName: true,
  },
  {
    id: 'AutoScalingLaunchLifecycleAction',
    source: 'aws.autoscaling',
    detailType: 'EC2 Instance-launch Lifecycle Action',
    carriesAutoScalingGroupName: true,
  },
  {
    id: 'AutoScalingTerminateLifecycleAction',
    source: 'aws.autoscaling',
    detailType: 'EC2 Instance-terminate Lifecycle Action',
    carriesAutoScalingGroupName: true,
  },
];
