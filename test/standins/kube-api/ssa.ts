/**
 * Field ownership (managedFields) and server-side apply, after sigs.k8s.io/structured-merge-diff:
 * field sets in FieldsV1 form, apply merge (maps granular, `x-kubernetes-list-type: map|set` lists merged
 * by key, other lists atomic), conflict detection against other managers, removal of fields a manager
 * stops applying, and ownership transfer on updates.
 */
import { applyConflict } from './errors.ts';
import { deepClone, deepEqual, isObject } from './json.ts';
import { childNode, DEDUCED, type SchemaNode } from './schema.ts';
import type { JsonObject, ManagedFieldsEntry } from './types.ts';

/** A path is its FieldsV1 keys (`f:spec`, `k:{"name":"http"}`, `v:"x"`) joined by newlines. */
const SEP = '\n';
export type FieldSet = Set<string>;

const join = (prefix: string, seg: string): string => (prefix === '' ? seg : `${prefix}${SEP}${seg}`);

/** Never owned: identity and system fields (the fieldmanager's strip set). */
const STRIPPED = new Set([
  'f:apiVersion',
  'f:kind',
  'f:metadata',
  `f:metadata${SEP}f:name`,
  `f:metadata${SEP}f:namespace`,
  `f:metadata${SEP}f:creationTimestamp`,
  `f:metadata${SEP}f:selfLink`,
  `f:metadata${SEP}f:uid`,
  `f:metadata${SEP}f:generation`,
  `f:metadata${SEP}f:managedFields`,
  `f:metadata${SEP}f:resourceVersion`,
  `f:metadata${SEP}f:deletionTimestamp`,
  `f:metadata${SEP}f:deletionGracePeriodSeconds`,
]);

/** A list-map key field's value; a missing one takes the schema default (structured-merge-diff does). */
function keyValue(item: JsonObject, k: string, n: SchemaNode): unknown {
  return item[k] !== undefined ? item[k] : n.keyDefaults?.[k];
}

function keyElement(item: JsonObject, n: SchemaNode): string {
  const sorted = [...n.listMapKeys].sort();
  const o: JsonObject = {};
  for (const k of sorted) {
    const v = keyValue(item, k, n);
    if (v !== undefined) o[k] = v;
  }
  return `k:${JSON.stringify(o)}`;
}

function isGranularObject(v: unknown, n: SchemaNode): v is JsonObject {
  return (
    isObject(v) &&
    n.mapType !== 'atomic' &&
    (n.properties !== undefined || n.additional !== undefined || n.preserveUnknown)
  );
}

function collect(v: unknown, n: SchemaNode, prefix: string, out: FieldSet): void {
  if (isGranularObject(v, n)) {
    const keys = Object.keys(v);
    if (keys.length === 0) {
      if (prefix !== '') out.add(prefix);
      return;
    }
    for (const k of keys) {
      const c = childNode(n, k);
      if (c === undefined || v[k] === undefined) continue;
      collect(v[k], c, join(prefix, `f:${k}`), out);
    }
    return;
  }
  if (Array.isArray(v) && n.listType === 'map' && n.listMapKeys.length > 0) {
    if (v.length === 0) {
      out.add(prefix);
      return;
    }
    for (const item of v) {
      if (!isObject(item)) continue;
      const p = join(prefix, keyElement(item, n));
      out.add(p);
      collect(item, n.items ?? DEDUCED, p, out);
    }
    return;
  }
  if (Array.isArray(v) && n.listType === 'set') {
    if (v.length === 0) {
      out.add(prefix);
      return;
    }
    for (const item of v) out.add(join(prefix, `v:${JSON.stringify(item)}`));
    return;
  }
  if (prefix !== '') out.add(prefix);
}

/** Every owned path of an object (leaves, empty maps, keyed list items), minus the strip set and `reset` roots. */
export function fieldsOf(obj: JsonObject, root: SchemaNode, reset: string[] = []): FieldSet {
  const out: FieldSet = new Set();
  collect(obj, root, '', out);
  for (const p of [...out]) {
    if (STRIPPED.has(p) || reset.some((r) => p === r || p.startsWith(`${r}${SEP}`))) out.delete(p);
  }
  return out;
}

// ---- FieldsV1 <-> set ----

