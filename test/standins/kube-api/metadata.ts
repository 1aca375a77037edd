/**
 * ObjectMeta validation with the wording of k8s.io/apimachinery/pkg/api/validation and
 * pkg/util/validation: names, labels, annotations, owner references, finalizers.
 */
import { type FieldError, fieldError, forbiddenField, invalid, required } from './errors.ts';
import { isObject } from './json.ts';

const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`;
const DNS1035_LABEL_FMT = '[a-z]([-a-z0-9]*[a-z0-9])?';
const QUALIFIED_NAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_VALUE_FMT = `(${QUALIFIED_NAME_FMT})?`;

const dns1123Label = new RegExp(`^${DNS1123_LABEL_FMT}$`);
const dns1123Subdomain = new RegExp(`^${DNS1123_SUBDOMAIN_FMT}$`);
const dns1035Label = new RegExp(`^${DNS1035_LABEL_FMT}$`);
const qualifiedName = new RegExp(`^${QUALIFIED_NAME_FMT}$`);
const labelValue = new RegExp(`^${LABEL_VALUE_FMT}$`);

function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  // validation.RegexError joins the examples with " or " after "', ": the double space is the server's.
  return `${msg} (e.g. ${examples.map((e) => `'${e}', `).join(' or ')}regex used for validation is '${fmt}')`;
}
const maxLenError = (n: number): string => `must be no more than ${n} characters`;

export function isDns1123Label(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 63) errs.push(maxLenError(63));
  if (!dns1123Label.test(v)) {
    errs.push(
      regexError(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        DNS1123_LABEL_FMT,
        'my-name',
        '123-abc',
      ),
    );
  }
  return errs;
}

export function isDns1123Subdomain(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 253) errs.push(maxLenError(253));
  if (!dns1123Subdomain.test(v)) {
    errs.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        DNS1123_SUBDOMAIN_FMT,
        'example.com',
      ),
    );
  }
  return errs;
}

export function isDns1035Label(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 63) errs.push(maxLenError(63));
  if (!dns1035Label.test(v)) {
    errs.push(
      regexError(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
        DNS1035_LABEL_FMT,
        'my-name',
        'abc-123',
      ),
    );
  }
  return errs;
}

export function isQualifiedName(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0]!;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else for (const m of isDns1123Subdomain(prefix)) errs.push(`prefix part ${m}`);
  } else {
    return [
      `a qualified name ${regexError("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character", QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push(`name part ${maxLenError(63)}`);
  if (!qualifiedName.test(name)) {
    errs.push(
      `name part ${regexError("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character", QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')}`,
    );
  }
  return errs;
}

export function isValidLabelValue(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 63) errs.push(maxLenError(63));
  if (!labelValue.test(v)) {
    errs.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        LABEL_VALUE_FMT,
        'MyValue',
        'my_value',
        '12345',
      ),
    );
  }
  return errs;
}

/** How a resource's names are checked (CRDs and EndpointSlices: subdomain; Services: DNS-1035; Namespaces: label). */
export type NameValidator = (name: string, prefix: boolean) => string[];

export const subdomainName: NameValidator = (name, prefix) =>
  isDns1123Subdomain(prefix ? maskTrailingDash(name) : name);
export const dns1123LabelName: NameValidator = (name, prefix) =>
  isDns1123Label(prefix ? maskTrailingDash(name) : name);
export const dns1035LabelName: NameValidator = (name, prefix) =>
  isDns1035Label(prefix ? maskTrailingDash(name) : name);

function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? `${name.slice(0, -1)}a` : name;
}

export function validateLabels(labels: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!isObject(labels)) return errs;
  for (const [k, v] of Object.entries(labels)) {
    for (const m of isQualifiedName(k)) errs.push(invalid(path, k, m));
    // ValidateLabels reports a bad value at the labels' own path, not keyed (1.26).
    for (const m of isValidLabelValue(String(v))) errs.push(invalid(path, v, m));
  }
  return errs;
}

const TOTAL_ANNOTATION_SIZE = 256 * 1024;

export function validateAnnotations(annotations: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!isObject(annotations)) return errs;
  let size = 0;
  for (const [k, v] of Object.entries(annotations)) {
    for (const m of isQualifiedName(k.toLowerCase())) errs.push(invalid(path, k, m));
    size += k.length + String(v).length;
  }
  if (size > TOTAL_ANNOTATION_SIZE) {
    errs.push(
      fieldError('FieldValueTooLong', path, undefined, `may not be more than ${TOTAL_ANNOTATION_SIZE} bytes`),
    );
  }
  return errs;
}

