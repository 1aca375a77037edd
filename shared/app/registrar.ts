import type { Logger } from '@aws-lambda-powertools/logger';
import type { AutoScalingInstances, LifecycleActions } from '../adapters/autoscaling.ts';
import type { FleetAws } from '../adapters/aws-locations.ts';
import type { ContinuationQueue } from '../adapters/continuations.ts';
import { Deadline } from '../adapters/deadline.ts';
import type { Ec2Instances } from '../adapters/ec2.ts';
import { AdapterError, Ec2Error, KubernetesError, MemberAccessError } from '../adapters/errors.ts';
import type { KubeWorkloads } from '../adapters/kube.ts';
import { ReadinessProber } from '../adapters/probe.ts';
import type { RegistrarConfig } from '../config/config.ts';
import { Metric, WORKLOAD_GROUP_TAG } from '../constants.ts';
import {
  awaitsLaunchVisibility,
  decideInstance,
  type InstanceIntent,
  isNamespaceAllowed,
  parseGroupTag,
  verifyHint,
} from '../domain/decide.ts';
import { type Refusal, RefusalReason } from '../domain/errors.ts';
import {
  type InstanceHint,
  type Intake,
  type LifecycleAction,
  normaliseEvent,
  parseMessageBody,
} from '../domain/events.ts';
import { launchGateHolds, rebalanceDeregisters } from '../domain/lifecycle.ts';
import {
  entryLocation,
  isHome,
  type Located,
  type Location,
  locateHint,
  locationKey,
  sameLocation,
} from '../domain/locations.ts';
import type { GroupIdentity } from '../domain/notifications.ts';
import type { InstanceFacts, WorkloadGroupView } from '../domain/types.ts';
import { isManaged, renderWorkloadEntry } from '../domain/workload-entry.ts';
import { annotateRecord, currentRecord, type Telemetry } from '../observability.ts';
import { Semaphore } from './concurrency.ts';
import { writeEntry } from './entries.ts';
import type { WorkloadGroupCache } from './group-cache.ts';
import { describeInstances } from './instances.ts';
import {
  type Convergence,
  HookTimeoutsCache,
  type LifecycleReport,
  LifecycleSteps,
  type MeshOps,
  type OwnedAction,
} from './lifecycle.ts';
import type { Notifications, Notifier } from './notifier.ts';
import { groupKeyOf, type OutcomeDetails, tellOutcome } from './outcome-notices.ts';
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
  /** Kubernetes Events and EventBridge events of what the registrar did (shared/app/notifier.ts). */
  readonly notifier?: Notifier;
  /**
   * The clients of every location of `config.fleet` (`ec2`, `autoscaling` and `lifecycle` above are
   * its home's). Required when spokes are configured.
   */
  readonly aws?: FleetAws;
  /** The registrar's own queue, for lifecycle waits (LIFECYCLE_QUEUE_URL); none: no waits. */
  readonly queue?: ContinuationQueue;
  /** Runs the `probe` launch gate. */
  readonly prober?: ReadinessProber;
  /** Hooks' timeouts, kept per container. */
  readonly hookTimeouts?: HookTimeoutsCache;
  /** The clock of lifecycle waits (tests inject one). */
  readonly now?: () => number;
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
  | { readonly action: 'kept' | 'ignored'; readonly reason: string; readonly heldByGate?: true }
  | { readonly action: 'refused'; readonly refusal: Refusal };

/** How `converge` may go beyond what EC2 alone says. */
export interface ConvergeOptions {
  /** The `probe` launch gate passed: write the entry it held back. */
  readonly launchGatePassed?: boolean;
}

