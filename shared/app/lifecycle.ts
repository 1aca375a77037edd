import type { Logger } from '@aws-lambda-powertools/logger';
import type { LifecycleActions } from '../adapters/autoscaling.ts';
import type { ContinuationQueue } from '../adapters/continuations.ts';
import type { KubeWorkloads } from '../adapters/kube.ts';
import type { ReadinessProber } from '../adapters/probe.ts';
import type { RegistrarConfig } from '../config/config.ts';
import { Metric, WORKLOAD_GROUP_TAG } from '../constants.ts';
import { renderContinuation } from '../domain/continuation.ts';
import type { InstanceHint, LifecycleAction } from '../domain/events.ts';
import {
  actionPending,
  type ConvergeObservation,
  entryHealth,
  type GateObservation,
  gateToObserve,
  type HookTimeouts,
  type LifecycleObservation,
  type LifecycleProgress,
  type LifecycleResult,
  type LifecycleStep,
  nextLifecycleStep,
  probeDueAt,
  readLifecycleSettings,
  startProgress,
} from '../domain/lifecycle.ts';
import type { InstanceFacts, WorkloadGroupView } from '../domain/types.ts';
import { workloadEntryName } from '../domain/workload-entry.ts';
import type { Telemetry } from '../observability.ts';

/** A lifecycle action of one of our hooks: the hint and its action, both present. */
export type OwnedAction = InstanceHint & { readonly lifecycleAction: LifecycleAction };

/** What converging the instance came to, in the terms the lifecycle step needs. */
export type Convergence<O extends ConvergedLike = ConvergedLike> =
  | { readonly ok: true; readonly outcome: O }
  | { readonly ok: false; readonly error: unknown };

/** What the lifecycle step reads of a convergence's outcome (`heldByGate`: the probe gate keeps the entry back). */
export interface ConvergedLike {
  readonly action: string;
  readonly heldByGate?: boolean;
  readonly reason?: string;
}

/** The registrar's own ways of changing the mesh for this instance, offered to the lifecycle step. */
export interface MeshOps {
  /** The instance's WorkloadGroup (undefined: untagged, or no such group). */
  group(): Promise<WorkloadGroupView | undefined>;
  /** Writes the entry the probe gate held back (the probe passed). */
  writeHeld(): Promise<void>;
  /** Takes the instance out of the mesh: every entry of it. */
  remove(): Promise<void>;
}

/** What the lifecycle step did with one record. */
export type LifecycleReport =
  | {
      readonly kind: 'completed';
      readonly result: LifecycleResult;
      readonly completion: 'completed' | 'not-pending';
      readonly reason: string;
    }
  | {
      readonly kind: 'waiting';
      readonly delaySeconds: number;
      readonly heartbeat: 'recorded' | 'failed' | 'not-needed';
      readonly retry: boolean;
      readonly reason: string;
    }
  | { readonly kind: 'not-pending'; readonly reason: string };

/** Hook timeouts assumed when DescribeLifecycleHooks cannot answer: every wait heartbeats first. */
const ASSUMED_HOOK: HookTimeouts = {
  heartbeatTimeoutSeconds: 300,
  globalTimeoutSeconds: 30_000,
  defaultResult: 'CONTINUE',
  assumed: true,
};

/**
 * Hooks' timeouts, read with DescribeLifecycleHooks and kept per container for a few minutes (a
 * hook's settings rarely change; a failed read is not kept).
 */
export class HookTimeoutsCache {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { at: number; value: Promise<HookTimeouts | undefined> }>();

