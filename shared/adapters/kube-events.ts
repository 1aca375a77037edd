import { EventsV1Api, type EventsV1Event, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../constants.ts';
import type { KubeEventInput, ObjectRef } from '../domain/notifications.ts';
import { KubernetesError } from './errors.ts';
import type { KubeWorkloads } from './kube.ts';

export type { KubeEventInput, ObjectRef } from '../domain/notifications.ts';

export interface KubeEventRecorderOptions {
  /** `reportingController`: a qualified name. */
  readonly reportingController: string;
  /** `reportingInstance`: at most 128 characters. */
  readonly reportingInstance: string;
  readonly now?: () => number;
  /**
   * A repeat within this long of the last one is counted in the first Event's `series` (one patch)
   * instead of a new Event: client-go's `finishTime`.
   * @default 6 minutes
   */
  readonly seriesWindowMs?: number;
  /** Repeats remembered (per container). @default 1000 */
  readonly maxRemembered?: number;
}

interface Remembered {
  readonly namespace: string;
  readonly name: string;
  count: number;
  lastObserved: number;
}

/** MicroTime as the API server parses it: RFC3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000Z`;
}

/** Events carry this label (besides nothing else): `vm-registrar status` lists them by it. */
export const EVENT_LABELS = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } as const;

const NOTE_LIMIT = 1024;

/**
 * Writes `events.k8s.io/v1` Events the way client-go's event recorder (`tools/events`) does: a new
 * Event is created; an identical one (same regarding, related, reason, action, type and note) within
 * the series window is counted instead, by a merge patch of `series` (`count`, `lastObservedTime`)
 * on the first. A patch that finds the Event gone (expired after the server's event TTL) creates it
 * again. Repeats are remembered per container, so a repeat seen by another container is a new Event.
 * Throws on failure: callers decide that an Event never fails their work.
 */
export class KubeEventRecorder {
  readonly #kube: KubeWorkloads;
  readonly #options: Required<KubeEventRecorderOptions>;
  readonly #seen: Map<string, Remembered>;
  readonly #inFlight: Map<string, Promise<unknown>>;
  #sequence = 0;