/** What happened to one record. Retriable failures are thrown instead. */
export type RecordResult =
  | {
      readonly kind: 'converged';
      readonly instanceId: string;
      readonly outcome: ConvergeOutcome;
      /** Lifecycle records of our hooks: completed, waiting, or not pending. */
      readonly lifecycle?: LifecycleReport;
    }
  /** A lifecycle record whose convergence failed and that comes back by a continuation instead of SQS. */
  | {
      readonly kind: 'deferred';
      readonly instanceId: string;
      readonly error: string;
      /** The failure was a launch EC2 does not show yet: expected, not counted as a failure. */
      readonly notVisibleYet: boolean;
      readonly lifecycle: LifecycleReport;
    }
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
  readonly #deps: RegistrarDeps & Required<Pick<RegistrarDeps, 'hookTimeouts' | 'prober'>>;
  readonly #kubeSlots: Semaphore;
  readonly #deadline: Deadline;

  constructor(deps: RegistrarDeps, kubeSlots?: Semaphore, deadline: Deadline = Deadline.none()) {
    // Container-wide: one cache of hooks' timeouts and one prober, whatever the batch.
    this.#deps = {
      ...deps,
      hookTimeouts: deps.hookTimeouts ?? new HookTimeoutsCache(),
      prober: deps.prober ?? new ReadinessProber(),
    };
    this.#kubeSlots = kubeSlots ?? new Semaphore(deps.config.kubeConcurrency);
    this.#deadline = deadline;
  }

  /** The same registrar with every AWS and Kubernetes call bound to one invocation's deadline. */
  #within(deadline: Deadline): Registrar {
    const d = this.#deps;
    const bound = new Registrar(
      {
        ...d,
        kube: d.kube.withDeadline(deadline),
        ec2: d.ec2.withDeadline(deadline),
        autoscaling: d.autoscaling.withDeadline(deadline),
        lifecycle: d.lifecycle.withDeadline(deadline),
        ...(d.aws ? { aws: d.aws.withDeadline(deadline) } : {}),
        ...(d.queue ? { queue: d.queue.withDeadline(deadline) } : {}),
      },
      this.#kubeSlots,
      deadline,
    );
    bound.#signal = deadline.signal;
    return bound;
  }

  #signal: AbortSignal | undefined;

  /** One invocation's notifications, written through this registrar's (deadline-bound) Kubernetes client. @internal */
  notifications(): Notifications | undefined {
    return this.#deps.notifier?.enabled
      ? this.#deps.notifier.start(this.#deps.kube, this.#signal)
      : undefined;
  }

  /**
   * The lifecycle steps for `hint`'s action in its location, or undefined when `hint` carries no
   * action of our hooks (or completing actions is turned off): then the record is a plain hint.
   * Completions, heartbeats and hook reads go to the action's own account and region.
   */
  lifecycleSteps(hint: InstanceHint, location: Location): LifecycleSteps | undefined {
    const { config, logger } = this.#deps;
    if (!hint.lifecycleAction || !config.completeLifecycleActions) return undefined;
    if (!config.lifecycleHookNames.includes(hint.lifecycleAction.lifecycleHookName)) {
      logger.info('lifecycle action of another hook left to its owner', {
        instanceId: hint.instanceId,
        lifecycleHook: hint.lifecycleAction.lifecycleHookName,
        location: locationKey(location),
      });
      return undefined;
    }
    const key = locationKey(location);
    let steps = this.#steps.get(key);
    if (!steps) {
      steps = new LifecycleSteps({
        config,
        lifecycle: this.#at(location).lifecycle,
        queue: this.#deps.queue,
        kube: this.#deps.kube,
        prober: this.#deps.prober,
        hookTimeouts: this.#deps.hookTimeouts,
        location: key,
        logger,
        telemetry: this.#deps.telemetry,
        now: this.#deps.now ?? Date.now,
        signal: this.#deadline.signal,
      });
      this.#steps.set(key, steps);
    }
    return steps;
  }

  readonly #steps = new Map<string, LifecycleSteps>();

  /** The WorkloadGroup an instance's tag names, read live once per batch; undefined without one. */
  async groupOf(facts: InstanceFacts | undefined): Promise<WorkloadGroupView | undefined> {
    const tag = facts?.tags[`${this.#deps.config.tagPrefix}${WORKLOAD_GROUP_TAG}`];
    if (tag === undefined) return undefined;
    const ref = parseGroupTag(tag);
    if ('reason' in ref) return undefined;
    return this.#liveGroup(ref.namespace, ref.name);
  }

  /** Takes the instance out of the mesh: its entries and its direct endpoint (a launch gate's removal). */
  async removeFromMesh(
    instanceId: string,
    facts: InstanceFacts | undefined,
    location: Location,
  ): Promise<ConvergeOutcome> {
    const outcome = await this.#removeInstance(instanceId, 'launch gate did not pass', location);
    this.#record(outcome, groupKeyOf(facts, this.#deps.config.tagPrefix));
    // The batch's Service upkeep has run already: the VM's direct endpoint goes now, not later.
    const { services, kube } = this.#deps;
    const group = services ? await this.groupOf(facts) : undefined;
    if (services && group) await services.removeInstanceEndpoints(kube, group, instanceId);
    return outcome;
  }

  /** Where the instance an event names is read (shared/domain/locations.ts). */
  locate(hint: InstanceHint): Located {
    return locateHint(hint, this.#deps.config.fleet);
  }

  /** The AWS adapters of a location: the home's own, or a spoke's through its member role. */
  #at(location: Location): Pick<RegistrarDeps, 'ec2' | 'autoscaling' | 'lifecycle'> {
    const d = this.#deps;
    if (isHome(location, d.config.fleet)) return d;
    if (!d.aws) throw new Error(`no AWS clients for ${locationKey(location)}: the registrar has no FleetAws`);
    return d.aws.at(location);
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
    const batch = this.startBatch([{ id: 'event', event }], deadline);
    try {
      return await batch.process('event');
    } finally {
      await batch.settle();
    }
  }

  /** @internal What EC2 and Auto Scaling say about `ids` in `location` (default: home). */
  async describe(
    ids: readonly string[],
    location: Location = this.#deps.config.fleet.home,
  ): Promise<Map<string, InstanceFacts>> {
    const at = this.#at(location);
    try {
      return await describeInstances(ids, at.ec2, at.autoscaling, (error) => {
        this.#countAwsError(error, location);
        this.#deps.logger.warn(
          'Auto Scaling lifecycle states unreadable: registrations wait, deregistrations go ahead',
          {
            error: (error as Error).message,
          },
        );
      });
    } catch (error) {
      this.#countAwsError(error, location);
      throw error;
    }
  }

  /** A spoke's member role refused is a configuration problem of that spoke: its own metric and log. */
  #countAwsError(error: unknown, location: Location): void {
    const { logger, telemetry } = this.#deps;
    if (error instanceof MemberAccessError) {
      telemetry.count(Metric.SpokeAccessErrors, 1, { name: 'Location', value: locationKey(location) });
      logger.error(`spoke ${locationKey(location)} unreachable: ${error.message}; its records come back`, {
        location: locationKey(location),
        roleArn: error.roleArn,
      });
    } else {
      telemetry.count(Metric.Ec2Errors);
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
    location: Location = this.#deps.config.fleet.home,
    options: ConvergeOptions = {},
  ): Promise<ConvergeOutcome> {
    const { config, logger, telemetry } = this.#deps;
    if (awaitsLaunchVisibility(facts, hint, (this.#deps.now ?? Date.now)())) {
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
    annotateRecord({ workloadGroup: groupKeyOf(facts, config.tagPrefix) });
    if (intent.kind === 'register' && facts?.autoScalingStateUnknown) {
      throw new AdapterError(
        `instance ${instanceId}: its Auto Scaling lifecycle state could not be read; retrying later`,
        { retriable: true },
      );
    }
    try {
      let outcome = await this.#carryOut(
        instanceId,
        facts,
        intent,
        location,
        check.kind === 'verified' ? hint : undefined,
        options,
      );
      if (reread) outcome = await this.#correctIfStale(instanceId, facts, outcome, reread, location);
      this.#record(outcome, groupKeyOf(facts, config.tagPrefix));
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
    location: Location,
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
    const corrected = await this.#carryOut(instanceId, fresh, intent, location);
    if (corrected.action !== 'deleted') return corrected;
    const withReason = { ...corrected, reason: `${corrected.reason} (it left while its entry was written)` };
    this.#keep(withReason, this.#details.get(corrected) ?? {});
    return withReason;
  }

  async #carryOut(
    instanceId: string,
    facts: InstanceFacts | undefined,
    intent: InstanceIntent,
    location: Location,
    hint?: InstanceHint,
    options: ConvergeOptions = {},
  ): Promise<ConvergeOutcome> {
    const { kube, config } = this.#deps;
    switch (intent.kind) {
      case 'ignore':
        return { action: 'ignored', reason: intent.reason };
      case 'keep':
        return { action: 'kept', reason: intent.reason };
      case 'refuse':
        return { action: 'refused', refusal: intent.refusal };
      case 'deregister':
        return this.#removeInstance(instanceId, intent.reason, location);
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
        if (!rendered.ok) return this.#keep({ action: 'refused', refusal: rendered.refusal }, { group });
        if (hint?.source === 'ec2-rebalance-recommendation' && rebalanceDeregisters(group)) {
          return this.#removeInstance(
            instanceId,
            'rebalance recommendation (the group opts in to deregistering)',
            location,
          );
        }
        if (!options.launchGatePassed && launchGateHolds(facts!, group)) {
          return {
            action: 'kept',
            reason: 'held back until the launch gate (probe) passes',
            heldByGate: true,
          };
        }
        const desired = rendered.entry;
        const { namespace, name } = desired.metadata;
        const write = await this.#kubeSlots.run(() => writeEntry(kube, desired));
        if (write.result === 'refused')
          return this.#keep(
            { action: 'refused', refusal: write.refusal },
            { group, entry: `${namespace}/${name}` },
          );
        return this.#keep(
          { action: write.result, entry: `${namespace}/${name}` },
          {
            group,
            at: Date.now(),
            ...(write.uid ? { uid: write.uid } : {}),
            ...(desired.spec.network ? { network: desired.spec.network } : {}),
          },
        );
      }
    }
  }

  /**
   * Takes an instance out of the mesh: every managed entry of it registered from `location`
   * (uid-guarded deletes). Its direct endpoints follow from the 'deleted' outcome, through the
   * batch's Service upkeep, before a lifecycle record moves on (so a scale-in's drain covers them
   * too); a launch gate's removal ({@link removeFromMesh}) takes them out itself.
   */
  async #removeInstance(instanceId: string, reason: string, location: Location): Promise<ConvergeOutcome> {
    const { kube, config } = this.#deps;
    const found = await this.#kubeSlots.run(() =>
      kube.findEntriesForInstance(config.allowedNamespaces, instanceId),
    );
    const deleted: string[] = [];
    // Only on the word of the instance's own location: "not found" in the account an event
    // claims must not delete an entry registered from another one (see domain/locations.ts).
    const fleet = config.fleet;
    const here = (entry: (typeof found)[number]) =>
      fleet.spokes.length === 0 || sameLocation(entryLocation(entry, fleet), location);
    let owner: GroupIdentity | undefined;
    for (const entry of found.filter((e) => isManaged(e) && here(e))) {
      const { namespace, name, uid } = entry.metadata;
      if (await this.#kubeSlots.run(() => kube.deleteWorkloadEntry(namespace, name, uid))) {
        deleted.push(`${namespace}/${name}`);
        const ref = entry.metadata.ownerReferences?.find((r) => r.kind === 'WorkloadGroup');
        if (ref) owner ??= { namespace, name: ref.name, uid: ref.uid, apiVersion: ref.apiVersion };
      }
    }
    return this.#keep(
      { action: 'deleted', entries: deleted, reason },
      { at: Date.now(), ...(owner ? { owner } : {}) },
    );
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

  /** What an outcome does not say but its notices need (the group read, the write's uid and time). */
  readonly #details = new WeakMap<ConvergeOutcome, OutcomeDetails>();

  #keep<O extends ConvergeOutcome>(outcome: O, details: OutcomeDetails): O {
    this.#details.set(outcome, details);
    return outcome;
  }

  #record(outcome: ConvergeOutcome, group: string | undefined): void {
    const { telemetry } = this.#deps;
    // Per group as well as in total; never per instance (shared/metrics.ts caps the group values).
    const byGroup = group ? { WorkloadGroup: group } : undefined;
    switch (outcome.action) {
      case 'applied':
        telemetry.count(Metric.EntriesApplied);
        if (byGroup) telemetry.count(Metric.EntriesApplied, 1, byGroup);
        break;
      case 'unchanged':
        telemetry.count(Metric.EntriesUnchanged);
        break;
      case 'deleted':
        telemetry.count(Metric.EntriesDeleted, outcome.entries.length);
        if (byGroup) telemetry.count(Metric.EntriesDeleted, outcome.entries.length, byGroup);
        break;
      case 'refused':
        telemetry.count(Metric.InstancesRefused, 1, { name: 'Reason', value: outcome.refusal.reason });
        if (byGroup) telemetry.count(Metric.InstancesRefused, 1, byGroup);
        break;
      default:
        break;
    }
  }

  /**
   * After a record's result is decided: its time to mesh, and its Kubernetes Events and EventBridge
   * event (written beside the other records' work, never failing this one). @internal
   */
  tell(
    result: RecordResult,
    hint: InstanceHint,
    facts: InstanceFacts | undefined,
    notes: Notifications | undefined,
  ): void {
    if (result.kind !== 'converged') return;
    const { config } = this.#deps;
    const groupKey = groupKeyOf(facts, config.tagPrefix);
    let details = this.#details.get(result.outcome) ?? {};
    const [namespace = '', name = ''] = groupKey?.split('/') ?? [];
    if (
      notes &&
      result.outcome.action === 'refused' &&
      !details.group &&
      groupKey &&
      isNamespaceAllowed(namespace, config.allowedNamespaces)
    ) {
      // Refused before its group was read (no private IP, a bad network tag...): the Event needs
      // the group's uid. One cached read, beside the other records' work.
      const outcome = result.outcome;
      notes.track(
        this.#liveGroup(namespace, name).then((group) => {
          details = group ? { ...details, group } : details;
          this.#tellNow(outcome, details, hint, facts, groupKey, result.instanceId, notes);
        }),
      );
      return;
    }
    this.#tellNow(result.outcome, details, hint, facts, groupKey, result.instanceId, notes);
  }

  #tellNow(
    outcome: ConvergeOutcome,
    details: OutcomeDetails,
    hint: InstanceHint,
    facts: InstanceFacts | undefined,
    groupKey: string | undefined,
    instanceId: string,
    notes: Notifications | undefined,
  ): void {
    const { telemetry } = this.#deps;
    const result = { instanceId };
    tellOutcome({
      outcome,
      details,
      hint,
      facts,
      groupKey,
      correlationId: currentRecord().correlationId ?? hint.eventId ?? result.instanceId,
      telemetry,
      ...(notes ? { notes } : {}),
    });
  }

  /**
   * @internal An event from an account/region the registrar does not serve. No dimension: anyone who
   * can send to the queue chooses the claim, and the log line names it.
   */
  countUnknownLocation(): void {
    this.#deps.telemetry.count(Metric.EventsFromUnknownLocation);
  }

  /** The Service upkeep of one batch (bound to its deadline), when the registrar keeps Services. @internal */
  serviceBatch(): ServiceBatch | undefined {
    const { services, groups, kube } = this.#deps;
    return services?.startBatch(kube, (namespace, name) => groups.get(namespace, name, kube));
  }

  /** @internal */
  report(id: string, result: RecordResult, hint?: InstanceHint): void {
    const { logger, telemetry } = this.#deps;
    annotateRecord({
      outcome: result.kind === 'converged' ? result.outcome.action : result.kind,
    });
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
      case 'deferred':
        if (result.notVisibleYet) {
          logger.info('instance not visible in EC2 yet; the lifecycle record comes back later', {
            ...base,
            lifecycle: result.lifecycle,
          });
        } else {
          telemetry.count(Metric.EventsFailed);
          logger.error('record failed; its lifecycle action comes back by a continuation', {
            ...base,
            error: result.error,
            lifecycle: result.lifecycle,
          });
        }
        return;
      case 'converged': {
        const o = result.outcome;
        const lifecycle = result.lifecycle ? { lifecycle: result.lifecycle } : {};
        if (o.action === 'refused') {
          logger.warn(`instance refused: ${o.refusal.message}`, {
            ...base,
            reason: o.refusal.reason,
            ...lifecycle,
          });
        } else if (o.action === 'ignored') {
          telemetry.count(Metric.EventsIgnored);
          logger.info('instance ignored', { ...base, reason: o.reason, ...lifecycle });
        } else {
          logger.info(`instance converged: ${o.action}`, { ...base, outcome: o, ...lifecycle });
        }
      }
    }
  }
}

