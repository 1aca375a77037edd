import { INSTANCE_ID_LABEL } from '../constants.ts';
import { decideInstance, type LifecyclePolicy } from './decide.ts';
import { type Refusal, RefusalReason } from './errors.ts';
import { launchGateHolds } from './lifecycle.ts';
import { groupKey, type InstanceFacts, type WorkloadEntryObject, type WorkloadGroupView } from './types.ts';
import { entryMatches, isManaged, renderWorkloadEntry } from './workload-entry.ts';

/**
 * Reconcile planning: the whole fleet's desired entries against the managed entries that exist.
 * Uses the same decision and rendering as the event path, so both converge to the same state.
 */

export type ChangeAction = 'create' | 'update' | 'delete';

export interface PlannedChange {
  readonly action: ChangeAction;
  readonly namespace: string;
  readonly name: string;
  /** `<namespace>/<group>` the entry belongs to. */
  readonly group: string;
  readonly instanceId?: string;
  readonly reason: string;
  /** For create/update: what to apply. */
  readonly desired?: WorkloadEntryObject;
  /** For update: the live entry it replaces. */
  readonly live?: WorkloadEntryObject;
  /** For delete: the uid to guard the delete with. */
  readonly uid?: string;
  /** For delete: EC2 reports the instance as leaving (shutting-down, terminated, stopping, stopped). */
  readonly evidence?: boolean;
}

export interface SafetyStop {
  readonly group: string;
  readonly deletes: number;
  readonly entries: number;
  readonly message: string;
}

export interface ReconcilePlan {
  readonly changes: readonly PlannedChange[];
  readonly unchanged: ReadonlyMap<string, number>;
  readonly refusals: ReadonlyArray<{ readonly instanceId: string; readonly refusal: Refusal }>;
  readonly safetyStops: readonly SafetyStop[];
  /** Deletes withheld because the picture was incomplete or a safety stop fired. */
  readonly withheldDeletes: readonly PlannedChange[];
  /**
   * Running instances of in-scope groups whose Auto Scaling lifecycle state could not be read: their
   * entries are neither created, updated nor deleted this sweep (a warm-pool or terminating VM must
   * not be registered, a serving one must not lose its entry).
   */
  readonly held: ReadonlyArray<{ readonly instanceId: string; readonly group: string }>;
  /** Every entry the fleet should have, by `<namespace>/<name>` (direct endpoints follow it). */
  readonly desired: ReadonlyMap<
    string,
    { readonly entry: WorkloadEntryObject; readonly instanceId: string; readonly group: string }
  >;
}

export interface PlanInput {
  readonly instances: readonly InstanceFacts[];
  /** Live entries in scope (only managed ones are ever considered). */
  readonly entries: readonly WorkloadEntryObject[];
  /** WorkloadGroups in scope, keyed `<namespace>/<name>`. */
  readonly groups: ReadonlyMap<string, WorkloadGroupView>;
  readonly policy: LifecyclePolicy;
  /** Whether a group key is in this sweep's scope. */
  readonly inScope: (groupKey: string) => boolean;
  /** False when any listing failed or was cut short: then nothing is deleted. */
  readonly complete: boolean;
  /**
   * Groups with entries in an account/region whose instances could not be listed this sweep
   * (shared/domain/locations.ts): none of their entries is deleted, wherever it lives.
   */
  readonly unlistedGroups?: ReadonlySet<string>;
  readonly maxDeleteRatio: number;
  readonly force: boolean;
}

/** The group an entry belongs to: its controller owner reference. */
export function entryGroupKey(entry: WorkloadEntryObject): string {
  const owner = entry.metadata.ownerReferences?.find((ref) => ref.kind === 'WorkloadGroup');
  return `${entry.metadata.namespace}/${owner?.name ?? '(no group)'}`;
}

