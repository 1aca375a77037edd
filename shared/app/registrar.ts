import type { Logger } from '@aws-lambda-powertools/logger';
import type { AutoScalingInstances, LifecycleActions } from '../adapters/autoscaling.ts';
import { Deadline } from '../adapters/deadline.ts';
import type { Ec2Instances } from '../adapters/ec2.ts';
import { AdapterError, Ec2Error, KubernetesError } from '../adapters/errors.ts';
import type { KubeWorkloads } from '../adapters/kube.ts';
import type { RegistrarConfig } from '../config/config.ts';
import { Metric } from '../constants.ts';
import { awaitsLaunchVisibility, decideInstance, type InstanceIntent, verifyHint } from '../domain/decide.ts';
import { type Refusal, RefusalReason } from '../domain/errors.ts';
import { type InstanceHint, type Intake, normaliseEvent, parseMessageBody } from '../domain/events.ts';
import type { InstanceFacts, WorkloadGroupView } from '../domain/types.ts';
import { isManaged, renderWorkloadEntry } from '../domain/workload-entry.ts';
import type { Telemetry } from '../observability.ts';
import { Semaphore } from './concurrency.ts';
import { writeEntry } from './entries.ts';
import type { WorkloadGroupCache } from './group-cache.ts';
import { describeInstances } from './instances.ts';
import type { ServiceBatch, ServiceUpkeep, SettledInstance } from './service-upkeep.ts';

export interface RegistrarDeps {
  readonly config: RegistrarConfig;
  readonly ec2: Ec2Instances;
  readonly kube: KubeWorkloads;
  readonly lifecycle: LifecycleActions;
  readonly autoscaling: AutoScalingInstances;
  readonly groups: WorkloadGroupCache;
  /** Services, ServiceEntries and direct EndpointSlices of the groups (see service-upkeep.ts). */
  readonly services?: ServiceUpkeep;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
}

/**
 * A fresh launch event for an instance EC2 does not show yet (eventual consistency): the record is
 * retried, logged at info and counted apart from failures, so a steady scale-out raises no alarm.
 */
export class LaunchNotVisibleYet extends Ec2Error {
  constructor(instanceId: string) {
    super(`instance ${instanceId} is not visible in EC2 yet (just launched); retrying later`, {
      retriable: true,
    });
  }
}

/** What converging one instance did. */
export type ConvergeOutcome =
  | { readonly action: 'applied' | 'unchanged'; readonly entry: string }
  | { readonly action: 'deleted'; readonly entries: readonly string[]; readonly reason: string }
  | { readonly action: 'kept' | 'ignored'; readonly reason: string }
  | { readonly action: 'refused'; readonly refusal: Refusal };

/** What happened to one record. Retriable failures are thrown instead. */
export type RecordResult =
  | { readonly kind: 'converged'; readonly instanceId: string; readonly outcome: ConvergeOutcome }
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'rejected'; readonly reason: string };

export interface BatchItem {
  readonly id: string;
  /** An SQS body (text) or an already-parsed event. */
  readonly body?: string;
  readonly event?: unknown;
}

/** Hints that must win when one batch carries several for the same instance. */
function hintWeight(hint: InstanceHint): number {
  if (hint.source === 'ec2-spot-interruption') return 3;
  if (hint.lifecycleAction?.transition === 'terminating') return 2;
  if (hint.lifecycleAction?.destination === 'WarmPool') return 1;
  return 0;
}

/**
 * The event path: intake, one EC2 read per batch, and per-instance convergence of the cluster to
 * what EC2 says. Level-triggered: the event only says which instance to look at.
 */
export class Registrar {
  readonly #deps: RegistrarDeps;
  readonly #kubeSlots: Semaphore;

  constructor(deps: RegistrarDeps, kubeSlots?: Semaphore) {
    this.#deps = deps;
    this.#kubeSlots = kubeSlots ?? new Semaphore(deps.config.kubeConcurrency);
  }

