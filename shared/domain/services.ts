import { createHash } from 'node:crypto';
import {
  APP_PROTOCOLS_ANNOTATION,
  APPLIED_HASH_ANNOTATION,
  DIRECT_ENDPOINTS_ANNOTATION,
  DIRECT_SERVICE_NAME_ANNOTATION,
  ISTIO_NETWORKING_GROUP,
  ISTIO_NETWORKING_VERSION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  SERVICE_HOSTS_ANNOTATION,
  SERVICE_MODE_ANNOTATION,
  SERVICE_NAME_ANNOTATION,
  WORKLOAD_GROUP_UID_LABEL,
} from '../constants.ts';
import type { OwnerReference, WorkloadGroupView } from './types.ts';

/**
 * Services for the VMs of a WorkloadGroup: what the registrar keeps besides the entries, decided from
 * the group's annotations and template alone (no I/O).
 *
 * | group annotation (istio-vm-registrar.io/...) | value                                  | effect                                                              |
 * |-----------------------------------------------|----------------------------------------|---------------------------------------------------------------------|
 * | `service`                                     | `service`                              | a Service: selector = the entries' labels, ports = template ports   |
 * |                                               | `serviceentry`                         | a ServiceEntry: STATIC, MESH_INTERNAL, workloadSelector, hosts      |
 * |                                               | `none`                                 | neither; one we made before is deleted                              |
 * |                                               | absent                                 | DEFAULT_SERVICE_MODE (default `none`)                               |
 * | `service-name`                                | DNS-1035 label                         | the Service's / ServiceEntry's name (default: the group's name)     |
 * | `service-hosts`                               | comma-separated DNS names              | the ServiceEntry's hosts (default `<name>.<namespace>.svc.cluster.local`) |
 * | `app-protocols`                               | `<port>=<appProtocol>,...`             | wins over the protocol inferred from the port's name                |
 * | `direct-endpoints`                            | `true` / `false` (default)             | a selectorless Service whose EndpointSlices carry the VMs' addresses |
 * | `direct-service-name`                         | DNS-1035 label                         | that Service's name (default `<group>-direct`)                      |
 *
 * | the group                                              | outcome (nothing is written, deleted or changed for a refused group) |
 * |--------------------------------------------------------|----------------------------------------------------------------------|
 * | an annotation above with a value outside its column    | refused: `invalid-service-annotation`                                |
 * | a Service, ServiceEntry or direct Service, and no ports | refused: `no-ports`                                                 |
 * | a Service or ServiceEntry, and no labels to select on  | refused: `no-selector-labels` (an empty selector selects nothing)    |
 * | a port name that is not a DNS-1123 label (Service)     | refused: `invalid-port-name`                                         |
 * | direct endpoints, and the template names a network     | refused: `direct-endpoints-multi-network` (VMs not reachable directly) |
 * | an object of that name exists without our label        | refused: `service-not-owned`; the object is left exactly as it is   |
 *
 * Selector: the labels every entry of the group carries (template labels, then the group's
 * `spec.metadata.labels` over them: what istiod matches a Service selector against), never the
 * per-instance label. Ports: the template's `ports` map (port name -> the VMs' port): name, port and
 * targetPort; protocol TCP (UDP for `udp`/`udp-*`); `appProtocol` from Istio's port-name convention
 * `<protocol>[-<suffix>]` (https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/),
 * the `app-protocols` annotation winning. Every object carries the managed-by label, a label with the
 * group's uid, an ownerReference to the group and the applied-hash annotation.
 */

export const SERVICE_MODES = ['service', 'serviceentry', 'none'] as const;
export type ServiceMode = (typeof SERVICE_MODES)[number];

export const ServiceRefusalReason = {
  InvalidAnnotation: 'invalid-service-annotation',
  NoPorts: 'no-ports',
  NoSelectorLabels: 'no-selector-labels',
  InvalidPortName: 'invalid-port-name',
  MultiNetwork: 'direct-endpoints-multi-network',
  NotOwned: 'service-not-owned',
  Invalid: 'rejected-by-api-server',
} as const;
export type ServiceRefusalReason = (typeof ServiceRefusalReason)[keyof typeof ServiceRefusalReason];

export interface ServiceRefusal {
  readonly reason: ServiceRefusalReason;
  readonly message: string;
}

export interface ServicePolicy {
  readonly mode: ServiceMode;
  /** Name of the Service or ServiceEntry. */
  readonly name: string;
  readonly hosts: readonly string[];
  readonly appProtocols: Readonly<Record<string, string>>;
  readonly direct: boolean;
  readonly directName: string;
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  uid?: string;
  resourceVersion?: string;
}

