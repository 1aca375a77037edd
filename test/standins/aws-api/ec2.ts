/**
 * EC2 side of the stand-in: the instance store (indexed by tag key, with cached wire XML per
 * instance) and DescribeInstances with filters, paging and the real error behaviour.
 */
import { ApiError, readList } from './protocol.ts';
import type { FakeInstance, InstanceStateName } from './types.ts';
import { el, escapeXml } from './xml.ts';

export const DEFAULT_OWNER_ID = '123456789012';
export const DEFAULT_INSTANCE_TYPE = 't3.micro';
export const DEFAULT_IMAGE_ID = 'ami-0abcdef1234567890';

export const STATE_CODES: Readonly<Record<InstanceStateName, number>> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

export function isWellFormedInstanceId(id: string): boolean {
  return INSTANCE_ID.test(id);
}

function isStateName(value: unknown): value is InstanceStateName {
  return typeof value === 'string' && Object.hasOwn(STATE_CODES, value);
}

function copyInstance(i: FakeInstance): FakeInstance {
  return { ...i, tags: { ...i.tags } };
}

/** What DescribeInstances shows: terminated instances have lost their network placement. */
function visibleNetwork(i: FakeInstance): { ip?: string; vpcId?: string; subnetId?: string } {
  if (i.state === 'terminated') return {};
  return { ip: i.privateIpAddress, vpcId: i.vpcId, subnetId: i.subnetId };
}

function hexOf(id: string): string {
  return id.slice(id.indexOf('-') + 1);
}

function hex17(id: string): string {
  const h = hexOf(id);
  return (h + h + h).slice(0, 17);
}

function privateDnsName(ip: string, region: string): string {
  const host = `ip-${ip.replaceAll('.', '-')}`;
  return region === 'us-east-1' ? `${host}.ec2.internal` : `${host}.${region}.compute.internal`;
}

function macAddress(id: string): string {
  const h = hex17(id);
  return `02:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}:${h.slice(6, 8)}:${h.slice(8, 10)}`;
}

export function reservationIdOf(instanceId: string): string {
  return `r-${hexOf(instanceId)}`;
}

/**
 * One `reservationSet/item` carrying one instance, in the real wire shape. Only the elements a
 * registrar can use are rendered (identity, state, placement, network, tags, lifecycle and one
 * primary network interface); purely descriptive ones (block devices, security groups, monitoring,
 * hypervisor, ...) are left out because the SDK's XML parsing cost grows with every byte.
 */
function renderReservation(i: FakeInstance, region: string): string {
  const code = STATE_CODES[i.state];
  const owner = i.ownerId ?? DEFAULT_OWNER_ID;
  const net = visibleNetwork(i);
  const launchTime = new Date(i.launchTime).toISOString();
  const dns = net.ip ? privateDnsName(net.ip, region) : undefined;
  let x = '<item>';
  x += el('reservationId', reservationIdOf(i.instanceId));
  x += el('ownerId', owner);
  x += '<instancesSet><item>';
  x += el('instanceId', i.instanceId);
  x += el('imageId', i.imageId ?? DEFAULT_IMAGE_ID);
  x += `<instanceState><code>${code}</code><name>${i.state}</name></instanceState>`;
  x += dns ? el('privateDnsName', dns) : '<privateDnsName/>';
  x += el('instanceType', i.instanceType ?? DEFAULT_INSTANCE_TYPE);
  x += el('launchTime', launchTime);
  x += `<placement>${el('availabilityZone', i.availabilityZone)}<tenancy>default</tenancy></placement>`;
  x += el('subnetId', net.subnetId);
  x += el('vpcId', net.vpcId);
  x += el('privateIpAddress', net.ip);
  x += el('instanceLifecycle', i.instanceLifecycle);
  const tagKeys = Object.keys(i.tags);
  if (tagKeys.length > 0) {
    x += '<tagSet>';
    for (const k of tagKeys) x += `<item>${el('key', k)}${el('value', i.tags[k])}</item>`;
    x += '</tagSet>';
  }
  if (net.ip && net.vpcId) {
    const h = hex17(i.instanceId);
    x += '<networkInterfaceSet><item>';
    x += el('networkInterfaceId', `eni-${h}`);
    x += el('subnetId', net.subnetId);
    x += el('vpcId', net.vpcId);
    x += el('ownerId', owner);
    x += '<status>in-use</status>';
    x += el('macAddress', macAddress(i.instanceId));
    x += el('privateIpAddress', net.ip);
    x += el('privateDnsName', dns);
    x += `<attachment>${el('attachmentId', `eni-attach-${h}`)}<deviceIndex>0</deviceIndex><status>attached</status></attachment>`;
    x += `<privateIpAddressesSet><item>${el('privateIpAddress', net.ip)}${el('privateDnsName', dns)}<primary>true</primary></item></privateIpAddressesSet>`;
    x += '</item></networkInterfaceSet>';
  } else {
    x += '<networkInterfaceSet/>';
  }
  x += '</item></instancesSet></item>';
  return x;
}

