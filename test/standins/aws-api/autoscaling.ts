/**
 * Auto Scaling side of the stand-in: lifecycle hooks and actions (CompleteLifecycleAction,
 * RecordLifecycleActionHeartbeat, DescribeLifecycleHooks, timeouts applying the default result)
 * and DescribeAutoScalingInstances over the EC2 store.
 */
import type { InstanceStore } from './ec2.ts';
import { DEFAULT_INSTANCE_TYPE } from './ec2.ts';
import { ApiError, readList } from './protocol.ts';
import type {
  CompletedLifecycleAction,
  FakeInstance,
  LifecycleAction,
  LifecycleHookSpec,
  PendingLifecycleAction,
} from './types.ts';
import { el } from './xml.ts';

export const ASG_NAME_TAG = 'aws:autoscaling:groupName';

/** The service's defaults for a hook created without them. */
const DEFAULT_HEARTBEAT_TIMEOUT = 3600;
const DEFAULT_RESULT = 'ABANDON';
const MAX_GLOBAL_TIMEOUT = 172_800;

/**
 * Lifecycle hooks and their pending actions, on the stand-in's clock. An action's heartbeat timeout
 * is its hook's (3600 s without a registered hook); a heartbeat restarts it, never past the global
 * timeout (100 x the heartbeat timeout, at most 48 h). When either runs out the hook's default
 * result is applied, as by Auto Scaling: the action leaves `pending` and is recorded with
 * `by: 'timeout'`. The instance's Auto Scaling state follows the action: `Pending:Wait` /
 * `Terminating:Wait` while it waits; after it, `InService` (launch, CONTINUE) or
 * `Terminating:Proceed` (launch ABANDON, and every termination).
 */
export class LifecycleRegistry {
  readonly hooks: LifecycleHookSpec[] = [];
  readonly pending: PendingLifecycleAction[] = [];
  readonly completed: CompletedLifecycleAction[] = [];
  readonly #store: InstanceStore | undefined;
  readonly #now: () => number;
  readonly #onTimeout: (action: CompletedLifecycleAction) => void;

  constructor(
    store?: InstanceStore,
    now: () => number = Date.now,
    onTimeout: (action: CompletedLifecycleAction) => void = () => {},
  ) {
    this.#store = store;
    this.#now = now;
    this.#onTimeout = onTimeout;
  }

  addHook(hook: LifecycleHookSpec): void {
    if (!hook?.autoScalingGroupName || !hook.lifecycleHookName)
      throw new Error('addLifecycleHook: autoScalingGroupName and lifecycleHookName are required');
    if (hook.transition !== 'launching' && hook.transition !== 'terminating')
      throw new Error('addLifecycleHook: transition must be launching or terminating');
    const timeout = hook.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT;
    if (!Number.isInteger(timeout) || timeout < 30 || timeout > 7200)
      throw new Error('addLifecycleHook: heartbeatTimeout must be 30-7200 seconds');
    const at = this.hooks.findIndex(
      (h) =>
        h.autoScalingGroupName === hook.autoScalingGroupName &&
        h.lifecycleHookName === hook.lifecycleHookName,
    );
    if (at >= 0) this.hooks.splice(at, 1);
    this.hooks.push({ ...hook });
  }

  hook(group: string, name: string): LifecycleHookSpec | undefined {
    return this.hooks.find((h) => h.autoScalingGroupName === group && h.lifecycleHookName === name);
  }

  add(action: LifecycleAction): void {
    for (const field of ['autoScalingGroupName', 'lifecycleHookName', 'instanceId', 'token'] as const) {
      if (typeof action?.[field] !== 'string' || action[field] === '') {
        throw new Error(`addLifecycleAction: ${field} is required`);
      }
    }
    const existing = this.pending.findIndex((a) => a.token === action.token);
    if (existing >= 0) this.pending.splice(existing, 1);
    const hook = this.hook(action.autoScalingGroupName, action.lifecycleHookName);
    const transition = action.transition ?? hook?.transition;
    const timeout = (hook?.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT) * 1000;
    const now = this.#now();
    this.pending.push({
      ...action,
      ...(transition ? { transition } : {}),
      startedAt: now,
      expiresAt: now + timeout,
      globalExpiresAt: now + Math.min(100 * timeout, MAX_GLOBAL_TIMEOUT * 1000),
      heartbeats: 0,
    });
    if (transition)
      this.#setState(action.instanceId, transition === 'launching' ? 'Pending:Wait' : 'Terminating:Wait');
  }

