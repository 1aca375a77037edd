/**
 * What the registrar tells people and other automation about what it did: Kubernetes Events
 * (`kubectl describe workloadgroup`) and EventBridge events (docs/events/). Pure: no I/O.
 *
 * | what happened | Kubernetes Event on | type | reason | action | note | EventBridge detail-type |
 * | --- | --- | --- | --- | --- | --- | --- |
 * | entry created or changed | the WorkloadGroup (related: the entry), and the entry (`KUBE_EVENTS=all`) | Normal | `Registered` | `Register` | `Registered i-0abc (10.0.1.10, us-west-2a)` | `WorkloadEntry Registered` |
 * | entry deleted | the WorkloadGroup (the entry is gone) | Normal | `Deregistered` | `Deregister` | `Deregistered i-0abc: instance terminated` | `WorkloadEntry Deregistered` |
 * | instance refused | the WorkloadGroup when it exists, and an existing entry of that name (`KUBE_EVENTS=all`) | Warning | `Refused` | `Register` | `Refused i-0abc: <why>` | `Instance Refused` |
 * | sweep withheld a group's deletions | the WorkloadGroup | Warning | `SafetyStop` | `Reconcile` | the safety stop's message | in `Reconcile Completed` |
 * | sweep found drift in a group | the WorkloadGroup | Warning | `DriftRepaired` (dry run: `DriftFound`) | `Reconcile` | `1 missing, 2 stale, 0 changed, 0 foreign` | in `Reconcile Completed` |
 * | sweep found a group in step | - (a converged sweep writes nothing) | - | - | - | - | in `Reconcile Completed` |
 * | sweep finished | - | - | - | - | - | `Reconcile Completed` (one per sweep) |
 *
 * An entry already as EC2 says (a duplicate or replayed event) and an ignored instance tell nothing.
 * A refusal of an instance whose group does not exist, or whose namespace is not allowed, has no
 * object to hang an Event on: it is only logged, counted and published. Repeats of one Kubernetes
 * Event become its `series` (shared/adapters/kube-events.ts): drift found by sweep after sweep is
 * one Event whose count grows.
 */
import { ISTIO_NETWORKING_GROUP, ISTIO_NETWORKING_VERSION } from '../constants.ts';
import type { Refusal } from './errors.ts';
import type { WorkloadGroupView } from './types.ts';

/** The object an Event is about (`regarding`) or mentions (`related`). */
export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** `kubectl describe` finds an object's Events by kind, name, namespace and uid: set it. */
  readonly uid?: string;
}

/** One Kubernetes Event to record, as client-go's events.k8s.io/v1 recorder takes it. */
export interface KubeEventInput {
  readonly regarding: ObjectRef;
  readonly related?: ObjectRef;
  readonly type: 'Normal' | 'Warning';
  /** CamelCase, at most 128 characters (`Registered`, `Refused`). */
  readonly reason: string;
  /** What was done, CamelCase, at most 128 characters (`Register`). */
  readonly action: string;
  /** Human-readable, at most 1024 characters (longer is cut). */
  readonly note: string;
}

/** `source` of every EventBridge event the registrar publishes. */
export const EVENT_SOURCE = 'istio-vm-registrar';

/** Detail-types, one JSON schema each in docs/events/. */
export const DetailType = {
  Registered: 'WorkloadEntry Registered',
  Deregistered: 'WorkloadEntry Deregistered',
  Refused: 'Instance Refused',
  ReconcileCompleted: 'Reconcile Completed',
} as const;
export type DetailType = (typeof DetailType)[keyof typeof DetailType];

/** What set the registrar to work: an EC2/Auto Scaling event (through SQS or direct) or a sweep. */
export interface Trigger {
  readonly source: 'event' | 'reconcile';
  readonly detailType?: string;
  readonly eventId?: string;
  /** The event's own `time`. */
  readonly eventTime?: string;
}

export interface EntryRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

/** Something the registrar did (or refused) for one instance. */
export type InstanceNotice =
  | {
      readonly kind: 'registered';
      readonly instanceId: string;
      readonly group: WorkloadGroupView;
      readonly entry: EntryRef;
      readonly address: string;
      readonly availabilityZone?: string;
      readonly region: string;
      readonly account?: string;
      readonly network?: string;
      readonly trigger: Trigger;
      readonly timeToMeshMs?: number;
      readonly correlationId: string;
    }
  | {
      readonly kind: 'deregistered';
      readonly instanceId: string;
      /** The group the deleted entries belonged to (their ownerReference). */
      readonly group?: GroupIdentity;
      readonly groupKey?: string;
      readonly entries: readonly EntryRef[];
      readonly reason: string;
      readonly region?: string;
      readonly account?: string;
      readonly trigger: Trigger;
      readonly timeToMeshMs?: number;
      readonly correlationId: string;
    }
  | {
      readonly kind: 'refused';
      readonly instanceId: string;
      /** The group, when it exists (an Event needs an object to hang on). */
      readonly group?: WorkloadGroupView;
      /** What the instance's tag names, parsed or not. */
      readonly groupKey?: string;
      /** An entry of the wanted name that exists (a foreign one, say). */
      readonly entry?: EntryRef;
      readonly refusal: Refusal;
      readonly region?: string;
      readonly account?: string;
      readonly trigger: Trigger;
      readonly correlationId: string;
    };

