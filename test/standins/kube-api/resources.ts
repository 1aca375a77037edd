/**
 * The resource types the stand-in serves: Istio CRDs read from YAML, plus core Namespaces and Services and
 * discovery.k8s.io EndpointSlices, with the behaviour their real registries add (defaults, a little
 * validation, what DELETE returns) and the discovery documents client-node reads.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { load } from 'js-yaml';
import { configMapType, secretType, serviceAccountType } from './core.ts';
import type { FieldError } from './errors.ts';
import { eventType } from './events.ts';
import { deepClone, isObject } from './json.ts';
import { dns1123LabelName, type NameValidator, subdomainName } from './metadata.ts';
import { compileSchemaNode, compileValidator, METADATA_NODE, node, type SchemaNode } from './schema.ts';
import { endpointSliceType, serviceType } from './services.ts';
import type { JsonObject } from './types.ts';

export interface VersionSchema {
  /** Node tree for pruning, CEL and field ownership (metadata already wired in). */
  root: SchemaNode;
  validate?: ValidateFunction;
}

export interface ResourceType {
  /** `group/plural`, unique. */
  id: string;
  group: string;
  /** Served versions, preferred first. */
  versions: string[];
  storageVersion: string;
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  statusSubresource: boolean;
  crd: boolean;
  schemas: Map<string, VersionSchema>;
  nameFn: NameValidator;
  /** DELETE answers with the object (true) or a Success Status (false). */
  deleteReturnsObject: boolean;
  /** Whether metadata.generation is maintained. */
  tracksGeneration: boolean;
  /** Registry defaulting on create (and on update, with the old object). */
  prepare?: (obj: JsonObject, old: JsonObject | undefined, alloc: Allocator) => void;
  /** The Go decoder's refusal of a built-in body (`json: cannot unmarshal ...`), if any. */
  decode?: (obj: JsonObject) => string | undefined;
  /** Registry validation beyond ObjectMeta. */
  validate?: (obj: JsonObject, old: JsonObject | undefined) => FieldError[];
  /** Subresources other than `status` (e.g. `serviceaccounts/token`), for discovery. */
  subresources?: Array<{ name: string; kind: string; group: string; version: string; verbs: string[] }>;
}

export interface Allocator {
  clusterIP(): string;
  clusterIPInUse(ip: string): boolean;
  nodePort(): number;
  nodePortInUse(port: number): boolean;
}