  /** Applies the default result of every action whose timeout has passed. */
  expire(): void {
    const now = this.#now();
    for (const action of [...this.pending]) {
      const at = Math.min(action.expiresAt, action.globalExpiresAt);
      if (at > now) continue;
      const hook = this.hook(action.autoScalingGroupName, action.lifecycleHookName);
      const done = this.finish(action, hook?.defaultResult ?? DEFAULT_RESULT, 'timeout', at);
      this.#onTimeout(done);
    }
  }

  heartbeat(action: PendingLifecycleAction): void {
    const hook = this.hook(action.autoScalingGroupName, action.lifecycleHookName);
    const timeout = (hook?.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT) * 1000;
    action.expiresAt = Math.min(this.#now() + timeout, action.globalExpiresAt);
    action.heartbeats++;
  }

  finish(
    action: PendingLifecycleAction,
    result: string,
    by: 'call' | 'timeout',
    at = this.#now(),
  ): CompletedLifecycleAction {
    const index = this.pending.indexOf(action);
    if (index >= 0) this.pending.splice(index, 1);
    const { startedAt: _s, expiresAt: _e, globalExpiresAt: _g, heartbeats: _h, ...rest } = action;
    const done: CompletedLifecycleAction = { ...rest, result, by, at };
    this.completed.push(done);
    if (action.transition === 'launching')
      this.#setState(action.instanceId, result === 'CONTINUE' ? 'InService' : 'Terminating:Proceed');
    if (action.transition === 'terminating') this.#setState(action.instanceId, 'Terminating:Proceed');
    return done;
  }

  #setState(instanceId: string, state: string): void {
    const instance = this.#store?.get(instanceId);
    if (instance) this.#store!.put({ ...instance, autoScalingLifecycleState: state });
  }
}

/** `1 validation error detected: Value null at 'x' failed to satisfy constraint: ...`, like the service. */
function requireParams(params: URLSearchParams, names: string[]): void {
  const missing = names.filter((n) => params.get(n) === null || params.get(n) === '');
  if (missing.length === 0) return;
  const parts = missing.map(
    (n) =>
      `Value null at '${n[0]!.toLowerCase()}${n.slice(1)}' failed to satisfy constraint: Member must not be null`,
  );
  const count =
    missing.length === 1 ? '1 validation error detected' : `${missing.length} validation errors detected`;
  throw new ApiError('ValidationError', `${count}: ${parts.join('; ')}`);
}

function findAction(registry: LifecycleRegistry, params: URLSearchParams): PendingLifecycleAction {
  registry.expire();
  requireParams(params, ['AutoScalingGroupName', 'LifecycleHookName']);
  const group = params.get('AutoScalingGroupName')!;
  const hook = params.get('LifecycleHookName')!;
  const token = params.get('LifecycleActionToken') || undefined;
  const instanceId = params.get('InstanceId') || undefined;
  if (token === undefined && instanceId === undefined) {
    throw new ApiError('ValidationError', 'Either LifecycleActionToken or InstanceId must be specified.');
  }
  const index = registry.pending.findIndex(
    (a) =>
      a.autoScalingGroupName === group &&
      a.lifecycleHookName === hook &&
      (token === undefined || a.token === token) &&
      (instanceId === undefined || a.instanceId === instanceId),
  );
  if (index < 0) {
    throw new ApiError(
      'ValidationError',
      token !== undefined
        ? `No active Lifecycle Action found with token ${token}`
        : `No active Lifecycle Action found with instance ID ${instanceId}`,
    );
  }
  return registry.pending[index]!;
}

export function completeLifecycleAction(registry: LifecycleRegistry, params: URLSearchParams): string {
  requireParams(params, ['AutoScalingGroupName', 'LifecycleHookName', 'LifecycleActionResult']);
  const result = params.get('LifecycleActionResult')!;
  if (result !== 'CONTINUE' && result !== 'ABANDON') {
    throw new ApiError(
      'ValidationError',
      `Value '${result}' at 'lifecycleActionResult' failed to satisfy constraint: Member must be CONTINUE or ABANDON`,
    );
  }
  registry.finish(findAction(registry, params), result, 'call');
  return '';
}

export function recordLifecycleActionHeartbeat(registry: LifecycleRegistry, params: URLSearchParams): string {
  registry.heartbeat(findAction(registry, params));
  return '';
}

