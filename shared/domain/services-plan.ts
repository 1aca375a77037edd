import { SERVICE_NAME_LABEL, WORKLOAD_GROUP_UID_LABEL } from '../constants.ts';
import {
  type DirectEndpoint,
  type EndpointSliceObject,
  endpointsIn,
  planSlices,
  type SliceWrite,
} from './endpoint-slices.ts';
import type { SafetyStop } from './plan.ts';
import {
  asksForServices,
  type EndpointPort,
  objectKey,
  renderGroupServices,
  type ServiceEntryObject,
  type ServiceLikeObject,
  type ServiceMode,
  type ServiceObject,
  type ServiceRefusal,
  serviceObjectMatches,
} from './services.ts';
import { groupKey, type WorkloadEntryObject, type WorkloadGroupView } from './types.ts';

/**
 * A sweep's plan for Services, ServiceEntries and direct EndpointSlices: the same rendering as the
 * event path (shared/domain/services.ts), against what the listings show.
 *
 * | what the sweep sees                                          | plan                                         |
 * |--------------------------------------------------------------|----------------------------------------------|
 * | a group asks for an object we have not made                  | create (after a read of the name: a foreign object there is a refusal) |
 * | our object differs from the rendering (digest, our fields)   | update                                       |
 * | our object the group no longer asks for (opt-out, renamed)   | delete                                       |
 * | our object of a group that is gone                           | nothing: the garbage collector removes it   |
 * | a group whose annotations or template are refused            | a refusal; its objects are left as they are  |
 * | direct endpoints: the group's desired entries (a running registered VM each), plus entries whose delete is withheld or whose instance is held | the slices hold exactly those |
 * | a listing failed or was cut short                            | no deletes, no endpoint removed              |
 * | more than RECONCILE_MAX_DELETE_RATIO of our Services and ServiceEntries in scope (and more than one) would go | safety stop: those deletes are withheld unless forced |
 */

export type ServiceChangeAction = 'create' | 'update' | 'delete';
export type ServiceKind = 'Service' | 'ServiceEntry' | 'EndpointSlice';

export interface PlannedServiceChange {
  readonly action: ServiceChangeAction;
  readonly kind: ServiceKind;
  readonly namespace: string;
  readonly name: string;
  /** `<namespace>/<group>`. */
  readonly group: string;
  readonly reason: string;
  readonly desired?: ServiceLikeObject;
  readonly live?: ServiceLikeObject;
  readonly uid?: string;
}

/** One group's direct Service with the endpoints its slices should hold. */
export interface PlannedSlices {
  readonly group: string;
  readonly groupUid: string;
  readonly namespace: string;
  readonly service: string;
  /** uid of the direct Service as listed (absent: not made yet). */
  readonly serviceUid?: string;
  readonly ports: readonly EndpointPort[];
  readonly endpoints: readonly DirectEndpoint[];
  /** Our slices of that Service as listed. */
  readonly live: readonly EndpointSliceObject[];
  /** The writes, as planned from the listing (a dry run shows these). */
  readonly writes: readonly SliceWrite[];
}

export interface ServicesPlan {
  readonly changes: readonly PlannedServiceChange[];
  readonly slices: readonly PlannedSlices[];
  /** Our slices of Services no group asks for any more (deleted with them, or here). */
  readonly strayDeletes: readonly PlannedServiceChange[];
  readonly unchanged: number;
  readonly refusals: ReadonlyArray<{
    readonly group: string;
    readonly object?: string;
    readonly refusal: ServiceRefusal;
  }>;
  readonly safetyStops: readonly SafetyStop[];
  readonly withheld: readonly PlannedServiceChange[];
  /** Per group and object, for `status`. */
  readonly rows: ReadonlyArray<{ readonly group: string; readonly object: string; readonly status: string }>;
}

export interface ServicesPlanInput {
  readonly groups: ReadonlyMap<string, WorkloadGroupView>;
  readonly inScope: (groupKey: string) => boolean;
  readonly defaultMode: ServiceMode;
  /** Our Services, ServiceEntries and EndpointSlices in the sweep's namespaces. */
  readonly services: readonly ServiceObject[];
  readonly serviceEntries: readonly ServiceEntryObject[];
  readonly slices: readonly EndpointSliceObject[];
  /** Every entry that should exist (the entries' plan), by `<namespace>/<name>`. */
  readonly desiredEntries: ReadonlyMap<
    string,
    { readonly entry: WorkloadEntryObject; readonly group: string }
  >;
  /** Live entries that stay although not desired: their delete is withheld, or their instance held. */
  readonly stayingEntries: readonly WorkloadEntryObject[];
  /** Live managed entries (for their health). */
  readonly liveEntries: ReadonlyMap<string, WorkloadEntryObject>;
  readonly complete: boolean;
  readonly maxDeleteRatio: number;
  readonly force: boolean;
}

