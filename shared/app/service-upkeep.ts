import type { KubeWorkloads } from '../adapters/kube.ts';
import { KubeServiceObjects } from '../adapters/kube-services.ts';
import { NETWORK_TAG, WORKLOAD_GROUP_TAG } from '../constants.ts';
import { isNamespaceAllowed, parseGroupTag } from '../domain/decide.ts';
import type { DirectEndpoint } from '../domain/endpoint-slices.ts';
import { asksForServices, renderGroupServices } from '../domain/services.ts';
import type { InstanceFacts, WorkloadGroupView } from '../domain/types.ts';
import { workloadEntryName } from '../domain/workload-entry.ts';
import { mapSettled } from './concurrency.ts';
import {
  convergeGroupObjects,
  emptyDelta,
  type GroupDelta,
  reportGroupObjects,
  reportRefusal,
  type ServiceUpkeepDeps,
  syncSlices,
} from './services.ts';

/** What converging one instance did, as far as its group's Services care. */
export interface SettledInstance {
  readonly instanceId: string;
  readonly facts: InstanceFacts | undefined;
  readonly outcome: {
    readonly action: string;
    /** `applied`/`unchanged`: `<namespace>/<name>` of the entry. */
    readonly entry?: string;
    /** `deleted`: the entries deleted. */
    readonly entries?: readonly string[];
  };
}

export interface ServiceUpkeepOptions extends ServiceUpkeepDeps {
  readonly tagPrefix: string;
  readonly allowedNamespaces: readonly string[];
  readonly kubeConcurrency: number;
}

type GroupLookup = (namespace: string, name: string) => Promise<WorkloadGroupView | undefined>;

/**
 * Services on the event path (see shared/domain/services.ts and endpoint-slices.ts): per group
 * touched by a batch, its Services and ServiceEntries are converged when what the group asks for
 * changed (or the cache's TTL passed), and the batch's endpoint changes are written to the direct
 * Service's slices, one write per slice for the whole batch.
 */
export class ServiceUpkeep {
  readonly #deps: ServiceUpkeepOptions;

  constructor(deps: ServiceUpkeepOptions) {
    this.#deps = deps;
  }

