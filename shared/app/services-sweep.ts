import type { Logger } from '@aws-lambda-powertools/logger';
import { KubernetesError } from '../adapters/errors.ts';
import type { KubeWorkloads } from '../adapters/kube.ts';
import { KubeServiceObjects } from '../adapters/kube-services.ts';
import { INSTANCE_ID_LABEL, Metric } from '../constants.ts';
import type { EndpointSliceObject } from '../domain/endpoint-slices.ts';
import type { ReconcilePlan } from '../domain/plan.ts';
import {
  asksForServices,
  objectKey,
  type ServiceEntryObject,
  type ServiceLikeObject,
  type ServiceMode,
  type ServiceObject,
  type ServiceRefusal,
  ServiceRefusalReason,
} from '../domain/services.ts';
import {
  type PlannedServiceChange,
  planServices,
  type ServiceChangeAction,
  type ServiceKind,
  type ServicesPlan,
} from '../domain/services-plan.ts';
import type { WorkloadEntryObject, WorkloadGroupView } from '../domain/types.ts';
import { isManaged } from '../domain/workload-entry.ts';
import type { Telemetry } from '../observability.ts';
import { mapSettled } from './concurrency.ts';
import { syncSlices } from './services.ts';

/** One Service, ServiceEntry or EndpointSlice change in a sweep's summary. */
export interface ServiceChangeReport {
  readonly action: ServiceChangeAction;
  readonly kind: ServiceKind;
  /** `<namespace>/<name>`. */
  readonly name: string;
  readonly group: string;
  readonly reason: string;
  readonly status: 'planned' | 'applied' | 'failed' | 'withheld';
  readonly error?: string;
}

/** The Services part of a sweep's summary. */
export interface ServicesSummary {
  readonly changes: readonly ServiceChangeReport[];
  readonly unchanged: number;
  readonly refusals: ReadonlyArray<{ group: string; object?: string; reason: string; message: string }>;
  readonly reads: {
    readonly services: number;
    readonly serviceEntries: number;
    readonly endpointSlices: number;
  };
}

export interface ServicesObservation {
  readonly plan: ServicesPlan;
  readonly reads: ServicesSummary['reads'];
  /** For creates that screening found held by one of ours (a re-created group): the live object. */
  readonly screened: ReadonlyMap<PlannedServiceChange, ServiceLikeObject | undefined>;
}

export interface ServicesSweepInput {
  readonly kube: KubeWorkloads;
  readonly namespaces: readonly string[];
  readonly groups: ReadonlyMap<string, WorkloadGroupView>;
  readonly inScope: (groupKey: string) => boolean;
  readonly defaultMode: ServiceMode;
  readonly plan: ReconcilePlan;
  readonly entries: readonly WorkloadEntryObject[];
  /** The entries' listings were complete. */
  readonly complete: boolean;
  readonly maxDeleteRatio: number;
  readonly force: boolean;
  readonly concurrency: number;
  readonly errors: string[];
}

/**
 * Lists our Services, ServiceEntries and EndpointSlices (label-selected, paged: O(pages) reads) and
 * plans them (shared/domain/services-plan.ts). A planned create is read by name first: a foreign
 * object there is a refusal, never a write.
 */
