/**
 * Structural schema handling for CRD versions, in the order the API server applies it:
 * pruning of unknown fields (and of nulls in non-nullable fields), OpenAPI v3 validation (ajv, compiled
 * once per distinct schema) with errors worded like kube-openapi's, then CEL `x-kubernetes-validations`
 * at every level where they appear (transition rules only when an old value correlates).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { type CompiledRule, compileRule, runRule } from './cel.ts';
import { type FieldError, fieldError, invalid } from './errors.ts';
import { isObject } from './json.ts';
import { KNOWN_META_FIELDS } from './metadata.ts';
import type { JsonObject } from './types.ts';

export interface SchemaNode {
  type?: string;
  properties?: Map<string, SchemaNode>;
  /** Schema of map values (`additionalProperties`). */
  additional?: SchemaNode;
  items?: SchemaNode;
  preserveUnknown: boolean;
  intOrString: boolean;
  nullable: boolean;
  listType: 'atomic' | 'set' | 'map';
  listMapKeys: string[];
  /** Schema defaults of list-map key fields (Service ports: `protocol` defaults to TCP). */
  keyDefaults?: Record<string, unknown>;
  mapType: 'granular' | 'atomic';
  rules: CompiledRule[];
  /** Whether this node or any node under it carries CEL rules (lets the CEL walk skip subtrees). */
  rulesBelow: boolean;
}

export function node(partial: Partial<SchemaNode> = {}): SchemaNode {
  return {
    preserveUnknown: false,
    intOrString: false,
    nullable: false,
    listType: 'atomic',
    listMapKeys: [],
    mapType: 'granular',
    rules: [],
    rulesBelow: false,
    ...partial,
  };
}

/** Schema-less values (preserve-unknown-fields, built-in types): maps are granular, lists atomic. */
export const DEDUCED: SchemaNode = node({ preserveUnknown: true });

/** ObjectMeta as server-side apply sees it. */
export const METADATA_NODE: SchemaNode = node({
  type: 'object',
  preserveUnknown: true,
  properties: new Map([
    ['labels', node({ type: 'object', additional: node({ type: 'string' }) })],
    ['annotations', node({ type: 'object', additional: node({ type: 'string' }) })],
    [
      'ownerReferences',
      node({
        type: 'array',
        listType: 'map',
        listMapKeys: ['uid'],
        items: node({ type: 'object', preserveUnknown: true }),
      }),
    ],
    ['finalizers', node({ type: 'array', listType: 'set', items: node({ type: 'string' }) })],
  ]),
});

export function childNode(n: SchemaNode, key: string): SchemaNode | undefined {
  const p = n.properties?.get(key);
  if (p !== undefined) return p;
  if (n.additional !== undefined) return n.additional;
  if (n.preserveUnknown) return DEDUCED;
  return undefined;
}

