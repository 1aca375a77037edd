import { listRecordedEvents, type RecordedEvent } from '../adapters/kube-events.ts';
import type { Observation } from '../app/reconciler.ts';
import type { AppContext } from '../app/wiring.ts';
import { type DriftCounts, parseDrift } from '../domain/notifications.ts';
import { renderTable } from './table.ts';

/** One WorkloadGroup's health, as `vm-registrar status` shows it (`--output json`: these fields). */
export interface GroupHealth {
  /** `<namespace>/<name>`. */
  readonly group: string;
  /** Running (or pending) tagged instances EC2 lists for the group. */
  readonly instances: number;
  /** The registrar's WorkloadEntries of the group. */
  readonly entries: number;
  /** Rows of the group not in step (a create, update or delete pending, a withheld delete). */
  readonly outOfStep: number;
  /** Instances of the group the registrar refuses. */
  readonly refused: number;
  /**
   * The last sweep that found the group out of step (a sweep in step writes nothing, so leaves no
   * Event; Kubernetes Events expire after the API server's event TTL, 1 h by default).
   */
  readonly lastDrift?: {
    readonly at: string;
    /** `DriftRepaired`, `DriftFound` (dry run) or `SafetyStop`. */
    readonly reason: string;
    readonly drift: DriftCounts;
    readonly note: string;
  };
  /** The last Warning Event on the group (a refusal, a safety stop), when there is one. */
  readonly lastWarning?: {
    readonly at: string;
    readonly reason: string;
    readonly note: string;
    readonly count: number;
  };
  /** Set when the group's Events could not be read (`list` on events.k8s.io/events is needed). */
  readonly eventsError?: string;
}

const SWEEP_REASONS = new Set(['DriftRepaired', 'DriftFound', 'SafetyStop']);
const NO_DRIFT: DriftCounts = { missing: 0, stale: 0, changed: 0, foreign: 0 };

/** Per-group figures from what `status` observed, and the last sweep from the groups' Kubernetes Events. */
export async function groupHealth(
  app: AppContext,
  seen: Observation,
  rows: ReadonlyArray<{ group: string; instanceId: string; entry: string; status: string }>,
): Promise<GroupHealth[]> {
  const keys = [...seen.groups.keys()].filter((k) => seen.inScope(k)).sort();
  const events = new Map<string, RecordedEvent[] | string>();
  for (const ns of new Set(keys.map((k) => k.split('/')[0]!))) {
    try {
      events.set(ns, await listRecordedEvents(app.kube, ns));
    } catch (error) {
      events.set(ns, (error as Error).message);
    }
  }
  return keys.map((key) => {
    const [ns = '', name = ''] = key.split('/');
    const group = seen.groups.get(key)!;
    const mine = rows.filter(
      (r) => r.group === key || (r.group === '' && r.entry.startsWith(`${ns}/${name}-`)),
    );
    const listed = events.get(ns);
    const base = {
      group: key,
      instances: mine.filter((r) => r.group === key).length,
      entries: seen.entries.filter((e) =>
        e.metadata.ownerReferences?.some((o) => o.kind === 'WorkloadGroup' && o.uid === group.uid),
      ).length,
      outOfStep: mine.filter((r) => r.status !== 'in step' && !r.status.startsWith('refused')).length,
      refused: mine.filter((r) => r.status.startsWith('refused')).length,
    };
    if (typeof listed === 'string') return { ...base, eventsError: listed };
    const onGroup = (listed ?? [])
      .filter(
        (e) =>
          e.regarding.kind === 'WorkloadGroup' &&
          e.regarding.name === name &&
          (!e.regarding.uid || e.regarding.uid === group.uid),
      )
      .sort((a, b) => b.lastSeen - a.lastSeen);
    const sweep = onGroup.find((e) => SWEEP_REASONS.has(e.reason));
    const warning = onGroup.find((e) => e.type === 'Warning');
    return {
      ...base,
      ...(sweep
        ? {
            lastDrift: {
              at: new Date(sweep.lastSeen).toISOString(),
              reason: sweep.reason,
              drift: parseDrift(sweep.note) ?? NO_DRIFT,
              note: sweep.note,
            },
          }
        : {}),
      ...(warning
        ? {
            lastWarning: {
              at: new Date(warning.lastSeen).toISOString(),
              reason: warning.reason,
              note: warning.note,
              count: warning.count,
            },
          }
        : {}),
    };
  });
}

/** The health table `status` prints under the instances. */
export function renderGroupHealth(groups: readonly GroupHealth[]): string {
  return renderTable(
    ['GROUP', 'INSTANCES', 'ENTRIES', 'OUT OF STEP', 'REFUSED', 'LAST DRIFT', 'DRIFT'],
    groups.map((g) => [
      g.group,
      String(g.instances),
      String(g.entries),
      String(g.outOfStep),
      String(g.refused),
      g.lastDrift
        ? `${g.lastDrift.at} ${g.lastDrift.reason}`
        : g.eventsError
          ? '(events unreadable)'
          : '(none)',
      g.lastDrift
        ? Object.entries(g.lastDrift.drift)
            .map(([k, v]) => `${v} ${k}`)
            .join(', ')
        : '',
    ]),
  );
}