/** One instance in one location: the unit a batch converges. */
interface Target {
  readonly location: Location;
  readonly instanceId: string;
}

/** `account:region/instance-id`. */
const targetKey = (t: Target) => `${locationKey(t.location)}/${t.instanceId}`;

/**
 * One batch of records: one EC2 read per location (the instances of each account/region together),
 * one convergence per instance.
 */
export class RegistrarBatch {
  readonly #registrar: Registrar;
  readonly #intakes: Map<string, Intake>;
  /** Where each hint's instance is read, by record id (hints only). */
  readonly #located = new Map<string, Located>();
  readonly #targets = new Map<string, Target>();
  readonly #primary = new Map<string, InstanceHint>();
  readonly #converging = new Map<string, Promise<ConvergeOutcome>>();
  /** One DescribeInstances per location, by location key. */
  readonly #facts = new Map<string, Promise<Map<string, InstanceFacts>>>();
  /** Each instance's first convergence, kept when it failed (the Service upkeep waits for all). */
  readonly #firstConverge = new Map<string, Promise<ConvergeOutcome>>();
  readonly #services: ServiceBatch | undefined;
  /** Converges started and not yet at their post-apply re-read or finished. */
  #running = 0;
  /** Post-apply re-reads waiting for the others, to share one DescribeInstances per location. */
  #rereads = new Map<string, { target: Target; reread: PromiseWithResolvers<InstanceFacts | undefined> }>();
  /**
   * Lifecycle actions named by this batch: the hint that carries each forward (a continuation
   * before the event that started it, the oldest continuation first) and its one step, shared by
   * every record naming the action, so duplicates never start a second wait or completion.
   */
  readonly #actions = new Map<string, { hint: OwnedAction; step?: Promise<LifecycleReport> }>();

