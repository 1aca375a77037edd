import {
  ENDPOINT_SLICE_MANAGED_BY_LABEL,
  ENDPOINT_SLICE_MANAGED_BY_VALUE,
  ISTIO_NETWORKING_GROUP,
  ISTIO_NETWORKING_VERSION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  SERVICE_NAME_LABEL,
  WORKLOAD_GROUP_UID_LABEL,
} from '../constants.ts';
import type { EndpointPort, ObjectMeta } from './services.ts';
import type { OwnerReference } from './types.ts';

/**
 * EndpointSlices of a group's direct Service: the VMs' addresses for clients outside the mesh.
 *
 * | situation                                              | what happens to the slices                                        |
 * |--------------------------------------------------------|-------------------------------------------------------------------|
 * | an endpoint already in a slice                         | stays in that slice (address, zone updated in place)              |
 * | a new endpoint                                         | first slice (name order) with fewer than 100 endpoints, else a new one |
 * | an endpoint that goes                                  | removed from its slice; a slice left empty is deleted             |
 * | the same endpoint in two slices (a sweep)              | kept in the first, removed from the others                        |
 * | event path, endpoint kept at the same address          | its conditions are kept (the sweep refreshes them from health)    |
 * | entry health known (`Healthy` condition, from istiod)  | `ready`/`serving` = that condition; unknown: not set (means ready) |
 * | ports or labels of a slice differ from ours            | the slice is rewritten                                            |
 *
 * One endpoint per registered running instance, keyed by its WorkloadEntry's name (`targetRef`),
 * single-network only (an entry with a network is never an endpoint). Slices are named
 * `<service>-<n>`, labelled `kubernetes.io/service-name`, `endpointslice.kubernetes.io/managed-by`
 * (our own value: the EndpointSlice controller leaves them alone) and managed-by, and owned by the
 * direct Service (deleting it deletes them). Never a slice of the mesh Service: istiod would add the
 * addresses there without identity or mTLS, next to the entries the Service already selects.
 */

/** Endpoints per slice, as the EndpointSlice controller's default (`--max-endpoints-per-slice`). */
export const MAX_ENDPOINTS_PER_SLICE = 100;

/** One VM as an endpoint of the direct Service. */
export interface DirectEndpoint {
  /** Name of its WorkloadEntry (`<group>-<instance-id>`): the endpoint's identity. */
  readonly key: string;
  readonly address: string;
  readonly zone?: string;
  /** From the entry's `Healthy` condition; undefined when unknown. */
  readonly ready?: boolean;
}

export interface SliceEndpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  targetRef?: { kind?: string; apiVersion?: string; namespace?: string; name?: string; uid?: string };
  zone?: string;
  [field: string]: unknown;
}

export interface SlicePort {
  name?: string;
  port?: number;
  protocol?: string;
  appProtocol?: string;
}

export interface EndpointSliceObject {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  metadata: ObjectMeta & { [field: string]: unknown };
  addressType: string;
  endpoints?: SliceEndpoint[];
  ports?: SlicePort[];
}

/** The direct Service the slices belong to. */
export interface DirectServiceRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** uid of the WorkloadGroup (label on every slice). */
  readonly groupUid: string;
  readonly ports: readonly EndpointPort[];
}

/** What to change: the whole set (a sweep) or adds and removals (an event batch). */
export type EndpointChange =
  | { readonly kind: 'exactly'; readonly endpoints: readonly DirectEndpoint[] }
  | {
      readonly kind: 'delta';
      readonly upsert: readonly DirectEndpoint[];
      /** Keys (entry names) to remove. */
      readonly remove: readonly string[];
    };

export type SliceWrite =
  | { readonly op: 'create'; readonly slice: EndpointSliceObject }
  | { readonly op: 'update'; readonly slice: EndpointSliceObject }
  | {
      readonly op: 'delete';
      readonly name: string;
      readonly uid?: string;
      readonly resourceVersion?: string;
    };

