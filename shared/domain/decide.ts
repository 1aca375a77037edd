import { NETWORK_TAG, WORKLOAD_GROUP_TAG } from '../constants.ts';
import { type Refusal, RefusalReason } from './errors.ts';
import type { InstanceHint } from './events.ts';
import { mappedNetwork, type NetworkMap } from './locations.ts';
import type { GroupRef, InstanceFacts } from './types.ts';

/**
 * What should happen to one instance's WorkloadEntry: the whole lifecycle policy in one place.
 *
 * | EC2 truth / hint                                  | outcome                              |
 * |---------------------------------------------------|--------------------------------------|
 * | instance unknown to EC2                           | deregister (it is gone)              |
 * | shutting-down, terminated                         | deregister                           |
 * | stopping, stopped                                 | deregister, or keep (policy `keep`)  |
 * | Spot interruption warning (any action)            | deregister at once                   |
 * | terminate lifecycle action                        | deregister (the VM is leaving)       |
 * | launch lifecycle action into a warm pool          | deregister (not in service)          |
 * | Auto Scaling says Warmed:*, Terminating*, Standby | deregister (not in service)          |
 * | pending/running without the workload-group tag   | ignore (not ours)                    |
 * | pending/running with a bad tag or namespace       | refuse                               |
 * | pending/running without a private IPv4            | refuse                               |
 * | pending/running, tagged                           | register                             |
 *
 * The network of a registered instance: its network tag; else NETWORK_MAP by account and VPC, then
 * by account (shared/domain/locations.ts); else the WorkloadGroup template's `network`.
 */
export type InstanceIntent =
  | { readonly kind: 'register'; readonly group: GroupRef; readonly network?: string }
  | { readonly kind: 'deregister'; readonly reason: string }
  | { readonly kind: 'keep'; readonly reason: string }
  | { readonly kind: 'ignore'; readonly reason: string }
  | { readonly kind: 'refuse'; readonly refusal: Refusal };

export interface LifecyclePolicy {
  readonly tagPrefix: string;
  readonly allowedNamespaces: readonly string[];
  readonly stoppedInstancePolicy: 'delete' | 'keep';
  /** A group without an allow-list annotation admits nobody (REQUIRE_GROUP_ALLOW_LIST). */
  readonly requireGroupAllowList?: boolean;
  /** Network by account / VPC (NETWORK_MAP), for instances without a network tag. */
  readonly networkMap?: NetworkMap;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Istio network names end up in the `topology.istio.io/network` label: same rules as a label value. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function isNamespaceAllowed(namespace: string, allowed: readonly string[]): boolean {
  return allowed.includes('*') || allowed.includes(namespace);
}

/** Parses the `<namespace>/<name>` group tag. */
export function parseGroupTag(value: string): GroupRef | Refusal {
  const parts = value.trim().split('/');
  if (parts.length !== 2) {
    return {
      reason: RefusalReason.InvalidGroupTag,
      message: `workload-group tag "${value}" is not <namespace>/<name>`,
    };
  }
  const [namespace, name] = parts as [string, string];
  if (namespace.length > 63 || !DNS1123_LABEL.test(namespace)) {
    return {
      reason: RefusalReason.InvalidGroupTag,
      message: `namespace "${namespace}" is not a DNS-1123 label`,
    };
  }
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    return {
      reason: RefusalReason.InvalidGroupTag,
      message: `group name "${name}" is not a DNS-1123 subdomain`,
    };
  }
  return { namespace, name };
}

const isRefusal = (value: GroupRef | Refusal): value is Refusal => 'reason' in value;

/** Decides the intent for one instance from EC2's answer (undefined: EC2 does not know it) and the hint. */
export function decideInstance(
  facts: InstanceFacts | undefined,
  hint: InstanceHint | undefined,
  policy: LifecyclePolicy,
): InstanceIntent {
  if (!facts) return { kind: 'deregister', reason: 'instance not found in EC2' };
  if (hint?.source === 'ec2-spot-interruption') {
    // Two minutes' notice: take it out of load balancing now rather than when it is gone.
    return { kind: 'deregister', reason: 'spot interruption warning' };
  }
  const lifecycle = hint?.lifecycleAction;
  if (lifecycle?.transition === 'terminating')
    return { kind: 'deregister', reason: 'terminate lifecycle action' };
  if (lifecycle?.transition === 'launching' && lifecycle.destination === 'WarmPool') {
    return { kind: 'deregister', reason: 'launching into the warm pool' };
  }
  switch (facts.state) {
    case 'shutting-down':
    case 'terminated':
      return { kind: 'deregister', reason: `instance is ${facts.state}` };
    case 'stopping':
    case 'stopped':
      return policy.stoppedInstancePolicy === 'keep'
        ? { kind: 'keep', reason: `instance is ${facts.state} and the policy keeps its entry` }
        : { kind: 'deregister', reason: `instance is ${facts.state}` };
    case 'pending':
    case 'running': {
      const outOfService = outOfServiceReason(facts.autoScalingLifecycleState);
      if (outOfService) return { kind: 'deregister', reason: outOfService };
      return decideRunning(facts, policy);
    }
  }
}

/**
 * Auto Scaling lifecycle states in which a running instance must not receive traffic: warm-pool
 * instances (`Warmed:*`), instances being terminated (`Terminating`, `Terminating:Wait`,
 * `Terminating:Proceed`) and instances in or entering standby.
 * https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-lifecycle.html
 */
