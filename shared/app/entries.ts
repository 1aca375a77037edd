import { KubernetesError } from '../adapters/errors.ts';
import { CONFLICT_ATTEMPTS, type KubeWorkloads } from '../adapters/kube.ts';
import { type Refusal, RefusalReason } from '../domain/errors.ts';
import type { WorkloadEntryObject } from '../domain/types.ts';
import { entryMatches, isManaged } from '../domain/workload-entry.ts';

export type EntryWrite =
  | { readonly result: 'applied' | 'unchanged'; readonly uid?: string }
  | { readonly result: 'refused'; readonly refusal: Refusal };

/**
 * Converges one desired entry, shared by the event path and the reconciler. Reads the live object
 * unless the caller just listed it; refuses to touch an object we do not own; skips the write when
 * nothing differs. An entry we own is applied with force (we take our fields back from hand
 * edits); a new one without, so that a foreign object created in the meantime is not taken over.
 */
export async function writeEntry(
  kube: KubeWorkloads,
  desired: WorkloadEntryObject,
  known?: { live: WorkloadEntryObject | undefined },
): Promise<EntryWrite> {
  const { namespace, name } = desired.metadata;
  for (let attempt = 1; ; attempt++) {
    const live = attempt === 1 && known ? known.live : await kube.getWorkloadEntry(namespace, name);
    if (live && !isManaged(live)) {
      return {
        result: 'refused',
        refusal: {
          reason: RefusalReason.EntryNotOwned,
          message: `WorkloadEntry ${namespace}/${name} exists and is not managed by the registrar`,
        },
      };
    }
    if (entryMatches(live, desired)) return { result: 'unchanged', ...uidOf(live) };
    let applied: WorkloadEntryObject;
    try {
      applied = await kube.applyWorkloadEntry(desired, live !== undefined);
    } catch (error) {
      if (error instanceof KubernetesError && error.status === 422) {
        return { result: 'refused', refusal: { reason: RefusalReason.Invalid, message: error.message } };
      }
      // Someone wrote the entry between our read and our apply (a foreign object created, another
      // manager's fields): read again and decide again, a few times, before the record goes back.
      if (error instanceof KubernetesError && error.status === 409 && attempt < CONFLICT_ATTEMPTS) continue;
      throw error;
    }
    return { result: 'applied', ...uidOf(applied) };
  }
}

const uidOf = (entry: WorkloadEntryObject | undefined) =>
  entry?.metadata.uid ? { uid: entry.metadata.uid } : {};