/** The slices of one direct Service: ours (labels), whatever the order. */
export const sliceKey = (e: SliceEndpoint): string | undefined => e.targetRef?.name;

export function renderEndpoint(namespace: string, ep: DirectEndpoint): SliceEndpoint {
  return {
    addresses: [ep.address],
    conditions: ep.ready === undefined ? {} : { ready: ep.ready, serving: ep.ready },
    targetRef: {
      kind: 'WorkloadEntry',
      apiVersion: `${ISTIO_NETWORKING_GROUP}/${ISTIO_NETWORKING_VERSION}`,
      namespace,
      name: ep.key,
    },
    ...(ep.zone ? { zone: ep.zone } : {}),
  };
}

function slicePorts(ports: readonly EndpointPort[]): SlicePort[] {
  return ports.map((p) => ({
    name: p.name,
    port: p.port,
    protocol: p.protocol,
    ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
  }));
}

function sliceLabels(service: DirectServiceRef): Record<string, string> {
  return {
    [ENDPOINT_SLICE_MANAGED_BY_LABEL]: ENDPOINT_SLICE_MANAGED_BY_VALUE,
    [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
    [SERVICE_NAME_LABEL]: service.name,
    [WORKLOAD_GROUP_UID_LABEL]: service.groupUid,
  };
}

function ownerOf(service: DirectServiceRef): OwnerReference {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    name: service.name,
    uid: service.uid,
    controller: true,
    blockOwnerDeletion: false,
  };
}

/** Compares what we set, with the server's defaults (`conditions: {}`, port name and protocol) filled in. */
function normalEndpoint(e: SliceEndpoint): string {
  return JSON.stringify([
    e.addresses,
    e.conditions?.ready ?? null,
    e.conditions?.serving ?? null,
    e.conditions?.terminating ?? null,
    e.targetRef?.kind ?? null,
    e.targetRef?.namespace ?? null,
    e.targetRef?.name ?? null,
    e.zone ?? null,
  ]);
}

function normalPorts(ports: readonly SlicePort[] | undefined): string {
  return JSON.stringify(
    (ports ?? []).map((p) => [p.name ?? '', p.port ?? null, p.protocol ?? 'TCP', p.appProtocol ?? null]),
  );
}

function metaInStep(slice: EndpointSliceObject, service: DirectServiceRef): boolean {
  const labels = slice.metadata.labels ?? {};
  const owner = ownerOf(service);
  return (
    Object.entries(sliceLabels(service)).every(([k, v]) => labels[k] === v) &&
    (slice.metadata.ownerReferences ?? []).some((r) => r.uid === owner.uid && r.kind === 'Service')
  );
}

function sliceName(service: string, n: number): string {
  return `${service}-${n}`;
}

/**
 * Plans the writes that bring a direct Service's slices to the change asked for (the table above).
 * `live` must be every slice of ours for that Service; `taken` names that may not be used for a new
 * slice (held by someone else's object). Updates start from the live object, so labels and
 * annotations others set are kept, and carry its resourceVersion as a precondition.
 */
