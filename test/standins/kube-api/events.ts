/**
 * `events.k8s.io/v1` Events as a kube-apiserver 1.26 serves them: the shape from the OpenAPI v3
 * document in test/fixtures/kube-openapi, the Go decoder's MicroTime parsing (`eventTime` and
 * `series.lastObservedTime` need exactly six fractional digits, RFC3339Micro), the output the server
 * encodes (MicroTime in UTC with six digits; zero `metav1.Time` fields as `null`, empty structs as
 * `{}`), and `ValidateEventCreate` / `ValidateEventUpdate` of `pkg/apis/core/validation/events.go`
 * for requests through events.k8s.io/v1. The server validates the internal `core.Event`, so error
 * paths use its field names: `involvedObject` (regarding), `message` (note), `source`
 * (deprecatedSource), `firstTimestamp`, `lastTimestamp`, `count` (the `deprecated*` fields).
 */
import { type FieldError, forbiddenField, GoLiteral, invalid, required } from './errors.ts';
import { deepEqual, isObject } from './json.ts';
import { isQualifiedName, subdomainName } from './metadata.ts';
import { builtinSchema } from './openapi.ts';
import type { ResourceType } from './resources.ts';
import type { JsonObject } from './types.ts';

const event = builtinSchema('apis__events.k8s.io__v1_openapi.json', 'io.k8s.api.events.v1.Event');

const RFC3339_MICRO = '2006-01-02T15:04:05.000000Z07:00';
const RFC3339 = '2006-01-02T15:04:05Z07:00';
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})/;

/**
 * Go's `time.Parse` of a layout ending in seconds (RFC3339) or in `.000000` (RFC3339Micro, which
 * takes exactly six digits), worded as its ParseError. Returns the instant in microseconds.
 */
function parseGoTime(value: string, micro: boolean): { micros: bigint } | { error: string } {
  const layout = micro ? RFC3339_MICRO : RFC3339;
  const fail = (rest: string, elem: string) => ({
    error: `parsing time ${JSON.stringify(value)} as ${JSON.stringify(layout)}: cannot parse ${JSON.stringify(rest)} as ${JSON.stringify(elem)}`,
  });
  const m = DATE_TIME.exec(value);
  if (m === null) return fail(value, layout);
  let rest = value.slice(m[0].length);
  let fraction = '';
  if (micro) {
    if (rest.length < 7 || !/^\.\d{6}/.test(rest)) return fail(rest, '.000000');
    fraction = rest.slice(1, 7);
    rest = rest.slice(7);
  } else {
    // Parsing (only) accepts a fractional second the layout does not name, of any length.
    const f = /^[.,](\d+)/.exec(rest);
    if (f !== null) {
      fraction = f[1]!;
      rest = rest.slice(f[0].length);
    }
  }
  let offsetMinutes = 0;
  if (rest === 'Z') offsetMinutes = 0;
  else {
    const o = /^([+-])(\d{2}):(\d{2})$/.exec(rest);
    if (o === null) return fail(rest, 'Z07:00');
    offsetMinutes = (o[1] === '-' ? -1 : 1) * (Number(o[2]) * 60 + Number(o[3]));
  }
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  const ms = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!) - offsetMinutes * 60_000;
  if (!Number.isFinite(ms)) return fail(value, layout);
  const micros = BigInt(ms) * 1000n + BigInt(`${fraction}000000`.slice(0, 6));
  return { micros };
}

