/**
 * Typed settings from CDK context: `cdk.json` ("context") and `-c key=value` on the command line.
 * Values from cdk.json keep their JSON types; values from the command line are strings, so every
 * reader accepts both (`true`/"true", `[ "a", "b" ]`/"a,b"). Every problem is reported at once.
 * docs/deployment.md lists the keys.
 */
import type { Node } from 'constructs';
import { parseNetworkMap, parseSpokes } from '../shared/domain/locations.ts';
import { MESH_ARCHITECTURES, type MeshArchitecture } from './constructs/gateway-networking.ts';
import type { SpokeLocation } from './constructs/hub.ts';

export interface VpcSettings {
  readonly vpcId: string;
  readonly availabilityZones: string[];
  readonly privateSubnetIds: string[];
}

export interface AppSettings {
  readonly architecture: MeshArchitecture;
  /** Stack environment; undefined = environment-agnostic (synth needs no credentials). */
  readonly env?: { readonly account: string; readonly region: string };
  readonly stackNamePrefix: string;
  readonly deployRegistrar: boolean;
  readonly deployGateway: boolean;

  readonly clusterName: string;
  readonly clusterEndpoint?: string;
  readonly clusterCaData?: string;
  readonly allowedNamespaces: string[];
  readonly tagPrefix?: string;
  readonly stoppedInstancePolicy?: 'delete' | 'keep';
  readonly completeLifecycleActions?: boolean;
  readonly kubeConcurrency?: number;
  readonly reconcileMaxDeleteRatio?: number;
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  readonly logRetentionDays?: number;
  readonly autoScalingGroupNames: string[];
  readonly createLifecycleHooks: boolean;
  readonly batchSize?: number;
  readonly maxBatchingWindowSeconds?: number;
  readonly maxConcurrency?: number;
  readonly maxReceiveCount?: number;
  readonly reconcileSchedule?: string;
  readonly reconcileScheduleEnabled?: boolean;
  readonly functionsInVpc: boolean;
  readonly clusterSecurityGroupId?: string;
  readonly kubernetesGroup?: string;
  readonly applyRbac: boolean;
  readonly kubectlRoleArn?: string;
  readonly alarmTopicArn?: string;
  readonly dashboardName?: string;
  readonly queueSenderRoleArns?: string[];
  /** EventBridge bus for the registrar's own events (EVENT_BUS). */
  readonly eventBusArn?: string;

  readonly clusterVpc?: VpcSettings;
  readonly vmVpc?: VpcSettings;
  readonly vmSecurityGroupIds: string[];
  readonly hostedZoneName?: string;
  readonly istiodRecordName?: string;
  readonly endpointAcceptanceRequired?: boolean;
  readonly endpointAllowedPrincipals?: string[];
  readonly crossZoneEnabled?: boolean;

  /** VM bootstrap (its own stack when `bootstrapGroups` names groups). */
  readonly bootstrapGroups: string[];
  /** `namespace/name` -> instance role ARNs. */
  readonly bootstrapInstanceRoleArns: Record<string, string[]>;
  readonly istioVersion?: string;
  readonly bootstrapTokenLifetimeHours?: number;
  readonly bootstrapRefreshMinutes?: number;
  readonly bootstrapClusterId?: string;
  readonly bootstrapControlPlaneNamespace?: string;
  readonly bootstrapGatewayDnsName?: string;
  readonly bootstrapZoneVpcIds?: string[];
  /** Synthesise the spoke template (`<prefix>Spoke`, for StackSets). */
  readonly deploySpoke: boolean;
  /** Other account/region pairs the registrar serves (hub bus, member-role access). */
  readonly spokes: SpokeLocation[];
  readonly memberExternalId?: string;
  readonly memberRoleName?: string;
  readonly organizationId?: string;
  /** `<account>` or `<account>:<vpc-id>` -> network. */
  readonly networkMap?: Record<string, string>;
  /** Defaults of the spoke template's parameters. */
  readonly spokeHubEventBusArn?: string;
  readonly spokeRegistrarRoleArns?: string[];
}

