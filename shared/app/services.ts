import type { Logger } from '@aws-lambda-powertools/logger';
import { KubernetesError } from '../adapters/errors.ts';
import type { KubeServiceObjects } from '../adapters/kube-services.ts';
import { Metric, WORKLOAD_GROUP_UID_LABEL } from '../constants.ts';
import {
  type DirectEndpoint,
  type DirectServiceRef,
  type EndpointChange,
  type EndpointSliceObject,
  planSlices,
} from '../domain/endpoint-slices.ts';
import {
  objectKey,
  type ServiceEntryObject,
  type ServiceLikeObject,
  type ServiceMode,
  type ServiceObject,
  type ServiceRefusal,
  ServiceRefusalReason,
  serviceObjectMatches,
} from '../domain/services.ts';
import type { WorkloadGroupView } from '../domain/types.ts';
import { isManaged } from '../domain/workload-entry.ts';
import type { Telemetry } from '../observability.ts';

/** What converging one group's Services and ServiceEntries did. */
export interface GroupObjectsResult {
  readonly applied: string[];
  readonly deleted: string[];
  readonly unchanged: string[];
  readonly refusals: Array<{ readonly object: string; readonly refusal: ServiceRefusal }>;
  /** The direct Service as it is now (for the slices' owner reference), unless refused. */
  readonly direct?: { readonly name: string; readonly uid: string };
}

/** Our Services and ServiceEntries of one group (by its uid label). */
export interface GroupLiveObjects {
  readonly services: readonly ServiceObject[];
  readonly serviceEntries: readonly ServiceEntryObject[];
}

export async function listGroupObjects(
  api: KubeServiceObjects,
  group: WorkloadGroupView,
): Promise<GroupLiveObjects> {
  const selector = `${WORKLOAD_GROUP_UID_LABEL}=${group.uid}`;
  const [services, serviceEntries] = await Promise.all([
    api.listServices(group.namespace, selector),
    api.listServiceEntries(group.namespace, selector),
  ]);
  return { services, serviceEntries };
}

/**
 * An object of ours for this name, or a refusal. An object we made for an earlier group of the same
 * name (deleted and re-created: another uid) is ours to take over; any other is not.
 */
function ownership(live: ServiceLikeObject, group: WorkloadGroupView): ServiceRefusal | undefined {
  const what = `${live.kind} ${live.metadata.namespace}/${live.metadata.name}`;
  if (!isManaged(live)) {
    return {
      reason: ServiceRefusalReason.NotOwned,
      message: `${what} exists and is not managed by the registrar; it is left as it is`,
    };
  }
  const owner = live.metadata.ownerReferences?.find((r) => r.kind === 'WorkloadGroup');
  if (owner && owner.name !== group.name) {
    return {
      reason: ServiceRefusalReason.NotOwned,
      message: `${what} belongs to WorkloadGroup ${live.metadata.namespace}/${owner.name}`,
    };
  }
  return undefined;
}

async function readByName(api: KubeServiceObjects, o: ServiceLikeObject) {
  const { namespace, name } = o.metadata;
  return o.kind === 'Service' ? api.getService(namespace, name) : api.getServiceEntry(namespace, name);
}

async function apply(
  api: KubeServiceObjects,
  o: ServiceLikeObject,
  force: boolean,
): Promise<ServiceLikeObject> {
  return o.kind === 'Service' ? api.applyService(o, force) : api.applyServiceEntry(o, force);
}

async function remove(api: KubeServiceObjects, o: ServiceLikeObject): Promise<boolean> {
  const { namespace, name, uid } = o.metadata;
  return o.kind === 'Service'
    ? api.deleteService(namespace, name, uid)
    : api.deleteServiceEntry(namespace, name, uid);
}

/**
 * Converges one group's Services and ServiceEntries to `desired` (from `renderGroupServices`):
 * apply what differs (force only on objects we own), delete ours it no longer wants, and never touch
 * a same-named object we do not own (a refusal). `live`: the group's objects if just listed.
 */
