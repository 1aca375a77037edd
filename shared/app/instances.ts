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

/**
 * The same for a whole fleet, in O(pages): the lifecycle states of every member of the groups the
 * instances' tags name (see AutoScalingInstances.groupLifecycleStates).
 */
export async function withFleetLifecycleStates(
  facts: readonly InstanceFacts[],
  autoscaling: AutoScalingInstances,
): Promise<InstanceFacts[]> {
  const groups = new Set<string>();
  for (const f of facts) {
    const group = f.tags[ASG_NAME_TAG];
    if (group && (f.state === 'running' || f.state === 'pending')) groups.add(group);
  }
  if (groups.size === 0) return [...facts];
  const states = await autoscaling.groupLifecycleStates([...groups]);
  return facts.map((f) => {
    const state = states.get(f.instanceId);
    return state ? { ...f, autoScalingLifecycleState: state } : f;
  });
}
