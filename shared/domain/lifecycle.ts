import {
  ASG_NAME_TAG,
  DRAIN_SECONDS_ANNOTATION,
  LAUNCH_GATE_ANNOTATION,
  LAUNCH_GATE_RESULT_ANNOTATION,
  LAUNCH_GATE_TIMEOUT_ANNOTATION,
  REBALANCE_ANNOTATION,
} from '../constants.ts';
import type { LifecycleAction } from './events.ts';
import type { InstanceFacts, WorkloadEntryObject, WorkloadGroupProbe, WorkloadGroupView } from './types.ts';

/**
 * Lifecycle hooks that wait for the mesh: what happens to one Auto Scaling lifecycle action of our
 * hooks, from its first event to its completion. Pure: the registrar observes (EC2, Auto Scaling,
 * the entry, a probe), asks {@link nextLifecycleStep} and carries the step out. A wait is never a
 * sleeping Lambda: it is a continuation message on the registrar's own queue, delayed by the wait
 * (at most 900 s, SQS's limit), carrying {@link LifecycleProgress}; every delivery observes again.
 *
 * | hook      | phase       | observation                                                     | step                                                     |
 * |-----------|-------------|-----------------------------------------------------------------|----------------------------------------------------------|
 * | any       | any         | Auto Scaling shows no such action waiting for this instance     | done: nothing to complete (counted as not pending)       |
 * | any       | any         | Auto Scaling unreadable, convergence or the group read failed   | retry in LIFECYCLE_RETRY_SECONDS (heartbeat when due)    |
 * | launch    | any         | ... and the retry would end after the launch's budget (the gate | complete with the failure result: the gate's timeout     |
 * |           |             | timeout; ungated: the hook's heartbeat timeout)                 | result, ungated the hook's default result; ABANDON       |
 * |           |             |                                                                 | removes the entry                                        |
 * | terminate | any         | ... and failing for TERMINATE_RETRY_LIMIT_SECONDS               | complete CONTINUE (the reconciler removes what is left)  |
 * | terminate | start       | out of the warm pool, VM not in the mesh, or drain period 0     | complete CONTINUE                                        |
 * | terminate | start       | entry deleted                                                   | wait the drain period (phase `drain`)                    |
 * | terminate | drain       | drain period not over                                           | wait the rest                                            |
 * | terminate | drain       | drain period over                                               | complete CONTINUE                                        |
 * | launch    | start       | into the warm pool, no gate, or the VM is not for the mesh      | complete CONTINUE                                        |
 * | launch    | start, gate | gate passed: istiod `Healthy=True`; probe passed                | probe: write the entry; complete CONTINUE                |
 * |           |             | `successThreshold` times in a row                               |                                                          |
 * | launch    | start, gate | gate not passed, before its deadline                            | poll again: istiod every 10 s, probe every periodSeconds |
 * | launch    | start, gate | gate deadline passed                                            | complete with the timeout result (default ABANDON);      |
 * |           |             |                                                                 | ABANDON removes the entry, CONTINUE writes it            |
 * | any       | any wait    | the wait would outlast the hook's heartbeat timeout             | heartbeat first; wait at most timeout - margin           |
 * | any       | any wait    | the wait would outlast the action's global timeout              | complete now, as when the wait runs out                  |
 *
 * Who may ask: a continuation is only a hint, like any event. Before anything is completed,
 * Auto Scaling must show the action waiting for that instance in that group ({@link actionPending});
 * the token, when there is one, must match too (CompleteLifecycleAction checks it).
 */

export type LifecycleResult = 'CONTINUE' | 'ABANDON';

/** A readiness probe the registrar can run from inside the VPC (`httpGet` or `tcpSocket`). */
export interface ProbeSpec {
  readonly kind: 'http' | 'tcp';
  readonly port: number;
  /** httpGet: path and query, starting with `/`. */
  readonly path: string;
  readonly scheme: 'HTTP' | 'HTTPS';
  readonly headers: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  readonly initialDelaySeconds: number;
  readonly periodSeconds: number;
  readonly timeoutSeconds: number;
  readonly successThreshold: number;
}

