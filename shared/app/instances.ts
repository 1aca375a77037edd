import type { AutoScalingInstances } from '../adapters/autoscaling.ts';
import type { Ec2Instances } from '../adapters/ec2.ts';
import { ASG_NAME_TAG } from '../constants.ts';
import type { InstanceFacts } from '../domain/types.ts';

/**
 * Adds the Auto Scaling lifecycle state to the running and pending instances that belong to an
 * Auto Scaling group (one DescribeAutoScalingInstances per 50 of them); others are returned as is.
 */
export async function withLifecycleStates<T extends Iterable<InstanceFacts>>(
  facts: T,
  autoscaling: AutoScalingInstances,
  onAutoScalingError?: (error: unknown) => void,
): Promise<InstanceFacts[]> {
  const all = [...facts];
  const inGroups = all.filter(
    (f) => (f.state === 'running' || f.state === 'pending') && f.tags[ASG_NAME_TAG],
  );
  if (inGroups.length === 0) return all;
  let states: Map<string, string>;
  try {
    states = await autoscaling.lifecycleStates(inGroups.map((f) => f.instanceId));
  } catch (error) {
    // Without the Auto Scaling state a registration must wait, but a deregistration that EC2
    // alone justifies (terminated, a verified Spot warning) must not: mark the state unknown.
    onAutoScalingError?.(error);
    const unknown = new Set(inGroups.map((f) => f.instanceId));
    return all.map((f) => (unknown.has(f.instanceId) ? { ...f, autoScalingStateUnknown: true as const } : f));
  }
  return all.map((f) => {
    const state = states.get(f.instanceId);
    return state ? { ...f, autoScalingLifecycleState: state } : f;
  });
}

/**
 * What EC2 and Auto Scaling say about the given instances now, by id (unknown instances absent):
 * the read of truth of the event path and of the reconciler's pre-write re-check.
 */
export async function describeInstances(
  ids: readonly string[],
  ec2: Ec2Instances,
  autoscaling: AutoScalingInstances,
  onAutoScalingError?: (error: unknown) => void,
): Promise<Map<string, InstanceFacts>> {
  const found = await ec2.describe(ids);
  const enriched = await withLifecycleStates(found.values(), autoscaling, onAutoScalingError);
  return new Map(enriched.map((f) => [f.instanceId, f]));
}

/**
 * The same for a whole fleet, in O(pages): the lifecycle states of every member of the groups the
 * instances' tags name (see AutoScalingInstances.groupLifecycleStates), for the instances `wanted`
 * selects only (a sweep's scope: a group outside it must cost no call and fail nothing). The
 * instances of an Auto Scaling group whose read failed are marked `autoScalingStateUnknown`: they
 * are held, while the rest of the fleet goes ahead.
 */
export async function withFleetLifecycleStates(
  facts: readonly InstanceFacts[],
  autoscaling: AutoScalingInstances,
  wanted: (facts: InstanceFacts) => boolean = () => true,
): Promise<{ instances: InstanceFacts[]; failedGroups: ReadonlyMap<string, string> }> {
  const groups = new Set<string>();
  for (const f of facts) {
    const group = f.tags[ASG_NAME_TAG];
    if (group && (f.state === 'running' || f.state === 'pending') && wanted(f)) groups.add(group);
  }
  if (groups.size === 0) return { instances: [...facts], failedGroups: new Map() };
  const { states, failed } = await autoscaling.groupLifecycleStates([...groups]);
  const instances = facts.map((f) => {
    const group = f.tags[ASG_NAME_TAG];
    if (group && groups.has(group) && failed.has(group) && (f.state === 'running' || f.state === 'pending'))
      return { ...f, autoScalingStateUnknown: true as const };
    const state = states.get(f.instanceId);
    return state ? { ...f, autoScalingLifecycleState: state } : f;
  });
  return { instances, failedGroups: failed };
}