export function planReconcile(input: PlanInput): ReconcilePlan {
  const desired = new Map<string, { entry: WorkloadEntryObject; instanceId: string; group: string }>();
  const kept = new Set<string>();
  const leaving = new Map<string, string>();
  const refusals: Array<{ instanceId: string; refusal: Refusal }> = [];
  const held: Array<{ instanceId: string; group: string }> = [];

  for (const facts of input.instances) {
    const intent = decideInstance(facts, undefined, input.policy);
    switch (intent.kind) {
      case 'register': {
        const key = groupKey(intent.group);
        if (!input.inScope(key)) break;
        if (facts.autoScalingStateUnknown) {
          kept.add(facts.instanceId);
          held.push({ instanceId: facts.instanceId, group: key });
          break;
        }
        const group = input.groups.get(key);
        if (!group) {
          refusals.push({
            instanceId: facts.instanceId,
            refusal: {
              reason: RefusalReason.WorkloadGroupNotFound,
              message: `WorkloadGroup ${key} does not exist`,
            },
          });
          break;
        }
        const rendered = renderWorkloadEntry(facts, group, {
          ...(intent.network ? { network: intent.network } : {}),
          requireAllowList: input.policy.requireGroupAllowList === true,
        });
        if (!rendered.ok) {
          refusals.push({ instanceId: facts.instanceId, refusal: rendered.refusal });
          break;
        }
        if (launchGateHolds(facts, group)) {
          // The probe launch gate writes this entry once the probe passes: leave it as it is.
          kept.add(facts.instanceId);
          break;
        }
        const { namespace, name } = rendered.entry.metadata;
        desired.set(`${namespace}/${name}`, {
          entry: rendered.entry,
          instanceId: facts.instanceId,
          group: key,
        });
        break;
      }
      case 'keep':
        kept.add(facts.instanceId);
        break;
      case 'deregister':
        leaving.set(facts.instanceId, intent.reason);
        break;
      case 'refuse':
        refusals.push({ instanceId: facts.instanceId, refusal: intent.refusal });
        break;
      case 'ignore':
        break;
    }
  }

  const changes: PlannedChange[] = [];
  const unchanged = new Map<string, number>();
  const liveByGroup = new Map<string, number>();
  const deletes: PlannedChange[] = [];
  const seen = new Set<string>();
  const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

  for (const live of input.entries) {
    if (!isManaged(live)) continue;
    const group = entryGroupKey(live);
    if (!input.inScope(group)) continue;
    const key = `${live.metadata.namespace}/${live.metadata.name}`;
    seen.add(key);
    bump(liveByGroup, group);
    const want = desired.get(key);
    const instanceId = live.metadata.labels?.[INSTANCE_ID_LABEL];
    if (want) {
      if (entryMatches(live, want.entry)) bump(unchanged, want.group);
      else {
        changes.push({
          action: 'update',
          namespace: live.metadata.namespace,
          name: live.metadata.name,
          group: want.group,
          instanceId: want.instanceId,
          reason: 'entry differs from the instance and its group',
          desired: want.entry,
          live,
        });
      }
      continue;
    }
    if (instanceId && kept.has(instanceId)) {
      bump(unchanged, group);
      continue;
    }
    const reason =
      instanceId && leaving.has(instanceId)
        ? leaving.get(instanceId)!
        : 'no running tagged instance wants it';
    deletes.push({
      action: 'delete',
      namespace: live.metadata.namespace,
      name: live.metadata.name,
      group,
      ...(instanceId ? { instanceId } : {}),
      ...(live.metadata.uid ? { uid: live.metadata.uid } : {}),
      reason,
      evidence: instanceId !== undefined && leaving.has(instanceId),
    });
  }

  for (const [key, want] of desired) {
    if (seen.has(key)) continue;
    changes.push({
      action: 'create',
      namespace: want.entry.metadata.namespace,
      name: want.entry.metadata.name,
      group: want.group,
      instanceId: want.instanceId,
      reason: 'tagged instance has no entry',
      desired: want.entry,
    });
  }

  const { allowed, withheld, safetyStops } = guardDeletes(deletes, liveByGroup, input);
  changes.push(...allowed);
  return { changes, unchanged, refusals, safetyStops, withheldDeletes: withheld, held, desired };
}

/**
 * Never delete on an incomplete picture, and stop a group's deletes when more than the allowed share
 * of its entries would go without EC2 positively saying those instances are leaving. A wrong region
 * or tag prefix makes a whole fleet look absent, and a typo in a group's allow-list annotation or a
 * bad tag roll-out makes it look refused: only a leaving state is evidence, absence and refusal are not.
 */
function guardDeletes(allDeletes: PlannedChange[], liveByGroup: Map<string, number>, input: PlanInput) {
  if (!input.complete) return { allowed: [], withheld: allDeletes, safetyStops: [] as SafetyStop[] };
  // A group partly in an account/region that could not be listed: absence proves nothing for it.
  const unlisted = allDeletes.filter((d) => input.unlistedGroups?.has(d.group));
  const deletes = allDeletes.filter((d) => !input.unlistedGroups?.has(d.group));
  if (input.force) return { allowed: deletes, withheld: unlisted, safetyStops: [] as SafetyStop[] };
  const unproven = new Map<string, number>();
  for (const d of deletes) if (!d.evidence) unproven.set(d.group, (unproven.get(d.group) ?? 0) + 1);
  const stopped = new Map<string, SafetyStop>();
  for (const [group, count] of unproven) {
    const entries = liveByGroup.get(group) ?? 0;
    if (entries > 0 && count / entries > input.maxDeleteRatio) {
      stopped.set(group, {
        group,
        deletes: count,
        entries,
        message: `would delete ${count} of ${group}'s ${entries} entries whose instances EC2 no longer lists (more than ${Math.round(
          input.maxDeleteRatio * 100,
        )}%); rerun with force to allow`,
      });
    }
  }
  const allowed = deletes.filter((d) => !stopped.has(d.group));
  const withheld = [...unlisted, ...deletes.filter((d) => stopped.has(d.group))];
  return { allowed, withheld, safetyStops: [...stopped.values()] };
}