export async function convergeGroupObjects(
  api: KubeServiceObjects,
  group: WorkloadGroupView,
  desired: readonly ServiceLikeObject[],
  options: { live?: GroupLiveObjects; directName?: string } = {},
): Promise<GroupObjectsResult> {
  const live = options.live ?? (await listGroupObjects(api, group));
  const ours = new Map<string, ServiceLikeObject>();
  for (const o of [...live.services, ...live.serviceEntries]) ours.set(objectKey(o), o);
  const result: GroupObjectsResult = { applied: [], deleted: [], unchanged: [], refusals: [] };
  let direct: { name: string; uid: string } | undefined;
  const wanted = new Set(desired.map(objectKey));
  for (const want of desired) {
    const key = objectKey(want);
    let current = ours.get(key);
    if (!current) {
      // Only ours are listed: a foreign object of this name is found by reading the name.
      const found = await readByName(api, want);
      if (found) {
        const refusal = ownership(found, group);
        if (refusal) {
          result.refusals.push({ object: key, refusal });
          continue;
        }
        current = found;
      }
    }
    let now = current;
    if (serviceObjectMatches(current, want)) {
      result.unchanged.push(key);
    } else {
      try {
        now = await apply(api, want, current !== undefined);
        result.applied.push(key);
      } catch (error) {
        if (error instanceof KubernetesError && error.status === 422) {
          result.refusals.push({
            object: key,
            refusal: { reason: ServiceRefusalReason.Invalid, message: error.message },
          });
          continue;
        }
        throw error;
      }
    }
    if (want.kind === 'Service' && want.metadata.name === options.directName && now?.metadata.uid) {
      direct = { name: want.metadata.name, uid: now.metadata.uid };
    }
  }
  // A refused object (its name held by another) keeps the group's old ones: a rename onto a
  // foreign Service must not leave the group with none.
  if (result.refusals.length > 0) return direct ? { ...result, direct } : result;
  for (const [key, o] of ours) {
    if (wanted.has(key)) continue;
    if (await remove(api, o)) result.deleted.push(key);
  }
  return direct ? { ...result, direct } : result;
}

/**
 * Writes the change to a direct Service's slices: plan from the slices as read, write each with its
 * resourceVersion as precondition, and on a conflict (another writer got there first: `endpoints` is
 * an atomic list, so a blind write would lose its endpoints) read again and re-plan. `known`: the
 * slices if already read (the cache), trusted until a write conflicts.
 */
export async function syncSlices(
  api: KubeServiceObjects,
  service: DirectServiceRef,
  change: EndpointChange,
  options: {
    known?: readonly EndpointSliceObject[];
    telemetry?: Telemetry;
    maxAttempts?: number;
  } = {},
): Promise<{ slices: EndpointSliceObject[]; writes: number }> {
  const maxAttempts = options.maxAttempts ?? 5;
  const taken = new Set<string>();
  let slices = options.known ? [...options.known] : undefined;
  let writes = 0;
  for (let attempt = 1; ; attempt++) {
    slices ??= await api.listEndpointSlices(service.namespace, service.name);
    const planned = planSlices(service, slices, change, taken);
    try {
      for (const w of planned) {
        if (w.op === 'create') {
          const created = await api.createEndpointSlice(w.slice);
          slices.push(created);
        } else if (w.op === 'update') {
          const updated = await api.replaceEndpointSlice(w.slice);
          slices = slices.map((s) => (s.metadata.name === updated.metadata.name ? updated : s));
        } else {
          await api.deleteEndpointSlice(service.namespace, w.name, {
            ...(w.uid ? { uid: w.uid } : {}),
            ...(w.resourceVersion ? { resourceVersion: w.resourceVersion } : {}),
          });
          slices = slices.filter((s) => s.metadata.name !== w.name);
        }
        writes++;
        options.telemetry?.count(Metric.EndpointSliceWrites);
      }
      return { slices, writes };
    } catch (error) {
      if (!(error instanceof KubernetesError) || error.status !== 409 || attempt >= maxAttempts) throw error;
      options.telemetry?.count(Metric.EndpointSliceConflicts);
      if (error.reason === 'AlreadyExists') {
        // A new slice's name is taken: by a writer like us (the re-read shows it) or by a stranger.
        const fresh = await api.listEndpointSlices(service.namespace, service.name);
        for (const w of planned) {
          if (w.op === 'create' && !fresh.some((s) => s.metadata.name === w.slice.metadata.name))
            taken.add(w.slice.metadata.name);
        }
        slices = fresh;
      } else {
        slices = undefined;
      }
    }
  }
}