interface Entry {
  instance: FakeInstance;
  /** UTF-8 wire XML of the instance's reservation item, rendered when the instance changes. */
  xml: Buffer;
}

/**
 * In-memory EC2 instances, indexed by tag key. The wire XML of each instance is rendered and
 * UTF-8 encoded once, when it is put or changes state, so a page is one Buffer.concat.
 */
export class InstanceStore {
  readonly #region: string;
  readonly #byId = new Map<string, Entry>();
  readonly #tagIndex = new Map<string, Set<string>>();
  #version = 0;
  #sortedAll: string[] | undefined;
  readonly #queryCache = new Map<string, string[]>();
  #queryCacheVersion = -1;

  constructor(region: string) {
    this.#region = region;
  }

  put(input: FakeInstance): void {
    if (typeof input?.instanceId !== 'string' || !isWellFormedInstanceId(input.instanceId)) {
      throw new Error(
        `putInstance: malformed instance id ${JSON.stringify(input?.instanceId)} (expected "i-" + 8 or 17 lowercase hex)`,
      );
    }
    if (!isStateName(input.state))
      throw new Error(`putInstance: unknown state ${JSON.stringify(input.state)}`);
    if (typeof input.availabilityZone !== 'string' || input.availabilityZone === '') {
      throw new Error(`putInstance: ${input.instanceId} needs an availabilityZone`);
    }
    if (Number.isNaN(Date.parse(input.launchTime))) {
      throw new Error(
        `putInstance: ${input.instanceId} launchTime ${JSON.stringify(input.launchTime)} is not a date`,
      );
    }
    for (const [k, v] of Object.entries(input.tags ?? {})) {
      if (typeof v !== 'string')
        throw new Error(`putInstance: tag ${k} of ${input.instanceId} is not a string`);
    }
    const instance = copyInstance({ ...input, tags: input.tags ?? {} });
    this.#unindex(instance.instanceId);
    this.#byId.set(instance.instanceId, { instance, xml: this.#render(instance) });
    for (const key of Object.keys(instance.tags)) {
      let set = this.#tagIndex.get(key);
      if (!set) {
        set = new Set();
        this.#tagIndex.set(key, set);
      }
      set.add(instance.instanceId);
    }
    this.#changed();
  }

