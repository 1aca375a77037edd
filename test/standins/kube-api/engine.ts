/**
 * The stand-in's storage and verbs, independent of HTTP: a sorted table per resource (etcd key order),
 * a global resourceVersion counter, consistent paging snapshots, the admission/validation pipeline of
 * create/update/patch/apply, deletion with finalizers and owner-reference garbage collection.
 */
import { randomUUID } from 'node:crypto';
import { load } from 'js-yaml';
import {
  alreadyExists,
  badRequest,
  conflict,
  type FieldError,
  fieldError,
  forbidden,
  forbiddenField,
  GoLiteral,
  type GroupResource,
  gone,
  internalError,
  invalidObject,
  invalidOptions,
  notFound,
  OBJECT_MODIFIED,
  required,
  StatusError,
  unprocessable,
  unsupportedMediaType,
} from './errors.ts';
import { deepClone, deepEqual, isObject, JsonPatchError, jsonPatch, mergePatch, storeKey } from './json.ts';
import {
  dropServerSetFields,
  KNOWN_META_FIELDS,
  metadataDecodeError,
  validateObjectMeta,
} from './metadata.ts';
import { type Allocator, apiVersionOf, type ResourceType } from './resources.ts';
import { celErrors, prune, schemaErrors } from './schema.ts';
import type { Matcher } from './selectors.ts';
import { apply, now, type OwnershipContext, recordUpdate } from './ssa.ts';
import type { JsonObject, KubeObject, ManagedFieldsEntry, ObjectMeta, OwnerReference } from './types.ts';

export interface Stored {
  obj: KubeObject;
  /** JSON at the storage version, `apiVersion` first. */
  json: string;
  key: string;
}

interface Snapshot {
  items: Stored[];
  rv: number;
  at: number;
}

class Table {
  readonly rt: ResourceType;
  readonly items = new Map<string, Stored>();
  /** Keys in etcd order (`ns/name`). */
  readonly keys: string[] = [];
  modRv = 0;
  snapshots = new Map<number, Snapshot>();
  private sorted?: { modRv: number; items: Stored[] };
  readonly prefixLen: number;

  constructor(rt: ResourceType) {
    this.rt = rt;
    this.prefixLen = `{"apiVersion":${JSON.stringify(apiVersionOf(rt, rt.storageVersion))}`.length;
  }

  put(s: Stored, rv: number): void {
    if (!this.items.has(s.key)) this.keys.splice(lowerBound(this.keys, s.key), 0, s.key);
    this.items.set(s.key, s);
    this.modRv = rv;
  }

  remove(key: string, rv: number): void {
    if (!this.items.delete(key)) return;
    const i = lowerBound(this.keys, key);
    if (this.keys[i] === key) this.keys.splice(i, 1);
    this.modRv = rv;
  }

  /** All objects in key order; shared between lists until the table changes. */
  sortedItems(): Stored[] {
    if (this.sorted === undefined || this.sorted.modRv !== this.modRv) {
      this.sorted = { modRv: this.modRv, items: this.keys.map((k) => this.items.get(k)!) };
    }
    return this.sorted.items;
  }

  render(s: Stored, version: string): string {
    if (version === this.rt.storageVersion) return s.json;
    return `{"apiVersion":${JSON.stringify(apiVersionOf(this.rt, version))}${s.json.slice(this.prefixLen)}`;
  }
}

/**
 * A built-in type's list items carry no `apiVersion` or `kind` (only the list does), as a real
 * kube-apiserver answers (kubernetes/kubernetes#3030); custom resources' items keep theirs.
 */
function withoutTypeMeta(json: string): string {
  const { apiVersion: _a, kind: _k, ...rest } = JSON.parse(json) as JsonObject;
  return JSON.stringify(rest);
}

