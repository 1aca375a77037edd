/**
 * Failures as a real kube-apiserver reports them: a `Status` object with the same HTTP code, reason, message
 * wording and details (k8s.io/apimachinery/pkg/api/errors and pkg/util/validation/field).
 */
import type { KubeStatus, StatusCause } from './types.ts';

/** A request failure carrying the `Status` body the server sends. */
export class StatusError extends Error {
  readonly status: KubeStatus;
  readonly headers: Record<string, string>;

  constructor(status: KubeStatus, headers: Record<string, string> = {}) {
    super(status.message ?? status.reason ?? 'error');
    this.name = 'StatusError';
    this.status = status;
    this.headers = headers;
  }

  get code(): number {
    return this.status.code;
  }
}

function failure(
  code: number,
  reason: string,
  message: string,
  details?: KubeStatus['details'],
): StatusError {
  // Same key order as the server's JSON: details before code.
  const status: KubeStatus = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  };
  if (details !== undefined) {
    delete (status as Partial<KubeStatus>).code;
    status.details = details;
    status.code = code;
  }
  return new StatusError(status);
}

/** Group-qualified resource as the server prints it: `workloadentries.networking.istio.io`, `namespaces`. */
export interface GroupResource {
  group: string;
  resource: string;
}
/** Group-qualified kind: `WorkloadEntry.networking.istio.io`, `Service`. */
export interface GroupKind {
  group: string;
  kind: string;
}

const qualified = (name: string, group: string): string => (group === '' ? name : `${name}.${group}`);

function details(gr: GroupResource, name: string): NonNullable<KubeStatus['details']> {
  const d: NonNullable<KubeStatus['details']> = { name };
  if (gr.group !== '') d.group = gr.group;
  d.kind = gr.resource;
  return d;
}

export function notFound(gr: GroupResource, name: string): StatusError {
  return failure(
    404,
    'NotFound',
    `${qualified(gr.resource, gr.group)} "${name}" not found`,
    details(gr, name),
  );
}

export function alreadyExists(gr: GroupResource, name: string): StatusError {
  return failure(
    409,
    'AlreadyExists',
    `${qualified(gr.resource, gr.group)} "${name}" already exists`,
    details(gr, name),
  );
}

export function conflict(gr: GroupResource, name: string, why: string): StatusError {
  return failure(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(gr.resource, gr.group)} "${name}": ${why}`,
    details(gr, name),
  );
}

export const OBJECT_MODIFIED =
  'the object has been modified; please apply your changes to the latest version and try again';

/** A 422 without an object (a JSON patch that cannot be applied). */
export function unprocessable(message: string): StatusError {
  return failure(422, 'Invalid', message, { causes: [{ reason: 'UnexpectedServerResponse', message }] });
}

export function badRequest(message: string): StatusError {
  return failure(400, 'BadRequest', message);
}

export function unsupportedMediaType(message: string): StatusError {
  return failure(415, 'UnsupportedMediaType', message);
}

export function methodNotAllowed(): StatusError {
  return failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
}

export function resourceNotFound(): StatusError {
  return failure(404, 'NotFound', 'the server could not find the requested resource');
}

export function unauthorized(): StatusError {
  return failure(401, 'Unauthorized', 'Unauthorized');
}

export function forbidden(gr: GroupResource, name: string, why: string): StatusError {
  const what =
    name === '' ? qualified(gr.resource, gr.group) : `${qualified(gr.resource, gr.group)} "${name}"`;
  return failure(403, 'Forbidden', `${what} is forbidden: ${why}`, details(gr, name));
}

/**
 * What RBAC answers a request it does not authorize (k8s.io/apiserver's authorization filter):
 * `<resource>.<group> "<name>" is forbidden: User "<user>" cannot <verb> resource "<resource>" in API
 * group "<group>" in the namespace "<ns>"`.
 */
export function rbacForbidden(request: {
  user: string;
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
  name?: string;
}): StatusError {
  const where = request.namespace ? ` in the namespace "${request.namespace}"` : ' at the cluster scope';
  return forbidden(
    { group: request.group, resource: request.resource },
    request.name ?? '',
    `User "${request.user}" cannot ${request.verb} resource "${request.resource}" in API group "${request.group}"${where}`,
  );
}

export function internalError(why: string): StatusError {
  return failure(500, 'InternalError', `Internal error occurred: ${why}`, { causes: [{ message: why }] });
}

export function serviceUnavailable(why: string): StatusError {
  return failure(503, 'ServiceUnavailable', why);
}

export function tooManyRequests(retryAfterSeconds = 0): StatusError {
  const err = failure(
    429,
    'TooManyRequests',
    'the server has received too many requests and has asked us to try again later',
    {
      retryAfterSeconds,
    },
  );
  return new StatusError(err.status, { 'Retry-After': String(retryAfterSeconds) });
}

/** 410 Expired; `continueToken`: where the list can go on from, inconsistently, against today's state. */
export function gone(message: string, continueToken?: string): StatusError {
  const e = failure(410, 'Expired', message);
  if (continueToken !== undefined) e.status.metadata = { continue: continueToken };
  return e;
}

/** The server's "Apply failed with N conflict(s)" error; causes name each field and its manager. */
export function applyConflict(conflicts: Array<{ manager: string; field: string }>): StatusError {
  const causes: StatusCause[] = conflicts.map((c) => ({
    reason: 'FieldManagerConflict',
    message: `conflict with ${c.manager}`,
    field: c.field,
  }));
  let message: string;
  if (conflicts.length === 1) {
    const only = conflicts[0]!;
    message = `Apply failed with 1 conflict: conflict with ${only.manager}: ${only.field}`;
  } else {
    const byManager = new Map<string, string[]>();
    for (const c of conflicts) byManager.set(c.manager, [...(byManager.get(c.manager) ?? []), c.field]);
    const parts = [...byManager].map(
      ([manager, fields]) => `conflicts with ${manager}:\n${fields.map((f) => `- ${f}`).join('\n')}`,
    );
    message = `Apply failed with ${conflicts.length} conflicts: ${parts.join('\n')}`;
  }
  return failure(409, 'Conflict', message, { causes });
}

// ---- field errors (k8s.io/apimachinery/pkg/util/validation/field) ----

export type FieldErrorType =
  | 'FieldValueInvalid'
  | 'FieldValueRequired'
  | 'FieldValueNotSupported'
  | 'FieldValueDuplicate'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'FieldValueTypeInvalid'
  | 'InternalError';

export interface FieldError {
  type: FieldErrorType;
  field: string;
  /** The offending value, when the error type prints one. */
  value?: unknown;
  hasValue: boolean;
  detail?: string;
}

const TYPE_TEXT: Record<FieldErrorType, string> = {
  FieldValueInvalid: 'Invalid value',
  FieldValueRequired: 'Required value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueForbidden: 'Forbidden',
  FieldValueTooLong: 'Too long',
  FieldValueTooMany: 'Too many',
  FieldValueTypeInvalid: 'Invalid value',
  InternalError: 'Internal error',
};

/** A value printed the way Go's `%#v` prints it (`[]string{"10.96.0.10"}`, struct literals). */
export class GoLiteral {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toJSON(): string {
    return this.text;
  }
}

/** `%#v` of a []string. */
export function goStrings(v: unknown): GoLiteral {
  if (!Array.isArray(v)) return new GoLiteral('[]string(nil)');
  return new GoLiteral(`[]string{${v.map((x) => JSON.stringify(String(x))).join(', ')}}`);
}

function renderValue(v: unknown): string {
  if (v instanceof GoLiteral) return v.text;
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === null || v === undefined) return 'null';
  return JSON.stringify(v);
}

