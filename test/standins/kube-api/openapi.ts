/**
 * Built-in types from the OpenAPI v3 documents a kube-apiserver 1.26 publishes (test/fixtures/kube-openapi):
 * the node tree for pruning and server-side apply (list types, map types), and the checks the server's
 * Go JSON decoder makes (types, int32 range), worded as encoding/json words them. Required fields and the
 * rest are left to the registry's validation code, as on the server.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isObject } from './json.ts';
import { METADATA_NODE, node, type SchemaNode } from './schema.ts';
import type { JsonObject } from './types.ts';

const FIXTURES = fileURLToPath(new URL('../../fixtures/kube-openapi/', import.meta.url));

const documents = new Map<string, JsonObject>();

function components(file: string): JsonObject {
  let doc = documents.get(file);
  if (doc === undefined) {
    doc = JSON.parse(readFileSync(`${FIXTURES}${file}`, 'utf8')) as JsonObject;
    documents.set(file, doc);
  }
  return (doc.components as JsonObject).schemas as JsonObject;
}

/** `#/components/schemas/X` of a property, directly or through the generator's `allOf: [{$ref}]`. */
function refOf(s: JsonObject): string | undefined {
  if (typeof s.$ref === 'string') return s.$ref.replace('#/components/schemas/', '');
  if (Array.isArray(s.allOf) && s.allOf.length === 1 && isObject(s.allOf[0])) return refOf(s.allOf[0]);
  return undefined;
}

const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

/** Go type names of the string fields the generator does not name (named string types). */
const NAMED_STRINGS: Record<string, string> = {
  'ServicePort.protocol': 'v1.Protocol',
  'ServiceSpec.type': 'v1.ServiceType',
  'ServiceSpec.sessionAffinity': 'v1.ServiceAffinity',
  'ServiceSpec.ipFamilies[]': 'v1.IPFamily',
  'EndpointSlice.addressType': 'v1.AddressType',
  'EndpointPort.protocol': 'v1.Protocol',
};

/** A schema with its references resolved, plus what the Go decoder's messages need. */
interface Resolved {
  schema: JsonObject;
  /** Component name when the schema is a struct (`io.k8s.api.core.v1.ServicePort`). */
  component?: string;
}

function resolve(all: JsonObject, s: JsonObject): Resolved {
  const ref = refOf(s);
  if (ref === undefined) return { schema: s };
  return { schema: all[ref] as JsonObject, component: ref };
}

/** `io.k8s.api.core.v1.ServicePort` -> `v1.ServicePort`. */
function goName(component: string): string {
  const parts = component.split('.');
  return `${parts[parts.length - 2]}.${parts[parts.length - 1]}`;
}

function shortName(component: string): string {
  return component.slice(component.lastIndexOf('.') + 1);
}

function goType(all: JsonObject, s: JsonObject, owner: string, field: string): string {
  const r = resolve(all, s);
  if (r.component !== undefined) return goName(r.component);
  const t = r.schema;
  const named = NAMED_STRINGS[`${owner}.${field}`];
  if (named !== undefined) return named;
  switch (t.type) {
    case 'integer':
      return t.format === 'int64' ? 'int64' : 'int32';
    case 'number':
      return 'float64';
    case 'boolean':
      return 'bool';
    case 'array':
      return `[]${isObject(t.items) ? goType(all, t.items, owner, `${field}[]`) : 'interface {}'}`;
    case 'object':
      return isObject(t.additionalProperties)
        ? `map[string]${goType(all, t.additionalProperties, owner, `${field}{}`)}`
        : 'map[string]interface {}';
    default:
      return 'string';
  }
}

/** The node tree (pruning, SSA) of a component; ObjectMeta is the stand-in's own. */
function nodeOf(all: JsonObject, s: JsonObject, depth: number): SchemaNode {
  const r = resolve(all, s);
  if (r.component === OBJECT_META) return METADATA_NODE;
  if (r.component === INT_OR_STRING) return node({ intOrString: true });
  if (depth > 20) return node({ preserveUnknown: true });
  const t = r.schema;
  const n = node();
  if (typeof t.type === 'string') n.type = t.type;
  const lt = s['x-kubernetes-list-type'] ?? t['x-kubernetes-list-type'];
  if (lt === 'set' || lt === 'map') n.listType = lt;
  const keys = s['x-kubernetes-list-map-keys'] ?? t['x-kubernetes-list-map-keys'];
  if (Array.isArray(keys)) n.listMapKeys = keys.map(String);
  if ((s['x-kubernetes-map-type'] ?? t['x-kubernetes-map-type']) === 'atomic') n.mapType = 'atomic';
  if (isObject(t.properties)) {
    n.properties = new Map();
    for (const [k, v] of Object.entries(t.properties))
      if (isObject(v)) n.properties.set(k, nodeOf(all, v, depth + 1));
  }
  if (isObject(t.additionalProperties)) n.additional = nodeOf(all, t.additionalProperties, depth + 1);
  if (isObject(t.items)) {
    n.items = nodeOf(all, t.items, depth + 1);
    const itemProps = resolve(all, t.items).schema.properties;
    if (n.listType === 'map' && isObject(itemProps)) {
      const defaults: Record<string, unknown> = {};
      for (const k of n.listMapKeys) {
        const d = isObject(itemProps[k]) ? itemProps[k].default : undefined;
        if (d !== undefined) defaults[k] = d;
      }
      if (Object.keys(defaults).length > 0) n.keyDefaults = defaults;
    }
  }
  return n;
}