  constructor(ttlMs = 300_000, now: () => number = Date.now) {
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /** `scope`: the account and region the group lives in (group names repeat across accounts). */
  get(
    lifecycle: LifecycleActions,
    group: string,
    hook: string,
    scope = '',
  ): Promise<HookTimeouts | undefined> {
    const key = `${scope}\u0000${group}\u0000${hook}`;
    const now = this.#now();
    const hit = this.#entries.get(key);
    if (hit && now - hit.at < this.#ttlMs) return hit.value;
    const value = lifecycle.hookTimeouts(group, hook);
    this.#entries.set(key, { at: now, value });
    value.catch(() => this.#entries.delete(key));
    return value;
  }
}

export interface LifecycleDeps {
  readonly config: RegistrarConfig;
  /** Bound to the invocation's deadline, like every other adapter here. */
  readonly lifecycle: LifecycleActions;
  readonly queue: ContinuationQueue | undefined;
  readonly kube: KubeWorkloads;
  readonly prober: ReadinessProber;
  readonly hookTimeouts: HookTimeoutsCache;
  /** The account and region of the actions these steps carry (logs, hook cache). */
  readonly location?: string;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  readonly now: () => number;
  /** The invocation's deadline signal: a probe never outlives it. */
  readonly signal: AbortSignal;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Carries one lifecycle record of our hooks forward after the instance was converged: observes
 * what the policy (shared/domain/lifecycle.ts) needs, and completes, waits (a continuation on the
 * registrar's own queue, heartbeating first when due) or stops. Without a queue (LIFECYCLE_QUEUE_URL
 * unset, as from the CLI) nothing can wait: the action is completed at once, and a failed
 * convergence is raised for SQS to redeliver, as before lifecycle waits existed.
 */
export class LifecycleSteps {
  readonly #d: LifecycleDeps;

  constructor(deps: LifecycleDeps) {
    this.#d = deps;
  }

  /**
   * One step for `hint`'s action. `facts`: what the batch read of the instance (`undefined` with
   * `factsRead` true: EC2 does not know it). Throws only when the record must come back through
   * SQS: a failed convergence without a queue, or a continuation that could not be sent.
   */
  async step(
    hint: OwnedAction,
    converged: Convergence,
    facts: InstanceFacts | undefined,
    factsRead: boolean,
    ops: MeshOps,
  ): Promise<LifecycleReport> {
    const d = this.#d;
    const action = hint.lifecycleAction;
    const now = d.now();
    const progress = hint.lifecycleProgress ?? startProgress(hint.time, now);
    // EC2 not knowing the instance settles nothing while its convergence failed (a launch EC2 does
    // not show yet fails that way): only a read that converged says the action cannot be waiting.
    const pending = !factsRead || (!facts && !converged.ok) ? 'unknown' : actionPending(action, facts);
    const log = {
      instanceId: hint.instanceId,
      lifecycleHook: action.lifecycleHookName,
      transition: action.transition,
      ...(d.location ? { location: d.location } : {}),
    };

    if (!d.queue) {
      if (!converged.ok) throw converged.error;
      if (pending === 'no')
        return this.#notPending(log, 'Auto Scaling shows no such action waiting for this instance');
      return this.#complete(hint, 'CONTINUE', 'converged (no LIFECYCLE_QUEUE_URL: no drain or gate)', log);
    }

    let observed = await this.#observeConvergence(hint, converged, facts, ops);
    const hook = await this.#hook(action, log);
    const settings = observed.settings;
    let gate: GateObservation | undefined;
    if (observed.kind !== 'failed') {
      const toObserve = gateToObserve(action, pending, observed, settings);
      if (toObserve) gate = await this.#observeGate(hint, toObserve, progress, facts, observed.group);
    }
    const observation: LifecycleObservation = {
      now,
      action,
      progress,
      pending,
      converged: observed,
      settings,
      ...(gate ? { gate } : {}),
      hook,
      limits: {
        retrySeconds: d.config.lifecycleRetrySeconds,
        terminateRetryLimitSeconds: d.config.terminateRetryLimitSeconds,
        heartbeatMarginSeconds: d.config.lifecycleHeartbeatMarginSeconds,
      },
    };
    let step = nextLifecycleStep(observation);
    if (step.kind === 'complete' && (step.writeEntry || step.removeEntry)) {
      try {
        if (step.removeEntry) await ops.remove();
        if (step.writeEntry) await ops.writeHeld();
      } catch (error) {
        // The mesh could not be changed as the completion needs: try again later, as any failure.
        observed = { kind: 'failed', reason: message(error), settings };
        const retry = nextLifecycleStep({ ...observation, converged: observed });
        d.logger.warn('lifecycle: mesh change before completion failed', { ...log, error: message(error) });
        step = retry.kind === 'complete' ? { ...retry, removeEntry: false, writeEntry: false } : retry;
      }
    }
    return this.#carryOut(hint, step, progress, log);
  }

  async #observeConvergence(
    hint: OwnedAction,
    converged: Convergence,
    facts: InstanceFacts | undefined,
    ops: MeshOps,
  ): Promise<
    ConvergeObservation & {
      settings: ReturnType<typeof readLifecycleSettings>['settings'];
      group?: WorkloadGroupView;
    }
  > {
    const d = this.#d;
    const defaults = readLifecycleSettings(undefined, d.config.drainSeconds).settings;
    if (!converged.ok) return { kind: 'failed', reason: message(converged.error), settings: defaults };
    const o = converged.outcome;
    const launching = hint.lifecycleAction.transition === 'launching';
    let base: ConvergeObservation;
    if (launching) {
      if (o.action === 'applied' || o.action === 'unchanged') base = { kind: 'member' };
      else if (o.action === 'kept' && o.heldByGate) base = { kind: 'held' };
      else
        base = {
          kind: 'not-member',
          reason: `the instance was ${o.action}${o.reason ? ` (${o.reason})` : ''}`,
        };
    } else {
      const tagged = facts?.tags[`${d.config.tagPrefix}${WORKLOAD_GROUP_TAG}`] !== undefined;
      base =
        o.action === 'deleted' && tagged
          ? { kind: 'member' }
          : {
              kind: 'not-member',
              reason: tagged ? `the instance was ${o.action}` : 'the instance has no workload-group tag',
            };
    }
    if (base.kind === 'not-member') return { ...base, settings: defaults };
    let group: WorkloadGroupView | undefined;
    try {
      group = await ops.group();
    } catch (error) {
      return {
        kind: 'failed',
        reason: `reading the WorkloadGroup failed: ${message(error)}`,
        settings: defaults,
      };
    }
    const { settings, problems } = readLifecycleSettings(group, d.config.drainSeconds);
    if (problems.length > 0) {
      d.telemetry.count(Metric.LifecycleSettingsInvalid, problems.length);
      d.logger.error(
        `WorkloadGroup lifecycle annotations not understood; defaults used: ${problems.join('; ')}`,
        {
          instanceId: hint.instanceId,
          workloadGroup: group ? `${group.namespace}/${group.name}` : undefined,
        },
      );
    }
    return { ...base, settings, ...(group ? { group } : {}) };
  }

  async #hook(action: LifecycleAction, log: Record<string, unknown>): Promise<HookTimeouts> {
    try {
      const hook = await this.#d.hookTimeouts.get(
        this.#d.lifecycle,
        action.autoScalingGroupName,
        action.lifecycleHookName,
        this.#d.location,
      );
      if (hook) return hook;
      this.#d.logger.warn(
        'lifecycle hook not found by DescribeLifecycleHooks: assuming a 300 s timeout and heartbeating every wait',
        log,
      );
    } catch (error) {
      this.#d.logger.warn('lifecycle hook unreadable: assuming a 300 s timeout and heartbeating every wait', {
        ...log,
        error: message(error),
      });
    }
    return ASSUMED_HOOK;
  }

  async #observeGate(
    hint: OwnedAction,
    gate: NonNullable<ReturnType<typeof gateToObserve>>,
    progress: LifecycleProgress,
    facts: InstanceFacts | undefined,
    group: WorkloadGroupView | undefined,
  ): Promise<GateObservation> {
    const d = this.#d;
    if (gate.mode === 'istiod') {
      if (!group) return { kind: 'istiod', healthy: false, reason: 'the WorkloadGroup is gone' };
      try {
        const entry = await d.kube.getWorkloadEntry(
          group.namespace,
          workloadEntryName(group.name, hint.instanceId),
        );
        return { kind: 'istiod', ...entryHealth(entry) };
      } catch (error) {
        return { kind: 'istiod', healthy: false, reason: `reading the entry failed: ${message(error)}` };
      }
    }
    const dueAt = probeDueAt(progress, gate.probe);
    if (d.now() < dueAt) return { kind: 'probe-not-due', dueAt };
    if (!facts?.privateIpAddress)
      return { kind: 'probe', passed: false, reason: 'the instance has no private IPv4 address' };
    const outcome = await d.prober.probe(facts.privateIpAddress, gate.probe, d.signal);
    return { kind: 'probe', passed: outcome.passed, reason: outcome.reason };
  }

  async #carryOut(
    hint: OwnedAction,
    step: LifecycleStep,
    progress: LifecycleProgress,
    log: Record<string, unknown>,
  ): Promise<LifecycleReport> {
    const d = this.#d;
    switch (step.kind) {
      case 'done':
        return this.#notPending(log, step.reason);
      case 'complete': {
        if (step.gateTimedOut) {
          d.telemetry.count(Metric.LaunchGateTimeouts);
          d.logger.warn(`launch gate timed out: ${step.reason}`, log);
        }
        try {
          return await this.#complete(hint, step.result, step.reason, log);
        } catch (error) {
          // Auto Scaling did not take the completion: come back and decide again.
          d.logger.warn('lifecycle: CompleteLifecycleAction failed; trying again later', {
            ...log,
            error: message(error),
          });
          const delay = d.config.lifecycleRetrySeconds;
          await this.#park(hint, progress, delay);
          return {
            kind: 'waiting',
            delaySeconds: delay,
            heartbeat: 'not-needed',
            retry: true,
            reason: `completion failed: ${message(error)}`,
          };
        }
      }
      case 'wait': {
        let next = step.next;
        let heartbeat: 'recorded' | 'failed' | 'not-needed' = 'not-needed';
        if (step.heartbeat) {
          try {
            const answer = await d.lifecycle.heartbeat(hint.lifecycleAction, hint.instanceId);
            if (answer === 'not-pending')
              return this.#notPending(log, 'the heartbeat found no such action waiting');
            heartbeat = 'recorded';
            d.telemetry.count(Metric.LifecycleHeartbeats);
          } catch (error) {
            heartbeat = 'failed';
            next = { ...next, heartbeatAt: progress.heartbeatAt };
            d.logger.warn('lifecycle heartbeat failed; the next delivery tries again', {
              ...log,
              error: message(error),
            });
          }
        }
        await this.#park(hint, next, step.delaySeconds);
        if (step.retry) d.telemetry.count(Metric.LifecycleRetries);
        (step.retry ? d.logger.warn : d.logger.info).call(d.logger, `lifecycle: ${step.reason}`, {
          ...log,
          delaySeconds: step.delaySeconds,
          heartbeat,
          phase: next.phase,
        });
        return {
          kind: 'waiting',
          delaySeconds: step.delaySeconds,
          heartbeat,
          retry: step.retry,
          reason: step.reason,
        };
      }
    }
  }

  /** Sends the continuation; a failure is raised, so that SQS brings the record back. */
  async #park(hint: OwnedAction, progress: LifecycleProgress, delaySeconds: number): Promise<void> {
    await this.#d.queue!.send(renderContinuation(hint, progress), delaySeconds);
    this.#d.telemetry.count(Metric.LifecycleWaits);
  }

  async #complete(
    hint: OwnedAction,
    result: LifecycleResult,
    reason: string,
    log: Record<string, unknown>,
  ): Promise<LifecycleReport> {
    const d = this.#d;
    const completion = await d.lifecycle.complete(hint.lifecycleAction, hint.instanceId, result);
    if (completion === 'completed') {
      d.telemetry.count(Metric.LifecycleActionsCompleted);
      if (result === 'ABANDON') d.telemetry.count(Metric.LifecycleActionsAbandoned);
    } else {
      d.telemetry.count(Metric.LifecycleActionsNotPending);
    }
    (result === 'ABANDON' ? d.logger.warn : d.logger.info).call(d.logger, 'lifecycle action', {
      ...log,
      result: completion,
      lifecycleActionResult: result,
      reason,
    });
    return { kind: 'completed', result, completion, reason };
  }

  #notPending(log: Record<string, unknown>, reason: string): LifecycleReport {
    this.#d.telemetry.count(Metric.LifecycleActionsNotPending);
    this.#d.logger.info('lifecycle action not pending: nothing to complete', { ...log, reason });
    return { kind: 'not-pending', reason };
  }
}