/** Drift of one group found by a sweep. */
export interface DriftCounts {
  missing: number;
  stale: number;
  changed: number;
  foreign: number;
}

export const DRIFT_KINDS = ['missing', 'stale', 'changed', 'foreign'] as const satisfies ReadonlyArray<
  keyof DriftCounts
>;

/** What names a WorkloadGroup for an Event: the view read, or an entry's ownerReference. */
export type GroupIdentity = Pick<WorkloadGroupView, 'namespace' | 'name' | 'uid' | 'apiVersion'>;

export function groupRef(group: GroupIdentity): ObjectRef {
  return {
    apiVersion: group.apiVersion || `${ISTIO_NETWORKING_GROUP}/${ISTIO_NETWORKING_VERSION}`,
    kind: 'WorkloadGroup',
    namespace: group.namespace,
    name: group.name,
    ...(group.uid ? { uid: group.uid } : {}),
  };
}

function entryRef(entry: EntryRef): ObjectRef {
  return {
    apiVersion: `${ISTIO_NETWORKING_GROUP}/${ISTIO_NETWORKING_VERSION}`,
    kind: 'WorkloadEntry',
    namespace: entry.namespace,
    name: entry.name,
    ...(entry.uid ? { uid: entry.uid } : {}),
  };
}

/** The Kubernetes Events for one notice; `entries: false` (`KUBE_EVENTS=workloadgroup`) leaves out those on entries. */
export function kubeEventsFor(notice: InstanceNotice, options: { entries: boolean }): KubeEventInput[] {
  const out: KubeEventInput[] = [];
  switch (notice.kind) {
    case 'registered': {
      const where = [notice.address, notice.availabilityZone].filter(Boolean).join(', ');
      const note = `Registered ${notice.instanceId} (${where})`;
      const base = { type: 'Normal', reason: 'Registered', action: 'Register', note } as const;
      out.push({ ...base, regarding: groupRef(notice.group), related: entryRef(notice.entry) });
      if (options.entries && notice.entry.uid)
        out.push({ ...base, regarding: entryRef(notice.entry), related: groupRef(notice.group) });
      return out;
    }
    case 'deregistered': {
      if (!notice.group || notice.entries.length === 0) return out;
      for (const entry of notice.entries) {
        out.push({
          type: 'Normal',
          reason: 'Deregistered',
          action: 'Deregister',
          note: `Deregistered ${notice.instanceId}: ${notice.reason}`,
          regarding: groupRef(notice.group),
          related: entryRef(entry),
        });
      }
      return out;
    }
    case 'refused': {
      const note = `Refused ${notice.instanceId}: ${notice.refusal.message}`;
      const base = { type: 'Warning', reason: 'Refused', action: 'Register', note } as const;
      if (notice.group) out.push({ ...base, regarding: groupRef(notice.group) });
      if (options.entries && notice.entry?.uid) out.push({ ...base, regarding: entryRef(notice.entry) });
      return out;
    }
  }
}

/** The Kubernetes Event a sweep leaves on one group in its scope. */
export function sweepEventFor(
  group: GroupIdentity,
  result: { drift: DriftCounts; entries: number; dryRun: boolean; safetyStop?: string },
): KubeEventInput[] {
  const regarding = groupRef(group);
  const out: KubeEventInput[] = [];
  if (result.safetyStop) {
    out.push({
      regarding,
      type: 'Warning',
      reason: 'SafetyStop',
      action: 'Reconcile',
      note: result.safetyStop,
    });
  }
  const d = result.drift;
  const total = d.missing + d.stale + d.changed + d.foreign;
  if (total > 0) {
    out.push({
      regarding,
      type: 'Warning',
      reason: result.dryRun ? 'DriftFound' : 'DriftRepaired',
      action: 'Reconcile',
      note: describeDrift(d),
    });
  }
  return out;
}

export function describeDrift(d: DriftCounts): string {
  return DRIFT_KINDS.map((k) => `${d[k]} ${k}`).join(', ');
}

/** Parses a note written by {@link describeDrift} back (for `vm-registrar status`). */
export function parseDrift(note: string): DriftCounts | undefined {
  const out: DriftCounts = { missing: 0, stale: 0, changed: 0, foreign: 0 };
  for (const part of note.split(',')) {
    const m = /^\s*(\d+) (missing|stale|changed|foreign)\s*$/.exec(part);
    if (!m) return undefined;
    out[m[2] as keyof DriftCounts] = Number(m[1]);
  }
  return out;
}

/** The instance's ARN, when its account and region are known. */
function instanceArn(instanceId: string, region?: string, account?: string): string[] {
  return region && account ? [`arn:aws:ec2:${region}:${account}:instance/${instanceId}`] : [];
}