/** DescribeLifecycleHooks: the group's registered hooks (all, or those named). */
export function describeLifecycleHooks(registry: LifecycleRegistry, params: URLSearchParams): string {
  requireParams(params, ['AutoScalingGroupName']);
  const group = params.get('AutoScalingGroupName')!;
  const names = readList(params, 'LifecycleHookNames.member');
  const hooks = registry.hooks.filter(
    (h) => h.autoScalingGroupName === group && (names.length === 0 || names.includes(h.lifecycleHookName)),
  );
  const members = hooks
    .map((h) => {
      const timeout = h.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT;
      return (
        '<member>' +
        el('LifecycleHookName', h.lifecycleHookName) +
        el('AutoScalingGroupName', h.autoScalingGroupName) +
        el(
          'LifecycleTransition',
          h.transition === 'launching'
            ? 'autoscaling:EC2_INSTANCE_LAUNCHING'
            : 'autoscaling:EC2_INSTANCE_TERMINATING',
        ) +
        el('HeartbeatTimeout', timeout) +
        el('GlobalTimeout', Math.min(100 * timeout, MAX_GLOBAL_TIMEOUT)) +
        el('DefaultResult', h.defaultResult ?? DEFAULT_RESULT) +
        '</member>'
      );
    })
    .join('');
  return members === '' ? '<LifecycleHooks/>' : `<LifecycleHooks>${members}</LifecycleHooks>`;
}

function lifecycleState(i: FakeInstance): string | undefined {
  if (i.autoScalingLifecycleState !== undefined && i.state !== 'terminated')
    return i.autoScalingLifecycleState;
  switch (i.state) {
    case 'pending':
      return 'Pending';
    case 'running':
      return 'InService';
    case 'shutting-down':
    case 'stopping':
    case 'stopped':
      return 'Terminating';
    case 'terminated':
      return undefined; // a terminated instance has left its group
  }
}

const MAX_RECORDS = 50;

export function describeAutoScalingInstances(store: InstanceStore, params: URLSearchParams): string {
  const requested = readList(params, 'InstanceIds.member');
  if (requested.length > MAX_RECORDS) {
    throw new ApiError(
      'ValidationError',
      `1 validation error detected: Value '[${requested.join(', ')}]' at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to ${MAX_RECORDS}`,
    );
  }
  const maxRaw = params.get('MaxRecords');
  let max = MAX_RECORDS;
  if (maxRaw !== null) {
    max = Number(maxRaw);
    if (!Number.isInteger(max) || max < 1 || max > MAX_RECORDS) {
      throw new ApiError(
        'ValidationError',
        `1 validation error detected: Value '${maxRaw}' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and ${MAX_RECORDS}`,
      );
    }
  }
  const tokenRaw = params.get('NextToken');
  let after: string | undefined;
  if (tokenRaw !== null && tokenRaw !== '') {
    after = Buffer.from(tokenRaw, 'base64url').toString('utf8');
    if (!after.startsWith('i-')) throw new ApiError('InvalidNextToken', 'The token is invalid.');
  }

  const grouped = store.idsWithTagKey(ASG_NAME_TAG);
  const ids = (requested.length > 0 ? [...new Set(requested)].filter((id) => grouped.has(id)) : [...grouped])
    .filter((id) => {
      const i = store.peek(id);
      return i !== undefined && lifecycleState(i) !== undefined;
    })
    .sort()
    .filter((id) => after === undefined || id > after);

  const page = ids.slice(0, max);
  let members = '';
  for (const id of page) {
    const i = store.peek(id)!;
    const healthy = i.state === 'running' || i.state === 'pending';
    members +=
      '<member>' +
      el('InstanceId', i.instanceId) +
      el('InstanceType', i.instanceType ?? DEFAULT_INSTANCE_TYPE) +
      el('AutoScalingGroupName', i.tags[ASG_NAME_TAG]) +
      el('AvailabilityZone', i.availabilityZone) +
      el('LifecycleState', lifecycleState(i)) +
      el('HealthStatus', healthy ? 'HEALTHY' : 'UNHEALTHY') +
      '<ProtectedFromScaleIn>false</ProtectedFromScaleIn>' +
      '</member>';
  }
  let result =
    members === '' ? '<AutoScalingInstances/>' : `<AutoScalingInstances>${members}</AutoScalingInstances>`;
  if (ids.length > page.length) {
    result += el('NextToken', Buffer.from(page[page.length - 1]!).toString('base64url'));
  }
  return result;
}