export function apiVersionOf(rt: ResourceType, version: string): string {
  return rt.group === '' ? version : `${rt.group}/${version}`;
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

// ---------------------------------------------------------------------------------------------
// CRDs

const crdCache = new Map<string, ResourceType>();

function withMetadata(root: SchemaNode): SchemaNode {
  const properties = new Map(root.properties ?? []);
  properties.set('metadata', METADATA_NODE);
  return { ...root, type: 'object', properties };
}

function crdResource(doc: JsonObject, source: string): ResourceType {
  const spec = doc.spec as JsonObject;
  const names = spec.names as JsonObject;
  const group = String(spec.group);
  const versions = (spec.versions as JsonObject[]).filter((v) => v.served !== false);
  const storage = versions.find((v) => v.storage === true) ?? versions[0]!;
  const schemas = new Map<string, VersionSchema>();
  let statusSubresource = false;
  for (const v of versions) {
    const raw = ((v.schema as JsonObject | undefined)?.openAPIV3Schema ?? {}) as JsonObject;
    try {
      schemas.set(String(v.name), {
        root: withMetadata(compileSchemaNode(raw)),
        validate: compileValidator(raw),
      });
    } catch (e) {
      throw new Error(`${source}: version ${String(v.name)}: ${(e as Error).message}`);
    }
    if (isObject(v.subresources) && v.subresources.status !== undefined) statusSubresource = true;
  }
  // Discovery lists versions by priority: GA before beta before alpha, newer first.
  const ordered = versions.map((v) => String(v.name)).sort(compareVersions);
  return {
    id: `${group}/${String(names.plural)}`,
    group,
    versions: ordered,
    storageVersion: String(storage.name),
    plural: String(names.plural),
    singular: String(names.singular ?? String(names.kind).toLowerCase()),
    kind: String(names.kind),
    listKind: String(names.listKind ?? `${String(names.kind)}List`),
    namespaced: spec.scope !== 'Cluster',
    shortNames: Array.isArray(names.shortNames) ? names.shortNames.map(String) : [],
    categories: Array.isArray(names.categories) ? names.categories.map(String) : [],
    verbs: ALL_VERBS,
    statusSubresource,
    crd: true,
    schemas,
    nameFn: subdomainName,
    // The custom resource store does not set ReturnDeletedObject: a Success Status.
    deleteReturnsObject: false,
    tracksGeneration: true,
  };
}

/** Kubernetes version priority: v1 > v1beta2 > v1beta1 > v1alpha1; then others alphabetically. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string): [number, number, number] | undefined => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (m === null) return undefined;
    const stage = m[2] === undefined ? 3 : m[2] === 'beta' ? 2 : 1;
    return [stage, Number(m[1]), Number(m[3] ?? 0)];
  };
  const pa = parse(a);
  const pb = parse(b);
  if (pa === undefined || pb === undefined) {
    if (pa !== undefined) return -1;
    if (pb !== undefined) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pb[i]! - pa[i]!;
  return 0;
}

/** Reads every CustomResourceDefinition in `dir` (*.yaml / *.yml / *.json); compiled once per file content. */
export function loadCrds(dir: string): ResourceType[] {
  const out: ResourceType[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!/\.(ya?ml|json)$/.test(file)) continue;
    const text = readFileSync(join(dir, file), 'utf8');
    const cached = crdCache.get(text);
    if (cached !== undefined) {
      out.push(cached);
      continue;
    }
    const doc = load(text);
    if (!isObject(doc) || doc.kind !== 'CustomResourceDefinition') continue;
    const rt = crdResource(doc, file);
    crdCache.set(text, rt);
    out.push(rt);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Built-in types

const namespaceType: ResourceType = {
  id: '/namespaces',
  group: '',
  versions: ['v1'],
  storageVersion: 'v1',
  plural: 'namespaces',
  singular: 'namespace',
  kind: 'Namespace',
  listKind: 'NamespaceList',
  namespaced: false,
  shortNames: ['ns'],
  categories: [],
  verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  statusSubresource: true,
  crd: false,
  schemas: new Map([['v1', { root: builtinRoot({}) }]]),
  nameFn: dns1123LabelName,
  deleteReturnsObject: true,
  tracksGeneration: false,
  prepare(obj, old) {
    const meta = obj.metadata as JsonObject;
    meta.labels = {
      ...(isObject(meta.labels) ? meta.labels : {}),
      'kubernetes.io/metadata.name': String(meta.name),
    };
    const spec = isObject(obj.spec) ? obj.spec : {};
    if (!Array.isArray(spec.finalizers)) spec.finalizers = ['kubernetes'];
    obj.spec = spec;
    obj.status = old !== undefined && isObject(old.status) ? deepClone(old.status) : { phase: 'Active' };
  },
};

function builtinRoot(props: Record<string, SchemaNode>): SchemaNode {
  return node({
    type: 'object',
    preserveUnknown: true,
    properties: new Map([['metadata', METADATA_NODE], ...Object.entries(props)]),
  });
}

export function builtinResources(): ResourceType[] {
  return [
    namespaceType,
    serviceType,
    endpointSliceType,
    configMapType,
    serviceAccountType,
    secretType,
    eventType,
  ];
}

// ---------------------------------------------------------------------------------------------
// Discovery

export function apiVersionsDoc(): JsonObject {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }],
  };
}

function groupsOf(types: ResourceType[]): Map<string, string[]> {
  const groups = new Map<string, Set<string>>();
  for (const rt of types) {
    if (rt.group === '') continue;
    const s = groups.get(rt.group) ?? new Set();
    for (const v of rt.versions) s.add(v);
    groups.set(rt.group, s);
  }
  return new Map([...groups].map(([g, vs]) => [g, [...vs].sort(compareVersions)]));
}

function groupDoc(name: string, versions: string[]): JsonObject {
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: vs, preferredVersion: vs[0] };
}

export function apiGroupListDoc(types: ResourceType[]): JsonObject {
  const groups = [...groupsOf(types)].map(([g, vs]) => groupDoc(g, vs));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function apiGroupDoc(types: ResourceType[], group: string): JsonObject | undefined {
  const vs = groupsOf(types).get(group);
  return vs === undefined ? undefined : { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(group, vs) };
}

export function apiResourceListDoc(
  types: ResourceType[],
  group: string,
  version: string,
): JsonObject | undefined {
  const served = types.filter((rt) => rt.group === group && rt.versions.includes(version));
  if (served.length === 0) return undefined;
  const resources: JsonObject[] = [];
  for (const rt of served) {
    const r: JsonObject = {
      name: rt.plural,
      singularName: rt.singular,
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: rt.verbs,
    };
    if (rt.shortNames.length > 0) r.shortNames = rt.shortNames;
    if (rt.categories.length > 0) r.categories = rt.categories;
    resources.push(r);
    if (rt.statusSubresource) {
      resources.push({
        name: `${rt.plural}/status`,
        singularName: '',
        namespaced: rt.namespaced,
        kind: rt.kind,
        verbs: ['get', 'patch', 'update'],
      });
    }
    for (const sub of rt.subresources ?? []) {
      resources.push({
        name: `${rt.plural}/${sub.name}`,
        singularName: '',
        namespaced: rt.namespaced,
        group: sub.group,
        version: sub.version,
        kind: sub.kind,
        verbs: sub.verbs,
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group === '' ? version : `${group}/${version}`,
    resources,
  };
}