export async function observeServices(input: ServicesSweepInput): Promise<ServicesObservation | undefined> {
  // A cluster where no group in scope asks and the default is none makes no Service call (nor needs
  // the RBAC for one). Objects made for a group are removed by setting its annotations to none/false.
  const asked = [...input.groups.values()].some(
    (g) => input.inScope(`${g.namespace}/${g.name}`) && asksForServices(g, input.defaultMode),
  );
  if (!asked) return undefined;
  const api = new KubeServiceObjects(input.kube);
  const services: ServiceObject[] = [];
  const serviceEntries: ServiceEntryObject[] = [];
  const slices: EndpointSliceObject[] = [];
  let complete = input.complete;
  for (const [what, list] of [
    ['Services', async (ns: string) => services.push(...(await api.listServices(ns)))],
    ['ServiceEntries', async (ns: string) => serviceEntries.push(...(await api.listServiceEntries(ns)))],
    ['EndpointSlices', async (ns: string) => slices.push(...(await api.listEndpointSlices(ns)))],
  ] as const) {
    try {
      for (const ns of input.namespaces) await list(ns);
    } catch (error) {
      complete = false;
      input.errors.push(`listing ${what} failed: ${(error as Error).message}`);
    }
  }
  const withheld = new Set(input.plan.withheldDeletes.map((d) => `${d.namespace}/${d.name}`));
  const heldIds = new Set(input.plan.held.map((h) => h.instanceId));
  const liveEntries = new Map<string, WorkloadEntryObject>();
  const staying: WorkloadEntryObject[] = [];
  for (const e of input.entries) {
    const key = `${e.metadata.namespace}/${e.metadata.name}`;
    liveEntries.set(key, e);
    const instanceId = e.metadata.labels?.[INSTANCE_ID_LABEL];
    if (!input.plan.desired.has(key) && (withheld.has(key) || (instanceId && heldIds.has(instanceId))))
      staying.push(e);
  }
  const plan = planServices({
    groups: input.groups,
    inScope: input.inScope,
    defaultMode: input.defaultMode,
    services,
    serviceEntries,
    slices,
    desiredEntries: input.plan.desired,
    stayingEntries: staying,
    liveEntries,
    complete,
    maxDeleteRatio: input.maxDeleteRatio,
    force: input.force,
  });
  const screened = new Map<PlannedServiceChange, ServiceLikeObject | undefined>();
  const creates = plan.changes.filter((c) => c.action === 'create');
  const reads = await mapSettled(
    creates,
    input.concurrency,
    (c): Promise<ServiceLikeObject | undefined> =>
      c.kind === 'Service' ? api.getService(c.namespace, c.name) : api.getServiceEntry(c.namespace, c.name),
  );
  const dropped = new Set<PlannedServiceChange>();
  const refusals = [...plan.refusals];
  for (const [i, read] of reads.entries()) {
    const c = creates[i]!;
    if (read.status === 'rejected') {
      input.errors.push(
        `reading ${c.kind} ${c.namespace}/${c.name} failed: ${(read.reason as Error).message}`,
      );
      dropped.add(c);
      continue;
    }
    const live = read.value;
    const owner = live?.metadata.ownerReferences?.find((r) => r.kind === 'WorkloadGroup');
    if (live && (!isManaged(live) || (owner && `${c.namespace}/${owner.name}` !== c.group))) {
      dropped.add(c);
      const refusal: ServiceRefusal = {
        reason: ServiceRefusalReason.NotOwned,
        message: isManaged(live)
          ? `${c.kind} ${c.namespace}/${c.name} belongs to WorkloadGroup ${c.namespace}/${owner?.name}`
          : `${c.kind} ${c.namespace}/${c.name} exists and is not managed by the registrar; it is left as it is`,
      };
      refusals.push({ group: c.group, object: objectKey({ kind: c.kind, metadata: c }), refusal });
      const row = plan.rows.find((r) => r.object === `${c.kind} ${c.namespace}/${c.name}`);
      if (row) Object.assign(row, { status: `refused: ${refusal.reason}` });
    } else {
      screened.set(c, live);
    }
  }
  // As on the event path: a group whose new object is refused keeps its old ones.
  const refusedGroups = new Set([...dropped].map((c) => c.group));
  for (const c of plan.changes) {
    if (c.action !== 'delete' || !refusedGroups.has(c.group)) continue;
    dropped.add(c);
    const row = plan.rows.find((r) => r.object === `${c.kind} ${c.namespace}/${c.name}`);
    if (row) Object.assign(row, { status: 'kept (its replacement is refused)' });
  }
  return {
    plan: { ...plan, changes: plan.changes.filter((c) => !dropped.has(c)), refusals },
    reads: {
      services: services.length,
      serviceEntries: serviceEntries.length,
      endpointSlices: slices.length,
    },
    screened,
  };
}

/** The planned changes as a summary shows them, before anything is written (a dry run). */
export function plannedReports(observed: ServicesObservation): ServiceChangeReport[] {
  const { plan } = observed;
  const reports: ServiceChangeReport[] = [];
  for (const c of [...plan.changes, ...plan.strayDeletes]) reports.push(report(c, 'planned'));
  for (const s of plan.slices) {
    for (const w of s.writes) {
      const name = w.op === 'delete' ? w.name : w.slice.metadata.name;
      reports.push({
        action: w.op,
        kind: 'EndpointSlice',
        name: `${s.namespace}/${name}`,
        group: s.group,
        reason: `direct endpoints of ${s.service}`,
        status: 'planned',
      });
    }
  }
  for (const c of plan.withheld) reports.push(report(c, 'withheld'));
  return reports;
}