export function planSlices(
  service: DirectServiceRef,
  live: readonly EndpointSliceObject[],
  change: EndpointChange,
  taken: ReadonlySet<string> = new Set(),
): SliceWrite[] {
  const ordered = [...live].sort((a, b) => compareNames(a.metadata.name, b.metadata.name));
  const wanted = new Map<string, DirectEndpoint>();
  const removing = new Set<string>();
  if (change.kind === 'exactly') for (const ep of change.endpoints) wanted.set(ep.key, ep);
  else {
    for (const key of change.remove) removing.add(key);
    for (const ep of change.upsert) {
      wanted.set(ep.key, ep);
      removing.delete(ep.key);
    }
  }
  const placed = new Set<string>();
  const working = ordered.map((slice) => {
    const endpoints: SliceEndpoint[] = [];
    for (const e of slice.endpoints ?? []) {
      const key = sliceKey(e);
      if (change.kind === 'exactly') {
        // A sweep keeps exactly the wanted endpoints, each once.
        if (key === undefined || !wanted.has(key) || placed.has(key)) continue;
        endpoints.push(renderEndpoint(service.namespace, wanted.get(key)!));
        placed.add(key);
        continue;
      }
      if (key !== undefined && removing.has(key)) continue;
      const want = key === undefined ? undefined : wanted.get(key);
      if (want) {
        const rendered = renderEndpoint(service.namespace, want);
        // Same address: keep the conditions a sweep set from the entry's health.
        const keepConditions =
          want.ready === undefined && e.addresses.length === 1 && e.addresses[0] === want.address;
        endpoints.push(keepConditions ? { ...rendered, conditions: e.conditions ?? {} } : rendered);
        placed.add(key!);
      } else {
        endpoints.push(e);
      }
    }
    return { live: slice as EndpointSliceObject | undefined, name: slice.metadata.name, endpoints };
  });
  const names = new Set([...ordered.map((s) => s.metadata.name), ...taken]);
  let next = 1;
  for (const ep of wanted.values()) {
    if (placed.has(ep.key)) continue;
    let target = working.find((s) => s.endpoints.length < MAX_ENDPOINTS_PER_SLICE);
    if (!target) {
      while (names.has(sliceName(service.name, next))) next++;
      const name = sliceName(service.name, next);
      names.add(name);
      target = { live: undefined, name, endpoints: [] };
      working.push(target);
    }
    target.endpoints.push(renderEndpoint(service.namespace, ep));
    placed.add(ep.key);
  }

  const writes: SliceWrite[] = [];
  const ports = slicePorts(service.ports);
  for (const s of working) {
    if (s.endpoints.length === 0) {
      if (s.live) {
        writes.push({
          op: 'delete',
          name: s.name,
          ...(s.live.metadata.uid ? { uid: s.live.metadata.uid } : {}),
          ...(s.live.metadata.resourceVersion ? { resourceVersion: s.live.metadata.resourceVersion } : {}),
        });
      }
      continue;
    }
    if (!s.live) {
      writes.push({
        op: 'create',
        slice: {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: {
            name: s.name,
            namespace: service.namespace,
            labels: sliceLabels(service),
            ownerReferences: [ownerOf(service)],
          },
          addressType: 'IPv4',
          endpoints: s.endpoints,
          ports,
        },
      });
      continue;
    }
    const l = s.live;
    const same =
      metaInStep(l, service) &&
      normalPorts(l.ports) === normalPorts(ports) &&
      (l.endpoints ?? []).length === s.endpoints.length &&
      (l.endpoints ?? []).every((e, i) => normalEndpoint(e) === normalEndpoint(s.endpoints[i]!));
    if (same) continue;
    const owners = (l.metadata.ownerReferences ?? []).filter((r) => r.uid !== service.uid);
    writes.push({
      op: 'update',
      slice: {
        ...l,
        metadata: {
          ...l.metadata,
          labels: { ...l.metadata.labels, ...sliceLabels(service) },
          ownerReferences: [ownerOf(service), ...owners.filter((r) => !r.controller)],
        },
        endpoints: s.endpoints,
        ports,
      },
    });
  }
  return writes;
}

/** `svc-2` before `svc-10`. */
function compareNames(a: string, b: string): number {
  const na = Number(/-(\d+)$/.exec(a)?.[1]);
  const nb = Number(/-(\d+)$/.exec(b)?.[1]);
  const pa = a.replace(/-\d+$/, '');
  const pb = b.replace(/-\d+$/, '');
  if (pa === pb && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The endpoints the slices hold, keyed by entry name (first slice wins). */
export function endpointsIn(slices: readonly EndpointSliceObject[]): Map<string, SliceEndpoint> {
  const out = new Map<string, SliceEndpoint>();
  for (const s of [...slices].sort((a, b) => compareNames(a.metadata.name, b.metadata.name))) {
    for (const e of s.endpoints ?? []) {
      const key = sliceKey(e);
      if (key !== undefined && !out.has(key)) out.set(key, e);
    }
  }
  return out;
}