function formatMicro(micros: bigint): string {
  const ms = Number(micros / 1000n);
  const iso = new Date(ms).toISOString(); // yyyy-mm-ddThh:mm:ss.mmmZ
  const frac = String(micros % 1_000_000n).padStart(6, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}

function formatSeconds(micros: bigint): string {
  return `${new Date(Number(micros / 1000n)).toISOString().slice(0, 19)}Z`;
}

type TimeField = { path: string[]; micro: boolean };
const TIME_FIELDS: TimeField[] = [
  { path: ['eventTime'], micro: true },
  { path: ['series', 'lastObservedTime'], micro: true },
  { path: ['deprecatedFirstTimestamp'], micro: false },
  { path: ['deprecatedLastTimestamp'], micro: false },
];

function at(obj: JsonObject, path: string[]): { parent: JsonObject; key: string } | undefined {
  let cur: unknown = obj;
  for (const k of path.slice(0, -1)) {
    if (!isObject(cur)) return undefined;
    cur = cur[k];
  }
  return isObject(cur) ? { parent: cur, key: path[path.length - 1]! } : undefined;
}

/** The Go decoder: types from the schema, then the time fields' own UnmarshalJSON. */
function decodeEvent(obj: JsonObject): string | undefined {
  const typeError = event.decodeError(obj);
  if (typeError !== undefined) return typeError;
  for (const f of TIME_FIELDS) {
    const loc = at(obj, f.path);
    const v = loc?.parent[loc.key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') return `json: cannot unmarshal ${typeof v} into Go value of type string`;
    const parsed = parseGoTime(v, f.micro);
    if ('error' in parsed) return parsed.error;
  }
  return undefined;
}

/** What the server stores and answers: times re-encoded, zero values as Go encodes them. */
function encodeEvent(obj: JsonObject): void {
  for (const f of TIME_FIELDS) {
    const loc = at(obj, f.path);
    if (loc === undefined) continue;
    const v = loc.parent[loc.key];
    if (typeof v === 'string') {
      const parsed = parseGoTime(v, f.micro);
      if ('micros' in parsed)
        loc.parent[loc.key] = f.micro ? formatMicro(parsed.micros) : formatSeconds(parsed.micros);
    } else if (v === undefined && f.path.length === 1) {
      // metav1.Time/MicroTime are structs: `omitempty` does not drop them, a zero one encodes as null.
      loc.parent[loc.key] = null;
    }
  }
  if (!isObject(obj.regarding)) obj.regarding = {};
  if (!isObject(obj.deprecatedSource)) obj.deprecatedSource = {};
  if (obj.deprecatedCount === 0) delete obj.deprecatedCount;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const isZeroTime = (v: unknown): boolean => v === undefined || v === null || v === '';

/** `%#v` of a core.ObjectReference, as ValidateImmutableField prints it. */
function goObjectReference(v: unknown): GoLiteral {
  const r = isObject(v) ? v : {};
  const f = (k: string) => JSON.stringify(str(r[k]));
  return new GoLiteral(
    `core.ObjectReference{Kind:${f('kind')}, Namespace:${f('namespace')}, Name:${f('name')}, UID:${f('uid')}, APIVersion:${f('apiVersion')}, ResourceVersion:${f('resourceVersion')}, FieldPath:${f('fieldPath')}}`,
  );
}

const LIMITS = { reportingInstance: 128, action: 128, reason: 128, note: 1024 } as const;

/** legacyValidateEvent for an event with eventTime set (every events.k8s.io/v1 write). */
function legacyErrors(o: JsonObject): FieldError[] {
  const errs: FieldError[] = [];
  const meta = isObject(o.metadata) ? o.metadata : {};
  const regarding = isObject(o.regarding) ? o.regarding : {};
  const ns = str(meta.namespace);
  if (isZeroTime(o.eventTime)) {
    const want = str(regarding.namespace);
    if (want === '' ? ns !== '' && ns !== 'default' : ns !== want)
      errs.push(invalid('involvedObject.namespace', want, 'does not match event.namespace'));
    return errs;
  }
  if (str(regarding.namespace) === '' && ns !== 'default' && ns !== 'kube-system')
    errs.push(invalid('involvedObject.namespace', '', 'does not match event.namespace'));
  const controller = str(o.reportingController);
  if (controller === '') errs.push(required('reportingController'));
  for (const m of isQualifiedName(controller)) errs.push(invalid('reportingController', controller, m));
  const instance = str(o.reportingInstance);
  if (instance === '') errs.push(required('reportingInstance'));
  if (instance.length > LIMITS.reportingInstance)
    errs.push(invalid('reportingInstance', '', `can have at most ${LIMITS.reportingInstance} characters`));
  const action = str(o.action);
  if (action === '') errs.push(required('action'));
  if (action.length > LIMITS.action)
    errs.push(invalid('action', '', `can have at most ${LIMITS.action} characters`));
  const reason = str(o.reason);
  if (reason === '') errs.push(required('reason'));
  if (reason.length > LIMITS.reason)
    errs.push(invalid('reason', '', `can have at most ${LIMITS.reason} characters`));
  if (str(o.note).length > LIMITS.note)
    errs.push(invalid('message', '', `can have at most ${LIMITS.note} characters`));
  return errs;
}

function seriesErrors(o: JsonObject): FieldError[] {
  if (!isObject(o.series)) return [];
  const errs: FieldError[] = [];
  const count = typeof o.series.count === 'number' ? o.series.count : 0;
  if (count < 2) errs.push(invalid('series.count', '', 'should be at least 2'));
  if (isZeroTime(o.series.lastObservedTime)) errs.push(required('series.lastObservedTime'));
  return errs;
}

function validateCreate(o: JsonObject): FieldError[] {
  const errs = legacyErrors(o);
  errs.push(...seriesErrors(o));
  if (isZeroTime(o.eventTime)) errs.push(required('eventTime'));
  if (o.type !== 'Normal' && o.type !== 'Warning')
    errs.push(invalid('type', '', `has invalid value: ${str(o.type)}`));
  if (!isZeroTime(o.deprecatedFirstTimestamp)) errs.push(invalid('firstTimestamp', '', 'needs to be unset'));
  if (!isZeroTime(o.deprecatedLastTimestamp)) errs.push(invalid('lastTimestamp', '', 'needs to be unset'));
  if (typeof o.deprecatedCount === 'number' && o.deprecatedCount !== 0)
    errs.push(invalid('count', '', 'needs to be unset'));
  const source = isObject(o.deprecatedSource) ? o.deprecatedSource : {};
  if (str(source.component) !== '' || str(source.host) !== '')
    errs.push(invalid('source', '', 'needs to be unset'));
  return errs;
}

function microsOf(v: unknown): bigint | undefined {
  if (typeof v !== 'string') return undefined;
  const parsed = parseGoTime(v, true);
  return 'micros' in parsed ? parsed.micros : undefined;
}

function validateUpdate(o: JsonObject, old: JsonObject): FieldError[] {
  const errs = legacyErrors(o);
  if (!deepEqual(o.series, old.series)) errs.push(...seriesErrors(o));
  const immutable = (field: string, path: string, render: (v: unknown) => unknown = (v) => v ?? '') => {
    if (!deepEqual(o[field] ?? null, old[field] ?? null))
      errs.push(invalid(path, render(o[field]), 'field is immutable'));
  };
  immutable('regarding', 'involvedObject', goObjectReference);
  immutable('reason', 'reason');
  immutable('note', 'message');
  immutable('deprecatedSource', 'source', (v) => v ?? {});
  immutable('deprecatedFirstTimestamp', 'firstTimestamp');
  immutable('deprecatedLastTimestamp', 'lastTimestamp');
  immutable('deprecatedCount', 'count', (v) => v ?? 0);
  immutable('type', 'type');
  // Sub-microsecond differences are tolerated (kubernetes#112183); MicroTime carries none here.
  if (microsOf(o.eventTime) !== microsOf(old.eventTime))
    errs.push(forbiddenField('eventTime', 'field is immutable'));
  immutable('action', 'action');
  immutable('related', 'related', (v) =>
    v === undefined ? new GoLiteral('(*core.ObjectReference)(nil)') : goObjectReference(v),
  );
  immutable('reportingController', 'reportingController');
  immutable('reportingInstance', 'reportingInstance');
  return errs;
}

export const eventType: ResourceType = {
  id: 'events.k8s.io/events',
  group: 'events.k8s.io',
  versions: ['v1'],
  storageVersion: 'v1',
  plural: 'events',
  singular: 'event',
  kind: 'Event',
  listKind: 'EventList',
  namespaced: true,
  shortNames: ['ev'],
  categories: [],
  verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  statusSubresource: false,
  crd: false,
  schemas: new Map([['v1', { root: event.root }]]),
  decode: decodeEvent,
  nameFn: subdomainName,
  // The event registry does not set ReturnDeletedObject: a Success Status.
  deleteReturnsObject: false,
  tracksGeneration: false,
  prepare(o) {
    encodeEvent(o);
  },
  validate(o, old) {
    return old === undefined ? validateCreate(o) : validateUpdate(o, old);
  },
};