export type LaunchGate =
  | { readonly mode: 'off' }
  | { readonly mode: 'istiod'; readonly timeoutSeconds: number; readonly timeoutResult: LifecycleResult }
  | {
      readonly mode: 'probe';
      readonly probe: ProbeSpec;
      readonly timeoutSeconds: number;
      readonly timeoutResult: LifecycleResult;
    };

/** A WorkloadGroup's lifecycle behaviour, from its annotations (defaults where absent). */
export interface LifecycleSettings {
  readonly drainSeconds: number;
  readonly gate: LaunchGate;
  readonly deregisterOnRebalance: boolean;
}

/** Defaults of the annotations (README, "Lifecycle hooks"). */
export const DEFAULT_GATE_TIMEOUT_SECONDS = 300;
export const DEFAULT_GATE_TIMEOUT_RESULT: LifecycleResult = 'ABANDON';
/** How often the `istiod` gate reads the entry's `Healthy` condition. */
export const ISTIOD_GATE_POLL_SECONDS = 10;
/** SQS DelaySeconds maximum: longer waits come back and wait again. */
export const MAX_DELAY_SECONDS = 900;
/** Kubernetes' probe defaults, used for unset (or 0) fields, as the kubelet does. */
const PROBE_DEFAULTS = { periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, initialDelaySeconds: 0 };
/** Auto Scaling limits: heartbeat timeout 30-7200 s; global timeout 100 x heartbeat, at most 48 h. */
export const HOOK_HEARTBEAT_TIMEOUT_RANGE = { min: 30, max: 7200 } as const;
export const MAX_GLOBAL_TIMEOUT_SECONDS = 172_800;

/** The global timeout Auto Scaling gives an action whose hook has this heartbeat timeout. */
export function globalTimeoutSeconds(heartbeatTimeoutSeconds: number): number {
  return Math.min(100 * heartbeatTimeoutSeconds, MAX_GLOBAL_TIMEOUT_SECONDS);
}

function integerIn(value: string, min: number, max: number): number | undefined {
  if (!/^\d+$/.test(value.trim())) return undefined;
  const n = Number(value.trim());
  return n >= min && n <= max ? n : undefined;
}

/**
 * Reads a group's lifecycle annotations. A value that cannot be read is reported and its default
 * used instead: a typo never stops a scale event (it fails open to the documented default).
 */
export function readLifecycleSettings(
  group: WorkloadGroupView | undefined,
  defaultDrainSeconds: number,
): { settings: LifecycleSettings; problems: string[] } {
  const problems: string[] = [];
  const a = group?.annotations ?? {};
  let drainSeconds = defaultDrainSeconds;
  const drain = a[DRAIN_SECONDS_ANNOTATION];
  if (drain !== undefined) {
    const n = integerIn(drain, 0, 3600);
    if (n === undefined) problems.push(`${DRAIN_SECONDS_ANNOTATION} "${drain}" is not 0-3600 seconds`);
    else drainSeconds = n;
  }
  let deregisterOnRebalance = false;
  const rebalance = a[REBALANCE_ANNOTATION];
  if (rebalance !== undefined) {
    const v = rebalance.trim().toLowerCase();
    if (v === 'true' || v === 'false') deregisterOnRebalance = v === 'true';
    else problems.push(`${REBALANCE_ANNOTATION} "${rebalance}" is not true or false`);
  }
  return { settings: { drainSeconds, gate: readGate(group, problems), deregisterOnRebalance }, problems };
}

