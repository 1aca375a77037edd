import { randomUUID } from 'node:crypto';
import { Metric, WORKLOAD_GROUP_TAG } from '../constants.ts';
import { RefusalReason } from '../domain/errors.ts';
import {
  DetailType,
  DRIFT_KINDS,
  type DriftCounts,
  reconcileCompletedDetail,
  sweepEventFor,
} from '../domain/notifications.ts';
import type { PlannedChange, ReconcilePlan } from '../domain/plan.ts';
import type { InstanceFacts, WorkloadGroupView } from '../domain/types.ts';
import type { Telemetry } from '../observability.ts';
import type { Notifications } from './notifier.ts';
import type { GroupCounts, ReconcileSummary } from './reconciler.ts';

const zero = (): DriftCounts => ({ missing: 0, stale: 0, changed: 0, foreign: 0 });

/** What a planned change repairs: a missing entry (create), a stale one (delete), a changed one (update). */
const KIND_OF: Record<PlannedChange['action'], keyof DriftCounts> = {
  create: 'missing',
  delete: 'stale',
  update: 'changed',
};

/**
 * The drift a sweep found, per group and in total: its planned changes (withheld deletes included:
 * they are drift too) and the names held by objects the registrar does not manage (foreign).
 */
export function sweepDrift(
  plan: ReconcilePlan,
  instances: readonly InstanceFacts[],
  tagPrefix: string,
): { total: DriftCounts; groups: Record<string, DriftCounts> } {
  const groups: Record<string, DriftCounts> = {};
  const total = zero();
  const add = (group: string, kind: keyof DriftCounts) => {
    groups[group] ??= zero();
    groups[group][kind]++;
    total[kind]++;
  };
  for (const c of [...plan.changes, ...plan.withheldDeletes]) add(c.group, KIND_OF[c.action]);
  const tagKey = `${tagPrefix}${WORKLOAD_GROUP_TAG}`;
  const groupOf = new Map(instances.map((f) => [f.instanceId, f.tags[tagKey]]));
  for (const r of plan.refusals) {
    const group = groupOf.get(r.instanceId);
    if (r.refusal.reason === RefusalReason.EntryNotOwned && group) add(group, 'foreign');
  }
  return { total, groups };
}

/**
 * After a sweep (not a dry run): ReconcileDrift by kind and by group and kind, one Kubernetes Event
 * per group in scope (in step, drift repaired, safety stop), and one `Reconcile Completed` event.
 */
export function tellSweep(input: {
  summary: ReconcileSummary;
  drift: { total: DriftCounts; groups: Record<string, DriftCounts> };
  groups: ReadonlyMap<string, WorkloadGroupView>;
  inScope: (group: string) => boolean;
  telemetry: Telemetry;
  notes?: Notifications;
}): void {
  const { summary, drift, telemetry, notes } = input;
  if (!summary.dryRun) {
    for (const kind of DRIFT_KINDS) {
      telemetry.count(Metric.ReconcileDrift, drift.total[kind], { Kind: kind });
      for (const [group, d] of Object.entries(drift.groups))
        telemetry.count(Metric.ReconcileDrift, d[kind], { WorkloadGroup: group, Kind: kind });
    }
  }
  if (!notes) return;
  if (!summary.dryRun) {
    for (const [key, group] of input.groups) {
      if (!input.inScope(key)) continue;
      const c: GroupCounts | undefined = summary.groups[key];
      const stop = summary.safetyStops.find((s) => s.group === key);
      notes.kube(
        sweepEventFor(group, {
          drift: drift.groups[key] ?? zero(),
          entries: c ? c.unchanged + c.create + c.update : 0,
          dryRun: false,
          ...(stop ? { safetyStop: stop.message } : {}),
        }),
      );
    }
  }
  notes.publish({
    detailType: DetailType.ReconcileCompleted,
    time: new Date(),
    detail: reconcileCompletedDetail({
      dryRun: summary.dryRun,
      converged: summary.converged,
      startedAt: summary.startedAt,
      durationMs: Math.round(summary.durationMs),
      totals: { ...summary.totals },
      drift: drift.total,
      groups: drift.groups,
      safetyStops: summary.safetyStops,
      errors: summary.errors.length,
      correlationId: randomUUID(),
    }),
  });
}