export function fieldError(
  type: FieldErrorType,
  field: string,
  value?: unknown,
  detail?: string,
): FieldError {
  const e: FieldError = { type, field, hasValue: value !== undefined };
  if (e.hasValue) e.value = value;
  if (detail !== undefined) e.detail = detail;
  return e;
}

export const invalid = (field: string, value: unknown, detail?: string): FieldError =>
  fieldError('FieldValueInvalid', field, value, detail);
export const required = (field: string, detail?: string): FieldError =>
  fieldError('FieldValueRequired', field, undefined, detail);
export const forbiddenField = (field: string, detail?: string): FieldError =>
  fieldError('FieldValueForbidden', field, undefined, detail);

export function errorBody(e: FieldError): string {
  let s: string;
  switch (e.type) {
    case 'FieldValueRequired':
    case 'FieldValueForbidden':
    case 'FieldValueTooLong':
    case 'InternalError':
      s = TYPE_TEXT[e.type];
      break;
    default:
      s = e.hasValue ? `${TYPE_TEXT[e.type]}: ${renderValue(e.value)}` : TYPE_TEXT[e.type];
  }
  if (e.detail !== undefined && e.detail !== '') s += `: ${e.detail}`;
  return s;
}

export function fieldErrorString(e: FieldError): string {
  return e.field === '' ? errorBody(e) : `${e.field}: ${errorBody(e)}`;
}

/** `Kind.group "name" is invalid: ...` with one cause per field error (422 Unprocessable Entity). */
export function invalidObject(gk: GroupKind, name: string, errs: FieldError[]): StatusError {
  const causes: StatusCause[] = errs.map((e) => ({ reason: e.type, message: errorBody(e), field: e.field }));
  const texts = [...new Set(errs.map(fieldErrorString))];
  const agg = texts.length === 1 ? texts[0]! : `[${texts.join(', ')}]`;
  const q = qualified(gk.kind, gk.group);
  const message = texts.length === 0 ? `${q} "${name}" is invalid` : `${q} "${name}" is invalid: ${agg}`;
  const d: NonNullable<KubeStatus['details']> = { name };
  if (gk.group !== '') d.group = gk.group;
  d.kind = gk.kind;
  d.causes = causes;
  return failure(422, 'Invalid', message, d);
}

/** A 422 for request options (`PatchOptions.meta.k8s.io "" is invalid: ...`). */
export function invalidOptions(kind: string, errs: FieldError[]): StatusError {
  return invalidObject({ group: 'meta.k8s.io', kind }, '', errs);
}

export function isStatusError(e: unknown): e is StatusError {
  return e instanceof StatusError;
}