function readGate(group: WorkloadGroupView | undefined, problems: string[]): LaunchGate {
  const a = group?.annotations ?? {};
  const raw = a[LAUNCH_GATE_ANNOTATION];
  const mode = raw?.trim().toLowerCase();
  if (mode === undefined || mode === '' || mode === 'off' || mode === 'none') return { mode: 'off' };
  if (mode !== 'istiod' && mode !== 'probe') {
    problems.push(`${LAUNCH_GATE_ANNOTATION} "${raw}" is not istiod, probe or off: no launch gate`);
    return { mode: 'off' };
  }
  let timeoutSeconds = DEFAULT_GATE_TIMEOUT_SECONDS;
  const timeout = a[LAUNCH_GATE_TIMEOUT_ANNOTATION];
  if (timeout !== undefined) {
    const n = integerIn(timeout, 10, MAX_GLOBAL_TIMEOUT_SECONDS);
    if (n === undefined)
      problems.push(`${LAUNCH_GATE_TIMEOUT_ANNOTATION} "${timeout}" is not 10-172800 seconds`);
    else timeoutSeconds = n;
  }
  let timeoutResult = DEFAULT_GATE_TIMEOUT_RESULT;
  const result = a[LAUNCH_GATE_RESULT_ANNOTATION];
  if (result !== undefined) {
    const v = result.trim().toUpperCase();
    if (v === 'CONTINUE' || v === 'ABANDON') timeoutResult = v;
    else problems.push(`${LAUNCH_GATE_RESULT_ANNOTATION} "${result}" is not CONTINUE or ABANDON`);
  }
  if (mode === 'istiod') return { mode, timeoutSeconds, timeoutResult };
  const probe = readProbe(group?.probe);
  if (typeof probe === 'string') {
    problems.push(`${LAUNCH_GATE_ANNOTATION} is probe but ${probe}: no launch gate`);
    return { mode: 'off' };
  }
  return { mode, probe, timeoutSeconds, timeoutResult };
}

const positive = (value: number | undefined, fallback: number) =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : fallback;

/** The group's `spec.probe` as the registrar runs it, or why it cannot. */
export function readProbe(probe: WorkloadGroupProbe | undefined): ProbeSpec | string {
  if (!probe) return 'the WorkloadGroup has no spec.probe';
  const timing = {
    initialDelaySeconds:
      typeof probe.initialDelaySeconds === 'number' && probe.initialDelaySeconds > 0
        ? Math.floor(probe.initialDelaySeconds)
        : PROBE_DEFAULTS.initialDelaySeconds,
    periodSeconds: positive(probe.periodSeconds, PROBE_DEFAULTS.periodSeconds),
    timeoutSeconds: positive(probe.timeoutSeconds, PROBE_DEFAULTS.timeoutSeconds),
    successThreshold: positive(probe.successThreshold, PROBE_DEFAULTS.successThreshold),
  };
  const validPort = (port: number | undefined) =>
    typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65_535;
  if (probe.httpGet) {
    const h = probe.httpGet;
    if (!validPort(h.port)) return 'its httpGet probe has no port in 1-65535';
    const scheme = (h.scheme ?? 'HTTP').toUpperCase() === 'HTTPS' ? 'HTTPS' : 'HTTP';
    const path = h.path ? (h.path.startsWith('/') ? h.path : `/${h.path}`) : '/';
    const headers = (h.httpHeaders ?? [])
      .filter((x) => typeof x?.name === 'string' && x.name !== '')
      .map((x) => ({ name: x.name!, value: x.value ?? '' }));
    return { kind: 'http', port: h.port!, path, scheme, headers, ...timing };
  }
  if (probe.tcpSocket) {
    if (!validPort(probe.tcpSocket.port)) return 'its tcpSocket probe has no port in 1-65535';
    return { kind: 'tcp', port: probe.tcpSocket.port!, path: '/', scheme: 'HTTP', headers: [], ...timing };
  }
  if (probe.exec) return 'its probe is exec, which only the VM itself can run (use httpGet or tcpSocket)';
  if (probe.grpc) return 'its probe is grpc, which the registrar does not run (use httpGet or tcpSocket)';
  return 'its spec.probe has neither httpGet nor tcpSocket';
}