export interface ServicePort {
  name: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  appProtocol?: string;
  nodePort?: number;
}

/** A core/v1 Service (desired or live; live ones carry more than we set). */
export interface ServiceObject {
  apiVersion: 'v1';
  kind: 'Service';
  metadata: ObjectMeta;
  spec: {
    selector?: Record<string, string>;
    ports?: ServicePort[];
    [field: string]: unknown;
  };
}

export interface ServiceEntryPort {
  name: string;
  number: number;
  protocol?: string;
  targetPort?: number;
}

/** A networking.istio.io/v1 ServiceEntry. */
export interface ServiceEntryObject {
  apiVersion: string;
  kind: 'ServiceEntry';
  metadata: ObjectMeta;
  spec: {
    hosts?: string[];
    location?: string;
    resolution?: string;
    ports?: ServiceEntryPort[];
    workloadSelector?: { labels?: Record<string, string> };
    [field: string]: unknown;
  };
}

export type ServiceLikeObject = ServiceObject | ServiceEntryObject;

/** A port of the VMs, as the direct Service and its EndpointSlices carry it. */
export interface EndpointPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
  readonly appProtocol?: string;
}

/** What a group should have. `objects` empty: nothing (whatever we made before goes). */
export interface GroupServices {
  readonly policy: ServicePolicy;
  /** The Service or ServiceEntry, then the direct Service, as they apply. */
  readonly objects: readonly ServiceLikeObject[];
  /** The direct Service, when the group asks for direct endpoints. */
  readonly direct?: { readonly name: string; readonly ports: readonly EndpointPort[] };
  /** Digest of everything above: equal digests, nothing to write. */
  readonly digest: string;
}

export type GroupServicesResult =
  | { readonly ok: true; readonly services: GroupServices }
  | { readonly ok: false; readonly refusal: ServiceRefusal };

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/**
 * Istio's port-name prefixes, longest first where one is a prefix of another (`grpc-web` before
 * `grpc`), with the Service `appProtocol` and the ServiceEntry `protocol` each means.
 */
const ISTIO_PROTOCOLS: ReadonlyArray<{ prefix: string; appProtocol?: string; udp?: true }> = [
  { prefix: 'grpc-web', appProtocol: 'grpc-web' },
  { prefix: 'grpc', appProtocol: 'grpc' },
  { prefix: 'http2', appProtocol: 'http2' },
  { prefix: 'https', appProtocol: 'https' },
  { prefix: 'http', appProtocol: 'http' },
  { prefix: 'tcp', appProtocol: 'tcp' },
  { prefix: 'tls', appProtocol: 'tls' },
  { prefix: 'mongo', appProtocol: 'mongo' },
  { prefix: 'mysql', appProtocol: 'mysql' },
  { prefix: 'redis', appProtocol: 'redis' },
  { prefix: 'udp', udp: true },
];

/** ServiceEntry `protocol` for a Service `appProtocol` (Istio reads both the same way). */
const SERVICE_ENTRY_PROTOCOL: Readonly<Record<string, string>> = {
  http: 'HTTP',
  http2: 'HTTP2',
  https: 'HTTPS',
  grpc: 'GRPC',
  'grpc-web': 'GRPC-Web',
  tcp: 'TCP',
  tls: 'TLS',
  mongo: 'MONGO',
  mysql: 'MYSQL',
  redis: 'REDIS',
  'kubernetes.io/h2c': 'HTTP2',
};

/** The protocol Istio reads from a port name (`http-web` -> http), or undefined when none. */
export function inferPortProtocol(portName: string): { appProtocol?: string; udp?: true } | undefined {
  const name = portName.toLowerCase();
  const match = ISTIO_PROTOCOLS.find((p) => name === p.prefix || name.startsWith(`${p.prefix}-`));
  if (!match) return undefined;
  return {
    ...(match.appProtocol ? { appProtocol: match.appProtocol } : {}),
    ...(match.udp ? { udp: true } : {}),
  };
}

function isQualifiedName(value: string): boolean {
  const parts = value.split('/');
  if (parts.length > 2) return false;
  const name = parts.at(-1) ?? '';
  const prefix = parts.length === 2 ? parts[0]! : undefined;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)))
    return false;
  return name.length <= 63 && QUALIFIED_NAME.test(name);
}