export function validateOwnerReferences(refs: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!Array.isArray(refs)) return errs;
  let controllers = 0;
  refs.forEach((raw, i) => {
    const ref = isObject(raw) ? raw : {};
    const p = `${path}[${i}]`;
    const apiVersion = typeof ref.apiVersion === 'string' ? ref.apiVersion : '';
    const version = apiVersion.includes('/') ? apiVersion.slice(apiVersion.indexOf('/') + 1) : apiVersion;
    if (version === '') errs.push(invalid(`${p}.apiVersion`, apiVersion, 'version must not be empty'));
    const kind = typeof ref.kind === 'string' ? ref.kind : '';
    if (kind === '') errs.push(invalid(`${p}.kind`, kind, 'kind must not be empty'));
    const name = typeof ref.name === 'string' ? ref.name : '';
    if (name === '') errs.push(invalid(`${p}.name`, name, 'name must not be empty'));
    const uid = typeof ref.uid === 'string' ? ref.uid : '';
    if (uid === '') errs.push(invalid(`${p}.uid`, uid, 'uid must not be empty'));
    if (ref.controller === true) controllers++;
  });
  if (controllers > 1) {
    errs.push(invalid(path, refs, 'Only one reference can have Controller set to true'));
  }
  return errs;
}

const STANDARD_FINALIZERS = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

export function validateFinalizers(finalizers: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!Array.isArray(finalizers)) return errs;
  finalizers.forEach((f) => {
    const s = String(f);
    const msgs = isQualifiedName(s);
    for (const m of msgs) errs.push(invalid(path, s, m));
    if (msgs.length === 0 && !s.includes('/') && !STANDARD_FINALIZERS.has(s)) {
      errs.push(invalid(path, s, 'name is neither a standard finalizer name nor is it fully qualified'));
    }
  });
  return errs;
}

/** ValidateObjectMeta: name/generateName, namespace presence, labels, annotations, owner refs, finalizers. */
export function validateObjectMeta(
  meta: Record<string, unknown>,
  namespaced: boolean,
  nameFn: NameValidator,
): FieldError[] {
  const errs: FieldError[] = [];
  const generateName = typeof meta.generateName === 'string' ? meta.generateName : '';
  if (generateName !== '') {
    for (const m of nameFn(generateName, true)) errs.push(invalid('metadata.generateName', generateName, m));
  }
  const name = typeof meta.name === 'string' ? meta.name : '';
  if (name === '') errs.push(required('metadata.name', 'name or generateName is required'));
  else for (const m of nameFn(name, false)) errs.push(invalid('metadata.name', name, m));
  const ns = typeof meta.namespace === 'string' ? meta.namespace : '';
  if (namespaced) {
    if (ns === '') errs.push(required('metadata.namespace'));
    else for (const m of isDns1123Label(ns)) errs.push(invalid('metadata.namespace', ns, m));
  } else if (ns !== '') {
    errs.push(forbiddenField('metadata.namespace', 'not allowed on this type'));
  }
  errs.push(...validateLabels(meta.labels, 'metadata.labels'));
  errs.push(...validateAnnotations(meta.annotations, 'metadata.annotations'));
  errs.push(...validateOwnerReferences(meta.ownerReferences, 'metadata.ownerReferences'));
  errs.push(...validateFinalizers(meta.finalizers, 'metadata.finalizers'));
  return errs;
}

const META_STRING_FIELDS = [
  'name',
  'generateName',
  'namespace',
  'uid',
  'resourceVersion',
  'creationTimestamp',
];

/** Go's JSON decoder would refuse these bodies before validation: returns the decode error text, if any. */
export function metadataDecodeError(meta: unknown): string | undefined {
  if (meta === undefined || meta === null) return undefined;
  if (!isObject(meta)) {
    return `json: cannot unmarshal ${goType(meta)} into Go struct field .metadata of type v1.ObjectMeta`;
  }
  for (const f of META_STRING_FIELDS) {
    const v = meta[f];
    if (v !== undefined && v !== null && typeof v !== 'string') {
      return `json: cannot unmarshal ${goType(v)} into Go struct field ObjectMeta.metadata.${f} of type string`;
    }
  }
  for (const f of ['labels', 'annotations']) {
    const v = meta[f];
    if (v === undefined || v === null) continue;
    if (!isObject(v)) {
      return `json: cannot unmarshal ${goType(v)} into Go struct field ObjectMeta.metadata.${f} of type map[string]string`;
    }
    for (const x of Object.values(v)) {
      if (typeof x !== 'string') {
        return `json: cannot unmarshal ${goType(x)} into Go struct field ObjectMeta.metadata.${f} of type string`;
      }
    }
  }
  for (const f of ['ownerReferences', 'finalizers', 'managedFields']) {
    const v = meta[f];
    if (v !== undefined && v !== null && !Array.isArray(v)) {
      return `json: cannot unmarshal ${goType(v)} into Go struct field ObjectMeta.metadata.${f} of type []`;
    }
  }
  if (Array.isArray(meta.finalizers) && meta.finalizers.some((f) => typeof f !== 'string')) {
    return 'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.finalizers of type string';
  }
  return undefined;
}

function goType(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

/** ObjectMeta fields the server knows; anything else under metadata is dropped with a warning. */
export const KNOWN_META_FIELDS = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
]);

/** ObjectMeta fields only the server sets: whatever a client sends for them is replaced. */
const SERVER_SET_META_FIELDS = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'selfLink',
] as const;

/** Removes the server-set fields from client-supplied metadata (in place). */
export function dropServerSetFields(meta: Record<string, unknown>): void {
  for (const k of SERVER_SET_META_FIELDS) delete meta[k];
}