/**
 * Whether the entry of a VM of this group must wait for the `probe` gate: the gate writes it once
 * the probe passes, and nobody else (events, the reconciler) may write it earlier. Applies while
 * Auto Scaling holds the launch (`Pending`, `Pending:Wait`); an entry already there is left alone.
 */
export function launchGateHolds(facts: InstanceFacts, group: WorkloadGroupView): boolean {
  const state = facts.autoScalingLifecycleState;
  if (state !== 'Pending' && state !== 'Pending:Wait') return false;
  const { settings } = readLifecycleSettings(group, 0);
  return settings.gate.mode === 'probe';
}

/** Whether an EC2 rebalance recommendation takes this group's VM out of the mesh at once. */
export function rebalanceDeregisters(group: WorkloadGroupView): boolean {
  return readLifecycleSettings(group, 0).settings.deregisterOnRebalance;
}

/** Whether istiod has written `Healthy=True` on the entry (its proxy connected and passed its probe). */
export function entryHealth(entry: WorkloadEntryObject | undefined): { healthy: boolean; reason: string } {
  if (!entry) return { healthy: false, reason: 'the entry does not exist' };
  const condition = entry.status?.conditions?.find((c) => c.type === 'Healthy');
  if (!condition) return { healthy: false, reason: 'istiod has written no Healthy condition yet' };
  if (condition.status === 'True') return { healthy: true, reason: 'istiod reports Healthy=True' };
  return {
    healthy: false,
    reason: `istiod reports Healthy=${condition.status ?? '?'}${condition.message ? `: ${condition.message}` : ''}`,
  };
}

/**
 * Whether Auto Scaling may still be waiting on this action for this instance: the instance is in
 * the action's group and its lifecycle state is the transition's (`Pending`/`Pending:Wait` for a
 * launch, `Terminating`/`Terminating:Wait` for a termination, `Warmed:` ones for the warm pool). The
 * states before `:Wait` count, as DescribeAutoScalingInstances may lag the event by a moment.
 */
export function actionPending(
  action: Pick<LifecycleAction, 'autoScalingGroupName' | 'transition'>,
  facts: InstanceFacts | undefined,
): 'yes' | 'no' | 'unknown' {
  if (!facts) return 'no';
  if (facts.tags[ASG_NAME_TAG] !== undefined && facts.tags[ASG_NAME_TAG] !== action.autoScalingGroupName)
    return 'no';
  if (facts.autoScalingStateUnknown) return 'unknown';
  const state = facts.autoScalingLifecycleState;
  if (!state) return 'no';
  const pattern =
    action.transition === 'launching' ? /^(Warmed:)?Pending(:Wait)?$/ : /^(Warmed:)?Terminating(:Wait)?$/;
  return pattern.test(state) ? 'yes' : 'no';
}

/** Where one action stands between deliveries: what a continuation carries. */
export interface LifecycleProgress {
  readonly phase: 'start' | 'drain' | 'gate';
  /** Epoch ms the action began: the event's time when it can be read, else when first seen. */
  readonly startedAt: number;
  /** Epoch ms the hook's heartbeat timeout last restarted: the start, or our last heartbeat. */
  readonly heartbeatAt: number;
  /** `drain`: epoch ms the drain period ends. */
  readonly drainUntil?: number;
  /** `gate`: epoch ms the gate times out. */
  readonly gateDeadline?: number;
  /** `probe` gate: passes in a row so far. */
  readonly probePasses?: number;
  /** Epoch ms the current run of failures began. */
  readonly failingSince?: number;
  /** Failed attempts in a row. */
  readonly failures?: number;
}

/**
 * The progress of an action first seen now: it began at the event's time when that reads as a
 * recent time (AWS's samples carry placeholders), otherwise now.
 */