/** Every context key read, for docs and for catching typos in cdk.json. */
export const CONTEXT_KEYS = [
  'architecture',
  'account',
  'region',
  'stackNamePrefix',
  'deployRegistrar',
  'deployGateway',
  'clusterName',
  'clusterEndpoint',
  'clusterCaData',
  'allowedNamespaces',
  'tagPrefix',
  'stoppedInstancePolicy',
  'completeLifecycleActions',
  'kubeConcurrency',
  'reconcileMaxDeleteRatio',
  'logLevel',
  'logRetentionDays',
  'autoScalingGroupNames',
  'createLifecycleHooks',
  'batchSize',
  'maxBatchingWindowSeconds',
  'maxConcurrency',
  'maxReceiveCount',
  'reconcileSchedule',
  'reconcileScheduleEnabled',
  'functionsInVpc',
  'clusterSecurityGroupId',
  'kubernetesGroup',
  'applyRbac',
  'kubectlRoleArn',
  'alarmTopicArn',
  'dashboardName',
  'queueSenderRoleArns',
  'eventBusArn',
  'clusterVpcId',
  'clusterVpcAvailabilityZones',
  'clusterVpcPrivateSubnetIds',
  'vmVpcId',
  'vmVpcAvailabilityZones',
  'vmVpcPrivateSubnetIds',
  'vmSecurityGroupIds',
  'hostedZoneName',
  'istiodRecordName',
  'endpointAcceptanceRequired',
  'endpointAllowedPrincipals',
  'crossZoneEnabled',
  'bootstrapGroups',
  'bootstrapInstanceRoleArns',
  'istioVersion',
  'bootstrapTokenLifetimeHours',
  'bootstrapRefreshMinutes',
  'bootstrapClusterId',
  'bootstrapControlPlaneNamespace',
  'bootstrapGatewayDnsName',
  'bootstrapZoneVpcIds',
  'deploySpoke',
  'spokeAccountRegions',
  'memberExternalId',
  'memberRoleName',
  'organizationId',
  'networkMap',
  'spokeHubEventBusArn',
  'spokeRegistrarRoleArns',
] as const;

/** Thrown when the context cannot describe a deployment; lists every problem. */
export class ContextError extends Error {
  override readonly name = 'ContextError';
}

class Reader {
  readonly problems: string[] = [];
  private readonly node: Node;

  constructor(node: Node) {
    this.node = node;
  }

  private raw(key: string): unknown {
    const value = this.node.tryGetContext(key);
    return value === '' || value === null ? undefined : value;
  }

  string(key: string): string | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      this.problems.push(`${key}: expected a string, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return value.trim();
  }

  requiredString(key: string, why: string): string {
    const value = this.string(key);
    if (value === undefined) this.problems.push(`${key}: required (${why})`);
    return value ?? '';
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value)) {
      this.problems.push(`${key}: "${value}" is not one of ${allowed.join(', ')}`);
      return undefined;
    }
    return value as T;
  }

  boolean(key: string): boolean | undefined {
    const value = this.raw(key);
    if (value === undefined || typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    this.problems.push(`${key}: expected true or false, got ${JSON.stringify(value)}`);
    return undefined;
  }

  number(key: string): number | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    const parsed = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
    if (!Number.isFinite(parsed)) {
      this.problems.push(`${key}: expected a number, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return parsed;
  }

  list(key: string): string[] {
    const value = this.raw(key);
    if (value === undefined) return [];
    let items: unknown = value;
    if (typeof value === 'string') {
      items = value.trim().startsWith('[') ? safeJson(value) : value.split(',');
    }
    if (!Array.isArray(items) || !items.every((item) => typeof item === 'string')) {
      this.problems.push(
        `${key}: expected a list of strings (JSON array or comma-separated), got ${JSON.stringify(value)}`,
      );
      return [];
    }
    return items.map((item) => item.trim()).filter((item) => item.length > 0);
  }