function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Range of keys belonging to one namespace (or everything). */
function nsRange(items: Array<{ key: string }>, ns: string | undefined): [number, number] {
  if (ns === undefined || ns === '') return [0, items.length];
  const keys = { length: items.length, at: (i: number) => items[i]!.key };
  const bound = (k: string): number => {
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys.at(mid) < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return [bound(`${ns}/`), bound(`${ns}0`)];
}

export interface Target {
  rt: ResourceType;
  version: string;
  namespace: string;
  name: string;
  subresource: string;
}

export interface WriteOptions {
  fieldManager?: string;
  fieldValidation?: string;
  dryRun: boolean;
  force?: boolean;
  /** User-Agent, the default field manager's source. */
  userAgent?: string;
  /** A patch's second half: the patched object carries the live resourceVersion. */
  internal?: boolean;
  /** Fields the request's JSON body gave twice (see `duplicateFields`): the strict decoder's findings. */
  duplicateFields?: string[];
}

export interface Written {
  code: number;
  json: string;
  warnings: string[];
}

export interface ListOptions {
  labels?: Matcher;
  fields?: Matcher;
  limit?: number;
  continueToken?: string;
}

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

export interface EngineOptions {
  danglingOwnerGcDelayMs?: number;
  /** How long an emptied namespace stays Terminating before it is removed; <= 0: at once. */
  namespaceFinalizeDelayMs?: number;
  /** The clock list snapshots age by (continue tokens expire after five minutes of it). */
  now?: () => number;
}

const DEFAULT_GC_DELAY_MS = 500;
const DEFAULT_NAMESPACE_FINALIZE_DELAY_MS = 200;
const FOREGROUND_FINALIZER = 'foregroundDeletion';
const SNAPSHOT_TTL_MS = 5 * 60_000;
const SNAPSHOTS_PER_TABLE = 32;
const GENERATE_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

export class Engine implements Allocator {
  private rv = 1000;
  private nextIp = 10;
  private nextNodePort = 30000;
  readonly types: ResourceType[];
  private readonly tables = new Map<string, Table>();
  private readonly byUid = new Map<string, { table: Table; key: string }>();
  /** owner uid -> dependents (`tableId\nkey`). */
  private readonly dependents = new Map<string, Set<string>>();
  private readonly nsTable: Table;
  /** Milliseconds before the garbage collector looks at a dependent with unresolved owners; < 0 disables. */
  private readonly gcDelayMs: number;
  /** Dependent uid -> its pending garbage-collector check. */
  private readonly gcTimers = new Map<string, NodeJS.Timeout>();

  private readonly now: () => number;
  private readonly namespaceFinalizeDelayMs: number;
  /** Namespaces being deleted, with the timer that removes them once empty. */
  private readonly terminating = new Map<string, NodeJS.Timeout | undefined>();

  constructor(types: ResourceType[], opts: EngineOptions = {}) {
    this.types = types;
    this.now = opts.now ?? Date.now;
    this.namespaceFinalizeDelayMs = opts.namespaceFinalizeDelayMs ?? DEFAULT_NAMESPACE_FINALIZE_DELAY_MS;
    for (const rt of types) this.tables.set(rt.id, new Table(rt));
    this.nsTable = this.tables.get('/namespaces')!;
    const delay = opts.danglingOwnerGcDelayMs ?? DEFAULT_GC_DELAY_MS;
    this.gcDelayMs = Number.isFinite(delay) ? delay : -1;
  }

  /** Cancels pending garbage-collector checks (the stand-in is closing). */
  dispose(): void {
    for (const t of this.gcTimers.values()) clearTimeout(t);
    this.gcTimers.clear();
    for (const t of this.terminating.values()) clearTimeout(t);
    this.terminating.clear();
  }

  /** The next free address of the service CIDR (sequential; the real allocator picks at random). */
  clusterIP(): string {
    for (let tries = 0; tries < 65_534; tries++) {
      const n = this.nextIp;
      this.nextIp = n >= 65_534 ? 10 : n + 1;
      const ip = `10.96.${(n >> 8) & 255}.${n & 255}`;
      if (!this.clusterIPInUse(ip)) return ip;
    }
    throw internalError('range is full');
  }

  private services(): Stored[] {
    return this.tables.get('/services')?.sortedItems() ?? [];
  }

  clusterIPInUse(ip: string): boolean {
    return this.services().some((s) => {
      const spec = s.obj.spec as JsonObject | undefined;
      return Array.isArray(spec?.clusterIPs) && spec.clusterIPs.includes(ip);
    });
  }

  nodePort(): number {
    for (let tries = 0; tries < 2768; tries++) {
      const p = this.nextNodePort;
      this.nextNodePort = p >= 32767 ? 30000 : p + 1;
      if (!this.nodePortInUse(p)) return p;
    }
    throw internalError('range is full');
  }

  nodePortInUse(port: number): boolean {
    return this.services().some((s) => {
      const spec = s.obj.spec as JsonObject | undefined;
      return Array.isArray(spec?.ports) && spec.ports.some((p) => isObject(p) && p.nodePort === port);
    });
  }

  currentRv(): string {
    return String(this.rv);
  }

  /** Resolves `apiVersion` + `kind` (for the direct-access API). */
  typeFor(apiVersion: string, kind: string): { rt: ResourceType; version: string } {
    const slash = apiVersion.lastIndexOf('/');
    const group = slash < 0 ? '' : apiVersion.slice(0, slash);
    const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
    const rt = this.types.find((t) => t.group === group && t.kind === kind && t.versions.includes(version));
    if (rt === undefined) throw new Error(`the stand-in does not serve ${kind} in ${apiVersion}`);
    return { rt, version };
  }

  private table(rt: ResourceType): Table {
    return this.tables.get(rt.id)!;
  }

  private gr(rt: ResourceType): GroupResource {
    return { group: rt.group, resource: rt.plural };
  }

  // ---- reads ----

  getStored(rt: ResourceType, namespace: string, name: string): Stored | undefined {
    return this.table(rt).items.get(storeKey(rt.namespaced ? namespace : '', name));
  }

  get(t: Target): string {
    const s = this.getStored(t.rt, t.namespace, t.name);
    if (s === undefined) throw notFound(this.gr(t.rt), t.name);
    return this.table(t.rt).render(s, t.version);
  }

  objects(rt: ResourceType, namespace: string | undefined): Stored[] {
    const items = this.table(rt).sortedItems();
    const [lo, hi] = nsRange(items, rt.namespaced ? namespace : undefined);
    return items.slice(lo, hi);
  }

  render(rt: ResourceType, s: Stored, version: string): string {
    return this.table(rt).render(s, version);
  }

  list(rt: ResourceType, version: string, namespace: string | undefined, opts: ListOptions): string {
    const table = this.table(rt);
    let snap: Snapshot;
    let startKey: string | undefined;
    if (opts.continueToken !== undefined && opts.continueToken !== '') {
      const token = decodeContinue(opts.continueToken);
      const found = table.snapshots.get(token.rv);
      if (found === undefined || this.now() - found.at > SNAPSHOT_TTL_MS) {
        // Compacted: the server hands out a token for the rest of the list at the current revision.
        const fresh: Snapshot = { items: table.sortedItems(), rv: this.rv, at: this.now() };
        this.keepSnapshot(table, fresh);
        throw gone(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
          encodeContinue(fresh.rv, token.start),
        );
      }
      snap = found;
      startKey = token.start;
    } else {
      snap = { items: table.sortedItems(), rv: this.rv, at: this.now() };
    }
    const items = snap.items;
    let [i, hi] = nsRange(items, rt.namespaced ? namespace : undefined);
    if (startKey !== undefined) {
      let lo = i;
      let top = hi;
      while (lo < top) {
        const mid = (lo + top) >>> 1;
        if (items[mid]!.key < startKey) lo = mid + 1;
        else top = mid;
      }
      i = lo;
    }
    const limit = opts.limit !== undefined && opts.limit > 0 ? opts.limit : Number.POSITIVE_INFINITY;
    const out: string[] = [];
    let last: Stored | undefined;
    for (; i < hi && out.length < limit; i++) {
      const s = items[i]!;
      last = s;
      if (opts.labels !== undefined && !opts.labels(s.obj)) continue;
      if (opts.fields !== undefined && !opts.fields(s.obj)) continue;
      out.push(rt.crd ? table.render(s, version) : withoutTypeMeta(table.render(s, version)));
    }
    const meta: JsonObject = { resourceVersion: String(snap.rv) };
    if (i < hi && last !== undefined) {
      if (!table.snapshots.has(snap.rv)) this.keepSnapshot(table, snap);
      meta.continue = encodeContinue(snap.rv, `${last.key}\u0000`);
      if (opts.labels === undefined && opts.fields === undefined) meta.remainingItemCount = hi - i;
    }
    const av = apiVersionOf(rt, version);
    return `{"apiVersion":${JSON.stringify(av)},"items":[${out.join(',')}],"kind":${JSON.stringify(rt.listKind)},"metadata":${JSON.stringify(meta)}}`;
  }

  private keepSnapshot(table: Table, snap: Snapshot): void {
    table.snapshots.set(snap.rv, snap);
    const cutoff = this.now() - SNAPSHOT_TTL_MS;
    for (const [rv, s] of table.snapshots) {
      if (table.snapshots.size > SNAPSHOTS_PER_TABLE || s.at < cutoff) table.snapshots.delete(rv);
      else break;
    }
  }

  // ---- writes: shared pieces ----

  private checkKind(rt: ResourceType, version: string, body: JsonObject, requireTypeMeta: boolean): void {
    const expected = apiVersionOf(rt, version);
    const av = body.apiVersion;
    const kind = body.kind;
    if (requireTypeMeta) {
      if (kind === undefined || kind === '') {
        throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body).slice(0, 200)}'`);
      }
      if (av === undefined || av === '') {
        throw badRequest(`Object 'apiVersion' is missing in '${JSON.stringify(body).slice(0, 200)}'`);
      }
    }
    if (av !== undefined && av !== '' && av !== expected) {
      throw badRequest(
        `the API version in the data (${String(av)}) does not match the expected API version (${expected})`,
      );
    }
    if (kind !== undefined && kind !== '' && kind !== rt.kind) {
      throw badRequest(
        `the kind in the data (${String(kind)}) does not match the expected kind (${rt.kind})`,
      );
    }
    body.apiVersion = expected;
    body.kind = rt.kind;
  }

  private meta(body: JsonObject): ObjectMeta {
    const err = metadataDecodeError(body.metadata);
    if (err !== undefined) throw badRequest(err);
    if (!isObject(body.metadata)) body.metadata = {};
    return body.metadata as ObjectMeta;
  }

  private checkNamespace(rt: ResourceType, meta: ObjectMeta, namespace: string): void {
    if (rt.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== namespace) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      meta.namespace = namespace;
    } else {
      delete meta.namespace;
    }
  }

  private namespaceMustExist(rt: ResourceType, namespace: string, name: string): void {
    if (!rt.namespaced) return;
    const ns = this.nsTable.items.get(namespace);
    if (ns === undefined) throw notFound({ group: '', resource: 'namespaces' }, namespace);
    if (ns.obj.metadata.deletionTimestamp !== undefined) {
      throw forbidden(
        this.gr(rt),
        name,
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
    }
  }

  private pruneBody(t: Target, body: JsonObject, opts: WriteOptions): string[] {
    const schema = t.rt.schemas.get(t.version)!;
    const unknown = prune(body, schema.root);
    const decodeError = t.rt.decode?.(body);
    if (decodeError !== undefined) {
      throw badRequest(
        `${t.rt.kind} in version "${t.version}" cannot be handled as a ${t.rt.kind}: ${decodeError}`,
      );
    }
    // The decoder's duplicate fields first, then what pruning dropped.
    const problems = [
      ...(opts.duplicateFields ?? []).map((d) => `duplicate field "${d}"`),
      ...unknown.map((u) => `unknown field "${u}"`),
    ];
    if (problems.length === 0 || opts.fieldValidation === 'Ignore') return [];
    if (opts.fieldValidation === 'Strict') throw badRequest(`strict decoding error: ${problems.join(', ')}`);
    return problems;
  }

  private validate(t: Target, obj: JsonObject, old: JsonObject | undefined): void {
    const rt = t.rt;
    const meta = obj.metadata as ObjectMeta;
    const errs: FieldError[] = validateObjectMeta(meta, rt.namespaced, rt.nameFn);
    if (old !== undefined) {
      const oldMeta = old.metadata as ObjectMeta;
      if (oldMeta.deletionTimestamp !== undefined) {
        const added = (meta.finalizers ?? []).filter((f) => !(oldMeta.finalizers ?? []).includes(f));
        if (added.length > 0) {
          errs.push(
            forbiddenField(
              'metadata.finalizers',
              `no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(', ')}}`,
            ),
          );
        }
      }
    }
    const schema = rt.schemas.get(t.version)!;
    if (schema.validate !== undefined) {
      const schemaErrs = schemaErrors(schema.validate, obj, schema.root);
      errs.push(...schemaErrs);
      errs.push(...celErrors(obj, old, schema.root));
    }
    if (rt.validate !== undefined) errs.push(...rt.validate(obj, old));
    if (errs.length > 0)
      throw invalidObject({ group: rt.group, kind: rt.kind }, String(meta.name ?? ''), errs);
  }

  private manager(opts: WriteOptions): string {
    if (opts.fieldManager !== undefined && opts.fieldManager !== '') return opts.fieldManager;
    const ua = opts.userAgent ?? '';
    const prefix = ua.split('/')[0]?.trim() ?? '';
    return prefix === '' ? 'unknown' : prefix;
  }

  private checkFieldManager(opts: WriteOptions): void {
    const fm = opts.fieldManager;
    if (fm !== undefined && fm.length > 128) {
      throw invalidOptions('PatchOptions', [
        fieldError('FieldValueTooLong', 'fieldManager', undefined, 'may not be more than 128 bytes'),
      ]);
    }
  }

  private ownership(t: Target, manager: string): OwnershipContext {
    let reset: string[];
    if (t.subresource === 'status') {
      reset = [];
    } else {
      reset = t.rt.statusSubresource ? ['f:status'] : [];
    }
    return {
      root: t.rt.schemas.get(t.version)!.root,
      manager,
      apiVersion: apiVersionOf(t.rt, t.version),
      subresource: t.subresource,
      reset,
    };
  }

  /** The object as it will be stored: storage apiVersion first, metadata in server order. */
  private normalize(rt: ResourceType, obj: JsonObject): KubeObject {
    const { apiVersion: _a, kind: _k, metadata, ...rest } = obj;
    const m = metadata as ObjectMeta;
    const meta: ObjectMeta = {};
    for (const k of KNOWN_META_FIELDS) {
      if (k === 'selfLink') continue; // removed from Kubernetes in 1.20: never stored
      const v = m[k];
      if (v === undefined) continue;
      if ((k === 'labels' || k === 'annotations') && isObject(v) && Object.keys(v).length === 0) continue;
      if (
        (k === 'ownerReferences' || k === 'finalizers' || k === 'managedFields') &&
        Array.isArray(v) &&
        v.length === 0
      ) {
        continue;
      }
      meta[k] = v;
    }
    const out: KubeObject = {
      apiVersion: apiVersionOf(rt, rt.storageVersion),
      kind: rt.kind,
      metadata: meta,
    };
    for (const [k, v] of Object.entries(rest)) {
      if (k !== 'status') out[k] = v;
    }
    if (rest.status !== undefined) out.status = rest.status;
    return out;
  }

  private specChanged(old: JsonObject, next: JsonObject): boolean {
    const strip = (o: JsonObject): JsonObject => {
      const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
      return rest;
    };
    return !deepEqual(strip(old), strip(next));
  }

  private store(rt: ResourceType, obj: KubeObject): Stored {
    const table = this.table(rt);
    const key = storeKey(rt.namespaced ? (obj.metadata.namespace ?? '') : '', obj.metadata.name ?? '');
    const previous = table.items.get(key);
    const s: Stored = { obj, json: JSON.stringify(obj), key };
    table.put(s, this.rv);
    if (previous !== undefined) this.unindex(rt, previous);
    this.index(rt, s);
    if (obj.metadata.ownerReferences !== undefined) this.watchOwners(obj);
    return s;
  }

  // ---- garbage collector (kube-controller-manager), for owners that do not exist ----

  /**
   * How the garbage collector sees each owner reference of `obj`: `solid` (an object of that kind and name
   * with that uid exists in the dependent's namespace), `dangling`, or `unknown` (a kind the server does
   * not serve: the collector cannot resolve it and keeps retrying, so the object stays).
   */
  private classifyOwners(obj: KubeObject): Array<'solid' | 'dangling' | 'unknown'> {
    return (obj.metadata.ownerReferences ?? []).map((ref) => {
      const slash = ref.apiVersion.lastIndexOf('/');
      const group = slash < 0 ? '' : ref.apiVersion.slice(0, slash);
      const version = ref.apiVersion.slice(slash + 1);
      const rt = this.types.find(
        (t) => t.group === group && t.kind === ref.kind && t.versions.includes(version),
      );
      if (rt === undefined) return 'unknown';
      const owner = this.getStored(rt, obj.metadata.namespace ?? '', ref.name);
      return owner !== undefined && owner.obj.metadata.uid === ref.uid ? 'solid' : 'dangling';
    });
  }

  private watchOwners(obj: KubeObject): void {
    if (this.gcDelayMs < 0) return;
    const uid = obj.metadata.uid!;
    if (this.gcTimers.has(uid)) return;
    if (!this.classifyOwners(obj).includes('dangling')) return;
    const timer = setTimeout(() => {
      this.gcTimers.delete(uid);
      this.collectIfDangling(uid);
    }, this.gcDelayMs);
    timer.unref();
    this.gcTimers.set(uid, timer);
  }

  /** The collector's attemptToDeleteItem, on the object's state when it gets to it. */
  private collectIfDangling(uid: string): void {
    const at = this.byUid.get(uid);
    const s = at === undefined ? undefined : at.table.items.get(at.key);
    if (at === undefined || s === undefined || s.obj.metadata.uid !== uid) return;
    const obj = s.obj;
    if (obj.metadata.deletionTimestamp !== undefined) return;
    const kinds = this.classifyOwners(obj);
    if (kinds.includes('unknown') || !kinds.includes('dangling')) return;
    const rt = at.table.rt;
    if (kinds.includes('solid')) {
      // Some owners are alive: the collector only drops the references to the missing ones.
      const next = deepClone(obj);
      next.metadata.ownerReferences = (obj.metadata.ownerReferences ?? []).filter(
        (_, i) => kinds[i] === 'solid',
      );
      this.rv++;
      next.metadata.resourceVersion = String(this.rv);
      this.store(rt, next);
      return;
    }
    const finalizers = obj.metadata.finalizers ?? [];
    const policy = finalizers.includes('orphan') ? 'Orphan' : 'Background';
    const t: Target = {
      rt,
      version: rt.storageVersion,
      namespace: obj.metadata.namespace ?? '',
      name: obj.metadata.name!,
      subresource: '',
    };
    this.delete(t, { preconditions: { uid }, propagationPolicy: policy }, false);
  }

  private index(rt: ResourceType, s: Stored): void {
    const uid = s.obj.metadata.uid!;
    this.byUid.set(uid, { table: this.table(rt), key: s.key });
    for (const ref of s.obj.metadata.ownerReferences ?? []) {
      let set = this.dependents.get(ref.uid);
      if (set === undefined) {
        set = new Set();
        this.dependents.set(ref.uid, set);
      }
      set.add(`${rt.id}\n${s.key}`);
    }
  }

  private unindex(rt: ResourceType, s: Stored): void {
    this.byUid.delete(s.obj.metadata.uid!);
    for (const ref of s.obj.metadata.ownerReferences ?? []) {
      const set = this.dependents.get(ref.uid);
      set?.delete(`${rt.id}\n${s.key}`);
      if (set?.size === 0) this.dependents.delete(ref.uid);
    }
  }

  private removeStored(rt: ResourceType, s: Stored): void {
    const table = this.table(rt);
    this.rv++;
    table.remove(s.key, this.rv);
    this.unindex(rt, s);
    // A dependent gone may be the last one an owner deleted in the foreground was waiting for.
    for (const ref of s.obj.metadata.ownerReferences ?? []) this.releaseForeground(ref.uid);
    const ns = s.obj.metadata.namespace;
    if (rt.namespaced && ns !== undefined && this.terminating.has(ns)) this.finalizeNamespace(ns);
  }

  /**
   * The garbage collector's processDeletingDependentsItem: an owner with the `foregroundDeletion`
   * finalizer keeps it while a dependent that blocks owner deletion (`blockOwnerDeletion: true`)
   * exists; then the finalizer goes, and with the last finalizer the owner.
   */
  private releaseForeground(ownerUid: string): void {
    const at = this.byUid.get(ownerUid);
    const owner = at === undefined ? undefined : at.table.items.get(at.key);
    if (at === undefined || owner === undefined) return;
    const finalizers = owner.obj.metadata.finalizers ?? [];
    if (!finalizers.includes(FOREGROUND_FINALIZER)) return;
    for (const ref of this.dependents.get(ownerUid) ?? []) {
      const [tableId, key] = ref.split('\n') as [string, string];
      const dependent = this.tables.get(tableId)!.items.get(key);
      const blocks = dependent?.obj.metadata.ownerReferences?.some(
        (r) => r.uid === ownerUid && r.blockOwnerDeletion === true,
      );
      if (blocks) return;
    }
    const next = deepClone(owner.obj);
    next.metadata.finalizers = finalizers.filter((f) => f !== FOREGROUND_FINALIZER);
    if (next.metadata.finalizers.length === 0) {
      this.removeStored(at.table.rt, owner);
      this.collectDependents(ownerUid, 'Background');
      return;
    }
    this.rv++;
    next.metadata.resourceVersion = String(this.rv);
    this.store(at.table.rt, next);
  }

  // ---- create ----

  create(t: Target, body: unknown, opts: WriteOptions): Written {
    if (!isObject(body)) throw badRequest('the body of the request must be a JSON object');
    const rt = t.rt;
    this.checkFieldManager(opts);
    this.checkKind(rt, t.version, body, rt.crd);
    const meta = this.meta(body);
    this.checkNamespace(rt, meta, t.namespace);
    const warnings = this.pruneBody(t, body, opts);
    if (
      (meta.name === undefined || meta.name === '') &&
      typeof meta.generateName === 'string' &&
      meta.generateName !== ''
    ) {
      let suffix = '';
      for (let i = 0; i < 5; i++) suffix += GENERATE_CHARS[Math.floor(Math.random() * GENERATE_CHARS.length)];
      meta.name = `${meta.generateName}${suffix}`;
    }
    rvSetOnCreate(meta);
    if (rt.statusSubresource && rt.crd) delete body.status;
    const ns = rt.namespaced ? t.namespace : '';
    this.namespaceMustExist(rt, ns, String(meta.name ?? ''));
    const obj = this.admitNew(t, body, meta, (o) =>
      recordUpdate(undefined, o, this.ownership(t, this.manager(opts))),
    );
    if (this.getStored(rt, ns, meta.name ?? '') !== undefined)
      throw alreadyExists(this.gr(rt), String(meta.name));
    return { code: 201, json: this.commitNew(t, obj, opts.dryRun), warnings };
  }

  /** System metadata, registry defaults, validation and ownership for a new object. */
  private admitNew(
    t: Target,
    body: JsonObject,
    meta: ObjectMeta,
    managed: (o: JsonObject) => ManagedFieldsEntry[],
  ): KubeObject {
    dropServerSetFields(meta);
    t.rt.prepare?.(body, undefined, this);
    this.validate(t, body, undefined);
    meta.uid = randomUUID();
    meta.resourceVersion = ''; // placeholder keeping the server's key order; set on commit
    meta.creationTimestamp = now();
    if (t.rt.tracksGeneration) meta.generation = 1;
    meta.managedFields = managed(body);
    return this.normalize(t.rt, body);
  }

  private commitNew(t: Target, obj: KubeObject, dryRun: boolean): string {
    const table = this.table(t.rt);
    if (dryRun) {
      delete obj.metadata.resourceVersion;
      return table.render({ obj, json: JSON.stringify(obj), key: '' }, t.version);
    }
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    return table.render(this.store(t.rt, obj), t.version);
  }

  // ---- update / patch / apply on existing objects ----

  private existing(t: Target): Stored {
    const s = this.getStored(t.rt, t.namespace, t.name);
    if (s === undefined) throw notFound(this.gr(t.rt), t.name);
    return s;
  }

  private preconditions(t: Target, meta: ObjectMeta, current: KubeObject): void {
    if (meta.uid !== undefined && meta.uid !== '' && meta.uid !== current.metadata.uid) {
      throw conflict(
        this.gr(t.rt),
        t.name,
        `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${current.metadata.uid}`,
      );
    }
    if (
      meta.resourceVersion !== undefined &&
      meta.resourceVersion !== '' &&
      meta.resourceVersion !== current.metadata.resourceVersion
    ) {
      throw conflict(this.gr(t.rt), t.name, OBJECT_MODIFIED);
    }
  }

  /** PUT, and the second half of JSON/merge patches. */
  update(t: Target, body: unknown, opts: WriteOptions): Written {
    if (!isObject(body)) throw badRequest('the body of the request must be a JSON object');
    this.checkFieldManager(opts);
    const current = this.existing(t);
    const rt = t.rt;
    this.checkKind(rt, t.version, body, rt.crd);
    const meta = this.meta(body);
    if (meta.name !== undefined && meta.name !== '' && meta.name !== t.name) {
      throw badRequest(
        `the name of the object (${meta.name}) does not match the name on the URL (${t.name})`,
      );
    }
    this.checkNamespace(rt, meta, t.namespace);
    if (rt.crd && !opts.internal && (meta.resourceVersion === undefined || meta.resourceVersion === '')) {
      // The custom resource strategy does not allow unconditional updates.
      throw invalidObject({ group: rt.group, kind: rt.kind }, t.name, [
        invalidField('metadata.resourceVersion', new GoLiteral('0x0'), 'must be specified for an update'),
      ]);
    }
    this.preconditions(t, meta, current.obj);
    const warnings = this.pruneBody(t, body, opts);
    const old = current.obj;
    let next: JsonObject;
    if (t.subresource === 'status') {
      next = deepClone(old) as JsonObject;
      if (body.status === undefined) delete next.status;
      else next.status = body.status;
    } else {
      next = body;
      if (rt.statusSubresource && rt.crd) {
        if (old.status === undefined) delete next.status;
        else next.status = deepClone(old.status);
      }
      const nm = next.metadata as ObjectMeta;
      const om = old.metadata;
      nm.name = om.name;
      for (const k of [
        'uid',
        'creationTimestamp',
        'deletionTimestamp',
        'deletionGracePeriodSeconds',
        'generation',
      ] as const) {
        if (om[k] === undefined) delete nm[k];
        else (nm as JsonObject)[k] = om[k];
      }
      const mf = nm.managedFields;
      if (Array.isArray(mf) && mf.length === 1 && isObject(mf[0]) && Object.keys(mf[0]).length === 0)
        nm.managedFields = [];
      else if (!Array.isArray(mf) || mf.length === 0) nm.managedFields = deepClone(om.managedFields ?? []);
    }
    rt.prepare?.(next, old, this);
    this.validate(t, next, old);
    const nm = next.metadata as ObjectMeta;
    nm.managedFields = recordUpdate(old, next, this.ownership(t, this.manager(opts)));
    return { code: 200, json: this.commitUpdate(t, current, next, opts.dryRun), warnings };
  }

  private commitUpdate(t: Target, current: Stored, nextRaw: JsonObject, dryRun: boolean): string {
    const rt = t.rt;
    const old = current.obj;
    const next = this.normalize(rt, nextRaw);
    const nm = next.metadata;
    if (rt.tracksGeneration)
      nm.generation = (old.metadata.generation ?? 1) + (this.specChanged(old, next) ? 1 : 0);
    nm.resourceVersion = old.metadata.resourceVersion!;
    const table = this.table(rt);
    if (sameIgnoringTimes(old, next)) return table.render(current, t.version);
    if (dryRun) return table.render({ obj: next, json: JSON.stringify(next), key: '' }, t.version);
    if (nm.deletionTimestamp !== undefined && (nm.finalizers ?? []).length === 0) {
      this.removeStored(rt, current);
      this.collectDependents(old.metadata.uid!, 'Background');
      nm.resourceVersion = String(this.rv);
      return table.render({ obj: next, json: JSON.stringify(next), key: '' }, t.version);
    }
    this.rv++;
    nm.resourceVersion = String(this.rv);
    return table.render(this.store(rt, next), t.version);
  }

  patch(t: Target, contentType: string, text: string, opts: WriteOptions): Written {
    if (contentType === PATCH_TYPES.apply) return this.apply(t, text, opts);
    if (opts.force !== undefined) {
      throw invalidOptions('PatchOptions', [
        forbiddenField('force', 'may not be specified for non-apply patch'),
      ]);
    }
    if (contentType === PATCH_TYPES.strategic && t.rt.crd) {
      throw unsupportedMediaType(
        'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
      );
    }
    let patch: unknown;
    try {
      patch = JSON.parse(text);
    } catch (e) {
      throw badRequest(`error decoding patch: ${(e as Error).message}`);
    }
    const current = this.existing(t);
    const doc = JSON.parse(this.table(t.rt).render(current, t.version)) as JsonObject;
    let patched: unknown;
    if (contentType === PATCH_TYPES.json) {
      try {
        patched = jsonPatch(doc, patch);
      } catch (e) {
        if (e instanceof JsonPatchError) {
          if (e.malformed) throw badRequest(e.message);
          throw unprocessable(e.message);
        }
        throw e;
      }
    } else {
      if (!isObject(patch))
        throw badRequest('json: cannot unmarshal into Go value of type map[string]interface {}');
      patched = mergePatch(doc, patch);
    }
    if (!isObject(patched)) throw badRequest('patched object is not a JSON object');
    return this.update(t, patched, { ...opts, internal: true });
  }

  private apply(t: Target, text: string, opts: WriteOptions): Written {
    const rt = t.rt;
    if (opts.fieldManager === undefined || opts.fieldManager === '') {
      throw invalidOptions('PatchOptions', [required('fieldManager', 'is required for apply patch')]);
    }
    this.checkFieldManager(opts);
    let cfg: unknown;
    try {
      cfg = JSON.parse(text);
    } catch {
      try {
        cfg = load(text);
      } catch (e) {
        throw badRequest(`error decoding YAML: ${(e as Error).message}`);
      }
    }
    if (!isObject(cfg)) throw badRequest('error decoding YAML: the applied configuration must be an object');
    if (cfg.apiVersion === undefined || cfg.apiVersion === '')
      throw badRequest('apiVersion must be set in the applied configuration');
    if (cfg.kind === undefined || cfg.kind === '')
      throw badRequest('kind must be set in the applied configuration');
    this.checkKind(rt, t.version, cfg, true);
    const meta = this.meta(cfg);
    if (meta.managedFields !== undefined) throw badRequest('metadata.managedFields must be nil');
    if (meta.name !== undefined && meta.name !== '' && meta.name !== t.name) {
      throw badRequest(
        `the name of the object (${meta.name}) does not match the name on the URL (${t.name})`,
      );
    }
    meta.name = t.name;
    this.checkNamespace(rt, meta, t.namespace);
    if (opts.fieldValidation === 'Strict') {
      // Apply builds a typed patch from the schema before any field validation runs: an unknown field
      // fails there, as a plain 500 (not the 400 strict decoding error of create and update).
      const unknown = prune(deepClone(cfg), rt.schemas.get(t.version)!.root);
      if (unknown.length > 0) throw typedPatchError(rt, t.version, unknown);
    }
    const warnings = this.pruneBody(t, cfg, opts);
    const current = this.getStored(rt, t.namespace, t.name);
    if (current !== undefined) this.preconditions(t, meta, current.obj);
    else rvSetOnCreate(meta);
    dropServerSetFields(meta);
    const ctx = this.ownership(t, opts.fieldManager);
    if (t.subresource === 'status') {
      for (const k of Object.keys(cfg))
        if (!['apiVersion', 'kind', 'metadata', 'status'].includes(k)) delete cfg[k];
      cfg.metadata = { name: meta.name, ...(rt.namespaced ? { namespace: meta.namespace } : {}) };
      ctx.reset = [];
    } else if (rt.statusSubresource && rt.crd) {
      delete cfg.status;
    }
    if (current === undefined) {
      if (t.subresource === 'status') throw notFound(this.gr(rt), t.name);
      const ns = rt.namespaced ? t.namespace : '';
      this.namespaceMustExist(rt, ns, t.name);
      const created = apply(undefined, cfg, opts.force === true, ctx);
      const createdMeta = created.metadata as ObjectMeta;
      const managed = createdMeta.managedFields ?? [];
      const obj = this.admitNew(t, created, createdMeta, () => managed);
      return { code: 201, json: this.commitNew(t, obj, opts.dryRun), warnings };
    }
    const merged = apply(current.obj, cfg, opts.force === true, ctx);
    rt.prepare?.(merged, current.obj, this);
    this.validate(t, merged, current.obj);
    return { code: 200, json: this.commitUpdate(t, current, merged, opts.dryRun), warnings };
  }

  // ---- delete ----

  delete(t: Target, options: JsonObject, dryRun: boolean): { code: number; json: string } {
    const rt = t.rt;
    const current = this.existing(t);
    const obj = current.obj;
    const pre = isObject(options.preconditions) ? options.preconditions : {};
    if (typeof pre.uid === 'string' && pre.uid !== '' && pre.uid !== obj.metadata.uid) {
      throw conflict(
        this.gr(rt),
        t.name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid}`,
      );
    }
    if (
      typeof pre.resourceVersion === 'string' &&
      pre.resourceVersion !== '' &&
      pre.resourceVersion !== obj.metadata.resourceVersion
    ) {
      throw conflict(
        this.gr(rt),
        t.name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`,
      );
    }
    let policy = typeof options.propagationPolicy === 'string' ? options.propagationPolicy : undefined;
    if (policy !== undefined && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
      throw invalidOptions('DeleteOptions', [
        fieldError(
          'FieldValueNotSupported',
          'propagationPolicy',
          policy,
          'supported values: "Foreground", "Background", "Orphan", "nil"',
        ),
      ]);
    }
    if (options.orphanDependents !== undefined && policy !== undefined) {
      throw invalidOptions('DeleteOptions', [
        invalidField(
          'propagationPolicy',
          policy,
          'orphanDependents and deletionPropagation cannot be both set',
        ),
      ]);
    }
    if (options.orphanDependents === true) policy = 'Orphan';
    const table = this.table(rt);
    if (dryRun) return { code: 200, json: this.deleteResponse(t, current) };
    if (rt === this.nsTable.rt) return { code: 200, json: this.deleteNamespace(current) };
    if (policy === 'Foreground' && obj.metadata.deletionTimestamp === undefined) {
      // The owner stays, being deleted, with the foregroundDeletion finalizer until the collector has
      // removed the dependents that block it; the answer is the object as marked.
      const next = deepClone(obj);
      next.metadata.deletionTimestamp = now();
      next.metadata.deletionGracePeriodSeconds = 0;
      next.metadata.finalizers = [...(obj.metadata.finalizers ?? []), FOREGROUND_FINALIZER];
      this.rv++;
      next.metadata.resourceVersion = String(this.rv);
      const json = table.render(this.store(rt, next), t.version);
      this.collectDependents(obj.metadata.uid!, 'Background');
      this.releaseForeground(obj.metadata.uid!);
      return { code: options.orphanDependents === false ? 202 : 200, json };
    }
    if ((obj.metadata.finalizers ?? []).length > 0) {
      // Deletion pending on finalizers: the object with its deletionTimestamp, 200 OK; the handler answers
      // 202 only when the client asked for orphanDependents=false.
      const code = options.orphanDependents === false ? 202 : 200;
      if (obj.metadata.deletionTimestamp !== undefined) {
        return { code, json: table.render(current, t.version) };
      }
      const next = deepClone(obj);
      next.metadata.deletionTimestamp = now();
      next.metadata.deletionGracePeriodSeconds = 0;
      this.rv++;
      next.metadata.resourceVersion = String(this.rv);
      return { code, json: table.render(this.store(rt, next), t.version) };
    }
    this.removeStored(rt, current);
    this.collectDependents(obj.metadata.uid!, policy ?? 'Background');
    return { code: 200, json: this.deleteResponse(t, current) };
  }

  private deleteResponse(t: Target, s: Stored): string {
    if (t.rt.deleteReturnsObject) return this.table(t.rt).render(s, t.version);
    const details: JsonObject = { name: s.obj.metadata.name, kind: t.rt.plural, uid: s.obj.metadata.uid };
    if (t.rt.group !== '') details.group = t.rt.group;
    return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details });
  }

  /**
   * Namespace deletion: the namespace turns `Terminating` (creates in it are refused with 403), its
   * objects are deleted (objects with finalizers wait for them), and the namespace itself goes
   * `namespaceFinalizeDelayMs` later once it is empty, as the namespace controller does it.
   */
  private deleteNamespace(current: Stored): string {
    const ns = current.obj.metadata.name!;
    if (current.obj.metadata.deletionTimestamp !== undefined) return this.nsTable.render(current, 'v1');
    const marked = deepClone(current.obj);
    marked.metadata.deletionTimestamp = now();
    marked.metadata.deletionGracePeriodSeconds = 0;
    marked.spec = { finalizers: ['kubernetes'] };
    marked.status = { phase: 'Terminating' };
    this.rv++;
    marked.metadata.resourceVersion = String(this.rv);
    const json = this.nsTable.render(this.store(this.nsTable.rt, marked), 'v1');
    this.terminating.set(ns, undefined);
    for (const rt of this.types) {
      if (!rt.namespaced) continue;
      for (const s of this.objects(rt, ns)) {
        const live = this.table(rt).items.get(s.key);
        if (live === undefined) continue;
        const t: Target = {
          rt,
          version: rt.storageVersion,
          namespace: ns,
          name: live.obj.metadata.name!,
          subresource: '',
        };
        this.delete(t, { propagationPolicy: 'Background' }, false);
      }
    }
    this.finalizeNamespace(ns);
    return json;
  }

  /** Removes a terminating namespace once no object is left in it, after the finalize delay. */
  private finalizeNamespace(ns: string): void {
    if (!this.terminating.has(ns) || this.terminating.get(ns) !== undefined) return;
    const empty = this.types.every((rt) => !rt.namespaced || this.objects(rt, ns).length === 0);
    if (!empty) return;
    const remove = () => {
      this.terminating.delete(ns);
      const s = this.nsTable.items.get(storeKey('', ns));
      if (s !== undefined) this.removeStored(this.nsTable.rt, s);
    };
    if (this.namespaceFinalizeDelayMs <= 0) {
      remove();
      return;
    }
    const timer = setTimeout(remove, this.namespaceFinalizeDelayMs);
    timer.unref();
    this.terminating.set(ns, timer);
  }

  /** Owner-reference garbage collection for a deleted owner (synchronous background cascade). */
  private collectDependents(ownerUid: string, policy: string): void {
    const deps = this.dependents.get(ownerUid);
    if (deps === undefined) return;
    for (const ref of [...deps]) {
      const [tableId, key] = ref.split('\n') as [string, string];
      const table = this.tables.get(tableId)!;
      const s = table.items.get(key);
      if (s === undefined) continue;
      const refs: OwnerReference[] = s.obj.metadata.ownerReferences ?? [];
      const others = refs.filter((r) => r.uid !== ownerUid);
      const liveOwner = others.some((r) => this.byUid.has(r.uid));
      if (policy === 'Orphan' || liveOwner) {
        const next = deepClone(s.obj);
        if (others.length === 0) delete next.metadata.ownerReferences;
        else next.metadata.ownerReferences = others;
        this.rv++;
        next.metadata.resourceVersion = String(this.rv);
        this.store(table.rt, next);
        continue;
      }
      if ((s.obj.metadata.finalizers ?? []).length > 0) {
        if (s.obj.metadata.deletionTimestamp === undefined) {
          const next = deepClone(s.obj);
          next.metadata.deletionTimestamp = now();
          next.metadata.deletionGracePeriodSeconds = 0;
          this.rv++;
          next.metadata.resourceVersion = String(this.rv);
          this.store(table.rt, next);
        }
        continue;
      }
      this.removeStored(table.rt, s);
      this.collectDependents(s.obj.metadata.uid!, policy);
    }
  }

  deleteCollection(
    rt: ResourceType,
    version: string,
    namespace: string | undefined,
    opts: ListOptions,
    dryRun: boolean,
  ): string {
    const victims = this.objects(rt, namespace).filter(
      (s) =>
        (opts.labels === undefined || opts.labels(s.obj)) &&
        (opts.fields === undefined || opts.fields(s.obj)),
    );
    // The store answers a deletecollection with the list of what it deleted, whatever a single DELETE returns.
    const out: string[] = [];
    for (const s of victims) {
      const t: Target = {
        rt,
        version,
        namespace: s.obj.metadata.namespace ?? '',
        name: s.obj.metadata.name!,
        subresource: '',
      };
      this.delete(t, {}, dryRun);
      const pending = dryRun ? undefined : this.getStored(rt, t.namespace, t.name);
      out.push(this.table(rt).render(pending ?? s, version));
    }
    return `{"apiVersion":${JSON.stringify(apiVersionOf(rt, version))},"items":[${out.join(',')}],"kind":${JSON.stringify(rt.listKind)},"metadata":{"resourceVersion":${JSON.stringify(String(this.rv))}}}`;
  }
}