  constructor(
    kube: KubeWorkloads,
    options: KubeEventRecorderOptions,
    shared?: { seen: Map<string, Remembered>; inFlight: Map<string, Promise<unknown>> },
  ) {
    this.#kube = kube;
    this.#options = {
      now: Date.now,
      seriesWindowMs: 6 * 60_000,
      maxRemembered: 1000,
      ...options,
    };
    this.#seen = shared?.seen ?? new Map();
    this.#inFlight = shared?.inFlight ?? new Map();
  }

  /** The same recorder (and memory of repeats) with its calls bound to `kube` (one invocation's deadline). */
  withKube(kube: KubeWorkloads): KubeEventRecorder {
    return new KubeEventRecorder(kube, this.#options, { seen: this.#seen, inFlight: this.#inFlight });
  }

  /** Records one Event: `created` (a new object) or `counted` (a repeat patched into its series). */
  async record(input: KubeEventInput): Promise<'created' | 'counted'> {
    const key = JSON.stringify([
      input.regarding.namespace,
      input.regarding.kind,
      input.regarding.name,
      input.regarding.uid ?? '',
      input.related ? [input.related.kind, input.related.name, input.related.uid ?? ''] : null,
      input.type,
      input.reason,
      input.action,
      input.note,
    ]);
    // Repeats of one Event are written one after the other: the second must see the first's name.
    const before = this.#inFlight.get(key) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(() => this.#write(key, input));
    this.#inFlight.set(key, run);
    try {
      return await run;
    } finally {
      if (this.#inFlight.get(key) === run) this.#inFlight.delete(key);
    }
  }

  async #write(key: string, input: KubeEventInput): Promise<'created' | 'counted'> {
    const now = this.#options.now();
    const known = this.#seen.get(key);
    if (known && now - known.lastObserved <= this.#options.seriesWindowMs) {
      const series = { count: known.count + 1, lastObservedTime: microTime(now) };
      try {
        await this.#kube.callApi(
          EventsV1Api,
          `patch Event ${known.namespace}/${known.name}`,
          (api, options) =>
            api.patchNamespacedEvent(
              { namespace: known.namespace, name: known.name, body: { series } },
              options,
            ),
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        known.count = series.count;
        known.lastObserved = now;
        this.#touch(key, known);
        return 'counted';
      } catch (error) {
        if (!(error instanceof KubernetesError && error.status === 404)) throw error;
        // Gone (the server's event TTL): recorded again as a new Event, carrying its series.
        await this.#create(key, input, now, series);
        return 'created';
      }
    }
    await this.#create(key, input, now);
    return 'created';
  }

  async #create(
    key: string,
    input: KubeEventInput,
    now: number,
    series?: { count: number; lastObservedTime: string },
  ): Promise<void> {
    const namespace = input.regarding.namespace;
    // client-go names an Event `<regarding name>.<unix nanoseconds in hex>`.
    const nanos = BigInt(now) * 1_000_000n + BigInt(this.#sequence++ % 1_000_000);
    const name = `${input.regarding.name.slice(0, 236)}.${nanos.toString(16)}`;
    const note = input.note.length > NOTE_LIMIT ? `${input.note.slice(0, NOTE_LIMIT - 3)}...` : input.note;
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace, labels: { ...EVENT_LABELS } },
      eventTime: microTime(now),
      reportingController: this.#options.reportingController,
      reportingInstance: this.#options.reportingInstance.slice(0, 128),
      action: input.action,
      reason: input.reason,
      note,
      type: input.type,
      regarding: refOf(input.regarding),
      ...(input.related ? { related: refOf(input.related) } : {}),
      ...(series ? { series } : {}),
    } as unknown as EventsV1Event;
    await this.#kube.callApi(EventsV1Api, `create Event ${namespace}/${name}`, (api, options) =>
      api.createNamespacedEvent({ namespace, body }, options),
    );
    this.#touch(key, { namespace, name, count: series?.count ?? 1, lastObserved: now });
  }

  #touch(key: string, value: Remembered): void {
    this.#seen.delete(key);
    this.#seen.set(key, value);
    while (this.#seen.size > this.#options.maxRemembered) {
      const oldest = this.#seen.keys().next().value;
      if (oldest === undefined) break;
      this.#seen.delete(oldest);
    }
  }
}

function refOf(ref: ObjectRef) {
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    namespace: ref.namespace,
    name: ref.name,
    ...(ref.uid ? { uid: ref.uid } : {}),
  };
}

/** An Event the registrar wrote, as `vm-registrar status` reads it back. */
export interface RecordedEvent {
  readonly regarding: { readonly kind: string; readonly name: string; readonly uid?: string };
  readonly reason: string;
  readonly type: string;
  readonly note: string;
  /** Epoch ms of the last occurrence (the series' last, or the Event's time). */
  readonly lastSeen: number;
  readonly count: number;
}

/** The registrar's Events in `namespace` (label-selected, all pages). Needs `list` on events. */
export async function listRecordedEvents(kube: KubeWorkloads, namespace: string): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  let token: string | undefined;
  do {
    const page = await kube.callApi(EventsV1Api, `list Event in ${namespace}`, (api, options) =>
      api.listNamespacedEvent(
        {
          namespace,
          labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
          limit: 500,
          ...(token ? { _continue: token } : {}),
        },
        options,
      ),
    );
    for (const e of page.items) {
      const last = e.series?.lastObservedTime ?? e.eventTime;
      out.push({
        regarding: {
          kind: e.regarding?.kind ?? '',
          name: e.regarding?.name ?? '',
          ...(e.regarding?.uid ? { uid: e.regarding.uid } : {}),
        },
        reason: e.reason ?? '',
        type: e.type ?? '',
        note: e.note ?? '',
        lastSeen: last ? new Date(last as unknown as string).getTime() : 0,
        count: e.series?.count ?? 1,
      });
    }
    token = page.metadata?._continue || undefined;
  } while (token);
  return out;
}