  /** One registrar batch's upkeep; `kube` is bound to the batch's deadline. */
  startBatch(kube: KubeWorkloads, groupOf: GroupLookup): ServiceBatch {
    return new ServiceBatch(this, kube, groupOf, this.#deps);
  }

  /**
   * Converges one group: its Services/ServiceEntries when the rendered digest is not the cached one,
   * then the endpoint changes in its direct slices. Throws (retriably) when a write failed.
   */
  async upkeepGroup(kube: KubeWorkloads, group: WorkloadGroupView, delta: GroupDelta): Promise<void> {
    const { cache, defaultServiceMode } = this.#deps;
    const key = `${group.namespace}/${group.name}`;
    if (!asksForServices(group, defaultServiceMode)) return;
    const rendered = renderGroupServices(group, defaultServiceMode);
    if (!rendered.ok) {
      // A refused group keeps whatever it had: a typo in an annotation deletes nothing.
      reportRefusal(this.#deps, key, rendered.refusal);
      return;
    }
    const { services } = rendered;
    const api = new KubeServiceObjects(kube);
    let applied = cache.applied(group.uid, services.digest);
    const changed = applied === undefined;
    if (!applied) {
      const result = await convergeGroupObjects(api, group, services.objects, {
        ...(services.direct ? { directName: services.direct.name } : {}),
      });
      reportGroupObjects(this.#deps, key, result);
      cache.record(group.uid, services.digest, result.direct);
      applied = cache.applied(group.uid, services.digest) ?? { at: 0, digest: services.digest };
      if (result.direct) applied = { ...applied, direct: result.direct };
    }
    const endpoints = services.direct;
    const direct = applied.direct;
    if (!endpoints || !direct) return;
    if (!changed && delta.upsert.size === 0 && delta.remove.size === 0) return;
    const known = cache.slices(group.uid);
    try {
      const { slices } = await syncSlices(
        api,
        {
          namespace: group.namespace,
          name: direct.name,
          uid: direct.uid,
          groupUid: group.uid,
          ports: endpoints.ports,
        },
        { kind: 'delta', upsert: [...delta.upsert.values()], remove: [...delta.remove] },
        { ...(known ? { known } : {}), telemetry: this.#deps.telemetry },
      );
      cache.recordSlices(group.uid, slices);
    } catch (error) {
      cache.recordSlices(group.uid, undefined);
      throw error;
    }
  }

  /**
   * Removes one instance's endpoint from its group's direct slices, now: for a scale-in that must
   * stop traffic before the instance's lifecycle action completes (the entry is deleted in the same
   * record). True when an endpoint was removed. Throws (retriably) when the write failed.
   */
  async removeInstanceEndpoints(
    kube: KubeWorkloads,
    group: WorkloadGroupView,
    instanceId: string,
  ): Promise<boolean> {
    const rendered = renderGroupServices(group, this.#deps.defaultServiceMode);
    if (!rendered.ok || !rendered.services.direct) return false;
    const api = new KubeServiceObjects(kube);
    const name = rendered.services.direct.name;
    const service = await api.getService(group.namespace, name);
    if (!service?.metadata.uid) return false;
    const { cache } = this.#deps;
    const known = cache.slices(group.uid);
    const { writes, slices } = await syncSlices(
      api,
      {
        namespace: group.namespace,
        name,
        uid: service.metadata.uid,
        groupUid: group.uid,
        ports: rendered.services.direct.ports,
      },
      { kind: 'delta', upsert: [], remove: [workloadEntryName(group.name, instanceId)] },
      { ...(known ? { known } : {}), telemetry: this.#deps.telemetry },
    ).catch((error: unknown) => {
      cache.recordSlices(group.uid, undefined);
      throw error;
    });
    cache.recordSlices(group.uid, slices);
    return writes > 0;
  }
}

/**
 * One batch: waits until every instance of the batch has converged, gathers the endpoint changes
 * per group, and runs each group's upkeep once. A record then fails (and comes back from SQS) when
 * its group's upkeep failed; entries are idempotent, so the retry costs little.
 */
export class ServiceBatch {
  readonly #upkeep: ServiceUpkeep;
  readonly #kube: KubeWorkloads;
  readonly #groupOf: GroupLookup;
  readonly #options: ServiceUpkeepOptions;
  #run: Promise<{ groupOf: Map<string, string>; failures: Map<string, unknown> }> | undefined;

  constructor(
    upkeep: ServiceUpkeep,
    kube: KubeWorkloads,
    groupOf: GroupLookup,
    options: ServiceUpkeepOptions,
  ) {
    this.#upkeep = upkeep;
    this.#kube = kube;
    this.#groupOf = groupOf;
    this.#options = options;
  }

  /**
   * Called by each record after its instance converged; `settled` gives every instance of the batch
   * once converged (or failed: those are left out). Throws the group's error for a failed upkeep.
   */
  async follow(instanceId: string, settled: () => Promise<readonly SettledInstance[]>): Promise<void> {
    this.#run ??= settled().then((all) => this.#upkeepAll(all));
    const { groupOf, failures } = await this.#run;
    const groups = groupOf.get(instanceId);
    if (groups === undefined) return;
    for (const g of groups.split(' ')) if (failures.has(g)) throw failures.get(g);
  }

  async #upkeepAll(all: readonly SettledInstance[]) {
    const deltas = new Map<string, GroupDelta>();
    const groupOf = new Map<string, string>();
    const delta = (group: string) => {
      let d = deltas.get(group);
      if (!d) {
        d = emptyDelta();
        deltas.set(group, d);
      }
      return d;
    };
    const touch = (instanceId: string, group: string) =>
      groupOf.set(instanceId, [groupOf.get(instanceId), group].filter(Boolean).join(' '));
    for (const { instanceId, facts, outcome } of all) {
      const fromTag = this.#tagGroup(facts);
      switch (outcome.action) {
        case 'applied':
        case 'unchanged': {
          const entry = outcome.entry ? splitKey(outcome.entry, instanceId) : undefined;
          if (!entry || !facts?.privateIpAddress) break;
          touch(instanceId, entry.group);
          const network = facts.tags[`${this.#options.tagPrefix}${NETWORK_TAG}`];
          // An entry in another network is no direct endpoint (single-network only).
          if (network) delta(entry.group).remove.add(entry.name);
          else {
            const ep: DirectEndpoint = {
              key: entry.name,
              address: facts.privateIpAddress,
              ...(facts.availabilityZone ? { zone: facts.availabilityZone } : {}),
            };
            delta(entry.group).upsert.set(entry.name, ep);
          }
          break;
        }
        case 'deleted': {
          const entries = (outcome.entries ?? [])
            .map((e) => splitKey(e, instanceId))
            .filter((e) => e !== undefined);
          // Nothing deleted this time (deleted before, say): the tag still names the group.
          if (entries.length === 0 && fromTag) entries.push(fromTag(instanceId));
          for (const e of entries) {
            touch(instanceId, e.group);
            delta(e.group).remove.add(e.name);
          }
          break;
        }
        case 'kept':
          // A stopped VM keeps its entry (STOPPED_INSTANCE_POLICY=keep) but serves nothing.
          if (fromTag) {
            const e = fromTag(instanceId);
            touch(instanceId, e.group);
            delta(e.group).remove.add(e.name);
          }
          break;
        default:
          break;
      }
    }
    const failures = new Map<string, unknown>();
    const groups = [...deltas.keys()];
    const results = await mapSettled(groups, this.#options.kubeConcurrency, async (key) => {
      const [namespace, name] = key.split('/') as [string, string];
      const group = await this.#groupOf(namespace, name);
      // A deleted group's objects go with it (owner references): nothing to do here.
      if (!group) return;
      await this.#upkeep.upkeepGroup(this.#kube, group, deltas.get(key)!);
    });
    for (const [i, r] of results.entries()) if (r.status === 'rejected') failures.set(groups[i]!, r.reason);
    return { groupOf, failures };
  }

  #tagGroup(facts: InstanceFacts | undefined) {
    const tag = facts?.tags[`${this.#options.tagPrefix}${WORKLOAD_GROUP_TAG}`];
    if (!tag) return undefined;
    const ref = parseGroupTag(tag);
    if ('reason' in ref || !isNamespaceAllowed(ref.namespace, this.#options.allowedNamespaces))
      return undefined;
    return (instanceId: string) => ({
      group: `${ref.namespace}/${ref.name}`,
      name: workloadEntryName(ref.name, instanceId),
    });
  }
}

/** `<namespace>/<group>-<instance-id>` -> the group and the entry's name. */
function splitKey(entry: string, instanceId: string): { group: string; name: string } | undefined {
  const [namespace, name] = entry.split('/');
  const suffix = `-${instanceId}`;
  if (!namespace || !name?.endsWith(suffix)) return undefined;
  return { group: `${namespace}/${name.slice(0, -suffix.length)}`, name };
}