/** Builds the node tree of an openAPIV3Schema, compiling its CEL rules. */
export function compileSchemaNode(s: JsonObject): SchemaNode {
  const n = node();
  if (typeof s.type === 'string') n.type = s.type;
  n.preserveUnknown = s['x-kubernetes-preserve-unknown-fields'] === true;
  n.intOrString = s['x-kubernetes-int-or-string'] === true;
  n.nullable = s.nullable === true;
  const lt = s['x-kubernetes-list-type'];
  if (lt === 'set' || lt === 'map') n.listType = lt;
  if (Array.isArray(s['x-kubernetes-list-map-keys']))
    n.listMapKeys = s['x-kubernetes-list-map-keys'].map(String);
  if (s['x-kubernetes-map-type'] === 'atomic') n.mapType = 'atomic';
  if (isObject(s.properties)) {
    n.properties = new Map();
    for (const [k, v] of Object.entries(s.properties))
      if (isObject(v)) n.properties.set(k, compileSchemaNode(v));
  }
  if (isObject(s.additionalProperties)) n.additional = compileSchemaNode(s.additionalProperties);
  if (isObject(s.items)) n.items = compileSchemaNode(s.items);
  if (Array.isArray(s['x-kubernetes-validations'])) {
    n.rules = s['x-kubernetes-validations'].filter(isObject).map(compileRule);
  }
  n.rulesBelow =
    n.rules.length > 0 ||
    [...(n.properties?.values() ?? [])].some((c) => c.rulesBelow) ||
    (n.additional?.rulesBelow ?? false) ||
    (n.items?.rulesBelow ?? false);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Pruning

const ROOT_KEEP = new Set(['apiVersion', 'kind', 'metadata']);

/**
 * Drops unknown fields in place (returning their paths, as the server's "unknown field" warnings) and
 * nulls in fields that are not nullable.
 */
export function prune(obj: JsonObject, root: SchemaNode): string[] {
  const unknown: string[] = [];
  for (const key of Object.keys(obj)) {
    if (ROOT_KEEP.has(key)) continue;
    const child = root.properties?.get(key);
    if (child === undefined) {
      if (!root.preserveUnknown) {
        unknown.push(key);
        delete obj[key];
      }
      continue;
    }
    if (obj[key] === null && !child.nullable) delete obj[key];
    else pruneValue(obj[key], child, key, unknown);
  }
  if (isObject(obj.metadata)) {
    for (const key of Object.keys(obj.metadata)) {
      if (!KNOWN_META_FIELDS.has(key)) {
        unknown.push(`metadata.${key}`);
        delete obj.metadata[key];
      } else if (obj.metadata[key] === null) {
        delete obj.metadata[key];
      }
    }
  }
  return unknown;
}

function pruneValue(v: unknown, n: SchemaNode, path: string, unknown: string[]): void {
  if (Array.isArray(v)) {
    if (n.items !== undefined) {
      for (let i = 0; i < v.length; i++) pruneValue(v[i], n.items, `${path}[${i}]`, unknown);
    }
    return;
  }
  if (!isObject(v)) return;
  if (n.properties === undefined && n.additional === undefined) return; // scalar schema, or preserved blob
  for (const key of Object.keys(v)) {
    const child = n.properties?.get(key) ?? n.additional;
    if (child === undefined) {
      if (!n.preserveUnknown) {
        unknown.push(`${path}.${key}`);
        delete v[key];
      }
      continue;
    }
    if (v[key] === null && !child.nullable) delete v[key];
    else pruneValue(v[key], child, `${path}.${key}`, unknown);
  }
}

// ---------------------------------------------------------------------------------------------
// OpenAPI validation (ajv)

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

let sharedAjv: Ajv | undefined;
function ajv(): Ajv {
  if (sharedAjv === undefined) {
    sharedAjv = new Ajv({ strict: false, allErrors: true, verbose: true, validateSchema: false });
    // Integer/number formats are informational for CRDs: kube-openapi does not range-check them.
    for (const f of ['int32', 'int64', 'uint32', 'uint64', 'float', 'double']) {
      sharedAjv.addFormat(f, { type: 'number', validate: () => true });
    }
    sharedAjv.addFormat('date-time', { type: 'string', validate: (s: string) => RFC3339.test(s) });
    sharedAjv.addFormat('date', { type: 'string', validate: (s: string) => /^\d{4}-\d{2}-\d{2}$/.test(s) });
    for (const f of [
      'byte',
      'password',
      'uri',
      'email',
      'hostname',
      'ipv4',
      'ipv6',
      'cidr',
      'mac',
      'uuid',
      'duration',
    ]) {
      sharedAjv.addFormat(f, { type: 'string', validate: () => true });
    }
  }
  return sharedAjv;
}

const validatorCache = new Map<string, ValidateFunction>();

/**
 * kube-openapi accepts a format it does not know without checking it; ajv would warn and ignore it.
 * Registering such formats as always valid gives the server's behaviour, quietly.
 */
export function registerUnknownFormats(a: Ajv, schema: unknown): void {
  if (Array.isArray(schema)) {
    for (const x of schema) registerUnknownFormats(a, x);
    return;
  }
  if (!isObject(schema)) return;
  const f = schema.format;
  if (typeof f === 'string' && a.formats[f] === undefined) a.addFormat(f, true);
  for (const [k, v] of Object.entries(schema)) {
    // `properties` maps field names to schemas: a field called "format" is not a format.
    if (k === 'properties' && isObject(v)) for (const x of Object.values(v)) registerUnknownFormats(a, x);
    else if (k !== 'format' && k !== 'enum' && k !== 'default' && k !== 'example')
      registerUnknownFormats(a, v);
  }
}

/** One ajv validator per distinct schema text, shared by every stand-in in the process. */
export function compileValidator(schema: JsonObject): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = validatorCache.get(key);
  if (v === undefined) {
    registerUnknownFormats(ajv(), schema);
    v = ajv().compile(schema);
    validatorCache.set(key, v);
  }
  return v;
}