function csv(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

const invalid = (message: string): { ok: false; refusal: ServiceRefusal } => ({
  ok: false,
  refusal: { reason: ServiceRefusalReason.InvalidAnnotation, message },
});

const SERVICE_ANNOTATIONS = [
  SERVICE_MODE_ANNOTATION,
  SERVICE_NAME_ANNOTATION,
  SERVICE_HOSTS_ANNOTATION,
  APP_PROTOCOLS_ANNOTATION,
  DIRECT_ENDPOINTS_ANNOTATION,
  DIRECT_SERVICE_NAME_ANNOTATION,
];

/**
 * Whether Services are a question for this group at all: it carries one of the annotations above,
 * or the default mode is not `none`. When not, the event path makes no Service call for it (a
 * cluster that never asked needs neither the reads nor their RBAC); the sweep still removes what we
 * made for it before.
 */
export function asksForServices(group: WorkloadGroupView, defaultMode: ServiceMode): boolean {
  return defaultMode !== 'none' || SERVICE_ANNOTATIONS.some((a) => group.annotations[a] !== undefined);
}

/** Reads the group's Service annotations (the first column of the table above). */
export function readServicePolicy(
  group: WorkloadGroupView,
  defaultMode: ServiceMode,
): { ok: true; policy: ServicePolicy } | { ok: false; refusal: ServiceRefusal } {
  const a = group.annotations;
  const where = `WorkloadGroup ${group.namespace}/${group.name}`;
  const rawMode = a[SERVICE_MODE_ANNOTATION]?.trim();
  if (rawMode !== undefined && !(SERVICE_MODES as readonly string[]).includes(rawMode)) {
    return invalid(
      `${where}: annotation ${SERVICE_MODE_ANNOTATION}="${rawMode}" is not one of ${SERVICE_MODES.join(', ')}`,
    );
  }
  const mode = (rawMode as ServiceMode | undefined) ?? defaultMode;
  const rawDirect = a[DIRECT_ENDPOINTS_ANNOTATION]?.trim();
  if (rawDirect !== undefined && rawDirect !== 'true' && rawDirect !== 'false') {
    return invalid(`${where}: annotation ${DIRECT_ENDPOINTS_ANNOTATION}="${rawDirect}" is not true or false`);
  }
  const direct = rawDirect === 'true';

  const nameOf = (annotation: string, fallback: string, used: boolean) => {
    const given = a[annotation]?.trim();
    const name = given ?? fallback;
    if (used && (name.length > 63 || !DNS1035_LABEL.test(name))) {
      return given !== undefined
        ? `annotation ${annotation}="${given}" is not a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, at most 63 characters)`
        : `the default name "${name}" is not a DNS-1035 label; name one with the annotation ${annotation}`;
    }
    return { name };
  };
  const mesh = nameOf(SERVICE_NAME_ANNOTATION, group.name, mode !== 'none');
  if (typeof mesh === 'string') return invalid(`${where}: ${mesh}`);
  const directName = nameOf(DIRECT_SERVICE_NAME_ANNOTATION, `${group.name}-direct`, direct);
  if (typeof directName === 'string') return invalid(`${where}: ${directName}`);
  if (direct && mode === 'service' && directName.name === mesh.name) {
    return invalid(`${where}: the direct Service and the Service may not share the name "${mesh.name}"`);
  }

  let hosts: string[] = [`${mesh.name}.${group.namespace}.svc.cluster.local`];
  const rawHosts = a[SERVICE_HOSTS_ANNOTATION];
  if (rawHosts !== undefined) {
    hosts = csv(rawHosts);
    const bad = hosts.find((h) => h.length > 253 || !DNS1123_SUBDOMAIN.test(h));
    if (hosts.length === 0 || hosts.length > 256 || bad !== undefined) {
      return invalid(
        `${where}: annotation ${SERVICE_HOSTS_ANNOTATION}="${rawHosts}" must list 1 to 256 DNS names (lowercase, no wildcards)${bad !== undefined ? `; "${bad}" is not one` : ''}`,
      );
    }
    hosts = [...new Set(hosts)];
  }

  const appProtocols: Record<string, string> = {};
  const rawProtocols = a[APP_PROTOCOLS_ANNOTATION];
  if (rawProtocols !== undefined) {
    const ports = group.template.ports ?? {};
    for (const pair of csv(rawProtocols)) {
      const [port, protocol, ...rest] = pair.split('=').map((s) => s.trim());
      if (!port || !protocol || rest.length > 0 || !isQualifiedName(protocol)) {
        return invalid(
          `${where}: annotation ${APP_PROTOCOLS_ANNOTATION}: "${pair}" is not <port name>=<appProtocol> with a qualified-name appProtocol`,
        );
      }
      if (!Object.hasOwn(ports, port)) {
        return invalid(
          `${where}: annotation ${APP_PROTOCOLS_ANNOTATION} names port "${port}", which the template does not have`,
        );
      }
      appProtocols[port] = protocol;
    }
  }
  return {
    ok: true,
    policy: { mode, name: mesh.name, hosts, appProtocols, direct, directName: directName.name },
  };
}

/** The entries' labels: template labels, then the group's `spec.metadata.labels` over them. */
export function selectorOf(group: WorkloadGroupView): Record<string, string> {
  return sortKeys({ ...group.template.labels, ...group.entryMetadata.labels });
}

/** The template's ports with their protocols, in name order. */
export function endpointPortsOf(group: WorkloadGroupView, policy: ServicePolicy): EndpointPort[] {
  return Object.entries(group.template.ports ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, port]) => {
      const inferred = inferPortProtocol(name);
      const appProtocol = policy.appProtocols[name] ?? inferred?.appProtocol;
      return {
        name,
        port,
        protocol: inferred?.udp && !policy.appProtocols[name] ? 'UDP' : 'TCP',
        ...(appProtocol ? { appProtocol } : {}),
      };
    });
}

