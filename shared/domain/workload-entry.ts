import { createHash } from 'node:crypto';
import {
  ACCOUNT_ANNOTATION,
  ALLOWED_ACCOUNTS_ANNOTATION,
  ALLOWED_AUTOSCALING_GROUPS_ANNOTATION,
  APPLIED_HASH_ANNOTATION,
  ASG_ANNOTATION,
  ASG_NAME_TAG,
  HEALTH_CHECKS_ANNOTATION,
  INSTANCE_ID_LABEL,
  ISTIO_NETWORKING_GROUP,
  ISTIO_NETWORKING_VERSION,
  LAUNCH_TIME_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
} from '../constants.ts';
import { type Refusal, RefusalReason } from './errors.ts';
import { readLifecycleSettings } from './lifecycle.ts';
import type { InstanceFacts, WorkloadEntryObject, WorkloadEntrySpec, WorkloadGroupView } from './types.ts';

/** Kubernetes object names are DNS-1123 subdomains of at most 253 characters. */
const MAX_NAME = 253;

/** Deterministic entry name: `<group>-<instance-id>`. */
export function workloadEntryName(groupName: string, instanceId: string): string {
  return `${groupName}-${instanceId}`;
}

/** Whether a live object carries our managed-by label: the only objects we ever change or delete. */
export function isManaged(object: { metadata?: { labels?: Record<string, string> } } | undefined): boolean {
  return object?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
}