export function toFieldsV1(set: FieldSet): JsonObject {
  const root: JsonObject = {};
  for (const p of [...set].sort()) {
    let cur = root;
    for (const seg of p.split(SEP)) {
      if (!isObject(cur[seg])) cur[seg] = {};
      cur = cur[seg] as JsonObject;
    }
    cur['.'] = {};
  }
  // A member without children is written `{}`; with children it keeps `.: {}`.
  const finish = (o: JsonObject): JsonObject => {
    const keys = Object.keys(o).sort();
    const out: JsonObject = {};
    for (const k of keys) {
      if (k === '.') continue;
      const child = o[k] as JsonObject;
      const childKeys = Object.keys(child);
      out[k] = childKeys.length === 1 && childKeys[0] === '.' ? {} : finish(child);
    }
    if (Object.hasOwn(o, '.') && keys.length > 1) return { '.': {}, ...out };
    return out;
  };
  return finish(root);
}

export function fromFieldsV1(f: unknown, prefix = '', out: FieldSet = new Set()): FieldSet {
  if (!isObject(f)) return out;
  for (const [k, v] of Object.entries(f)) {
    if (k === '.') {
      if (prefix !== '') out.add(prefix);
      continue;
    }
    const p = join(prefix, k);
    if (isObject(v) && Object.keys(v).length > 0) fromFieldsV1(v, p, out);
    else out.add(p);
  }
  return out;
}

/** `.spec.ports[name="http"]` — fieldpath.Path.String(). */
export function pathString(p: string): string {
  return p
    .split(SEP)
    .map((seg) => {
      if (seg.startsWith('f:')) return `.${seg.slice(2)}`;
      if (seg.startsWith('k:')) {
        const o = JSON.parse(seg.slice(2)) as JsonObject;
        return `[${Object.entries(o)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(',')}]`;
      }
      if (seg.startsWith('v:')) return `[=${seg.slice(2)}]`;
      if (seg.startsWith('i:')) return `[${seg.slice(2)}]`;
      return seg;
    })
    .join('');
}

// ---- navigating paths ----

interface Located {
  found: boolean;
  value: unknown;
  node: SchemaNode;
  parent?: unknown;
  index?: number | string;
}

function step(cur: unknown, n: SchemaNode, seg: string): Located {
  if (seg.startsWith('f:')) {
    const k = seg.slice(2);
    const c = childNode(n, k) ?? DEDUCED;
    if (isObject(cur) && Object.hasOwn(cur, k))
      return { found: true, value: cur[k], node: c, parent: cur, index: k };
    return { found: false, value: undefined, node: c };
  }
  const items = n.items ?? DEDUCED;
  if (!Array.isArray(cur)) return { found: false, value: undefined, node: items };
  if (seg.startsWith('k:')) {
    const want = JSON.parse(seg.slice(2)) as JsonObject;
    const i = cur.findIndex((x) => isObject(x) && Object.entries(want).every(([k, v]) => deepEqual(x[k], v)));
    return i < 0
      ? { found: false, value: undefined, node: items }
      : { found: true, value: cur[i], node: items, parent: cur, index: i };
  }
  if (seg.startsWith('v:')) {
    const want = JSON.parse(seg.slice(2)) as unknown;
    const i = cur.findIndex((x) => deepEqual(x, want));
    return i < 0
      ? { found: false, value: undefined, node: items }
      : { found: true, value: cur[i], node: items, parent: cur, index: i };
  }
  if (seg.startsWith('i:')) {
    const i = Number(seg.slice(2));
    return i < cur.length
      ? { found: true, value: cur[i], node: items, parent: cur, index: i }
      : { found: false, value: undefined, node: items };
  }
  return { found: false, value: undefined, node: DEDUCED };
}

function locate(obj: unknown, root: SchemaNode, p: string): Located {
  let loc: Located = { found: true, value: obj, node: root };
  for (const seg of p.split(SEP)) {
    if (!loc.found) return loc;
    loc = step(loc.value, loc.node, seg);
  }
  return loc;
}

/** Whether the leaf (or atomic value) at `p` differs between two objects. Granular parents never count. */
function modified(a: unknown, b: unknown, root: SchemaNode, p: string): boolean {
  const la = locate(a, root, p);
  const lb = locate(b, root, p);
  if (la.found !== lb.found) return true;
  if (!la.found) return false;
  if (isGranularObject(la.value, la.node) && isGranularObject(lb.value, lb.node)) return false;
  return !deepEqual(la.value, lb.value);
}

// ---- merge & removal ----

function sameKeys(a: unknown, b: JsonObject, n: SchemaNode): boolean {
  return isObject(a) && n.listMapKeys.every((k) => deepEqual(keyValue(a, k, n), keyValue(b, k, n)));
}