  /** The same registrar with every AWS and Kubernetes call bound to one invocation's deadline. */
  #within(deadline: Deadline): Registrar {
    const d = this.#deps;
    return new Registrar(
      {
        ...d,
        kube: d.kube.withDeadline(deadline),
        ec2: d.ec2.withDeadline(deadline),
        autoscaling: d.autoscaling.withDeadline(deadline),
        lifecycle: d.lifecycle.withDeadline(deadline),
      },
      this.#kubeSlots,
    );
  }

  /**
   * Parses every item at once and starts a single batched DescribeInstances for the instances they
   * name; `process(id)` then converges one item (sharing work between items for one instance).
   * Every call the batch makes is bound to `deadline` (one per invocation, never shared).
   */
  startBatch(items: readonly BatchItem[], deadline: Deadline = Deadline.none()): RegistrarBatch {
    const intakes = new Map<string, Intake>();
    for (const item of items) {
      intakes.set(
        item.id,
        item.body !== undefined ? parseMessageBody(item.body) : normaliseEvent(item.event),
      );
    }
    return new RegistrarBatch(this.#within(deadline), intakes);
  }

  /** Handles one EventBridge event invoked directly (no SQS). Throws on retriable failure. */
  async handleEvent(event: unknown, deadline?: Deadline): Promise<RecordResult> {
    return this.startBatch([{ id: 'event', event }], deadline).process('event');
  }

  /** @internal */
  async describe(ids: readonly string[]): Promise<Map<string, InstanceFacts>> {
    try {
      return await describeInstances(ids, this.#deps.ec2, this.#deps.autoscaling, (error) => {
        this.#deps.telemetry.count(Metric.Ec2Errors);
        this.#deps.logger.warn(
          'Auto Scaling lifecycle states unreadable: registrations wait, deregistrations go ahead',
          {
            error: (error as Error).message,
          },
        );
      });
    } catch (error) {
      this.#deps.telemetry.count(Metric.Ec2Errors);
      throw error;
    }
  }

  /**
   * Converges one instance given what EC2 says about it. Throws on retriable failure.
   *
   * `reread` (the batch's coalesced DescribeInstances) closes the races between batches. Batch A
   * reads "running", the instance terminates, batch B's delete finds no entry yet, then A's apply
   * lands; or A reads "stopped", the instance is started, B registers it, then A's delete lands.
   * Every write decided by EC2's state is therefore followed by a fresh read of the instance, and a
   * write that the fresh read contradicts is corrected at once. Whatever the interleaving, either
   * B's reads see A's write, or B's read of EC2 (before its own writes, so before A's) already
   * showed the new state, and A's re-read, after its write, shows it too.
   */
  async converge(
    instanceId: string,
    facts: InstanceFacts | undefined,
    hint?: InstanceHint,
    reread?: (instanceId: string) => Promise<InstanceFacts | undefined>,
  ): Promise<ConvergeOutcome> {
    const { config, logger, telemetry } = this.#deps;
    if (awaitsLaunchVisibility(facts, hint, Date.now())) {
      telemetry.count(Metric.LaunchesNotVisibleYet);
      throw new LaunchNotVisibleYet(instanceId);
    }
    const check = verifyHint(facts, hint);
    if (check.kind === 'undetermined') {
      throw new AdapterError(`instance ${instanceId}: ${check.reason}; retrying later`, { retriable: true });
    }
    if (check.kind === 'unverified') {
      telemetry.count(Metric.HintsUnverified);
      logger.warn(`hint not acted on: ${check.reason}`, { instanceId, detailType: hint?.detailType });
    }
    const intent = decideInstance(facts, check.kind === 'verified' ? hint : undefined, config);
    if (intent.kind === 'register' && facts?.autoScalingStateUnknown) {
      throw new AdapterError(
        `instance ${instanceId}: its Auto Scaling lifecycle state could not be read; retrying later`,
        { retriable: true },
      );
    }
    try {
      let outcome = await this.#carryOut(instanceId, facts, intent);
      if (reread) outcome = await this.#correctIfStale(instanceId, facts, outcome, reread);
      this.#record(outcome);
      return outcome;
    } catch (error) {
      if (error instanceof KubernetesError) this.#deps.telemetry.count(Metric.KubernetesErrors);
      throw error;
    }
  }

  /**
   * After a write: EC2 read again. An instance that left meanwhile loses the entry just written; one
   * that came back (started again) while its entry was deleted is registered again. Deletions a
   * verified hint decided (a Spot warning, a terminate lifecycle action) stand: EC2's running state
   * is exactly what they overrule.
   */
  async #correctIfStale(
    instanceId: string,
    facts: InstanceFacts | undefined,
    outcome: ConvergeOutcome,
    reread: (instanceId: string) => Promise<InstanceFacts | undefined>,
  ): Promise<ConvergeOutcome> {
    const { config } = this.#deps;
    const wrote =
      outcome.action === 'applied' ||
      (outcome.action === 'deleted' &&
        outcome.entries.length > 0 &&
        facts !== undefined &&
        decideInstance(facts, undefined, config).kind === 'deregister');
    if (!wrote) return outcome;
    const fresh = await reread(instanceId);
    // Only a positive answer corrects: EC2 just showed the instance, and a terminated one stays
    // visible for about an hour, so "not found" now is eventual consistency, not news.
    if (!fresh) return outcome;
    const intent = decideInstance(fresh, undefined, config);
    const contradicts =
      outcome.action === 'applied'
        ? intent.kind === 'deregister'
        : intent.kind === 'register' && !fresh.autoScalingStateUnknown;
    if (!contradicts) return outcome;
    this.#deps.telemetry.count(Metric.StaleWritesCorrected);
    this.#deps.logger.info(
      outcome.action === 'applied'
        ? 'instance left while its entry was written: entry deleted again'
        : 'instance came back while its entry was deleted: registered again',
      { instanceId, ...(intent.kind === 'deregister' ? { reason: intent.reason } : {}) },
    );
    const corrected = await this.#carryOut(instanceId, fresh, intent);
    return corrected.action === 'deleted'
      ? { ...corrected, reason: `${corrected.reason} (it left while its entry was written)` }
      : corrected;
  }

  async #carryOut(
    instanceId: string,
    facts: InstanceFacts | undefined,
    intent: InstanceIntent,
  ): Promise<ConvergeOutcome> {
    const { kube, config } = this.#deps;
    switch (intent.kind) {
      case 'ignore':
        return { action: 'ignored', reason: intent.reason };
      case 'keep':
        return { action: 'kept', reason: intent.reason };
      case 'refuse':
        return { action: 'refused', refusal: intent.refusal };
      case 'deregister': {
        const found = await this.#kubeSlots.run(() =>
          kube.findEntriesForInstance(config.allowedNamespaces, instanceId),
        );
        const deleted: string[] = [];
        for (const entry of found.filter(isManaged)) {
          const { namespace, name, uid } = entry.metadata;
          if (await this.#kubeSlots.run(() => kube.deleteWorkloadEntry(namespace, name, uid))) {
            deleted.push(`${namespace}/${name}`);
          }
        }
        return { action: 'deleted', entries: deleted, reason: intent.reason };
      }
      case 'register': {
        const group = await this.#liveGroup(intent.group.namespace, intent.group.name);
        if (!group) {
          return {
            action: 'refused',
            refusal: {
              reason: RefusalReason.WorkloadGroupNotFound,
              message: `WorkloadGroup ${intent.group.namespace}/${intent.group.name} does not exist`,
            },
          };
        }
        const rendered = renderWorkloadEntry(facts!, group, {
          ...(intent.network ? { network: intent.network } : {}),
          requireAllowList: config.requireGroupAllowList,
        });
        if (!rendered.ok) return { action: 'refused', refusal: rendered.refusal };
        const desired = rendered.entry;
        const { namespace, name } = desired.metadata;
        const write = await this.#kubeSlots.run(() => writeEntry(kube, desired));
        if (write.result === 'refused') return { action: 'refused', refusal: write.refusal };
        return { action: write.result, entry: `${namespace}/${name}` };
      }
    }
  }

  /**
   * The group as it is now, read once per batch and per group (the container's cache is refreshed
   * with it). An entry's ownerReference must carry the live group's uid: a group deleted and
   * re-created under the same name has a new one, and the garbage collector deletes, within
   * seconds, every entry written with the old uid, while we would have reported success.
   */
  #liveGroup(namespace: string, name: string): Promise<WorkloadGroupView | undefined> {
    const key = `${namespace}/${name}`;
    let read = this.#batchGroups.get(key);
    if (!read) {
      this.#deps.groups.forget(namespace, name);
      read = this.#deps.groups.get(namespace, name, this.#deps.kube);
      read.catch(() => this.#batchGroups.delete(key));
      this.#batchGroups.set(key, read);
    }
    return read;
  }

  readonly #batchGroups = new Map<string, Promise<WorkloadGroupView | undefined>>();

  #record(outcome: ConvergeOutcome): void {
    const { telemetry } = this.#deps;
    switch (outcome.action) {
      case 'applied':
        telemetry.count(Metric.EntriesApplied);
        break;
      case 'unchanged':
        telemetry.count(Metric.EntriesUnchanged);
        break;
      case 'deleted':
        telemetry.count(Metric.EntriesDeleted, outcome.entries.length);
        break;
      case 'refused':
        telemetry.count(Metric.InstancesRefused, 1, { name: 'Reason', value: outcome.refusal.reason });
        break;
      default:
        break;
    }
  }

  /** The Service upkeep of one batch (bound to its deadline), when the registrar keeps Services. @internal */
  serviceBatch(): ServiceBatch | undefined {
    const { services, groups, kube } = this.#deps;
    return services?.startBatch(kube, (namespace, name) => groups.get(namespace, name, kube));
  }

  /** @internal */
  async completeLifecycle(hint: InstanceHint, log: Record<string, unknown>): Promise<void> {
    const { config, lifecycle, logger, telemetry } = this.#deps;
    if (!hint.lifecycleAction || !config.completeLifecycleActions) return;
    if (!config.lifecycleHookNames.includes(hint.lifecycleAction.lifecycleHookName)) {
      logger.info('lifecycle action of another hook left to its owner', {
        ...log,
        lifecycleHook: hint.lifecycleAction.lifecycleHookName,
      });
      return;
    }
    const result = await lifecycle.complete(hint.lifecycleAction, hint.instanceId);
    telemetry.count(
      result === 'completed' ? Metric.LifecycleActionsCompleted : Metric.LifecycleActionsNotPending,
    );
    logger.info('lifecycle action', {
      ...log,
      lifecycleHook: hint.lifecycleAction.lifecycleHookName,
      result,
    });
  }

  /** @internal */
  report(id: string, result: RecordResult, hint?: InstanceHint): void {
    const { logger, telemetry } = this.#deps;
    const base = {
      recordId: id,
      ...(hint ? { instanceId: hint.instanceId, detailType: hint.detailType } : {}),
    };
    switch (result.kind) {
      case 'rejected':
        telemetry.count(Metric.EventsRejected);
        logger.error('record rejected: not an event the registrar can read; not retried', {
          ...base,
          reason: result.reason,
        });
        return;
      case 'ignored':
        telemetry.count(Metric.EventsIgnored);
        logger.info('record ignored', { ...base, reason: result.reason });
        return;
      case 'converged': {
        const o = result.outcome;
        if (o.action === 'refused') {
          logger.warn(`instance refused: ${o.refusal.message}`, { ...base, reason: o.refusal.reason });
        } else if (o.action === 'ignored') {
          telemetry.count(Metric.EventsIgnored);
          logger.info('instance ignored', { ...base, reason: o.reason });
        } else {
          logger.info(`instance converged: ${o.action}`, { ...base, outcome: o });
        }
      }
    }
  }
}

