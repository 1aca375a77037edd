import type { KubeWorkloads } from '../adapters/kube.ts';
import type { WorkloadGroupView } from '../domain/types.ts';

/**
 * WorkloadGroups change rarely and every event of a fleet reads the same one: cache them per
 * container for a short TTL (absence too, for a shorter time, so a group created after its VMs is
 * picked up quickly). Concurrent reads of one group share a single request.
 */
export class WorkloadGroupCache {
  readonly #kube: KubeWorkloads;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { at: number; value: Promise<WorkloadGroupView | undefined> }>();

  constructor(kube: KubeWorkloads, ttlMs: number, now: () => number = Date.now) {
    this.#kube = kube;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /** `kube`: the caller's client (bound to its invocation's deadline) for a read on a miss. */
  get(
    namespace: string,
    name: string,
    kube: KubeWorkloads = this.#kube,
  ): Promise<WorkloadGroupView | undefined> {
    const key = `${namespace}/${name}`;
    const hit = this.#entries.get(key);
    const now = this.#now();
    if (hit && now - hit.at < this.#ttlMs) return hit.value;
    const value = kube.getWorkloadGroup(namespace, name);
    this.#entries.set(key, { at: now, value });
    value.then(
      (group) => {
        // Remember absence for a fifth of the TTL only.
        if (!group) this.#entries.set(key, { at: now - (this.#ttlMs * 4) / 5, value });
      },
      () => this.#entries.delete(key),
    );
    return value;
  }

  /** Seeds the cache from a listing (the reconciler lists every group anyway). */
  prime(groups: readonly WorkloadGroupView[]): void {
    const at = this.#now();
    for (const group of groups) {
      this.#entries.set(`${group.namespace}/${group.name}`, { at, value: Promise.resolve(group) });
    }
  }

  /** Forgets one group, so the next `get` reads it from the API server. */
  forget(namespace: string, name: string): void {
    this.#entries.delete(`${namespace}/${name}`);
  }

  clear(): void {
    this.#entries.clear();
  }
}