function csvSet(value: string | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  return new Set(
    value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/**
 * A group may narrow who may join it (see README, "Tag contract"): annotation
 * `istio-vm-registrar.io/allowed-autoscaling-groups` lists Auto Scaling group names and
 * `istio-vm-registrar.io/allowed-accounts` lists account ids. Each present annotation must match.
 */
export function checkAllowedSource(
  facts: InstanceFacts,
  group: WorkloadGroupView,
  requireAllowList = false,
): Refusal | undefined {
  const asgs = csvSet(group.annotations[ALLOWED_AUTOSCALING_GROUPS_ANNOTATION]);
  const accountsListed = csvSet(group.annotations[ALLOWED_ACCOUNTS_ANNOTATION]);
  // Tags are the trust anchor: whoever may tag an instance may name any group. Under
  // REQUIRE_GROUP_ALLOW_LIST a group admits only the sources it names.
  if (requireAllowList && !asgs && !accountsListed) {
    return {
      reason: RefusalReason.SourceNotAllowed,
      message: `${group.namespace}/${group.name} names no allowed Auto Scaling groups or accounts (annotation ${ALLOWED_AUTOSCALING_GROUPS_ANNOTATION} or ${ALLOWED_ACCOUNTS_ANNOTATION}) and REQUIRE_GROUP_ALLOW_LIST is on`,
    };
  }
  const asg = facts.tags[ASG_NAME_TAG];
  if (asgs && (asg === undefined || !asgs.has(asg))) {
    return {
      reason: RefusalReason.SourceNotAllowed,
      message: `Auto Scaling group ${asg ? `"${asg}"` : '(none)'} may not join ${group.namespace}/${group.name}`,
    };
  }
  const accounts = csvSet(group.annotations[ALLOWED_ACCOUNTS_ANNOTATION]);
  if (accounts && (facts.ownerId === undefined || !accounts.has(facts.ownerId))) {
    return {
      reason: RefusalReason.SourceNotAllowed,
      message: `account ${facts.ownerId ?? '(unknown)'} may not join ${group.namespace}/${group.name}`,
    };
  }
  return undefined;
}

/**
 * Renders the desired WorkloadEntry for an instance of a group, as Istio's own auto-registration
 * does (pilot/pkg/autoregistration: template, then group metadata labels over template labels),
 * with the address, locality and network taken from EC2.
 */
export function renderWorkloadEntry(
  facts: InstanceFacts,
  group: WorkloadGroupView,
  options: { readonly network?: string; readonly requireAllowList?: boolean } = {},
): { ok: true; entry: WorkloadEntryObject } | { ok: false; refusal: Refusal } {
  const refused = checkAllowedSource(facts, group, options.requireAllowList === true);
  if (refused) return { ok: false, refusal: refused };
  if (!facts.privateIpAddress) {
    return {
      ok: false,
      refusal: { reason: RefusalReason.NoPrivateIp, message: 'instance has no private IPv4' },
    };
  }
  const name = workloadEntryName(group.name, facts.instanceId);
  if (name.length > MAX_NAME) {
    return {
      ok: false,
      refusal: {
        reason: RefusalReason.NameTooLong,
        message: `entry name ${name} exceeds ${MAX_NAME} characters`,
      },
    };
  }
  const t = group.template;
  const specLabels = { ...t.labels, ...group.entryMetadata.labels };
  const network = options.network ?? t.network;
  const spec: WorkloadEntrySpec = {
    address: facts.privateIpAddress,
    ...(Object.keys(specLabels).length > 0 ? { labels: sortKeys(specLabels) } : {}),
    ...(facts.availabilityZone ? { locality: `${facts.region}/${facts.availabilityZone}` } : {}),
    ...(network ? { network } : {}),
    ...(t.ports && Object.keys(t.ports).length > 0 ? { ports: sortKeys(t.ports) } : {}),
    ...(t.serviceAccount ? { serviceAccount: t.serviceAccount } : {}),
    ...(t.weight !== undefined ? { weight: t.weight } : {}),
  };
  const asg = facts.tags[ASG_NAME_TAG];
  const annotations: Record<string, string> = {
    ...group.entryMetadata.annotations,
    ...(asg ? { [ASG_ANNOTATION]: asg } : {}),
    ...(facts.launchTime ? { [LAUNCH_TIME_ANNOTATION]: facts.launchTime } : {}),
    ...(facts.ownerId ? { [ACCOUNT_ANNOTATION]: facts.ownerId } : {}),
    // The istiod launch gate: istiod keeps the entry out of endpoints until the VM's proxy reports
    // it healthy, and writes the Healthy condition the gate waits for.
    ...(readLifecycleSettings(group, 0).settings.gate.mode === 'istiod'
      ? { [HEALTH_CHECKS_ANNOTATION]: 'true' }
      : {}),
  };
  const entry: WorkloadEntryObject = {
    apiVersion: `${ISTIO_NETWORKING_GROUP}/${ISTIO_NETWORKING_VERSION}`,
    kind: 'WorkloadEntry',
    metadata: {
      name,
      namespace: group.namespace,
      labels: sortKeys({
        ...specLabels,
        [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
        [INSTANCE_ID_LABEL]: facts.instanceId,
      }),
      annotations,
      ownerReferences: [
        {
          apiVersion: group.apiVersion,
          kind: 'WorkloadGroup',
          name: group.name,
          uid: group.uid,
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    },
    spec,
  };
  entry.metadata.annotations = sortKeys({ ...annotations, [APPLIED_HASH_ANNOTATION]: contentHash(entry) });
  return { ok: true, entry };
}

/** Short stable digest of what we apply: a changed digest means fields we own may need pruning. */
export function contentHash(entry: WorkloadEntryObject): string {
  const { annotations = {}, ...metadata } = entry.metadata;
  const { [APPLIED_HASH_ANNOTATION]: _ignored, ...rest } = annotations;
  return createHash('sha256')
    .update(stableJson({ metadata: { ...metadata, annotations: rest }, spec: entry.spec }))
    .digest('hex')
    .slice(0, 16);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

function sortKeys<V>(record: Record<string, V>): Record<string, V> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function isSubset(desired: unknown, live: unknown): boolean {
  if (desired === live) return true;
  if (typeof desired !== 'object' || desired === null || typeof live !== 'object' || live === null)
    return false;
  if (Array.isArray(desired)) {
    return (
      Array.isArray(live) && desired.length === live.length && desired.every((d, i) => isSubset(d, live[i]))
    );
  }
  return Object.entries(desired).every(([k, v]) => isSubset(v, (live as Record<string, unknown>)[k]));
}

/**
 * Whether a live entry already is what we would apply, so the write can be skipped. The applied-hash
 * annotation catches fields we set before and no longer want (server-side apply prunes them); the
 * subset check catches hand edits of fields we own.
 */
export function entryMatches(live: WorkloadEntryObject | undefined, desired: WorkloadEntryObject): boolean {
  if (!live) return false;
  const annotations = live.metadata.annotations ?? {};
  if (annotations[APPLIED_HASH_ANNOTATION] !== desired.metadata.annotations?.[APPLIED_HASH_ANNOTATION])
    return false;
  return (
    isSubset(desired.spec, live.spec) &&
    isSubset(desired.metadata.labels ?? {}, live.metadata.labels ?? {}) &&
    isSubset(desired.metadata.annotations ?? {}, annotations) &&
    (desired.metadata.ownerReferences ?? []).every((ref) =>
      (live.metadata.ownerReferences ?? []).some((l) => isSubset(ref, l)),
    )
  );
}
