import { Metric, WORKLOAD_GROUP_TAG } from '../constants.ts';
import { parseGroupTag } from '../domain/decide.ts';
import type { InstanceHint } from '../domain/events.ts';
import {
  type GroupIdentity,
  type InstanceNotice,
  type Trigger,
  timeToMesh,
} from '../domain/notifications.ts';
import type { InstanceFacts, WorkloadGroupView } from '../domain/types.ts';
import { TIME_TO_MESH_MAX_AGE_MS } from '../metrics.ts';
import type { Telemetry } from '../observability.ts';
import type { Notifications } from './notifier.ts';
import type { ConvergeOutcome } from './registrar.ts';

/** What an outcome does not say but its notices need. */
export interface OutcomeDetails {
  /** The WorkloadGroup as read for the write (or the refusal). */
  readonly group?: WorkloadGroupView;
  /** uid of the entry written. */
  readonly uid?: string;
  /** `namespace/name` of an entry that exists (a refused name held by a foreign object). */
  readonly entry?: string;
  readonly network?: string;
  /** Epoch ms of the write (apply or last delete). */
  readonly at?: number;
  /** The WorkloadGroup deleted entries belonged to (their ownerReference). */
  readonly owner?: GroupIdentity;
}

/** `namespace/name` the instance's workload-group tag names, when it reads as one. */
export function groupKeyOf(facts: InstanceFacts | undefined, tagPrefix: string): string | undefined {
  const tag = facts?.tags[`${tagPrefix}${WORKLOAD_GROUP_TAG}`];
  if (tag === undefined) return undefined;
  const parsed = parseGroupTag(tag);
  return 'reason' in parsed ? undefined : `${parsed.namespace}/${parsed.name}`;
}

function entryRef(key: string, uid?: string) {
  const [namespace = '', name = ''] = key.split('/');
  return { namespace, name, ...(uid ? { uid } : {}) };
}

/**
 * The time to mesh of one converged record (metric `TimeToMesh`, by action), and the notice of
 * what happened to its instance for Kubernetes Events and EventBridge (shared/domain/notifications.ts).
 */
export function tellOutcome(input: {
  outcome: ConvergeOutcome;
  details: OutcomeDetails;
  hint: InstanceHint;
  facts: InstanceFacts | undefined;
  groupKey: string | undefined;
  correlationId: string;
  telemetry: Telemetry;
  notes?: Notifications;
}): InstanceNotice | undefined {
  const { outcome, details, hint, facts, telemetry } = input;
  const trigger: Trigger = {
    source: 'event',
    ...(hint.detailType ? { detailType: hint.detailType } : {}),
    ...(hint.eventId ? { eventId: hint.eventId } : {}),
    ...(hint.time ? { eventTime: hint.time } : {}),
  };
  const wrote =
    outcome.action === 'applied'
      ? 'register'
      : outcome.action === 'deleted' && outcome.entries.length > 0
        ? 'deregister'
        : undefined;
  const ttm =
    wrote && details.at !== undefined
      ? timeToMesh(hint.time, details.at, TIME_TO_MESH_MAX_AGE_MS)
      : undefined;
  if (wrote && ttm !== undefined) telemetry.milliseconds(Metric.TimeToMesh, ttm, { Action: wrote });
  const where = {
    ...((facts?.region ?? hint.region) ? { region: facts?.region ?? hint.region } : {}),
    ...((facts?.ownerId ?? hint.account) ? { account: facts?.ownerId ?? hint.account } : {}),
  };
  let notice: InstanceNotice | undefined;
  if (outcome.action === 'applied' && details.group && facts?.privateIpAddress) {
    notice = {
      kind: 'registered',
      instanceId: facts.instanceId,
      group: details.group,
      entry: entryRef(outcome.entry, details.uid),
      address: facts.privateIpAddress,
      ...(facts.availabilityZone ? { availabilityZone: facts.availabilityZone } : {}),
      region: facts.region,
      ...(where.account ? { account: where.account } : {}),
      ...(details.network ? { network: details.network } : {}),
      trigger,
      ...(ttm !== undefined ? { timeToMeshMs: ttm } : {}),
      correlationId: input.correlationId,
    };
  } else if (outcome.action === 'deleted' && outcome.entries.length > 0) {
    notice = {
      kind: 'deregistered',
      instanceId: hint.instanceId,
      ...(details.owner ? { group: details.owner } : {}),
      ...((input.groupKey ?? details.owner)
        ? { groupKey: input.groupKey ?? `${details.owner!.namespace}/${details.owner!.name}` }
        : {}),
      entries: outcome.entries.map((e) => entryRef(e)),
      reason: outcome.reason,
      ...where,
      trigger,
      ...(ttm !== undefined ? { timeToMeshMs: ttm } : {}),
      correlationId: input.correlationId,
    };
  } else if (outcome.action === 'refused') {
    const tag = facts
      ? Object.entries(facts.tags).find(([k]) => k.endsWith(WORKLOAD_GROUP_TAG))?.[1]
      : undefined;
    notice = {
      kind: 'refused',
      instanceId: hint.instanceId,
      ...(details.group ? { group: details.group } : {}),
      ...((input.groupKey ?? tag) ? { groupKey: input.groupKey ?? tag } : {}),
      ...(details.entry ? { entry: entryRef(details.entry) } : {}),
      refusal: outcome.refusal,
      ...where,
      trigger,
      correlationId: input.correlationId,
    };
  }
  if (notice) input.notes?.instance(notice);
  return notice;
}