interface CachedGroup {
  readonly at: number;
  readonly digest: string;
  readonly direct?: { readonly name: string; readonly uid: string };
  slices?: { at: number; items: EndpointSliceObject[] };
}

/**
 * Per container: what was applied for each group (digest of the rendered objects and the direct
 * Service's uid) and its direct Service's slices, each for a TTL. A launch or terminate in a group
 * whose objects are unchanged then costs no Service reads or writes, and a slice write needs no
 * read; a stale slice copy shows up as a write conflict and is read again.
 */
export class ServiceCache {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #groups = new Map<string, CachedGroup>();

  constructor(ttlMs: number, now: () => number = Date.now) {
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  now(): number {
    return this.#now();
  }

  /** What was applied for the group, if recorded within the TTL and for the same digest. */
  applied(groupUid: string, digest: string): CachedGroup | undefined {
    const hit = this.#groups.get(groupUid);
    if (!hit || hit.digest !== digest || this.#now() - hit.at >= this.#ttlMs) return undefined;
    return hit;
  }

  record(groupUid: string, digest: string, direct?: { name: string; uid: string }): void {
    const prior = this.#groups.get(groupUid);
    const keep = prior?.direct && direct && prior.direct.uid === direct.uid ? prior.slices : undefined;
    this.#groups.set(groupUid, {
      at: this.#now(),
      digest,
      ...(direct ? { direct } : {}),
      ...(keep ? { slices: keep } : {}),
    });
  }

  slices(groupUid: string): EndpointSliceObject[] | undefined {
    const hit = this.#groups.get(groupUid)?.slices;
    if (!hit || this.#now() - hit.at >= this.#ttlMs) return undefined;
    return hit.items;
  }

  recordSlices(groupUid: string, items: EndpointSliceObject[] | undefined): void {
    const hit = this.#groups.get(groupUid);
    if (!hit) return;
    if (items) hit.slices = { at: this.#now(), items };
    else delete hit.slices;
  }

  forget(groupUid: string): void {
    this.#groups.delete(groupUid);
  }

  clear(): void {
    this.#groups.clear();
  }
}

export interface ServiceUpkeepDeps {
  readonly defaultServiceMode: ServiceMode;
  readonly cache: ServiceCache;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
}

/** Counts and logs what converging a group's objects did. */
export function reportGroupObjects(
  deps: Pick<ServiceUpkeepDeps, 'logger' | 'telemetry'>,
  group: string,
  result: GroupObjectsResult,
): void {
  const { logger, telemetry } = deps;
  telemetry.count(Metric.ServicesApplied, result.applied.length);
  telemetry.count(Metric.ServicesDeleted, result.deleted.length);
  if (result.applied.length > 0 || result.deleted.length > 0) {
    logger.info('services converged', { group, applied: result.applied, deleted: result.deleted });
  }
  for (const r of result.refusals) reportRefusal(deps, group, r.refusal, r.object);
}

export function reportRefusal(
  deps: Pick<ServiceUpkeepDeps, 'logger' | 'telemetry'>,
  group: string,
  refusal: ServiceRefusal,
  object?: string,
): void {
  deps.telemetry.count(Metric.ServicesRefused, 1, { name: 'Reason', value: refusal.reason });
  deps.logger.warn(`services refused: ${refusal.message}`, {
    group,
    reason: refusal.reason,
    ...(object ? { object } : {}),
  });
}

/** The endpoint changes of one group in one batch. */
export interface GroupDelta {
  readonly upsert: Map<string, DirectEndpoint>;
  readonly remove: Set<string>;
}

export const emptyDelta = (): GroupDelta => ({ upsert: new Map(), remove: new Set() });