/** Merges an applied configuration into the live value. */
export function mergeApplied(live: unknown, cfg: unknown, n: SchemaNode): unknown {
  if (isGranularObject(cfg, n)) {
    const out: JsonObject = isObject(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(cfg)) {
      const c = childNode(n, k);
      if (c === undefined || v === undefined) continue;
      out[k] = mergeApplied(out[k], v, c);
    }
    return out;
  }
  if (Array.isArray(cfg) && Array.isArray(live) && n.listType === 'map' && n.listMapKeys.length > 0) {
    const out = live.slice();
    for (const item of cfg) {
      if (!isObject(item)) continue;
      const i = out.findIndex((x) => sameKeys(x, item, n));
      if (i >= 0) out[i] = mergeApplied(out[i], item, n.items ?? DEDUCED);
      else out.push(deepClone(item));
    }
    return out;
  }
  if (Array.isArray(cfg) && Array.isArray(live) && n.listType === 'set') {
    const out = live.slice();
    for (const item of cfg) if (!out.some((x) => deepEqual(x, item))) out.push(deepClone(item));
    return out;
  }
  return deepClone(cfg);
}

/**
 * Removes the given paths from `obj` (in place). Maps left empty by a removal are dropped too, unless
 * they are top-level fields or someone owns them as a value.
 */
export function removeFields(obj: JsonObject, root: SchemaNode, paths: FieldSet, owned: FieldSet): void {
  // A removed list item goes whole: removing its key fields first would leave it unfindable.
  const covered = (p: string): boolean => {
    for (let i = p.lastIndexOf(SEP); i > 0; i = p.lastIndexOf(SEP, i - 1)) {
      if (paths.has(p.slice(0, i))) return true;
    }
    return false;
  };
  const sorted = [...paths].filter((p) => !covered(p)).sort((a, b) => b.length - a.length);
  for (const p of sorted) {
    const loc = locate(obj, root, p);
    if (!loc.found || loc.parent === undefined) continue;
    if (Array.isArray(loc.parent)) loc.parent.splice(loc.index as number, 1);
    else if (isObject(loc.parent)) delete loc.parent[loc.index as string];
    // Clean up maps this removal emptied.
    const segs = p.split(SEP);
    for (let depth = segs.length - 1; depth >= 2; depth--) {
      const parentPath = segs.slice(0, depth).join(SEP);
      if (owned.has(parentPath)) break;
      const pl = locate(obj, root, parentPath);
      if (!pl.found || !isObject(pl.value) || Object.keys(pl.value).length > 0) break;
      if (isObject(pl.parent)) delete pl.parent[pl.index as string];
      else break;
    }
  }
}

// ---- managers ----

interface Manager {
  entry: ManagedFieldsEntry;
  set: FieldSet;
}

function decode(entries: ManagedFieldsEntry[] | undefined): Manager[] {
  return (entries ?? []).map((e) => ({ entry: { ...e }, set: fromFieldsV1(e.fieldsV1) }));
}

function encode(managers: Manager[]): ManagedFieldsEntry[] {
  const out: ManagedFieldsEntry[] = [];
  for (const m of managers) {
    if (m.set.size === 0) continue;
    const e: ManagedFieldsEntry = {
      manager: m.entry.manager,
      operation: m.entry.operation,
      apiVersion: m.entry.apiVersion,
      time: m.entry.time ?? now(),
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(m.set),
    };
    if (m.entry.subresource !== undefined && m.entry.subresource !== '') e.subresource = m.entry.subresource;
    out.push(e);
  }
  return out;
}

export function now(): string {
  return `${new Date().toISOString().slice(0, 19)}Z`;
}

function sameIdentity(
  e: ManagedFieldsEntry,
  manager: string,
  op: 'Apply' | 'Update',
  apiVersion: string,
  sub: string,
): boolean {
  return (
    e.manager === manager &&
    e.operation === op &&
    (e.subresource ?? '') === sub &&
    (op === 'Apply' || e.apiVersion === apiVersion)
  );
}

/** `"name"`, `"name" using v1` for updaters, with the subresource when there is one (as the server prints it). */
function printManager(e: ManagedFieldsEntry): string {
  let s = JSON.stringify(e.manager);
  if (e.subresource !== undefined && e.subresource !== '')
    s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === 'Update') s += ` using ${e.apiVersion}`;
  return s;
}

export interface OwnershipContext {
  root: SchemaNode;
  manager: string;
  apiVersion: string;
  subresource: string;
  /** Field roots this endpoint may not touch (`f:status` on the main resource, everything else on /status). */
  reset: string[];
}

/**
 * Server-side apply of `cfg` onto `live` (undefined when creating). Returns the merged object with its
 * managedFields, or throws the 409 apply conflict.
 */