/** One batch of records: shared EC2 read, one convergence per instance. */
export class RegistrarBatch {
  readonly #registrar: Registrar;
  readonly #intakes: Map<string, Intake>;
  readonly #primary = new Map<string, InstanceHint>();
  readonly #converging = new Map<string, Promise<ConvergeOutcome>>();
  #facts: Promise<Map<string, InstanceFacts>> | undefined;
  /** Each instance's first convergence, kept when it failed (the Service upkeep waits for all). */
  readonly #firstConverge = new Map<string, Promise<ConvergeOutcome>>();
  readonly #services: ServiceBatch | undefined;
  /** Converges started and not yet at their post-apply re-read or finished. */
  #running = 0;
  /** Post-apply re-reads waiting for the others, to share one DescribeInstances. */
  #rereads = new Map<string, PromiseWithResolvers<InstanceFacts | undefined>>();

  constructor(registrar: Registrar, intakes: Map<string, Intake>) {
    this.#registrar = registrar;
    this.#intakes = intakes;
    this.#services = registrar.serviceBatch();
    for (const intake of intakes.values()) {
      if (intake.kind !== 'hint') continue;
      const current = this.#primary.get(intake.hint.instanceId);
      if (!current || hintWeight(intake.hint) > hintWeight(current))
        this.#primary.set(intake.hint.instanceId, intake.hint);
    }
  }