function report(
  c: PlannedServiceChange,
  status: ServiceChangeReport['status'],
  error?: string,
): ServiceChangeReport {
  return {
    action: c.action,
    kind: c.kind,
    name: `${c.namespace}/${c.name}`,
    group: c.group,
    reason: c.reason,
    status,
    ...(error ? { error } : {}),
  };
}

/**
 * Writes the plan: each group's Services and ServiceEntries (server-side apply, force only on our
 * own; deletes guarded by uid), then its direct slices (re-planned against the direct Service's uid,
 * written with resourceVersion preconditions, re-read on conflict).
 */
export async function applyServices(
  kube: KubeWorkloads,
  observed: ServicesObservation,
  deps: { readonly concurrency: number; readonly telemetry: Telemetry; readonly logger: Logger },
  errors: string[],
): Promise<ServiceChangeReport[]> {
  const api = new KubeServiceObjects(kube);
  const { plan, screened } = observed;
  const reports: ServiceChangeReport[] = [];
  const directUid = new Map<string, string>();
  const changes = [...plan.changes, ...plan.strayDeletes];
  const results = await mapSettled(changes, deps.concurrency, async (c) => {
    if (c.action === 'delete') {
      if (c.kind === 'Service') await api.deleteService(c.namespace, c.name, c.uid);
      else if (c.kind === 'ServiceEntry') await api.deleteServiceEntry(c.namespace, c.name, c.uid);
      else await api.deleteEndpointSlice(c.namespace, c.name, c.uid ? { uid: c.uid } : {});
      deps.telemetry.count(c.kind === 'EndpointSlice' ? Metric.EndpointSliceWrites : Metric.ServicesDeleted);
      return;
    }
    const want = c.desired!;
    const ours = c.action === 'update' || screened.get(c) !== undefined;
    const now =
      want.kind === 'Service' ? await api.applyService(want, ours) : await api.applyServiceEntry(want, ours);
    deps.telemetry.count(Metric.ServicesApplied);
    if (now.kind === 'Service' && now.metadata.uid)
      directUid.set(`${c.namespace}/${c.name}`, now.metadata.uid);
  });
  for (const [i, r] of results.entries()) {
    const c = changes[i]!;
    if (r.status === 'fulfilled') reports.push(report(c, 'applied'));
    else {
      const message = (r.reason as Error).message ?? String(r.reason);
      errors.push(`${c.action} ${c.kind} ${c.namespace}/${c.name}: ${message}`);
      reports.push(report(c, 'failed', message));
      if (r.reason instanceof KubernetesError) deps.telemetry.count(Metric.KubernetesErrors);
    }
  }
  const sliceResults = await mapSettled(plan.slices, deps.concurrency, async (s) => {
    const uid = directUid.get(`${s.namespace}/${s.service}`) ?? s.serviceUid;
    // No uid: the direct Service could not be written (failed or refused); its slices wait.
    if (!uid) return 0;
    if (s.writes.length === 0 && s.serviceUid === uid) return 0;
    const { writes } = await syncSlices(
      api,
      { namespace: s.namespace, name: s.service, uid, groupUid: s.groupUid, ports: s.ports },
      { kind: 'exactly', endpoints: s.endpoints },
      { known: s.live, telemetry: deps.telemetry },
    );
    return writes;
  });
  for (const [i, r] of sliceResults.entries()) {
    const s = plan.slices[i]!;
    const base = {
      kind: 'EndpointSlice' as const,
      group: s.group,
      reason: `direct endpoints of ${s.service}`,
    };
    if (r.status === 'fulfilled') {
      if (r.value > 0)
        reports.push({ ...base, action: 'update', name: `${s.namespace}/${s.service}-*`, status: 'applied' });
    } else {
      const message = (r.reason as Error).message ?? String(r.reason);
      errors.push(`EndpointSlices of ${s.namespace}/${s.service}: ${message}`);
      reports.push({
        ...base,
        action: 'update',
        name: `${s.namespace}/${s.service}-*`,
        status: 'failed',
        error: message,
      });
    }
  }
  for (const c of plan.withheld) reports.push(report(c, 'withheld'));
  return reports;
}

/** The summary's Services part. */
export function servicesSummary(
  observed: ServicesObservation,
  changes: readonly ServiceChangeReport[],
): ServicesSummary {
  return {
    changes,
    unchanged: observed.plan.unchanged,
    refusals: observed.plan.refusals.map((r) => ({
      group: r.group,
      ...(r.object ? { object: r.object } : {}),
      reason: r.refusal.reason,
      message: r.refusal.message,
    })),
    reads: observed.reads,
  };
}