  readonly #notes: Notifications | undefined;

  constructor(registrar: Registrar, intakes: Map<string, Intake>) {
    this.#registrar = registrar;
    this.#intakes = intakes;
    this.#services = registrar.serviceBatch();
    this.#notes = registrar.notifications();
    for (const [id, intake] of intakes) {
      if (intake.kind !== 'hint') continue;
      const located = registrar.locate(intake.hint);
      this.#located.set(id, located);
      if (located.kind === 'unknown') continue;
      const target = { location: located.location, instanceId: intake.hint.instanceId };
      const key = targetKey(target);
      this.#targets.set(key, target);
      const current = this.#primary.get(key);
      if (!current || hintWeight(intake.hint) > hintWeight(current)) this.#primary.set(key, intake.hint);
      const action = intake.hint.lifecycleAction;
      if (!action) continue;
      const actionId = actionKey(key, action);
      const held = this.#actions.get(actionId);
      if (!held || carriesFurther(intake.hint, held.hint)) {
        this.#actions.set(actionId, { hint: intake.hint as OwnedAction });
      }
    }
  }

  /** The batch's read of one location: every instance of the batch there, in one call. */
  #describe(location: Location): Promise<Map<string, InstanceFacts>> {
    const key = locationKey(location);
    let facts = this.#facts.get(key);
    if (!facts) {
      const ids = [...this.#targets.values()]
        .filter((t) => locationKey(t.location) === key)
        .map((t) => t.instanceId);
      facts = this.#registrar.describe(ids, location);
      // A failed read is retried by the next record rather than failing every record on one error.
      facts.catch(() => this.#facts.delete(key));
      this.#facts.set(key, facts);
    }
    return facts;
  }

  #convergeOnce(target: Target): Promise<ConvergeOutcome> {
    const key = targetKey(target);
    let running = this.#converging.get(key);
    if (!running) {
      let waiting = true;
      const arrive = () => {
        if (!waiting) return;
        waiting = false;
        this.#running--;
        this.#flushRereads();
      };
      this.#running++;
      running = this.#describe(target.location).then((facts) =>
        this.#registrar.converge(
          target.instanceId,
          facts.get(target.instanceId),
          this.#primary.get(key),
          () => {
            const reread = Promise.withResolvers<InstanceFacts | undefined>();
            this.#rereads.set(key, { target, reread });
            arrive();
            return reread.promise;
          },
          target.location,
        ),
      );
      running.then(arrive, arrive);
      running.catch(() => this.#converging.delete(key));
      this.#converging.set(key, running);
      if (!this.#firstConverge.has(key)) this.#firstConverge.set(key, running);
    }
    return running;
  }