function trigger(t: Trigger) {
  return {
    source: t.source,
    ...(t.detailType ? { detailType: t.detailType } : {}),
    ...(t.eventId ? { eventId: t.eventId } : {}),
    ...(t.eventTime ? { eventTime: t.eventTime } : {}),
  };
}

/** The EventBridge event of a notice (docs/events/<detail-type>.json). */
export function busEventFor(notice: InstanceNotice): {
  detailType: DetailType;
  detail: Record<string, unknown>;
  resources: string[];
} {
  switch (notice.kind) {
    case 'registered':
      return {
        detailType: DetailType.Registered,
        resources: instanceArn(notice.instanceId, notice.region, notice.account),
        detail: {
          instanceId: notice.instanceId,
          workloadGroup: { namespace: notice.group.namespace, name: notice.group.name },
          workloadEntry: { namespace: notice.entry.namespace, name: notice.entry.name },
          address: notice.address,
          region: notice.region,
          ...(notice.availabilityZone ? { availabilityZone: notice.availabilityZone } : {}),
          ...(notice.account ? { account: notice.account } : {}),
          ...(notice.network ? { network: notice.network } : {}),
          trigger: trigger(notice.trigger),
          ...(notice.timeToMeshMs !== undefined ? { timeToMeshMs: notice.timeToMeshMs } : {}),
          correlationId: notice.correlationId,
        },
      };
    case 'deregistered': {
      const key = notice.group ? `${notice.group.namespace}/${notice.group.name}` : notice.groupKey;
      const [namespace, name] = key?.split('/') ?? [];
      return {
        detailType: DetailType.Deregistered,
        resources: instanceArn(notice.instanceId, notice.region, notice.account),
        detail: {
          instanceId: notice.instanceId,
          ...(namespace && name ? { workloadGroup: { namespace, name } } : {}),
          workloadEntries: notice.entries.map((e) => ({ namespace: e.namespace, name: e.name })),
          reason: notice.reason,
          ...(notice.region ? { region: notice.region } : {}),
          ...(notice.account ? { account: notice.account } : {}),
          trigger: trigger(notice.trigger),
          ...(notice.timeToMeshMs !== undefined ? { timeToMeshMs: notice.timeToMeshMs } : {}),
          correlationId: notice.correlationId,
        },
      };
    }
    case 'refused':
      return {
        detailType: DetailType.Refused,
        resources: instanceArn(notice.instanceId, notice.region, notice.account),
        detail: {
          instanceId: notice.instanceId,
          ...(notice.groupKey ? { workloadGroup: notice.groupKey } : {}),
          reason: notice.refusal.reason,
          message: notice.refusal.message,
          ...(notice.region ? { region: notice.region } : {}),
          ...(notice.account ? { account: notice.account } : {}),
          trigger: trigger(notice.trigger),
          correlationId: notice.correlationId,
        },
      };
  }
}

/** Groups listed in a `Reconcile Completed` detail: the rest are summed in its totals only. */
export const RECONCILE_DETAIL_MAX_GROUPS = 100;

/** The `Reconcile Completed` detail of a sweep. */
export function reconcileCompletedDetail(summary: {
  dryRun: boolean;
  converged: boolean;
  startedAt: string;
  durationMs: number;
  totals: Record<string, number>;
  drift: DriftCounts;
  groups: Record<string, DriftCounts>;
  safetyStops: readonly { group: string; message: string }[];
  errors: number;
  correlationId: string;
}): Record<string, unknown> {
  const drifted = Object.entries(summary.groups).filter(
    ([, d]) => d.missing + d.stale + d.changed + d.foreign > 0,
  );
  return {
    dryRun: summary.dryRun,
    converged: summary.converged,
    startedAt: summary.startedAt,
    durationMs: summary.durationMs,
    totals: summary.totals,
    drift: summary.drift,
    groupsWithDrift: Object.fromEntries(drifted.slice(0, RECONCILE_DETAIL_MAX_GROUPS)),
    ...(drifted.length > RECONCILE_DETAIL_MAX_GROUPS ? { groupsWithDriftTruncated: true } : {}),
    safetyStops: summary.safetyStops.map((s) => ({ group: s.group, message: s.message })),
    errors: summary.errors,
    correlationId: summary.correlationId,
  };
}

/**
 * Time to mesh: from the EC2/Auto Scaling event's own `time` to the write it caused, when that time
 * parses and is plausible. EventBridge times are whole seconds, so a sample may read up to a second
 * long; a clock a little behind the event's is read as 0; older than `maxAgeMs` (a redrive, a
 * replay) or further in the future than a minute is no sample.
 */
export function timeToMesh(
  eventTime: string | undefined,
  writtenAt: number,
  maxAgeMs: number,
): number | undefined {
  if (!eventTime) return undefined;
  const at = Date.parse(eventTime);
  if (!Number.isFinite(at)) return undefined;
  const ms = writtenAt - at;
  if (ms < -60_000 || ms > maxAgeMs) return undefined;
  return Math.max(0, ms);
}