/** Pages of DescribeAutoScalingGroups / DescribeWarmPool: opaque tokens over a sorted key. */
function pageOf<T>(
  items: T[],
  key: (t: T) => string,
  params: URLSearchParams,
  maxAllowed: number,
): { page: T[]; next?: string } {
  const maxRaw = params.get('MaxRecords');
  const max = maxRaw === null ? maxAllowed : Number(maxRaw);
  if (!Number.isInteger(max) || max < 1 || max > maxAllowed) {
    throw new ApiError(
      'ValidationError',
      `1 validation error detected: Value '${maxRaw}' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and ${maxAllowed}`,
    );
  }
  const tokenRaw = params.get('NextToken');
  const after = tokenRaw ? Buffer.from(tokenRaw, 'base64url').toString('utf8') : undefined;
  const sorted = [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const rest = after === undefined ? sorted : sorted.filter((t) => key(t) > after);
  const page = rest.slice(0, max);
  return rest.length > page.length
    ? { page, next: Buffer.from(key(page[page.length - 1]!)).toString('base64url') }
    : { page };
}

function instanceMember(i: FakeInstance): string {
  const healthy = i.state === 'running' || i.state === 'pending';
  return (
    '<member>' +
    el('InstanceId', i.instanceId) +
    el('InstanceType', i.instanceType ?? DEFAULT_INSTANCE_TYPE) +
    el('AvailabilityZone', i.availabilityZone) +
    el('LifecycleState', lifecycleState(i)) +
    el('HealthStatus', healthy ? 'Healthy' : 'Unhealthy') +
    '<ProtectedFromScaleIn>false</ProtectedFromScaleIn>' +
    '</member>'
  );
}

/** Group members by group name, from the instances' `aws:autoscaling:groupName` tags. */
function groupsOf(store: InstanceStore): Map<string, FakeInstance[]> {
  const groups = new Map<string, FakeInstance[]>();
  for (const id of store.idsWithTagKey(ASG_NAME_TAG)) {
    const i = store.peek(id);
    if (!i || lifecycleState(i) === undefined) continue;
    const name = i.tags[ASG_NAME_TAG]!;
    const members = groups.get(name) ?? [];
    if (members.length === 0) groups.set(name, members);
    members.push(i);
  }
  return groups;
}

const isWarm = (i: FakeInstance) => (lifecycleState(i) ?? '').startsWith('Warmed:');

/**
 * DescribeAutoScalingGroups over the groups the instances' tags name. As in the service, a group's
 * `Instances` leaves out its warm pool; a group with warm instances has a WarmPoolConfiguration.
 */
export function describeAutoScalingGroups(
  store: InstanceStore,
  params: URLSearchParams,
  region: string,
): string {
  const wanted = readList(params, 'AutoScalingGroupNames.member');
  const groups = groupsOf(store);
  const names = wanted.length > 0 ? wanted.filter((n) => groups.has(n)) : [...groups.keys()];
  const { page, next } = pageOf(names, (n) => n, params, 100);
  let members = '';
  for (const name of page) {
    const all = groups.get(name)!;
    const inGroup = all.filter((i) => !isWarm(i));
    members +=
      '<member>' +
      el('AutoScalingGroupName', name) +
      el(
        'AutoScalingGroupARN',
        `arn:aws:autoscaling:${region}:123456789012:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/${name}`,
      ) +
      el('MinSize', 0) +
      el('MaxSize', all.length) +
      el('DesiredCapacity', inGroup.length) +
      el('DefaultCooldown', 300) +
      `<AvailabilityZones>${[...new Set(all.map((i) => i.availabilityZone))].map((z) => el('member', z)).join('')}</AvailabilityZones>` +
      el('HealthCheckType', 'EC2') +
      el('CreatedTime', '2026-01-01T00:00:00.000Z') +
      (inGroup.length > 0
        ? `<Instances>${inGroup.map(instanceMember).join('')}</Instances>`
        : '<Instances/>') +
      (all.some(isWarm)
        ? `<WarmPoolConfiguration>${el('PoolState', 'Running')}${el('Status', '')}</WarmPoolConfiguration>`
        : '') +
      '</member>';
  }
  return (
    (members === '' ? '<AutoScalingGroups/>' : `<AutoScalingGroups>${members}</AutoScalingGroups>`) +
    (next ? el('NextToken', next) : '')
  );
}

/** DescribeWarmPool: the group's warm instances (`Warmed:*`), paged. */
export function describeWarmPool(store: InstanceStore, params: URLSearchParams): string {
  requireParams(params, ['AutoScalingGroupName']);
  const name = params.get('AutoScalingGroupName')!;
  const warm = (groupsOf(store).get(name) ?? []).filter(isWarm);
  // The API allows at most 50 records a page (DescribeWarmPool API Reference, MaxRecords).
  const { page, next } = pageOf(warm, (i) => i.instanceId, params, 50);
  return (
    (warm.length > 0 ? `<WarmPoolConfiguration>${el('PoolState', 'Running')}</WarmPoolConfiguration>` : '') +
    (page.length > 0 ? `<Instances>${page.map(instanceMember).join('')}</Instances>` : '<Instances/>') +
    (next ? el('NextToken', next) : '')
  );
}