  /** Every instance of the batch once converged (those that failed left out), with EC2's facts. */
  async #settled(): Promise<SettledInstance[]> {
    const targets = [...this.#targets.entries()];
    const outcomes = await Promise.allSettled(
      targets.map(([key, target]) => this.#firstConverge.get(key) ?? this.#convergeOnce(target)),
    );
    const facts = await Promise.all(
      targets.map(([, target]) =>
        this.#describe(target.location).catch(() => new Map<string, InstanceFacts>()),
      ),
    );
    return targets.flatMap(([, { instanceId }], i) => {
      const o = outcomes[i]!;
      return o.status === 'fulfilled'
        ? [{ instanceId, facts: facts[i]!.get(instanceId), outcome: o.value }]
        : [];
    });
  }

  /**
   * Once every converge of the batch has applied (and asks for its re-read) or finished, one
   * DescribeInstances per location answers all the re-reads: a batch of launches costs one extra EC2
   * call per account/region, not one per instance. Records processed one after the other (the CLI)
   * each flush at once.
   */
  #flushRereads(): void {
    if (this.#running > 0 || this.#rereads.size === 0) return;
    const waiting = this.#rereads;
    this.#rereads = new Map();
    const byLocation = new Map<
      string,
      Array<{ target: Target; reread: PromiseWithResolvers<InstanceFacts | undefined> }>
    >();
    for (const item of waiting.values()) {
      const key = locationKey(item.target.location);
      byLocation.set(key, [...(byLocation.get(key) ?? []), item]);
    }
    for (const items of byLocation.values()) {
      this.#registrar
        .describe(
          items.map((i) => i.target.instanceId),
          items[0]!.target.location,
        )
        .then(
          (facts) => {
            for (const { target, reread } of items) reread.resolve(facts.get(target.instanceId));
          },
          (error: unknown) => {
            for (const { reread } of items) reread.reject(error);
          },
        );
    }
  }

  /** Processes one record. Resolves with what happened; throws when the record should be retried. */
  async process(id: string): Promise<RecordResult> {
    const intake = this.#intakes.get(id);
    const located = this.#located.get(id);
    let result: RecordResult;
    if (!intake) {
      result = { kind: 'rejected', reason: 'record not part of this batch' };
    } else if (intake.kind === 'reject') {
      result = { kind: 'rejected', reason: intake.reason };
    } else if (intake.kind === 'ignore') {
      result = { kind: 'ignored', reason: intake.reason };
    } else if (!located || located.kind === 'unknown') {
      // Not read anywhere: reading it at home could find another instance, or none, and deregister.
      result = { kind: 'ignored', reason: located?.kind === 'unknown' ? located.reason : 'not located' };
      this.#registrar.countUnknownLocation();
    } else {
      const { hint } = intake;
      annotateRecord({ instanceId: hint.instanceId });
      const target = { location: located.location, instanceId: hint.instanceId };
      const steps = this.#registrar.lifecycleSteps(hint, located.location);
      if (steps) {
        result = await this.#lifecycleRecord(hint as OwnedAction, steps, target);
      } else {
        const outcome = await this.#convergeOnce(target);
        // The group's Services and direct endpoints follow in the same record.
        await this.#services?.follow(hint.instanceId, () => this.#settled());
        result = { kind: 'converged', instanceId: hint.instanceId, outcome };
      }
      const facts = await this.#describe(located.location).then(
        (all) => all.get(hint.instanceId),
        () => undefined,
      );
      this.#registrar.tell(result, hint, facts, this.#notes);
    }
    this.#registrar.report(id, result, intake?.kind === 'hint' ? intake.hint : undefined);
    return result;
  }