/** etcd3 store: a numeric, non-zero resourceVersion on a create is a plain 500 (no reason), as on a real server. */
function rvSetOnCreate(meta: ObjectMeta): void {
  const rv = meta.resourceVersion;
  if (typeof rv === 'string' && /^\d+$/.test(rv) && rv !== '0') {
    throw new StatusError({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'resourceVersion should not be set on objects to be created',
      code: 500,
    });
  }
}

/** structured-merge-diff's error for fields not in the schema, as the apply handler returns it. */
function typedPatchError(rt: ResourceType, version: string, unknown: string[]): StatusError {
  const errors = unknown.map((u) => `.${u}: field not declared in schema`);
  const detail = errors.length === 1 ? errors[0]! : `errors:\n  ${errors.join('\n  ')}`;
  return new StatusError({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `failed to create typed patch object (${rt.group}/${version}, Kind=${rt.kind}): ${detail}`,
    code: 500,
  });
}

function invalidField(field: string, value: unknown, detail: string): FieldError {
  return fieldError('FieldValueInvalid', field, value, detail);
}

/** Equal apart from managedFields timestamps: such a write is a no-op and keeps the resourceVersion. */
function sameIgnoringTimes(a: KubeObject, b: KubeObject): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if (k !== 'metadata' && !deepEqual(a[k], b[k])) return false;
  }
  const ma = a.metadata;
  const mb = b.metadata;
  const metaKeys = new Set([...Object.keys(ma), ...Object.keys(mb)]);
  for (const k of metaKeys) {
    if (k !== 'managedFields' && !deepEqual(ma[k], mb[k])) return false;
  }
  const fa = ma.managedFields ?? [];
  const fb = mb.managedFields ?? [];
  if (fa.length !== fb.length) return false;
  return fa.every((e, i) => {
    const o = fb[i]!;
    return (
      e.manager === o.manager &&
      e.operation === o.operation &&
      e.apiVersion === o.apiVersion &&
      e.subresource === o.subresource &&
      deepEqual(e.fieldsV1, o.fieldsV1)
    );
  });
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64url');
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const o = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as JsonObject;
    if (o.v !== 'meta.k8s.io/v1' || typeof o.rv !== 'number' || typeof o.start !== 'string')
      throw new Error('bad');
    return { rv: o.rv, start: o.start };
  } catch {
    throw badRequest(
      'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
    );
  }
}