export function startProgress(eventTime: string | undefined, now: number): LifecycleProgress {
  const sent = eventTime ? Date.parse(eventTime) : Number.NaN;
  const startedAt =
    Number.isFinite(sent) && sent <= now && now - sent < MAX_GLOBAL_TIMEOUT_SECONDS * 1000 ? sent : now;
  return { phase: 'start', startedAt, heartbeatAt: startedAt };
}

/** The hook's timeouts, as DescribeLifecycleHooks reports them. */
export interface HookTimeouts {
  readonly heartbeatTimeoutSeconds: number;
  readonly globalTimeoutSeconds: number;
  readonly defaultResult: LifecycleResult;
  /** The hook could not be read: these are assumptions, and every wait heartbeats first. */
  readonly assumed?: boolean;
}

export interface LifecycleLimits {
  readonly retrySeconds: number;
  readonly terminateRetryLimitSeconds: number;
  /** Time from a continuation's due time to its heartbeat (batching window plus an invocation). */
  readonly heartbeatMarginSeconds: number;
}

/** What converging the instance did, as far as the action is concerned. */
export type ConvergeObservation =
  /** Convergence (or reading the group's settings) failed; it is tried again. */
  | { readonly kind: 'failed'; readonly reason: string }
  /** Launch: the entry is written or unchanged. Terminate: the VM was in the mesh and its entry is gone. */
  | { readonly kind: 'member' }
  /** Launch: the `probe` gate holds the entry back until the probe passes. */
  | { readonly kind: 'held' }
  /** Not (or no longer) the mesh's: refused, untagged, into the warm pool. */
  | { readonly kind: 'not-member'; readonly reason: string };

/** What the launch gate showed on this delivery. */
export type GateObservation =
  | { readonly kind: 'istiod'; readonly healthy: boolean; readonly reason: string }
  | { readonly kind: 'probe'; readonly passed: boolean; readonly reason: string }
  /** `initialDelaySeconds` has not passed yet: not probed. */
  | { readonly kind: 'probe-not-due'; readonly dueAt: number };

export interface LifecycleObservation {
  readonly now: number;
  readonly action: Pick<LifecycleAction, 'transition' | 'origin' | 'destination'>;
  readonly progress: LifecycleProgress;
  readonly pending: 'yes' | 'no' | 'unknown';
  readonly converged: ConvergeObservation;
  readonly settings: LifecycleSettings;
  /** Present when the gate was looked at (see {@link gateToObserve}). */
  readonly gate?: GateObservation;
  readonly hook: HookTimeouts;
  readonly limits: LifecycleLimits;
}

export type LifecycleStep =
  | { readonly kind: 'done'; readonly reason: string }
  | {
      readonly kind: 'complete';
      readonly result: LifecycleResult;
      readonly reason: string;
      /** Take the VM out of the mesh before completing (ABANDON of a launch). */
      readonly removeEntry: boolean;
      /** Write the entry the `probe` gate held back before completing. */
      readonly writeEntry: boolean;
      readonly gateTimedOut?: boolean;
    }
  | {
      readonly kind: 'wait';
      readonly delaySeconds: number;
      /** Record a heartbeat before waiting. */
      readonly heartbeat: boolean;
      readonly next: LifecycleProgress;
      readonly reason: string;
      /** The wait is a retry after a failure. */
      readonly retry: boolean;
    };

/** The gate to look at on this delivery, if any: a launch into service, converged, with a gate. */
export function gateToObserve(
  action: Pick<LifecycleAction, 'transition' | 'destination'>,
  pending: 'yes' | 'no' | 'unknown',
  converged: ConvergeObservation,
  settings: LifecycleSettings,
): Exclude<LaunchGate, { mode: 'off' }> | undefined {
  if (action.transition !== 'launching' || action.destination === 'WarmPool' || pending !== 'yes')
    return undefined;
  if (converged.kind !== 'member' && converged.kind !== 'held') return undefined;
  return gateOf(settings);
}