  vpc(prefix: string): VpcSettings | undefined {
    const vpcId = this.string(`${prefix}Id`);
    const availabilityZones = this.list(`${prefix}AvailabilityZones`);
    const privateSubnetIds = this.list(`${prefix}PrivateSubnetIds`);
    if (vpcId === undefined) {
      if (availabilityZones.length > 0 || privateSubnetIds.length > 0) {
        this.problems.push(
          `${prefix}Id: required when ${prefix}AvailabilityZones or ${prefix}PrivateSubnetIds is set`,
        );
      }
      return undefined;
    }
    if (!/^vpc-[0-9a-f]{8,17}$/.test(vpcId)) this.problems.push(`${prefix}Id: "${vpcId}" is not a VPC id`);
    if (availabilityZones.length === 0)
      this.problems.push(`${prefix}AvailabilityZones: required with ${prefix}Id`);
    if (
      privateSubnetIds.length === 0 ||
      privateSubnetIds.length % Math.max(availabilityZones.length, 1) !== 0
    ) {
      this.problems.push(
        `${prefix}PrivateSubnetIds: needs one subnet per availability zone (or a multiple), got ${privateSubnetIds.length} for ${availabilityZones.length} zones`,
      );
    }
    for (const subnet of privateSubnetIds) {
      if (!/^subnet-[0-9a-f]{8,17}$/.test(subnet))
        this.problems.push(`${prefix}PrivateSubnetIds: "${subnet}" is not a subnet id`);
    }
    return { vpcId, availabilityZones, privateSubnetIds };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Reads and validates the context of `node` (usually the App's). */
export function readSettings(node: Node): AppSettings {
  const read = new Reader(node);
  const architecture = read.oneOf('architecture', MESH_ARCHITECTURES) ?? 'single-network';
  const account = read.string('account');
  const region = read.string('region');
  if ((account === undefined) !== (region === undefined))
    read.problems.push('account and region: set both or neither');
  if (account !== undefined && !/^\d{12}$/.test(account))
    read.problems.push(`account: "${account}" is not a 12-digit account id`);

  const deployRegistrar = read.boolean('deployRegistrar') ?? true;
  const deployGateway = read.boolean('deployGateway') ?? true;
  const allowedNamespaces = read.list('allowedNamespaces');
  if (deployRegistrar && allowedNamespaces.length === 0) {
    read.problems.push('allowedNamespaces: required (the namespaces the registrar may write into)');
  }
  const functionsInVpc = read.boolean('functionsInVpc') ?? false;
  const clusterVpc = read.vpc('clusterVpc');
  const vmVpc = read.vpc('vmVpc');
  const vmSecurityGroupIds = read.list('vmSecurityGroupIds');
  for (const id of vmSecurityGroupIds) {
    if (!/^sg-[0-9a-f]{8,17}$/.test(id))
      read.problems.push(`vmSecurityGroupIds: "${id}" is not a security group id`);
  }
  if (deployGateway) {
    if (!clusterVpc)
      read.problems.push('clusterVpcId: required for the gateway stack (or set deployGateway=false)');
    if (vmSecurityGroupIds.length === 0)
      read.problems.push('vmSecurityGroupIds: required for the gateway stack');
    if (architecture === 'multi-network' && !vmVpc) read.problems.push('vmVpcId: required for multi-network');
  }
  if (deployRegistrar && functionsInVpc && !clusterVpc)
    read.problems.push('functionsInVpc: needs clusterVpcId');
  const autoScalingGroupNames = read.list('autoScalingGroupNames');
  const createLifecycleHooks = read.boolean('createLifecycleHooks') ?? false;
  if (createLifecycleHooks && autoScalingGroupNames.length === 0) {
    read.problems.push('createLifecycleHooks: needs autoScalingGroupNames (the groups to add hooks to)');
  }
  const applyRbac = read.boolean('applyRbac') ?? false;
  const kubectlRoleArn = read.string('kubectlRoleArn');
  if (applyRbac && !kubectlRoleArn) read.problems.push('applyRbac: needs kubectlRoleArn');
  const logLevel = read.oneOf('logLevel', ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const);
  const eventBusArn = read.string('eventBusArn');
  if (
    eventBusArn !== undefined &&
    !/^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[A-Za-z0-9._\-/]+$/.test(eventBusArn)
  ) {
    read.problems.push(`eventBusArn: "${eventBusArn}" is not an EventBridge event bus ARN`);
  }
  const bootstrap = readBootstrap(read, deployGateway);
  const queueSenderRoleArns = listOrUndefined(read, 'queueSenderRoleArns');
  for (const arn of queueSenderRoleArns ?? []) {
    if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(arn))
      read.problems.push(`queueSenderRoleArns: "${arn}" is not an IAM role ARN`);
  }

  const settings: AppSettings = {
    architecture,
    ...(account !== undefined && region !== undefined ? { env: { account, region } } : {}),
    stackNamePrefix: read.string('stackNamePrefix') ?? 'IstioVm',
    deployRegistrar,
    deployGateway,
    clusterName: deployRegistrar
      ? read.requiredString('clusterName', 'the EKS cluster the registrar writes to')
      : '',
    ...optional('clusterEndpoint', read.string('clusterEndpoint')),
    ...optional('clusterCaData', read.string('clusterCaData')),
    allowedNamespaces,
    ...optional('tagPrefix', read.string('tagPrefix')),
    ...optional('stoppedInstancePolicy', read.oneOf('stoppedInstancePolicy', ['delete', 'keep'] as const)),
    ...optional('completeLifecycleActions', read.boolean('completeLifecycleActions')),
    ...optional('kubeConcurrency', read.number('kubeConcurrency')),
    ...optional('reconcileMaxDeleteRatio', read.number('reconcileMaxDeleteRatio')),
    ...optional('logLevel', logLevel),
    ...optional('logRetentionDays', read.number('logRetentionDays')),
    autoScalingGroupNames,
    createLifecycleHooks,
    ...optional('batchSize', read.number('batchSize')),
    ...optional('maxBatchingWindowSeconds', read.number('maxBatchingWindowSeconds')),
    ...optional('maxConcurrency', read.number('maxConcurrency')),
    ...optional('maxReceiveCount', read.number('maxReceiveCount')),
    ...optional('reconcileSchedule', read.string('reconcileSchedule')),
    ...optional('reconcileScheduleEnabled', read.boolean('reconcileScheduleEnabled')),
    functionsInVpc,
    ...optional('clusterSecurityGroupId', read.string('clusterSecurityGroupId')),
    ...optional('kubernetesGroup', read.string('kubernetesGroup')),
    applyRbac,
    ...optional('kubectlRoleArn', kubectlRoleArn),
    ...optional('alarmTopicArn', read.string('alarmTopicArn')),
    ...optional('dashboardName', read.string('dashboardName')),
    ...optional('queueSenderRoleArns', queueSenderRoleArns),
    ...optional('eventBusArn', eventBusArn),
    ...optional('clusterVpc', clusterVpc),
    ...optional('vmVpc', vmVpc),
    vmSecurityGroupIds,
    ...optional('hostedZoneName', read.string('hostedZoneName')),
    ...optional('istiodRecordName', read.string('istiodRecordName')),
    ...optional('endpointAcceptanceRequired', read.boolean('endpointAcceptanceRequired')),
    ...optional('endpointAllowedPrincipals', listOrUndefined(read, 'endpointAllowedPrincipals')),
    ...optional('crossZoneEnabled', read.boolean('crossZoneEnabled')),
    ...bootstrap,
    ...readFleetSettings(read, region),
  };
  if (read.problems.length > 0) {
    throw new ContextError(`istio-vm-registrar CDK context (cdk.json or -c): ${read.problems.join('; ')}`);
  }
  return settings;
}

/** The VM bootstrap keys: groups need an Istio version, a cluster and a gateway to name. */
function readBootstrap(read: Reader, deployGateway: boolean) {
  const bootstrapGroups = read.list('bootstrapGroups');
  const bootstrapInstanceRoleArns: Record<string, string[]> = {};
  for (const item of read.list('bootstrapInstanceRoleArns')) {
    const eq = item.indexOf('=');
    const group = item.slice(0, eq);
    const arn = item.slice(eq + 1);
    if (eq <= 0 || !/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(arn)) {
      read.problems.push(`bootstrapInstanceRoleArns: "${item}" is not NAMESPACE/NAME=ROLE_ARN`);
      continue;
    }
    if (!bootstrapGroups.some((g) => g === group || g.startsWith(`${group}:`))) {
      read.problems.push(`bootstrapInstanceRoleArns: ${group} is not in bootstrapGroups`);
    }
    bootstrapInstanceRoleArns[group] = [...(bootstrapInstanceRoleArns[group] ?? []), arn];
  }
  const istioVersion = read.string('istioVersion');
  const bootstrapGatewayDnsName = read.string('bootstrapGatewayDnsName');
  if (bootstrapGroups.length > 0) {
    if (!istioVersion)
      read.problems.push('istioVersion: required with bootstrapGroups (the sidecar package VMs install)');
    if (!read.string('clusterName')) read.problems.push('clusterName: required with bootstrapGroups');
    if (!deployGateway && !bootstrapGatewayDnsName) {
      read.problems.push(
        'bootstrapGatewayDnsName: required with bootstrapGroups when this app deploys no gateway stack',
      );
    }
  }
  const zone = read.list('bootstrapZoneVpcIds');
  return {
    bootstrapGroups,
    bootstrapInstanceRoleArns,
    ...optional('istioVersion', istioVersion),
    ...optional('bootstrapTokenLifetimeHours', read.number('bootstrapTokenLifetimeHours')),
    ...optional('bootstrapRefreshMinutes', read.number('bootstrapRefreshMinutes')),
    ...optional('bootstrapClusterId', read.string('bootstrapClusterId')),
    ...optional('bootstrapControlPlaneNamespace', read.string('bootstrapControlPlaneNamespace')),
    ...optional('bootstrapGatewayDnsName', bootstrapGatewayDnsName),
    ...optional('bootstrapZoneVpcIds', zone.length > 0 ? zone : undefined),
  };
}

function listOrUndefined(read: Reader, key: string): string[] | undefined {
  const values = read.list(key);
  return values.length > 0 ? values : undefined;
}

/** `{ key: value }` when value is defined, `{}` otherwise (keeps optional props absent). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V });
}

/** Other accounts and regions: the spokes, the member role, the network map, the spoke template. */
function readFleetSettings(
  read: Reader,
  region: string | undefined,
): Pick<
  AppSettings,
  | 'deploySpoke'
  | 'spokes'
  | 'memberExternalId'
  | 'memberRoleName'
  | 'organizationId'
  | 'networkMap'
  | 'spokeHubEventBusArn'
  | 'spokeRegistrarRoleArns'
> {
  const pairs = read.list('spokeAccountRegions');
  const { spokes, problems } = parseSpokes(pairs.join(','), region ?? pairs[0]?.split(':')[1] ?? 'us-east-1');
  for (const problem of problems) read.problems.push(`spokeAccountRegions: ${problem}`);
  const memberExternalId = read.string('memberExternalId');
  if (memberExternalId !== undefined && !/^[\w+=,.@:/-]{2,1224}$/.test(memberExternalId))
    read.problems.push('memberExternalId: must be 2-1224 characters of [A-Za-z0-9+=,.@:/_-]');
  if (spokes.length > 0 && memberExternalId === undefined)
    read.problems.push('memberExternalId: required with spokeAccountRegions (the spoke stacks’ ExternalId)');
  const memberRoleName = read.string('memberRoleName');
  if (memberRoleName !== undefined && !/^[\w+=,.@-]{1,64}$/.test(memberRoleName))
    read.problems.push(`memberRoleName: "${memberRoleName}" is not an IAM role name`);
  const organizationId = read.string('organizationId');
  if (organizationId !== undefined && !/^o-[a-z0-9]{10,32}$/.test(organizationId))
    read.problems.push(`organizationId: "${organizationId}" is not an organization id (o-...)`);
  const mapItems = read.list('networkMap');
  const network = parseNetworkMap(mapItems.join(','));
  for (const problem of network.problems) read.problems.push(`networkMap: ${problem}`);
  const networkMap: Record<string, string> = {
    ...Object.fromEntries(network.map.byAccount),
    ...Object.fromEntries(network.map.byVpc),
  };
  const hubArn = read.string('spokeHubEventBusArn');
  if (hubArn !== undefined && !/^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[\w.\-/]+$/.test(hubArn))
    read.problems.push(`spokeHubEventBusArn: "${hubArn}" is not an event bus ARN`);
  const roleArns = read.list('spokeRegistrarRoleArns');
  for (const arn of roleArns) {
    if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(arn))
      read.problems.push(`spokeRegistrarRoleArns: "${arn}" is not an IAM role ARN`);
  }
  return {
    deploySpoke: read.boolean('deploySpoke') ?? true,
    spokes,
    ...optional('memberExternalId', memberExternalId),
    ...optional('memberRoleName', memberRoleName),
    ...optional('organizationId', organizationId),
    ...(Object.keys(networkMap).length > 0 ? { networkMap } : {}),
    ...optional('spokeHubEventBusArn', hubArn),
    ...(roleArns.length > 0 ? { spokeRegistrarRoleArns: roleArns } : {}),
  };
}
