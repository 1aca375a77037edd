import type { AutoScalingInstances } from '../adapters/autoscaling.ts';
import { ASG_NAME_TAG } from '../constants.ts';
import type { InstanceFacts } from '../domain/types.ts';

/**
 * Adds the Auto Scaling lifecycle state to the running and pending instances that belong to an
 * Auto Scaling group (one DescribeAutoScalingInstances per 50 of them); others are returned as is.
 */
export async function withLifecycleStates<T extends Iterable<InstanceFacts>>(
  facts: T,
  autoscaling: AutoScalingInstances,
): Promise<InstanceFacts[]> {
  const all = [...facts];
  const inGroups = all.filter(
    (f) => (f.state === 'running' || f.state === 'pending') && f.tags[ASG_NAME_TAG],
  );
  if (inGroups.length === 0) return all;
  const states = await autoscaling.lifecycleStates(inGroups.map((f) => f.instanceId));
  return all.map((f) => {
    const state = states.get(f.instanceId);
    return state ? { ...f, autoScalingLifecycleState: state } : f;
  });
}