/** When the `probe` gate may probe for the first time. */
export function probeDueAt(progress: LifecycleProgress, probe: ProbeSpec): number {
  return progress.startedAt + probe.initialDelaySeconds * 1000;
}

const complete = (
  result: LifecycleResult,
  reason: string,
  extra: { removeEntry?: boolean; writeEntry?: boolean; gateTimedOut?: boolean } = {},
): LifecycleStep => ({
  kind: 'complete',
  result,
  reason,
  removeEntry: extra.removeEntry ?? false,
  writeEntry: extra.writeEntry ?? false,
  ...(extra.gateTimedOut ? { gateTimedOut: true } : {}),
});

/** The next step of one action: see the table at the top of this file. */
export function nextLifecycleStep(o: LifecycleObservation): LifecycleStep {
  if (o.pending === 'no') {
    return { kind: 'done', reason: 'Auto Scaling shows no such action waiting for this instance' };
  }
  const failure =
    o.pending === 'unknown'
      ? 'the Auto Scaling lifecycle state could not be read'
      : o.converged.kind === 'failed'
        ? o.converged.reason
        : undefined;
  if (failure !== undefined) return retryOrGiveUp(o, failure);
  return o.action.transition === 'terminating' ? terminateStep(o) : launchStep(o);
}

function settled(p: LifecycleProgress): LifecycleProgress {
  const { failingSince: _since, failures: _count, ...rest } = p;
  return rest;
}

/**
 * A wait of `seconds`, heartbeating first when the hook would otherwise time out before the next
 * delivery reaches its own heartbeat; undefined when the action's global timeout would pass first.
 */
function wait(
  o: LifecycleObservation,
  next: LifecycleProgress,
  seconds: number,
  reason: string,
  retry = false,
): LifecycleStep | undefined {
  const { now } = o;
  const timeout = o.hook.heartbeatTimeoutSeconds * 1000;
  const margin = o.limits.heartbeatMarginSeconds * 1000;
  let delay = Math.min(Math.max(1, Math.ceil(seconds)), MAX_DELAY_SECONDS);
  if (now + delay * 1000 + margin > next.startedAt + o.hook.globalTimeoutSeconds * 1000) return undefined;
  let heartbeat = false;
  let heartbeatAt = next.heartbeatAt;
  if (o.hook.assumed || now + delay * 1000 + margin > heartbeatAt + timeout) {
    heartbeat = true;
    heartbeatAt = now;
    delay = Math.min(delay, Math.max(1, Math.floor((timeout - margin) / 1000)));
  }
  return { kind: 'wait', delaySeconds: delay, heartbeat, next: { ...next, heartbeatAt }, reason, retry };
}

function retryOrGiveUp(o: LifecycleObservation, failure: string): LifecycleStep {
  const { now, progress: p, limits } = o;
  const failingSince = p.failingSince ?? now;
  const next: LifecycleProgress = { ...p, failingSince, failures: (p.failures ?? 0) + 1 };
  const reason = `failed: ${failure}; trying again in ${limits.retrySeconds} s`;
  if (o.action.transition === 'terminating') {
    const giveUp = complete(
      'CONTINUE',
      `failing for ${Math.round((now - failingSince) / 1000)} s (${failure}): completed so that the VM can leave; the reconciler removes what is left`,
    );
    if (now - failingSince >= limits.terminateRetryLimitSeconds * 1000) return giveUp;
    return wait(o, next, limits.retrySeconds, reason, true) ?? giveUp;
  }
  const gate = o.action.destination === 'WarmPool' ? undefined : gateOf(o.settings);
  const result = gate ? gate.timeoutResult : o.hook.defaultResult;
  const budgetEnd = gate
    ? (p.gateDeadline ?? p.startedAt + gate.timeoutSeconds * 1000)
    : p.heartbeatAt + o.hook.heartbeatTimeoutSeconds * 1000;
  const giveUp = complete(
    result,
    `registration kept failing (${failure}); completed with ${result} before ${gate ? 'the launch gate' : 'the hook'} would time out`,
    { removeEntry: result === 'ABANDON' },
  );
  if (now + (limits.retrySeconds + limits.heartbeatMarginSeconds) * 1000 > budgetEnd) return giveUp;
  return wait(o, next, limits.retrySeconds, reason, true) ?? giveUp;
}