function pointerToPath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** kube-openapi prints composite bad values by their type. */
function shown(v: unknown): unknown {
  if (isObject(v)) return 'object';
  if (Array.isArray(v)) return 'array';
  return v;
}

/** A field path as kube-openapi prints it: `spec.probe.httpGet.httpHeaders[0].name`. */
function fieldPath(segs: readonly string[], obj: unknown): string {
  let out = '';
  let at: unknown = obj;
  for (const seg of segs) {
    if (Array.isArray(at)) {
      out += `[${seg}]`;
      at = at[Number(seg)];
    } else {
      out += out === '' ? seg : `.${seg}`;
      at = isObject(at) ? at[seg] : undefined;
    }
  }
  return out;
}

function convertAjvError(e: ErrorObject, obj: JsonObject): FieldError | undefined {
  const segs = pointerToPath(e.instancePath);
  const path = fieldPath(segs, obj);
  const inBody = `${path} in body`;
  const p = e.params as Record<string, unknown>;
  const data = e.data;
  switch (e.keyword) {
    case 'required': {
      const child = `${path === '' ? '' : `${path}.`}${String(p.missingProperty)}`;
      return fieldError('FieldValueRequired', child);
    }
    case 'type': {
      const expected = Array.isArray(p.type) ? p.type.join(',') : String(p.type);
      const actual = typeName(data);
      return fieldError(
        'FieldValueTypeInvalid',
        path,
        actual,
        `${inBody} must be of type ${expected}: "${actual}"`,
      );
    }
    case 'enum': {
      const allowed = (Array.isArray(p.allowedValues) ? p.allowedValues : []).map((x) => JSON.stringify(x));
      return fieldError('FieldValueNotSupported', path, data, `supported values: ${allowed.join(', ')}`);
    }
    case 'maximum':
      return invalid(path, data, `${inBody} should be less than or equal to ${String(p.limit)}`);
    case 'exclusiveMaximum':
      return invalid(path, data, `${inBody} should be less than ${String(p.limit)}`);
    case 'minimum':
      return invalid(path, data, `${inBody} should be greater than or equal to ${String(p.limit)}`);
    case 'exclusiveMinimum':
      return invalid(path, data, `${inBody} should be greater than ${String(p.limit)}`);
    case 'multipleOf':
      return invalid(path, data, `${inBody} should be a multiple of ${String(p.multipleOf)}`);
    case 'maxLength':
      return fieldError(
        'FieldValueTooLong',
        path,
        undefined,
        `may not be more than ${String(p.limit)} bytes`,
      );
    case 'minLength':
      return invalid(path, data, `${inBody} should be at least ${String(p.limit)} chars long`);
    case 'pattern':
      return invalid(path, data, `${inBody} should match '${String(p.pattern)}'`);
    case 'format':
      return invalid(path, data, `${inBody} must be of type ${String(p.format)}: ${JSON.stringify(data)}`);
    case 'maxItems':
      return fieldError(
        'FieldValueTooMany',
        path,
        Array.isArray(data) ? data.length : 0,
        `must have at most ${String(p.limit)} items`,
      );
    case 'minItems':
      return invalid(path, shown(data), `${inBody} should have at least ${String(p.limit)} items`);
    case 'maxProperties':
      return fieldError(
        'FieldValueTooMany',
        path,
        isObject(data) ? Object.keys(data).length : 0,
        `must have at most ${String(p.limit)} items`,
      );
    case 'minProperties':
      return invalid(path, shown(data), `${inBody} should have at least ${String(p.limit)} properties`);
    case 'uniqueItems':
      return fieldError('FieldValueDuplicate', `${path}[${String(p.j)}]`, data);
    case 'oneOf':
      return invalid(path, shown(data), `${inBody} must validate one and only one schema (oneOf)`);
    case 'anyOf':
      return invalid(path, shown(data), `${inBody} must validate at least one schema (anyOf)`);
    case 'not':
      return invalid(path, shown(data), `${inBody} must not validate the schema (not)`);
    case 'allOf':
      return undefined;
    default:
      return invalid(path, shown(data), `${inBody} ${e.message ?? 'is invalid'}`);
  }
}