  #describe(): Promise<Map<string, InstanceFacts>> {
    this.#facts ??= this.#registrar.describe([...this.#primary.keys()]);
    // A failed read is retried by the next record rather than failing every record on one error.
    this.#facts.catch(() => {
      this.#facts = undefined;
    });
    return this.#facts;
  }

  #convergeOnce(instanceId: string): Promise<ConvergeOutcome> {
    let running = this.#converging.get(instanceId);
    if (!running) {
      let waiting = true;
      const arrive = () => {
        if (!waiting) return;
        waiting = false;
        this.#running--;
        this.#flushRereads();
      };
      this.#running++;
      running = this.#describe().then((facts) =>
        this.#registrar.converge(instanceId, facts.get(instanceId), this.#primary.get(instanceId), (id) => {
          const reread = Promise.withResolvers<InstanceFacts | undefined>();
          this.#rereads.set(id, reread);
          arrive();
          return reread.promise;
        }),
      );
      running.then(arrive, arrive);
      running.catch(() => this.#converging.delete(instanceId));
      this.#converging.set(instanceId, running);
      if (!this.#firstConverge.has(instanceId)) this.#firstConverge.set(instanceId, running);
    }
    return running;
  }

  /** Every instance of the batch once converged (those that failed left out), with EC2's facts. */
  async #settled(): Promise<SettledInstance[]> {
    const ids = [...this.#primary.keys()];
    const outcomes = await Promise.allSettled(
      ids.map((id) => this.#firstConverge.get(id) ?? this.#convergeOnce(id)),
    );
    const facts = await this.#describe().catch(() => new Map<string, InstanceFacts>());
    return ids.flatMap((instanceId, i) => {
      const o = outcomes[i]!;
      return o.status === 'fulfilled' ? [{ instanceId, facts: facts.get(instanceId), outcome: o.value }] : [];
    });
  }

  /**
   * Once every converge of the batch has applied (and asks for its re-read) or finished, one
   * DescribeInstances answers all the re-reads: a batch of launches costs one extra EC2 call, not
   * one per instance. Records processed one after the other (the CLI) each flush at once.
   */
  #flushRereads(): void {
    if (this.#running > 0 || this.#rereads.size === 0) return;
    const waiting = this.#rereads;
    this.#rereads = new Map();
    this.#registrar.describe([...waiting.keys()]).then(
      (facts) => {
        for (const [id, reread] of waiting) reread.resolve(facts.get(id));
      },
      (error: unknown) => {
        for (const reread of waiting.values()) reread.reject(error);
      },
    );
  }

  /** Processes one record. Resolves with what happened; throws when the record should be retried. */
  async process(id: string): Promise<RecordResult> {
    const intake = this.#intakes.get(id);
    let result: RecordResult;
    if (!intake) {
      result = { kind: 'rejected', reason: 'record not part of this batch' };
    } else if (intake.kind === 'reject') {
      result = { kind: 'rejected', reason: intake.reason };
    } else if (intake.kind === 'ignore') {
      result = { kind: 'ignored', reason: intake.reason };
    } else {
      const { hint } = intake;
      const outcome = await this.#convergeOnce(hint.instanceId);
      // The group's Services and direct endpoints follow in the same record, before the hook completes.
      await this.#services?.follow(hint.instanceId, () => this.#settled());
      await this.#registrar.completeLifecycle(hint, { recordId: id, instanceId: hint.instanceId });
      result = { kind: 'converged', instanceId: hint.instanceId, outcome };
    }
    this.#registrar.report(id, result, intake?.kind === 'hint' ? intake.hint : undefined);
    return result;
  }
}