function gateOf(settings: LifecycleSettings): Exclude<LaunchGate, { mode: 'off' }> | undefined {
  return settings.gate.mode === 'off' ? undefined : settings.gate;
}

function terminateStep(o: LifecycleObservation): LifecycleStep {
  const { now } = o;
  const p = settled(o.progress);
  if (o.action.origin === 'WarmPool') return complete('CONTINUE', 'leaving the warm pool: it never served');
  if (o.converged.kind !== 'member') {
    return complete(
      'CONTINUE',
      `nothing to drain: ${o.converged.kind === 'not-member' ? o.converged.reason : 'not in the mesh'}`,
    );
  }
  const drained = complete('CONTINUE', 'entry removed and drain period over');
  if (p.phase !== 'drain' || p.drainUntil === undefined) {
    const seconds = o.settings.drainSeconds;
    if (seconds === 0) return complete('CONTINUE', 'entry removed; no drain period');
    const drainUntil = now + seconds * 1000;
    return (
      wait(o, { ...p, phase: 'drain', drainUntil }, seconds, `entry removed; draining for ${seconds} s`) ??
      drained
    );
  }
  if (now >= p.drainUntil) return drained;
  return wait(o, p, (p.drainUntil - now) / 1000, 'draining') ?? drained;
}

function launchStep(o: LifecycleObservation): LifecycleStep {
  const { now } = o;
  const p = settled(o.progress);
  if (o.action.destination === 'WarmPool') {
    return complete('CONTINUE', 'launching into the warm pool: no gate');
  }
  if (o.converged.kind === 'not-member') return complete('CONTINUE', `not gated: ${o.converged.reason}`);
  const gate = gateOf(o.settings);
  if (!gate) return complete('CONTINUE', 'entry written; no launch gate');
  const deadline = p.gateDeadline ?? p.startedAt + gate.timeoutSeconds * 1000;
  const observed = o.gate;
  let passes = 0;
  let why = 'gate not looked at';
  if (observed?.kind === 'istiod') {
    if (observed.healthy) return complete('CONTINUE', `launch gate passed: ${observed.reason}`);
    why = observed.reason;
  } else if (observed?.kind === 'probe') {
    passes = observed.passed ? (p.probePasses ?? 0) + 1 : 0;
    if (gate.mode === 'probe' && passes >= gate.probe.successThreshold) {
      return complete('CONTINUE', `launch gate passed: probe ${observed.reason}`, { writeEntry: true });
    }
    why = `probe ${observed.reason}`;
  } else if (observed?.kind === 'probe-not-due') {
    why = 'probe not due yet (initialDelaySeconds)';
  }
  const timedOut = complete(
    gate.timeoutResult,
    `launch gate did not pass within ${gate.timeoutSeconds} s (${why}): ${gate.timeoutResult}`,
    {
      removeEntry: gate.timeoutResult === 'ABANDON',
      writeEntry: gate.timeoutResult === 'CONTINUE' && gate.mode === 'probe',
      gateTimedOut: true,
    },
  );
  if (now >= deadline) return timedOut;
  let poll: number = gate.mode === 'istiod' ? ISTIOD_GATE_POLL_SECONDS : gate.probe.periodSeconds;
  if (observed?.kind === 'probe-not-due') poll = (observed.dueAt - now) / 1000;
  const seconds = Math.min(poll, (deadline - now) / 1000);
  const next: LifecycleProgress = { ...p, phase: 'gate', gateDeadline: deadline, probePasses: passes };
  return wait(o, next, seconds, `waiting for the launch gate: ${why}`) ?? timedOut;
}