  remove(id: string): boolean {
    if (!this.#byId.has(id)) return false;
    this.#unindex(id);
    this.#byId.delete(id);
    this.#changed();
    return true;
  }

  setState(id: string, state: InstanceStateName): void {
    const entry = this.#byId.get(id);
    if (!entry) throw new Error(`setState: no instance ${id}`);
    if (!isStateName(state)) throw new Error(`setState: unknown state ${JSON.stringify(state)}`);
    entry.instance = { ...entry.instance, state };
    entry.xml = this.#render(entry.instance);
    this.#changed();
  }

  get(id: string): FakeInstance | undefined {
    const entry = this.#byId.get(id);
    return entry ? copyInstance(entry.instance) : undefined;
  }

  /** Internal read without copying; callers must not mutate. */
  peek(id: string): FakeInstance | undefined {
    return this.#byId.get(id)?.instance;
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  all(): FakeInstance[] {
    return [...this.#byId.values()].map((e) => copyInstance(e.instance));
  }

  idsWithTagKey(key: string): ReadonlySet<string> {
    return this.#tagIndex.get(key) ?? new Set();
  }

  allIdsSorted(): string[] {
    this.#sortedAll ??= [...this.#byId.keys()].sort();
    return this.#sortedAll;
  }

  reservationXml(id: string): Buffer {
    const entry = this.#byId.get(id);
    if (!entry) throw new Error(`no instance ${id}`);
    return entry.xml;
  }

  /** Sorted ids matching a query, cached until the store changes. */
  cachedQuery(key: string, compute: () => string[]): string[] {
    if (this.#queryCacheVersion !== this.#version) {
      this.#queryCache.clear();
      this.#queryCacheVersion = this.#version;
    }
    let ids = this.#queryCache.get(key);
    if (!ids) {
      ids = compute();
      if (this.#queryCache.size >= 64) this.#queryCache.clear();
      this.#queryCache.set(key, ids);
    }
    return ids;
  }

  #unindex(id: string): void {
    const old = this.#byId.get(id);
    if (!old) return;
    for (const key of Object.keys(old.instance.tags)) {
      const set = this.#tagIndex.get(key);
      set?.delete(id);
      if (set?.size === 0) this.#tagIndex.delete(key);
    }
  }

  #render(instance: FakeInstance): Buffer {
    return Buffer.from(renderReservation(instance, this.#region), 'utf8');
  }

  #changed(): void {
    this.#version++;
    this.#sortedAll = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Filters

interface ValueMatcher {
  /** Set when the value has no wildcard: the literal to compare with. */
  exact: string | undefined;
  test(candidate: string): boolean;
}

/** EC2 filter value: `*` = zero or more characters, `?` = exactly one, backslash escapes. */
export function compileFilterValue(value: string): ValueMatcher {
  let literal = '';
  let pattern = '';
  let wildcard = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) {
      const next = value[++i]!;
      literal += next;
      pattern += next.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else if (c === '*') {
      wildcard = true;
      pattern += '.*';
    } else if (c === '?') {
      wildcard = true;
      pattern += '.';
    } else {
      literal += c;
      pattern += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  if (!wildcard) return { exact: literal, test: (s) => s === literal };
  const re = new RegExp(`^${pattern}$`, 'su');
  return { exact: undefined, test: (s) => re.test(s) };
}

type Accessor = (i: FakeInstance) => string | undefined;

const ATTRIBUTE_FILTERS: Record<string, Accessor> = {
  'instance-id': (i) => i.instanceId,
  'instance-state-name': (i) => i.state,
  'instance-state-code': (i) => String(STATE_CODES[i.state]),
  'availability-zone': (i) => i.availabilityZone,
  'vpc-id': (i) => visibleNetwork(i).vpcId,
  'subnet-id': (i) => visibleNetwork(i).subnetId,
  'private-ip-address': (i) => visibleNetwork(i).ip,
  'instance-type': (i) => i.instanceType ?? DEFAULT_INSTANCE_TYPE,
  'image-id': (i) => i.imageId ?? DEFAULT_IMAGE_ID,
  'owner-id': (i) => i.ownerId ?? DEFAULT_OWNER_ID,
  'reservation-id': (i) => reservationIdOf(i.instanceId),
  'instance-lifecycle': (i) => i.instanceLifecycle,
};

export const SUPPORTED_FILTERS: readonly string[] = [
  ...Object.keys(ATTRIBUTE_FILTERS),
  'tag:<key>',
  'tag-key',
  'tag-value',
];

interface CompiledFilter {
  name: string;
  matchers: ValueMatcher[];
  test(i: FakeInstance): boolean;
}

function compileFilter(name: string, values: string[]): CompiledFilter {
  if (values.length === 0) {
    throw new ApiError('InvalidParameterValue', `The filter '${name}' requires at least one value`);
  }
  const matchers = values.map(compileFilterValue);
  const any = (s: string | undefined) => s !== undefined && matchers.some((m) => m.test(s));
  if (name.startsWith('tag:')) {
    const key = name.slice(4);
    return {
      name,
      matchers,
      test: (i) => Object.hasOwn(i.tags, key) && any(i.tags[key]),
    };
  }
  if (name === 'tag-key') return { name, matchers, test: (i) => Object.keys(i.tags).some(any) };
  if (name === 'tag-value') return { name, matchers, test: (i) => Object.values(i.tags).some(any) };
  const accessor = ATTRIBUTE_FILTERS[name];
  if (!accessor) throw new ApiError('InvalidParameterValue', `The filter '${name}' is invalid`);
  return { name, matchers, test: (i) => any(accessor(i)) };
}

// ---------------------------------------------------------------------------------------------
// Paging tokens

interface PageToken {
  /** hash of the query the token belongs to */
  q: string;
  /** index of the page this token asks for (the first page is 0) */
  p: number;
  /** last instance id of the previous page */
  a: string;
}

function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

function encodeToken(t: PageToken): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function decodeToken(raw: string, queryHash: string): PageToken {
  const invalid = () => new ApiError('InvalidParameterValue', `Invalid value '${raw}' for nextToken`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof parsed !== 'object' || parsed === null) throw invalid();
  const t = parsed as Partial<PageToken>;
  if (
    typeof t.q !== 'string' ||
    typeof t.a !== 'string' ||
    typeof t.p !== 'number' ||
    !Number.isInteger(t.p)
  ) {
    throw invalid();
  }
  if (t.q !== queryHash || t.p < 1) throw invalid();
  return { q: t.q, p: t.p, a: t.a };
}

/** First index in the sorted list whose id is greater than `after`. */
function upperBound(sorted: string[], after: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
// DescribeInstances

export interface DescribeOptions {
  /** see AwsFaultPlan.failDescribeAfterPages */
  failAfterPages: number | undefined;
}

const UNPAGINATED_TOKEN_PAGE_SIZE = 1000;
const RESERVATION_SET_OPEN = Buffer.from('<reservationSet>');
const RESERVATION_SET_CLOSE = Buffer.from('</reservationSet>');

/** Body of a DescribeInstancesResponse (everything after requestId), UTF-8 encoded. */
export function describeInstances(
  store: InstanceStore,
  params: URLSearchParams,
  options: DescribeOptions,
): Buffer {
  const ids = readList(params, 'InstanceId');
  const filters: { name: string; values: string[] }[] = [];
  for (let n = 1; ; n++) {
    const name = params.get(`Filter.${n}.Name`);
    if (name === null) break;
    filters.push({ name, values: readList(params, `Filter.${n}.Value`) });
  }
  const maxResultsRaw = params.get('MaxResults');
  const nextTokenRaw = params.get('NextToken');

  if (params.get('DryRun') === 'true') {
    throw new ApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
  }
  if (ids.length > 0 && maxResultsRaw !== null) {
    throw new ApiError(
      'InvalidParameterCombination',
      'The parameter instancesSet cannot be used with the parameter maxResults',
    );
  }
  let pageSize: number | undefined;
  if (maxResultsRaw !== null) {
    const n = Number(maxResultsRaw);
    if (!Number.isInteger(n) || n < 5) {
      throw new ApiError(
        'InvalidParameterValue',
        `Value ( ${maxResultsRaw} ) for parameter maxResults is invalid. Expecting a value greater than 5.`,
      );
    }
    if (n > 1000) {
      throw new ApiError(
        'InvalidParameterValue',
        `Value ( ${maxResultsRaw} ) for parameter maxResults is invalid. Expecting a value less than 1000.`,
      );
    }
    pageSize = n;
  }
  const malformed = ids.find((id) => !isWellFormedInstanceId(id));
  if (malformed !== undefined) {
    throw new ApiError('InvalidInstanceID.Malformed', `Invalid id: "${malformed}"`);
  }
  const compiled = filters.map((f) => compileFilter(f.name, f.values));

  const queryKey = JSON.stringify([ids, filters]);
  const queryHash = fnv1a(queryKey);
  const token =
    nextTokenRaw === null || nextTokenRaw === '' ? undefined : decodeToken(nextTokenRaw, queryHash);
  const pageIndex = token?.p ?? 0;
  if (ids.length === 0 && options.failAfterPages !== undefined && pageIndex >= options.failAfterPages) {
    throw new ApiError('InternalError', 'An internal error has occurred', 500);
  }

  if (ids.length > 0) {
    const missing = [...new Set(ids)].filter((id) => !store.has(id));
    if (missing.length === 1) {
      throw new ApiError('InvalidInstanceID.NotFound', `The instance ID '${missing[0]}' does not exist`);
    }
    if (missing.length > 1) {
      throw new ApiError(
        'InvalidInstanceID.NotFound',
        `The instance IDs '${missing.join(', ')}' do not exist`,
      );
    }
  }

  const matching = store.cachedQuery(queryKey, () => {
    const candidates = candidateIds(store, ids, compiled);
    const out: string[] = [];
    for (const id of candidates) {
      const inst = store.peek(id);
      if (inst && compiled.every((f) => f.test(inst))) out.push(id);
    }
    return out.sort();
  });

  const start = token ? upperBound(matching, token.a) : 0;
  const size = pageSize ?? (token ? UNPAGINATED_TOKEN_PAGE_SIZE : matching.length);
  const end = Math.min(matching.length, start + size);
  if (start >= end && end >= matching.length) return Buffer.from('<reservationSet/>');
  const parts: Buffer[] = [RESERVATION_SET_OPEN];
  for (let k = start; k < end; k++) parts.push(store.reservationXml(matching[k]!));
  parts.push(RESERVATION_SET_CLOSE);
  if (end < matching.length) {
    const next = encodeToken({ q: queryHash, p: pageIndex + 1, a: matching[end - 1]! });
    parts.push(Buffer.from(`<nextToken>${escapeXml(next)}</nextToken>`));
  }
  return Buffer.concat(parts);
}

/** The smallest candidate set the request allows, using the tag-key index where possible. */
function candidateIds(store: InstanceStore, ids: string[], filters: CompiledFilter[]): Iterable<string> {
  if (ids.length > 0) return new Set(ids);
  let best: Iterable<string> = store.allIdsSorted();
  let bestSize = store.allIdsSorted().length;
  for (const f of filters) {
    let set: Set<string> | ReadonlySet<string> | undefined;
    if (f.name.startsWith('tag:')) {
      set = store.idsWithTagKey(f.name.slice(4));
    } else if (f.name === 'tag-key' && f.matchers.every((m) => m.exact !== undefined)) {
      const union = new Set<string>();
      for (const m of f.matchers) for (const id of store.idsWithTagKey(m.exact!)) union.add(id);
      set = union;
    } else if (f.name === 'instance-id' && f.matchers.every((m) => m.exact !== undefined)) {
      set = new Set(f.matchers.map((m) => m.exact!));
    }
    if (set && set.size < bestSize) {
      best = set;
      bestSize = set.size;
    }
  }
  return best;
}
