/** Plain-JSON helpers: clone, equality, RFC 7386 merge patch and RFC 6902 JSON patch. */
import type { JsonObject } from './types.ts';

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepClone<T>(v: T): T {
  if (Array.isArray(v)) return v.map(deepClone) as T;
  if (isObject(v)) {
    const out: JsonObject = {};
    for (const k of Object.keys(v)) out[k] = deepClone(v[k]);
    return out as T;
  }
  return v;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    for (const k of ka) {
      if (!Object.hasOwn(b, k) || !deepEqual(a[k], b[k])) return false;
    }
    return true;
  }
  return false;
}

/** RFC 7386 JSON merge patch: objects merge recursively, `null` deletes, everything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return deepClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export class JsonPatchError extends Error {
  /** true when the patch document itself is malformed (400), false when applying it failed (422). */
  readonly malformed: boolean;
  constructor(message: string, malformed: boolean) {
    super(message);
    this.malformed = malformed;
  }
}

function parsePointer(path: unknown): string[] {
  if (typeof path !== 'string') throw new JsonPatchError('path is missing or not a string', true);
  if (path === '') return [];
  if (!path.startsWith('/'))
    throw new JsonPatchError(`JSON pointer must start with "/": ${JSON.stringify(path)}`, true);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function arrayIndex(seg: string, length: number, forAdd: boolean, path: string): number {
  if (seg === '-' && forAdd) return length;
  if (!/^(0|[1-9][0-9]*)$/.test(seg))
    throw new JsonPatchError(`invalid array index ${JSON.stringify(seg)} in ${path}`, false);
  const i = Number(seg);
  if (i > length || (!forAdd && i === length)) {
    throw new JsonPatchError(`array index out of bounds ${i} in ${path}`, false);
  }
  return i;
}

/** Returns the container and final key for a pointer, creating nothing. */
function locate(doc: unknown, segs: string[], path: string): { parent: unknown; key: string } {
  let cur = doc;
  for (let i = 0; i < segs.length - 1; i++) {
    const seg = segs[i]!;
    if (Array.isArray(cur)) cur = cur[arrayIndex(seg, cur.length, false, path)];
    else if (isObject(cur) && Object.hasOwn(cur, seg)) cur = cur[seg];
    else throw new JsonPatchError(`doc is missing path: ${JSON.stringify(path)}: missing value`, false);
  }
  return { parent: cur, key: segs[segs.length - 1]! };
}

function getAt(doc: unknown, path: string): unknown {
  const segs = parsePointer(path);
  if (segs.length === 0) return doc;
  const { parent, key } = locate(doc, segs, path);
  if (Array.isArray(parent)) return parent[arrayIndex(key, parent.length, false, path)];
  if (isObject(parent) && Object.hasOwn(parent, key)) return parent[key];
  throw new JsonPatchError(`doc is missing path: ${JSON.stringify(path)}: missing value`, false);
}

function removeAt(doc: unknown, path: string): unknown {
  const segs = parsePointer(path);
  if (segs.length === 0) throw new JsonPatchError('cannot remove the whole document', false);
  const { parent, key } = locate(doc, segs, path);
  if (Array.isArray(parent)) {
    const i = arrayIndex(key, parent.length, false, path);
    return parent.splice(i, 1)[0];
  }
  if (isObject(parent) && Object.hasOwn(parent, key)) {
    const v = parent[key];
    delete parent[key];
    return v;
  }
  throw new JsonPatchError(`unable to remove nonexistent key: ${key}: missing value`, false);
}

function addAt(doc: unknown, path: string, value: unknown, replace: boolean): unknown {
  const segs = parsePointer(path);
  if (segs.length === 0) return value;
  const { parent, key } = locate(doc, segs, path);
  if (Array.isArray(parent)) {
    if (replace) parent[arrayIndex(key, parent.length, false, path)] = value;
    else parent.splice(arrayIndex(key, parent.length, true, path), 0, value);
  } else if (isObject(parent)) {
    if (replace && !Object.hasOwn(parent, key)) {
      throw new JsonPatchError(`doc is missing key: ${path}: missing value`, false);
    }
    parent[key] = value;
  } else {
    throw new JsonPatchError(`doc is missing path: ${JSON.stringify(path)}: missing value`, false);
  }
  return doc;
}

/** RFC 6902 JSON patch over a copy of `doc`. */
export function jsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops))
    throw new JsonPatchError('json: cannot unmarshal object into Go value of type jsonpatch.Patch', true);
  let out = deepClone(doc);
  for (const raw of ops) {
    if (!isObject(raw)) throw new JsonPatchError('invalid JSON patch operation', true);
    const op = raw.op;
    const path = raw.path as string;
    switch (op) {
      case 'add':
        if (!Object.hasOwn(raw, 'value'))
          throw new JsonPatchError('add operation does not apply: value is missing', true);
        out = addAt(out, path, deepClone(raw.value), false);
        break;
      case 'replace':
        if (!Object.hasOwn(raw, 'value'))
          throw new JsonPatchError('replace operation does not apply: value is missing', true);
        out = addAt(out, path, deepClone(raw.value), true);
        break;
      case 'remove':
        removeAt(out, path);
        break;
      case 'move': {
        const v = removeAt(out, raw.from as string);
        out = addAt(out, path, v, false);
        break;
      }
      case 'copy':
        out = addAt(out, path, deepClone(getAt(out, raw.from as string)), false);
        break;
      case 'test':
        if (!deepEqual(getAt(out, path), raw.value)) {
          throw new JsonPatchError(`testing value ${path} failed: test failed`, false);
        }
        break;
      default:
        throw new JsonPatchError(`Unexpected kind: ${String(op)}`, true);
    }
  }
  return out;
}

/** Stable `ns/name` key; sorts like etcd keys under /registry/<resource>/. */
export function storeKey(namespace: string, name: string): string {
  return namespace === '' ? name : `${namespace}/${name}`;
}

/**
 * Fields that occur twice in one JSON object of `text` (garbage gives garbage), as the strict
 * decoder of a real server names them: the dotted names of the enclosing fields, array positions
 * left out (`spec.address`). JSON.parse keeps the last value silently.
 */
export function duplicateFields(text: string): string[] {
  const found: string[] = [];
  // One frame per open container: objects track their keys and the key being read.
  const stack: Array<{ object: boolean; keys: Set<string>; key?: string; expectKey: boolean }> = [];
  const pathOf = (last: string) =>
    [...stack.filter((f) => f.object && f.key !== undefined).map((f) => f.key!), last].join('.');
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) return found;
      const top = stack[stack.length - 1];
      if (top?.object && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        // The enclosing path ends at the parent's key, this key is the last segment.
        top.key = undefined;
        if (top.keys.has(key)) found.push(pathOf(key));
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = j;
    } else if (c === '{') {
      stack.push({ object: true, keys: new Set(), expectKey: true });
    } else if (c === '[') {
      stack.push({ object: false, keys: new Set(), expectKey: false });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top?.object) top.expectKey = true;
    }
  }
  return found;
}