export function apply(
  live: JsonObject | undefined,
  cfg: JsonObject,
  force: boolean,
  ctx: OwnershipContext,
): JsonObject {
  const cfgSet = fieldsOf(cfg, ctx.root, ctx.reset);
  const managers = decode(
    live === undefined ? undefined : ((live.metadata as JsonObject).managedFields as ManagedFieldsEntry[]),
  );
  let me = managers.find((m) => sameIdentity(m.entry, ctx.manager, 'Apply', ctx.apiVersion, ctx.subresource));
  const previous = me?.set ?? new Set<string>();
  // A private copy: removals below mutate it, and the live object is shared with the store.
  const base = live === undefined ? {} : deepClone(live);
  const merged = mergeApplied(base, cfg, ctx.root) as JsonObject;

  if (live !== undefined) {
    const conflicts: Array<{ manager: string; field: string; owner: Manager; path: string }> = [];
    for (const other of managers) {
      if (other === me) continue;
      for (const p of other.set) {
        if (cfgSet.has(p) && modified(live, merged, ctx.root, p)) {
          conflicts.push({ manager: printManager(other.entry), field: pathString(p), owner: other, path: p });
        }
      }
    }
    if (conflicts.length > 0) {
      if (!force) throw applyConflict(conflicts.map(({ manager, field }) => ({ manager, field })));
      for (const c of conflicts) c.owner.set.delete(c.path);
    }
  }

  const ownedByOthers = new Set<string>();
  for (const m of managers) if (m !== me) for (const p of m.set) ownedByOthers.add(p);
  const drop = new Set<string>();
  for (const p of previous) if (!cfgSet.has(p) && !ownedByOthers.has(p)) drop.add(p);
  if (drop.size > 0) {
    const owned = new Set([...ownedByOthers, ...cfgSet]);
    removeFields(merged, ctx.root, drop, owned);
  }

  if (me === undefined) {
    me = newManager(ctx, 'Apply');
    managers.push(me);
  }
  const changedSet = !setsEqual(me.set, cfgSet) || me.entry.apiVersion !== ctx.apiVersion;
  me.set = cfgSet;
  if (changedSet) {
    me.entry.time = now();
    me.entry.apiVersion = ctx.apiVersion;
  }
  const meta: JsonObject = isObject(merged.metadata) ? { ...merged.metadata } : {};
  meta.managedFields = encode(managers);
  merged.metadata = meta;
  return merged;
}

/** An empty managedFields entry for the writer of `ctx`. */
function newManager(
  ctx: OwnershipContext,
  operation: 'Apply' | 'Update',
): { entry: ManagedFieldsEntry; set: FieldSet } {
  const entry: ManagedFieldsEntry = {
    manager: ctx.manager,
    operation,
    apiVersion: ctx.apiVersion,
    fieldsType: 'FieldsV1',
    fieldsV1: {},
  };
  if (ctx.subresource !== '') entry.subresource = ctx.subresource;
  return { entry, set: new Set() };
}

function setsEqual(a: FieldSet, b: FieldSet): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/**
 * Ownership after a non-apply write (create, update, patch): the writer's Update entry gains every field it
 * added or changed, other managers lose those, and removed fields leave every set.
 */
export function recordUpdate(
  old: JsonObject | undefined,
  next: JsonObject,
  ctx: OwnershipContext,
): ManagedFieldsEntry[] {
  const oldSet = old === undefined ? new Set<string>() : fieldsOf(old, ctx.root, ctx.reset);
  const newSet = fieldsOf(next, ctx.root, ctx.reset);
  const managers = decode(
    ((next.metadata as JsonObject).managedFields as ManagedFieldsEntry[] | undefined) ?? [],
  );
  const changed = new Set<string>();
  for (const p of newSet) if (!oldSet.has(p) || modified(old, next, ctx.root, p)) changed.add(p);
  const removed = new Set<string>();
  for (const p of oldSet) if (!newSet.has(p)) removed.add(p);
  if (changed.size === 0 && removed.size === 0) return encode(managers);
  let me = managers.find((m) =>
    sameIdentity(m.entry, ctx.manager, 'Update', ctx.apiVersion, ctx.subresource),
  );
  for (const m of managers) {
    if (m === me) continue;
    for (const p of changed) m.set.delete(p);
    for (const p of removed) m.set.delete(p);
  }
  if (me === undefined) {
    me = newManager(ctx, 'Update');
    managers.push(me);
  }
  for (const p of changed) me.set.add(p);
  for (const p of removed) me.set.delete(p);
  me.entry.time = now();
  return encode(managers);
}