function ownerOf(group: WorkloadGroupView): OwnerReference {
  return {
    apiVersion: group.apiVersion,
    kind: 'WorkloadGroup',
    name: group.name,
    uid: group.uid,
    controller: true,
    blockOwnerDeletion: false,
  };
}

function metadataOf(group: WorkloadGroupView, name: string): ObjectMeta {
  return {
    name,
    namespace: group.namespace,
    labels: sortKeys({ [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [WORKLOAD_GROUP_UID_LABEL]: group.uid }),
    annotations: {},
    ownerReferences: [ownerOf(group)],
  };
}

function servicePorts(ports: readonly EndpointPort[]): ServicePort[] {
  return ports.map((p) => ({
    name: p.name,
    port: p.port,
    targetPort: p.port,
    protocol: p.protocol,
    ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
  }));
}

function stamped<T extends ServiceLikeObject>(object: T): T {
  object.metadata.annotations = { [APPLIED_HASH_ANNOTATION]: objectDigest(object) };
  return object;
}

/**
 * What the group should have (the table above). Pure: the same group gives the same objects and
 * digest, on the event path and in a sweep.
 */
export function renderGroupServices(group: WorkloadGroupView, defaultMode: ServiceMode): GroupServicesResult {
  const read = readServicePolicy(group, defaultMode);
  if (!read.ok) return read;
  const { policy } = read;
  const where = `WorkloadGroup ${group.namespace}/${group.name}`;
  const objects: ServiceLikeObject[] = [];
  if (policy.mode !== 'none' || policy.direct) {
    const names = Object.keys(group.template.ports ?? {});
    if (names.length === 0) {
      return {
        ok: false,
        refusal: {
          reason: ServiceRefusalReason.NoPorts,
          message: `${where} has no ports in its template: a Service needs at least one`,
        },
      };
    }
    const badName = names.find((n) => n.length > 63 || !DNS1123_LABEL.test(n));
    if (badName !== undefined && (policy.mode === 'service' || policy.direct)) {
      return {
        ok: false,
        refusal: {
          reason: ServiceRefusalReason.InvalidPortName,
          message: `${where}: port name "${badName}" is not a DNS-1123 label (lowercase letters, digits and '-'), as a Service port name must be`,
        },
      };
    }
  }
  const ports = endpointPortsOf(group, policy);
  if (policy.mode !== 'none') {
    const selector = selectorOf(group);
    if (Object.keys(selector).length === 0) {
      return {
        ok: false,
        refusal: {
          reason: ServiceRefusalReason.NoSelectorLabels,
          message: `${where} gives its entries no labels (template labels or spec.metadata.labels): a ${policy.mode === 'service' ? 'Service' : 'ServiceEntry'} would select nothing`,
        },
      };
    }
    if (policy.mode === 'service') {
      objects.push(
        stamped<ServiceObject>({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: metadataOf(group, policy.name),
          spec: { selector, ports: servicePorts(ports) },
        }),
      );
    } else {
      objects.push(
        stamped<ServiceEntryObject>({
          apiVersion: `${ISTIO_NETWORKING_GROUP}/${ISTIO_NETWORKING_VERSION}`,
          kind: 'ServiceEntry',
          metadata: metadataOf(group, policy.name),
          spec: {
            hosts: [...policy.hosts],
            location: 'MESH_INTERNAL',
            resolution: 'STATIC',
            ports: ports.map((p) => {
              const protocol = p.protocol === 'UDP' ? 'UDP' : SERVICE_ENTRY_PROTOCOL[p.appProtocol ?? ''];
              return { name: p.name, number: p.port, ...(protocol ? { protocol } : {}) };
            }),
            workloadSelector: { labels: selector },
          },
        }),
      );
    }
  }
  let direct: GroupServices['direct'];
  if (policy.direct) {
    if (group.template.network) {
      return {
        ok: false,
        refusal: {
          reason: ServiceRefusalReason.MultiNetwork,
          message: `${where}: direct endpoints are for single-network meshes, and the template names the network "${group.template.network}"`,
        },
      };
    }
    objects.push(
      stamped<ServiceObject>({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: metadataOf(group, policy.directName),
        spec: { ports: servicePorts(ports) },
      }),
    );
    direct = { name: policy.directName, ports };
  }
  const digest = digestOf(objects.map((o) => o.metadata.annotations?.[APPLIED_HASH_ANNOTATION] ?? ''));
  return { ok: true, services: { policy, objects, ...(direct ? { direct } : {}), digest } };
}

/** The key of an object among a group's: kind and name. */
export const objectKey = (o: { kind: string; metadata: { namespace: string; name: string } }): string =>
  `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;

/** Digest of what we apply, excluding the digest annotation itself. */
export function objectDigest(object: ServiceLikeObject): string {
  const { annotations = {}, ...metadata } = object.metadata;
  const { [APPLIED_HASH_ANNOTATION]: _ignored, ...rest } = annotations;
  return digestOf({ kind: object.kind, metadata: { ...metadata, annotations: rest }, spec: object.spec });
}

export function digestOf(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, 16);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function sortKeys<V>(record: Record<string, V>): Record<string, V> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Every field of `desired` is in `live` with the same value (live may hold more). */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (desired === live) return true;
  if (typeof desired !== 'object' || desired === null || typeof live !== 'object' || live === null)
    return false;
  if (Array.isArray(desired)) {
    return (
      Array.isArray(live) && desired.length === live.length && desired.every((d, i) => isSubset(d, live[i]))
    );
  }
  return Object.entries(desired).every(([k, v]) => isSubset(v, (live as Record<string, unknown>)[k]));
}

const sameMap = (a: Record<string, string> | undefined, b: Record<string, string> | undefined) =>
  stableJson(a ?? {}) === stableJson(b ?? {});

/** Each desired list-map item (keyed by name) is in the live list; others' items may be there too. */
function itemsByName<T extends { name: string }>(
  desired: readonly T[] | undefined,
  live: readonly T[] | undefined,
) {
  return (desired ?? []).every((d) =>
    isSubset(
      d,
      (live ?? []).find((l) => l.name === d.name),
    ),
  );
}

/**
 * Whether a live object already is what we would apply, so that no write is needed. The digest
 * catches what we stopped setting (server-side apply prunes it on the next apply); the rest catches
 * edits of fields we own. What the API server fills in (clusterIP, sessionAffinity, ipFamilies,
 * internalTrafficPolicy, status...) and fields other managers own (a type, an externalTrafficPolicy,
 * their annotations, ports they added) are not drift.
 */
export function serviceObjectMatches(
  live: ServiceLikeObject | undefined,
  desired: ServiceLikeObject,
): boolean {
  if (!live || live.kind !== desired.kind) return false;
  const annotations = live.metadata.annotations ?? {};
  if (annotations[APPLIED_HASH_ANNOTATION] !== desired.metadata.annotations?.[APPLIED_HASH_ANNOTATION])
    return false;
  const metaOk =
    isSubset(desired.metadata.labels ?? {}, live.metadata.labels ?? {}) &&
    (desired.metadata.ownerReferences ?? []).every((ref) =>
      (live.metadata.ownerReferences ?? []).some((l) => isSubset(ref, l)),
    );
  if (!metaOk) return false;
  if (desired.kind === 'Service') {
    const l = live as ServiceObject;
    // The selector is an atomic map: all of it is ours.
    if (desired.spec.selector !== undefined && !sameMap(desired.spec.selector, l.spec.selector)) return false;
    return itemsByName(desired.spec.ports, l.spec.ports);
  }
  const l = live as ServiceEntryObject;
  const d = desired.spec;
  return (
    stableJson(d.hosts) === stableJson(l.spec.hosts) &&
    d.location === l.spec.location &&
    d.resolution === l.spec.resolution &&
    itemsByName(d.ports, l.spec.ports) &&
    isSubset(d.workloadSelector ?? {}, l.spec.workloadSelector ?? {})
  );
}
