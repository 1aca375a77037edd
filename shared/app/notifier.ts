import type { Logger } from '@aws-lambda-powertools/logger';
import { KubernetesError } from '../adapters/errors.ts';
import type { BusEntry, EventBus } from '../adapters/event-bus.ts';
import { PUT_EVENTS_MAX_ENTRIES } from '../adapters/event-bus.ts';
import type { KubeWorkloads } from '../adapters/kube.ts';
import type { KubeEventRecorder } from '../adapters/kube-events.ts';
import { Metric } from '../constants.ts';
import {
  busEventFor,
  type InstanceNotice,
  type KubeEventInput,
  kubeEventsFor,
} from '../domain/notifications.ts';
import type { Telemetry } from '../observability.ts';
import { Semaphore } from './concurrency.ts';

export interface NotifierDeps {
  /** Writes Kubernetes Events; undefined with `KUBE_EVENTS=none`. */
  readonly recorder?: KubeEventRecorder;
  /** Events on entries too (`KUBE_EVENTS=all`), not only on their WorkloadGroups. */
  readonly entryEvents: boolean;
  /** The EventBridge bus; undefined without `EVENT_BUS`. */
  readonly bus?: EventBus;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  /** Kubernetes Events one invocation writes at most; the rest are dropped and counted. @default 500 */
  readonly maxKubeEventsPerInvocation?: number;
  /** Kubernetes Event writes in flight at once, beside the records' own calls. @default 4 */
  readonly kubeEventConcurrency?: number;
}

/**
 * Tells Kubernetes (Events) and other automation (EventBridge) what the registrar did, per
 * container; {@link start} gives one invocation's {@link Notifications}.
 */
export class Notifier {
  readonly #deps: NotifierDeps;
  constructor(deps: NotifierDeps) {
    this.#deps = deps;
  }

  get enabled(): boolean {
    return this.#deps.recorder !== undefined || this.#deps.bus !== undefined;
  }

  /** One invocation's notifications, written through `kube` (bound to its deadline) and `signal`. */
  start(kube: KubeWorkloads, signal?: AbortSignal): Notifications {
    return new Notifications(this.#deps, kube, signal);
  }
}

/**
 * One invocation's notifications. Nothing here waits on the record that caused it or fails it:
 * a Kubernetes Event is written as soon as it is known, beside the other records' work (a few at
 * a time, bounded per invocation), EventBridge entries go out ten to a PutEvents, and
 * {@link settle} (before the invocation answers) sends the rest and waits for all of them.
 */
export class Notifications {
  readonly #deps: NotifierDeps;
  readonly #recorder: KubeEventRecorder | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #slots: Semaphore;
  readonly #writes: Promise<void>[] = [];
  #queuedKube = 0;
  #dropped = 0;
  #bus: BusEntry[] = [];
  #forbiddenLogged = false;

  constructor(deps: NotifierDeps, kube: KubeWorkloads, signal?: AbortSignal) {
    this.#deps = deps;
    this.#recorder = deps.recorder?.withKube(kube);
    this.#signal = signal;
    this.#slots = new Semaphore(deps.kubeEventConcurrency ?? 4);
  }

  /** The Kubernetes Events and the EventBridge event of what happened to one instance. */
  instance(notice: InstanceNotice): void {
    this.kube(kubeEventsFor(notice, { entries: this.#deps.entryEvents }));
    if (this.#deps.bus) {
      const { detailType, detail, resources } = busEventFor(notice);
      this.publish({ detailType, detail, resources, time: new Date() });
    }
  }

  /** Kubernetes Events, written now, beside other work. */
  kube(inputs: readonly KubeEventInput[]): void {
    const recorder = this.#recorder;
    if (!recorder) return;
    for (const input of inputs) {
      if (this.#queuedKube >= (this.#deps.maxKubeEventsPerInvocation ?? 500)) {
        this.#dropped++;
        continue;
      }
      this.#queuedKube++;
      this.#writes.push(
        this.#slots.run(async () => {
          try {
            await recorder.record(input);
            this.#deps.telemetry.count(Metric.KubernetesEventsWritten);
          } catch (error) {
            this.#failedKubeEvent(input, error);
          }
        }),
      );
    }
  }

  #failedKubeEvent(input: KubeEventInput, error: unknown): void {
    this.#deps.telemetry.count(Metric.KubernetesEventsFailed);
    const forbidden = error instanceof KubernetesError && error.status === 403;
    if (forbidden && this.#forbiddenLogged) return;
    this.#forbiddenLogged ||= forbidden;
    this.#deps.logger.warn('Kubernetes Event not written (the work it reports is not affected)', {
      reason: input.reason,
      regarding: `${input.regarding.kind} ${input.regarding.namespace}/${input.regarding.name}`,
      error: (error as Error).message ?? String(error),
      ...(forbidden
        ? {
            missingPermission:
              'create and patch on events (events.k8s.io) in this namespace: see vm-registrar rbac',
          }
        : {}),
    });
  }

  /** An EventBridge entry; a full PutEvents request (ten) goes out at once, the rest at {@link settle}. */
  publish(entry: BusEntry): void {
    if (!this.#deps.bus) return;
    this.#bus.push(entry);
    if (this.#bus.length >= PUT_EVENTS_MAX_ENTRIES) this.#sendBus();
  }

  #sendBus(): void {
    const bus = this.#deps.bus;
    const entries = this.#bus;
    this.#bus = [];
    if (!bus || entries.length === 0) return;
    this.#writes.push(
      bus.publish(entries, this.#signal).then((result) => {
        const { telemetry, logger } = this.#deps;
        telemetry.count(Metric.BusEventsPublished, result.published);
        telemetry.count(Metric.BusEventsFailed, result.failed.length);
        if (result.failed.length > 0) {
          logger.warn('EventBridge events not published (the work they report is not affected)', {
            failed: result.failed.length,
            retried: result.retried,
            errors: [...new Set(result.failed.map((f) => f.error))].slice(0, 5),
          });
        }
      }),
    );
  }

  /** Work that ends in notifications (a read they need): waited for by {@link settle}, never thrown. */
  track(work: Promise<unknown>): void {
    this.#writes.push(
      work.then(
        () => undefined,
        (error: unknown) =>
          this.#deps.logger.warn('notification not sent (the work it reports is not affected)', {
            error: (error as Error).message ?? String(error),
          }),
      ),
    );
  }

  /** Sends what is gathered and waits for every write; never throws. */
  async settle(): Promise<void> {
    // Tracked work may add Events and entries while it is waited for: until nothing new appears.
    for (let waited = 0; ; ) {
      this.#sendBus();
      if (waited === this.#writes.length) break;
      const pending = this.#writes.slice(waited);
      waited = this.#writes.length;
      await Promise.allSettled(pending);
    }
    if (this.#dropped > 0) {
      this.#deps.telemetry.count(Metric.KubernetesEventsFailed, this.#dropped);
      this.#deps.logger.warn('Kubernetes Events dropped past the per-invocation bound', {
        dropped: this.#dropped,
      });
      this.#dropped = 0;
    }
  }
}