/** Errors nested inside oneOf/anyOf/not branches are explanations of the combinator's own error. */
function isBranchDetail(e: ErrorObject): boolean {
  return /\/(oneOf|anyOf|not)\//.test(e.schemaPath);
}

export function schemaErrors(validate: ValidateFunction, obj: JsonObject, root: SchemaNode): FieldError[] {
  const errs: FieldError[] = [];
  if (!validate(obj)) {
    for (const e of validate.errors ?? []) {
      if (isBranchDetail(e)) continue;
      const fe = convertAjvError(e, obj);
      if (fe !== undefined) errs.push(fe);
    }
  }
  listErrors(obj, root, '', errs);
  return errs;
}

/** `x-kubernetes-list-type: map|set` uniqueness, checked by the apiextensions validator. */
function listErrors(v: unknown, n: SchemaNode, path: string, errs: FieldError[]): void {
  if (Array.isArray(v)) {
    if (n.listType === 'map' && n.listMapKeys.length > 0) {
      const seen = new Set<string>();
      v.forEach((item, i) => {
        if (!isObject(item)) return;
        const key = JSON.stringify(n.listMapKeys.map((k) => item[k]));
        if (seen.has(key)) {
          const shownKey = Object.fromEntries(n.listMapKeys.map((k) => [k, item[k]]));
          errs.push(fieldError('FieldValueDuplicate', `${path}[${i}]`, shownKey));
        }
        seen.add(key);
      });
    } else if (n.listType === 'set') {
      const seen = new Set<string>();
      v.forEach((item, i) => {
        const key = JSON.stringify(item);
        if (seen.has(key)) errs.push(fieldError('FieldValueDuplicate', `${path}[${i}]`, item));
        seen.add(key);
      });
    }
    if (n.items !== undefined) {
      for (let i = 0; i < v.length; i++) listErrors(v[i], n.items, `${path}[${i}]`, errs);
    }
    return;
  }
  if (!isObject(v)) return;
  for (const [k, child] of n.properties ?? []) {
    if (v[k] !== undefined) listErrors(v[k], child, path === '' ? k : `${path}.${k}`, errs);
  }
}

// ---------------------------------------------------------------------------------------------
// CEL

function matchesType(v: unknown, n: SchemaNode): boolean {
  if (n.intOrString) return typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
  switch (n.type) {
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    default:
      return true;
  }
}

/** Converts JSON into CEL values following the schema: integers become int (bigint), objects maps. */
export function toCel(v: unknown, n: SchemaNode | undefined, cache: WeakMap<object, unknown>): unknown {
  if (typeof v === 'number') {
    if (n?.type === 'number') return v;
    return Number.isInteger(v) ? BigInt(v) : v;
  }
  if (typeof v !== 'object' || v === null) return v;
  const hit = cache.get(v);
  if (hit !== undefined) return hit;
  let out: unknown;
  if (Array.isArray(v)) {
    out = v.map((x) => toCel(x, n?.items ?? DEDUCED, cache));
  } else {
    const m = new Map<string, unknown>();
    for (const [k, x] of Object.entries(v)) {
      const c = n === undefined ? DEDUCED : childNode(n, k);
      if (c !== undefined) m.set(k, toCel(x, c, cache));
    }
    out = m;
  }
  cache.set(v, out);
  return out;
}

/** k8s' CEL error paths: `.child`, `[key]` for map keys, `[i]` for list items. */
function celChildPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

