/**
 * Auto Scaling side of the stand-in: lifecycle actions (CompleteLifecycleAction,
 * RecordLifecycleActionHeartbeat) and DescribeAutoScalingInstances over the EC2 store.
 */
import type { InstanceStore } from './ec2.ts';
import { DEFAULT_INSTANCE_TYPE } from './ec2.ts';
import { ApiError, readList } from './protocol.ts';
import type { CompletedLifecycleAction, FakeInstance, LifecycleAction } from './types.ts';
import { el } from './xml.ts';

export const ASG_NAME_TAG = 'aws:autoscaling:groupName';

export class LifecycleRegistry {
  readonly pending: LifecycleAction[] = [];
  readonly completed: CompletedLifecycleAction[] = [];

  add(action: LifecycleAction): void {
    for (const field of ['autoScalingGroupName', 'lifecycleHookName', 'instanceId', 'token'] as const) {
      if (typeof action?.[field] !== 'string' || action[field] === '') {
        throw new Error(`addLifecycleAction: ${field} is required`);
      }
    }
    const existing = this.pending.findIndex((a) => a.token === action.token);
    if (existing >= 0) this.pending.splice(existing, 1);
    this.pending.push({ ...action });
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

function findAction(registry: LifecycleRegistry, params: URLSearchParams): number {
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
  return index;
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
  const index = findAction(registry, params);
  const [action] = registry.pending.splice(index, 1);
  registry.completed.push({ ...action!, result });
  return '';
}

export function recordLifecycleActionHeartbeat(registry: LifecycleRegistry, params: URLSearchParams): string {
  findAction(registry, params);
  return '';
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