/** istiod's `Healthy` condition, when it wrote one. */
function health(entry: WorkloadEntryObject | undefined): boolean | undefined {
  const c = entry?.status?.conditions?.find((x) => x.type === 'Healthy');
  return c === undefined ? undefined : c.status === 'True';
}

function endpointOf(
  entry: WorkloadEntryObject,
  live: WorkloadEntryObject | undefined,
): DirectEndpoint | undefined {
  if (!entry.spec.address || entry.spec.network) return undefined;
  const zone = entry.spec.locality?.split('/')[1];
  const ready = live && live.spec.address === entry.spec.address ? health(live) : undefined;
  return {
    key: entry.metadata.name,
    address: entry.spec.address,
    ...(zone ? { zone } : {}),
    ...(ready !== undefined ? { ready } : {}),
  };
}

export function planServices(input: ServicesPlanInput): ServicesPlan {
  const changes: PlannedServiceChange[] = [];
  const deletes: PlannedServiceChange[] = [];
  const strayDeletes: PlannedServiceChange[] = [];
  const slicesPlan: PlannedSlices[] = [];
  const refusals: Array<{ group: string; object?: string; refusal: ServiceRefusal }> = [];
  const rows: Array<{ group: string; object: string; status: string }> = [];
  let unchanged = 0;

  const byUid = new Map<string, WorkloadGroupView>();
  for (const g of input.groups.values()) byUid.set(g.uid, g);
  const ofGroup = <T extends { metadata: { labels?: Record<string, string> } }>(
    items: readonly T[],
    uid: string,
  ) => items.filter((o) => o.metadata.labels?.[WORKLOAD_GROUP_UID_LABEL] === uid);
  const entriesByGroup = new Map<string, WorkloadEntryObject[]>();
  for (const { entry, group } of input.desiredEntries.values()) {
    const list = entriesByGroup.get(group) ?? [];
    list.push(entry);
    entriesByGroup.set(group, list);
  }
  const staying = new Map<string, WorkloadEntryObject[]>();
  for (const e of input.stayingEntries) {
    const owner = e.metadata.ownerReferences?.find((r) => r.kind === 'WorkloadGroup');
    if (!owner) continue;
    const key = `${e.metadata.namespace}/${owner.name}`;
    staying.set(key, [...(staying.get(key) ?? []), e]);
  }

  for (const group of input.groups.values()) {
    const key = groupKey(group);
    if (!input.inScope(key)) continue;
    const ours: ServiceLikeObject[] = [
      ...ofGroup(input.services, group.uid),
      ...ofGroup(input.serviceEntries, group.uid),
    ];
    const ourSlices = ofGroup(input.slices, group.uid);
    if (!asksForServices(group, input.defaultMode) && ours.length === 0 && ourSlices.length === 0) continue;
    const rendered = renderGroupServices(group, input.defaultMode);
    if (!rendered.ok) {
      refusals.push({ group: key, refusal: rendered.refusal });
      rows.push({ group: key, object: '(services)', status: `refused: ${rendered.refusal.reason}` });
      continue;
    }
    const { services } = rendered;
    const live = new Map(ours.map((o) => [objectKey(o), o]));
    const wanted = new Set<string>();
    for (const want of services.objects) {
      const k = objectKey(want);
      wanted.add(k);
      const current = live.get(k);
      const base = {
        kind: want.kind,
        namespace: want.metadata.namespace,
        name: want.metadata.name,
        group: key,
        desired: want,
      };
      if (!current) {
        changes.push({ ...base, action: 'create', reason: `the group asks for a ${want.kind}` });
        rows.push({ group: key, object: k, status: 'needs create' });
      } else if (serviceObjectMatches(current, want)) {
        unchanged++;
        rows.push({ group: key, object: k, status: 'in step' });
      } else {
        changes.push({
          ...base,
          action: 'update',
          reason: `${want.kind} differs from the group`,
          live: current,
        });
        rows.push({ group: key, object: k, status: 'needs update' });
      }
    }
    for (const [k, o] of live) {
      if (wanted.has(k)) continue;
      deletes.push({
        action: 'delete',
        kind: o.kind,
        namespace: o.metadata.namespace,
        name: o.metadata.name,
        group: key,
        reason: 'the group no longer asks for it',
        ...(o.metadata.uid ? { uid: o.metadata.uid } : {}),
      });
      rows.push({ group: key, object: k, status: 'needs delete' });
    }
    const direct = services.direct;
    for (const s of ourSlices) {
      if (direct && s.metadata.labels?.[SERVICE_NAME_LABEL] === direct.name) continue;
      strayDeletes.push({
        action: 'delete',
        kind: 'EndpointSlice',
        namespace: s.metadata.namespace,
        name: s.metadata.name,
        group: key,
        reason: 'slice of a Service the group no longer asks for',
        ...(s.metadata.uid ? { uid: s.metadata.uid } : {}),
      });
    }
    if (!direct) continue;
    const endpoints = new Map<string, DirectEndpoint>();
    for (const e of [...(entriesByGroup.get(key) ?? []), ...(staying.get(key) ?? [])]) {
      const ep = endpointOf(e, input.liveEntries.get(`${e.metadata.namespace}/${e.metadata.name}`));
      if (ep && !endpoints.has(ep.key)) endpoints.set(ep.key, ep);
    }
    const sliceLive = ourSlices.filter((s) => s.metadata.labels?.[SERVICE_NAME_LABEL] === direct.name);
    if (!input.complete) {
      // An incomplete picture removes no endpoint: what the slices hold stays.
      for (const [k, e] of endpointsIn(sliceLive)) {
        if (endpoints.has(k) || !e.addresses[0]) continue;
        endpoints.set(k, {
          key: k,
          address: e.addresses[0],
          ...(e.zone ? { zone: e.zone } : {}),
          ...(e.conditions?.ready !== undefined ? { ready: e.conditions.ready } : {}),
        });
      }
    }
    const liveDirect = live.get(`Service ${group.namespace}/${direct.name}`);
    const ref = {
      namespace: group.namespace,
      name: direct.name,
      uid: liveDirect?.metadata.uid ?? '',
      groupUid: group.uid,
      ports: direct.ports,
    };
    const list = [...endpoints.values()];
    const writes = planSlices(ref, sliceLive, { kind: 'exactly', endpoints: list });
    slicesPlan.push({
      group: key,
      groupUid: group.uid,
      namespace: group.namespace,
      service: direct.name,
      ...(liveDirect?.metadata.uid ? { serviceUid: liveDirect.metadata.uid } : {}),
      ports: direct.ports,
      endpoints: list,
      live: sliceLive,
      writes,
    });
    rows.push({
      group: key,
      object: `EndpointSlices of ${group.namespace}/${direct.name}`,
      status:
        writes.length === 0
          ? `in step (${list.length} endpoints in ${sliceLive.length} slices)`
          : `needs ${writes.length} slice writes (${list.length} endpoints)`,
    });
  }

  const safetyStops: SafetyStop[] = [];
  let withheld: PlannedServiceChange[] = [];
  let allowed = deletes;
  if (!input.complete) {
    withheld = [...deletes, ...strayDeletes];
    allowed = [];
  } else if (!input.force) {
    const total = input.services.length + input.serviceEntries.length;
    if (deletes.length > 1 && deletes.length / Math.max(total, 1) > input.maxDeleteRatio) {
      safetyStops.push({
        group: '(services)',
        deletes: deletes.length,
        entries: total,
        message: `would delete ${deletes.length} of the ${total} Services and ServiceEntries the registrar keeps in this sweep's scope (more than ${Math.round(
          input.maxDeleteRatio * 100,
        )}%); rerun with force to allow`,
      });
      withheld = deletes;
      allowed = [];
    }
  }
  const stray = input.complete ? strayDeletes : [];
  for (const w of withheld) {
    const row = rows.find((r) => r.object === `${w.kind} ${w.namespace}/${w.name}`);
    if (row) Object.assign(row, { status: 'stale (delete withheld)' });
  }
  return {
    changes: [...changes, ...allowed],
    slices: slicesPlan,
    strayDeletes: stray,
    unchanged,
    refusals,
    safetyStops,
    withheld,
    rows,
  };
}