  /**
   * Sends the batch's EventBridge events still gathered and waits for its Kubernetes Events: call it
   * once every record is processed, before the invocation answers. Never throws.
   */
  async settle(): Promise<void> {
    await this.#notes?.settle();
  }

  /**
   * A record of one of our hooks' actions: converge the instance (and its group's Services), then
   * one lifecycle step for the action (shared with every other record of this batch naming it). A
   * failed convergence does not fail the record when the step can park the action on the queue: it
   * comes back by a continuation, heartbeated, instead of by SQS's visibility timeout and receive
   * count.
   */
  async #lifecycleRecord(hint: OwnedAction, steps: LifecycleSteps, target: Target): Promise<RecordResult> {
    const instanceId = hint.instanceId;
    let converged: Convergence<ConvergeOutcome>;
    try {
      const outcome = await this.#convergeOnce(target);
      // The group's Services and direct endpoints follow before the action moves on: a scale-in's
      // drain starts once the VM's direct endpoints are gone too.
      await this.#services?.follow(instanceId, () => this.#settled());
      converged = { ok: true, outcome };
    } catch (error) {
      converged = { ok: false, error };
    }
    const key = actionKey(targetKey(target), hint.lifecycleAction);
    const held = this.#actions.get(key) ?? { hint };
    if (!held.step) {
      const carried = held.hint;
      held.step = this.#describe(target.location).then(
        (all) => this.#stepOnce(steps, carried, converged, target, all.get(instanceId), true),
        () => this.#stepOnce(steps, carried, converged, target, undefined, false),
      );
      this.#actions.set(key, held);
    }
    const report = await held.step;
    if (converged.ok) return { kind: 'converged', instanceId, outcome: converged.outcome, lifecycle: report };
    const error = converged.error instanceof Error ? converged.error.message : String(converged.error);
    const notVisibleYet = converged.error instanceof LaunchNotVisibleYet;
    return { kind: 'deferred', instanceId, error, notVisibleYet, lifecycle: report };
  }

  #stepOnce(
    steps: LifecycleSteps,
    hint: OwnedAction,
    converged: Convergence,
    target: Target,
    facts: InstanceFacts | undefined,
    factsRead: boolean,
  ): Promise<LifecycleReport> {
    const registrar = this.#registrar;
    const { instanceId, location } = target;
    const ops: MeshOps = {
      group: () => registrar.groupOf(facts),
      writeHeld: async () => {
        await registrar.converge(
          instanceId,
          facts,
          hint,
          (id) => registrar.describe([id], location).then((m) => m.get(id)),
          location,
          { launchGatePassed: true },
        );
      },
      remove: async () => {
        await registrar.removeFromMesh(instanceId, facts, location);
      },
    };
    return steps.step(hint, converged, facts, factsRead, ops);
  }
}

/** One lifecycle action: its instance (in its location), group, hook and token. */
function actionKey(target: string, action: LifecycleAction): string {
  return [target, action.autoScalingGroupName, action.lifecycleHookName, action.token ?? ''].join('\u0000');
}

/** Whether `candidate` should carry the action forward rather than `current`. */
function carriesFurther(candidate: InstanceHint, current: InstanceHint): boolean {
  const a = candidate.lifecycleProgress;
  const b = current.lifecycleProgress;
  if (!a) return false;
  if (!b) return true;
  return a.startedAt < b.startedAt;
}