interface CelWalk {
  errs: FieldError[];
  cache: WeakMap<object, unknown>;
  oldCache: WeakMap<object, unknown>;
}

function schemaTypeLabel(n: SchemaNode, v: unknown): string {
  if (n.type !== undefined) return n.type;
  if (n.intOrString) return typeof v === 'string' ? 'string' : 'integer';
  return typeName(v);
}

function evalRules(v: unknown, old: unknown, hasOld: boolean, n: SchemaNode, path: string, w: CelWalk): void {
  if (!matchesType(v, n)) return;
  for (const rule of n.rules) {
    if (rule.usesOldSelf && !hasOld && !rule.optionalOldSelf) continue;
    const self = toCel(v, n, w.cache);
    const oldSelf = hasOld ? toCel(old, n, w.oldCache) : undefined;
    const outcome = runRule(rule, self, oldSelf, hasOld);
    if (outcome.ok) continue;
    const field = rule.fieldPath !== undefined ? `${path}${rule.fieldPath}` : path;
    if (outcome.evalError) {
      w.errs.push(invalid(field, schemaTypeLabel(n, v), outcome.message));
    } else if (rule.reason === 'FieldValueRequired' || rule.reason === 'FieldValueForbidden') {
      w.errs.push(fieldError(rule.reason, field, undefined, outcome.message));
    } else if (rule.reason === 'FieldValueDuplicate') {
      w.errs.push(fieldError('FieldValueDuplicate', field, schemaTypeLabel(n, v), outcome.message));
    } else {
      w.errs.push(invalid(field, schemaTypeLabel(n, v), outcome.message));
    }
  }
}

function walkCel(v: unknown, old: unknown, hasOld: boolean, n: SchemaNode, path: string, w: CelWalk): void {
  if (!n.rulesBelow || v === undefined) return;
  evalRules(v, old, hasOld, n, path, w);
  if (isObject(v)) {
    const oldObj = hasOld && isObject(old) ? old : undefined;
    if (n.properties !== undefined) {
      for (const [k, child] of n.properties) {
        if (!child.rulesBelow || v[k] === undefined) continue;
        const has = oldObj !== undefined && oldObj[k] !== undefined;
        walkCel(v[k], has ? oldObj[k] : undefined, has, child, celChildPath(path, k), w);
      }
    } else if (n.additional?.rulesBelow) {
      for (const [k, x] of Object.entries(v)) {
        const has = oldObj !== undefined && oldObj[k] !== undefined;
        walkCel(x, has ? oldObj[k] : undefined, has, n.additional, `${path}[${k}]`, w);
      }
    }
    return;
  }
  if (Array.isArray(v) && n.items?.rulesBelow) {
    const oldList = hasOld && Array.isArray(old) ? old : undefined;
    v.forEach((item, i) => {
      let match: unknown;
      let has = false;
      if (oldList !== undefined && n.listType === 'map' && isObject(item)) {
        match = oldList.find((o) => isObject(o) && n.listMapKeys.every((k) => o[k] === item[k]));
        has = match !== undefined;
      } else if (oldList !== undefined && n.listType === 'set') {
        has = oldList.some((o) => JSON.stringify(o) === JSON.stringify(item));
        match = item;
      }
      walkCel(item, match, has, n.items!, `${path}[${i}]`, w);
    });
  }
}

/** CEL rule failures for `obj` (with `old` for transition rules on update). */
export function celErrors(obj: JsonObject, old: JsonObject | undefined, root: SchemaNode): FieldError[] {
  const w: CelWalk = { errs: [], cache: new WeakMap(), oldCache: new WeakMap() };
  if (!root.rulesBelow) return w.errs;
  if (root.rules.length > 0) evalRules(obj, old, old !== undefined, root, '<nil>', w);
  for (const [k, child] of root.properties ?? []) {
    if (!child.rulesBelow || obj[k] === undefined) continue;
    const has = old !== undefined && old[k] !== undefined;
    walkCel(obj[k], has ? old[k] : undefined, has, child, k, w);
  }
  return w.errs;
}