/**
 * A self-contained JSON schema of what the Go decoder refuses: types and int32 range only (no
 * `required`, no defaults); metadata is checked separately.
 */
function decodeSchema(all: JsonObject, s: JsonObject, depth: number): JsonObject {
  const r = resolve(all, s);
  if (r.component === OBJECT_META) return {};
  if (r.component === INT_OR_STRING)
    return { oneOf: [{ type: 'integer', format: 'int32' }, { type: 'string' }] };
  if (depth > 20) return {};
  const t = r.schema;
  const out: JsonObject = {};
  if (typeof t.type === 'string') out.type = t.type;
  if (t.type === 'integer') out.format = t.format === 'int64' ? 'int64' : 'int32';
  if (isObject(t.properties)) {
    const props: JsonObject = {};
    for (const [k, v] of Object.entries(t.properties))
      if (isObject(v)) props[k] = decodeSchema(all, v, depth + 1);
    out.properties = props;
  }
  if (isObject(t.additionalProperties))
    out.additionalProperties = decodeSchema(all, t.additionalProperties, depth + 1);
  if (isObject(t.items)) out.items = decodeSchema(all, t.items, depth + 1);
  return out;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

let decodeAjv: Ajv | undefined;
function ajv(): Ajv {
  if (decodeAjv === undefined) {
    decodeAjv = new Ajv({ strict: false, allErrors: false, validateSchema: false, verbose: true });
    decodeAjv.addFormat('int32', {
      type: 'number',
      validate: (n: number) => Number.isInteger(n) && n >= INT32_MIN && n <= INT32_MAX,
    });
    decodeAjv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  }
  return decodeAjv;
}

export interface BuiltinSchema {
  root: SchemaNode;
  /** The Go decoder's error for a body (`json: cannot unmarshal ...`), if it would refuse it. */
  decodeError(obj: JsonObject): string | undefined;
}

function jsonKind(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return 'array';
  if (isObject(v)) return 'object';
  return 'number';
}

/** encoding/json's UnmarshalTypeError text for the first thing the decoder refuses. */
function describe(all: JsonObject, top: string, e: ErrorObject): string {
  const segs = e.instancePath === '' ? [] : e.instancePath.slice(1).split('/');
  let s: JsonObject = all[top] as JsonObject;
  let owner = shortName(top);
  let lastField = '';
  let fieldType = '';
  const names: string[] = [];
  let intOrString = false;
  for (const seg of segs) {
    const r = resolve(all, s);
    const t = r.schema;
    if (t.type === 'array' && isObject(t.items)) {
      s = t.items;
      fieldType = goType(all, s, owner, `${lastField}[]`);
    } else if (isObject(t.properties) && isObject(t.properties[seg])) {
      if (r.component !== undefined) owner = shortName(r.component);
      s = t.properties[seg] as JsonObject;
      names.push(seg);
      lastField = seg;
      fieldType = goType(all, s, owner, seg);
    } else if (isObject(t.additionalProperties)) {
      s = t.additionalProperties;
      fieldType = goType(all, s, owner, `${lastField}{}`);
    }
    intOrString = refOf(s) === INT_OR_STRING;
  }
  const data = e.data;
  let value = jsonKind(data);
  if (typeof data === 'number' && (e.keyword === 'format' || !Number.isInteger(data)))
    value = `number ${data}`;
  // IntOrString decodes itself: the error it returns carries no field context.
  if (intOrString) return `json: cannot unmarshal ${value} into Go value of type int32`;
  return `json: cannot unmarshal ${value} into Go struct field ${owner}.${names.join('.')} of type ${fieldType}`;
}

const builtins = new Map<string, BuiltinSchema>();

/** The schema of component `name` in `file` (e.g. `io.k8s.api.core.v1.Service` in `api__v1_openapi.json`). */
export function builtinSchema(file: string, name: string): BuiltinSchema {
  const key = `${file}#${name}`;
  const hit = builtins.get(key);
  if (hit !== undefined) return hit;
  const all = components(file);
  const top = all[name];
  if (!isObject(top)) throw new Error(`${file} has no schema ${name}`);
  const root = nodeOf(all, top, 0);
  let validate: ValidateFunction | undefined;
  const schema: BuiltinSchema = {
    root,
    decodeError(obj) {
      validate ??= ajv().compile(decodeSchema(all, top, 0));
      if (validate(obj)) return undefined;
      const e = validate.errors?.[0];
      return e === undefined ? undefined : describe(all, name, e);
    },
  };
  builtins.set(key, schema);
  return schema;
}