function outOfServiceReason(state: string | undefined): string | undefined {
  if (!state) return undefined;
  if (state.startsWith('Warmed:')) return `Auto Scaling keeps it in the warm pool (${state})`;
  if (state.startsWith('Terminating')) return `Auto Scaling is terminating it (${state})`;
  if (state === 'Standby' || state === 'EnteringStandby') return `Auto Scaling has it in standby (${state})`;
  return undefined;
}

function decideRunning(facts: InstanceFacts, policy: LifecyclePolicy): InstanceIntent {
  const tag = facts.tags[`${policy.tagPrefix}${WORKLOAD_GROUP_TAG}`];
  if (tag === undefined) return { kind: 'ignore', reason: 'instance has no workload-group tag' };
  const group = parseGroupTag(tag);
  if (isRefusal(group)) return { kind: 'refuse', refusal: group };
  if (!isNamespaceAllowed(group.namespace, policy.allowedNamespaces)) {
    return {
      kind: 'refuse',
      refusal: {
        reason: RefusalReason.NamespaceNotAllowed,
        message: `namespace "${group.namespace}" is not in the allowed namespaces`,
      },
    };
  }
  const network = facts.tags[`${policy.tagPrefix}${NETWORK_TAG}`];
  if (network !== undefined && (network.length === 0 || network.length > 63 || !LABEL_VALUE.test(network))) {
    return {
      kind: 'refuse',
      refusal: {
        reason: RefusalReason.InvalidNetworkTag,
        message: `network tag "${network}" is not a valid network name`,
      },
    };
  }
  if (!facts.privateIpAddress) {
    return {
      kind: 'refuse',
      refusal: { reason: RefusalReason.NoPrivateIp, message: 'instance has no primary private IPv4 address' },
    };
  }
  // The instance's own tag wins; then where it is (NETWORK_MAP); then the group template's network.
  const located = network ?? mappedNetwork(facts, policy.networkMap);
  return { kind: 'register', group, ...(located ? { network: located } : {}) };
}

/**
 * Whether a hint that would evict a VM is borne out by EC2 or Auto Scaling. Anyone who can send to
 * the queue can forge an event, and only these hints evict without EC2's own state saying so.
 *
 * | hint                         | acted on when                                   | otherwise                   |
 * |------------------------------|-------------------------------------------------|-----------------------------|
 * | Spot interruption warning    | EC2 says `InstanceLifecycle` = `spot`           | dropped: EC2's state decides |
 * | terminate lifecycle action   | Auto Scaling state is `Terminating*`            | dropped: EC2's state decides |
 * |                              | Auto Scaling state could not be read            | undetermined: retry later   |
 * | any hint, instance unknown   | (EC2 does not know it: it is gone either way)   |                             |
 * | every other hint             | always (it decides nothing EC2 does not)        |                             |
 */
export type HintCheck =
  | { readonly kind: 'verified' }
  | { readonly kind: 'unverified'; readonly reason: string }
  | { readonly kind: 'undetermined'; readonly reason: string };

export function verifyHint(facts: InstanceFacts | undefined, hint: InstanceHint | undefined): HintCheck {
  if (!facts || !hint) return { kind: 'verified' };
  if (hint.source === 'ec2-spot-interruption' && facts.instanceLifecycle !== 'spot') {
    return {
      kind: 'unverified',
      reason: `Spot interruption warning for an instance EC2 reports as ${facts.instanceLifecycle ?? 'on-demand'}`,
    };
  }
  if (hint.lifecycleAction?.transition === 'terminating') {
    if (facts.state !== 'pending' && facts.state !== 'running') return { kind: 'verified' };
    if (facts.autoScalingStateUnknown) {
      return { kind: 'undetermined', reason: 'the Auto Scaling lifecycle state could not be read' };
    }
    if (!facts.autoScalingLifecycleState?.startsWith('Terminating')) {
      return {
        kind: 'unverified',
        reason: `terminate lifecycle action for an instance Auto Scaling reports as ${facts.autoScalingLifecycleState ?? 'in no group'}`,
      };
    }
  }
  return { kind: 'verified' };
}

/** How long after a launch event EC2 may still answer NotFound for the new instance. */
export const LAUNCH_VISIBILITY_WINDOW_MS = 5 * 60_000;

/**
 * EC2's API is eventually consistent: a just-launched instance can be unknown to DescribeInstances
 * for a short while. When a fresh launch event names an instance EC2 does not know yet, the right
 * answer is "ask again later" (a retriable failure), not "it is gone". An old or undatable event
 * (replays, AWS's placeholder samples) is taken at EC2's word.
 * https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html
 */
export function awaitsLaunchVisibility(
  facts: InstanceFacts | undefined,
  hint: InstanceHint | undefined,
  now: number,
): boolean {
  if (facts || !hint?.time) return false;
  const launching =
    hint.source === 'asg-launch-successful' ||
    hint.lifecycleAction?.transition === 'launching' ||
    (hint.source === 'ec2-state-change' &&
      (hint.reportedState === 'pending' || hint.reportedState === 'running'));
  if (!launching) return false;
  const sent = Date.parse(hint.time);
  return Number.isFinite(sent) && now - sent >= -60_000 && now - sent < LAUNCH_VISIBILITY_WINDOW_MS;
}
