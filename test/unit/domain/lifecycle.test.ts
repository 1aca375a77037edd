import { describe, expect, it } from 'vitest';
import {
  actionPending,
  entryHealth,
  gateToObserve,
  type LifecycleObservation,
  type LifecycleSettings,
  launchGateHolds,
  nextLifecycleStep,
  readLifecycleSettings,
  readProbe,
  startProgress,
} from '../../../shared/domain/lifecycle.ts';
import type { WorkloadEntryObject } from '../../../shared/domain/types.ts';
import { facts, group } from '../../helpers/domain.ts';

const T0 = Date.parse('2026-11-26T10:00:00.000Z');
const s = (seconds: number) => T0 + seconds * 1000;

const noGate: LifecycleSettings = { drainSeconds: 30, gate: { mode: 'off' }, deregisterOnRebalance: false };
const istiod: LifecycleSettings = {
  ...noGate,
  gate: { mode: 'istiod', timeoutSeconds: 300, timeoutResult: 'ABANDON' },
};
const probeSettings: LifecycleSettings = {
  ...noGate,
  gate: {
    mode: 'probe',
    timeoutSeconds: 120,
    timeoutResult: 'ABANDON',
    probe: {
      kind: 'http',
      port: 8080,
      path: '/ready',
      scheme: 'HTTP',
      headers: [],
      initialDelaySeconds: 0,
      periodSeconds: 5,
      timeoutSeconds: 1,
      successThreshold: 2,
    },
  },
};

/** A terminate action first seen at T0, Kubernetes fine, hook 300 s / CONTINUE. */
function observe(overrides: Partial<LifecycleObservation> = {}): LifecycleObservation {
  return {
    now: T0,
    action: { transition: 'terminating' },
    progress: { phase: 'start', startedAt: T0, heartbeatAt: T0 },
    pending: 'yes',
    converged: { kind: 'member' },
    settings: noGate,
    hook: { heartbeatTimeoutSeconds: 300, globalTimeoutSeconds: 30_000, defaultResult: 'CONTINUE' },
    limits: { retrySeconds: 15, terminateRetryLimitSeconds: 3600, heartbeatMarginSeconds: 36 },
    ...overrides,
  };
}
const launch = (overrides: Partial<LifecycleObservation> = {}) =>
  observe({ action: { transition: 'launching' }, ...overrides });

describe('Function: nextLifecycleStep() (the table of shared/domain/lifecycle.ts)', () => {
  it('any action Auto Scaling shows not waiting is done, whatever else is seen', () => {
    for (const o of [
      observe({ pending: 'no' }),
      launch({ pending: 'no', converged: { kind: 'failed', reason: 'x' } }),
    ]) {
      expect(nextLifecycleStep(o)).toMatchObject({ kind: 'done' });
    }
  });

  describe('scale-in', () => {
    it('entry deleted: waits the drain period, no heartbeat needed within the hook timeout', () => {
      expect(nextLifecycleStep(observe())).toEqual({
        kind: 'wait',
        delaySeconds: 30,
        heartbeat: false,
        retry: false,
        next: { phase: 'drain', startedAt: T0, heartbeatAt: T0, drainUntil: s(30) },
        reason: 'entry removed; draining for 30 s',
      });
    });

    it('drain over: CONTINUE; drain not over (an early or duplicate delivery): waits the rest', () => {
      const draining = { phase: 'drain' as const, startedAt: T0, heartbeatAt: T0, drainUntil: s(30) };
      expect(nextLifecycleStep(observe({ now: s(30), progress: draining }))).toMatchObject({
        kind: 'complete',
        result: 'CONTINUE',
        removeEntry: false,
      });
      expect(nextLifecycleStep(observe({ now: s(12), progress: draining }))).toMatchObject({
        kind: 'wait',
        delaySeconds: 18,
      });
    });

    it('drain period 0, from the warm pool, or never in the mesh: CONTINUE at once', () => {
      for (const o of [
        observe({ settings: { ...noGate, drainSeconds: 0 } }),
        observe({ action: { transition: 'terminating', origin: 'WarmPool' } }),
        observe({ converged: { kind: 'not-member', reason: 'the instance has no workload-group tag' } }),
      ]) {
        expect(nextLifecycleStep(o)).toMatchObject({ kind: 'complete', result: 'CONTINUE' });
      }
    });

    it('a drain longer than the heartbeat timeout heartbeats and waits at most timeout - margin', () => {
      const step = nextLifecycleStep(observe({ settings: { ...noGate, drainSeconds: 600 } }));
      expect(step).toMatchObject({ kind: 'wait', heartbeat: true, delaySeconds: 264 });
      expect(step.kind === 'wait' && step.next).toMatchObject({ heartbeatAt: T0, drainUntil: s(600) });
    });

    it('a drain longer than SQS allows comes back after 900 s and waits again', () => {
      const step = nextLifecycleStep(
        observe({
          settings: { ...noGate, drainSeconds: 3600 },
          hook: { heartbeatTimeoutSeconds: 7200, globalTimeoutSeconds: 172_800, defaultResult: 'CONTINUE' },
        }),
      );
      expect(step).toMatchObject({ kind: 'wait', delaySeconds: 900, heartbeat: false });
    });

    it('a drain the global timeout would cut short completes now', () => {
      const step = nextLifecycleStep(
        observe({
          now: s(29_990),
          settings: { ...noGate, drainSeconds: 60 },
        }),
      );
      expect(step).toMatchObject({ kind: 'complete', result: 'CONTINUE' });
    });

    it('Kubernetes failing: retries, heartbeating when the next try would pass the timeout, until the limit', () => {
      const failing = { kind: 'failed', reason: 'list workloadentries: 503' } as const;
      expect(nextLifecycleStep(observe({ converged: failing }))).toMatchObject({
        kind: 'wait',
        retry: true,
        heartbeat: false,
        delaySeconds: 15,
        next: { failingSince: T0, failures: 1 },
      });
      const later = {
        phase: 'start' as const,
        startedAt: T0,
        heartbeatAt: T0,
        failingSince: T0,
        failures: 17,
      };
      expect(nextLifecycleStep(observe({ now: s(255), converged: failing, progress: later }))).toMatchObject({
        kind: 'wait',
        heartbeat: true,
        next: { heartbeatAt: s(255), failures: 18 },
      });
      expect(nextLifecycleStep(observe({ now: s(3600), converged: failing, progress: later }))).toMatchObject(
        {
          kind: 'complete',
          result: 'CONTINUE',
        },
      );
    });

    it('Auto Scaling unreadable is a failure like any other', () => {
      expect(nextLifecycleStep(observe({ pending: 'unknown' }))).toMatchObject({ kind: 'wait', retry: true });
    });

    it('hook timeouts that could not be read: every wait heartbeats', () => {
      const step = nextLifecycleStep(
        observe({
          hook: {
            heartbeatTimeoutSeconds: 300,
            globalTimeoutSeconds: 30_000,
            defaultResult: 'CONTINUE',
            assumed: true,
          },
        }),
      );
      expect(step).toMatchObject({ kind: 'wait', heartbeat: true, delaySeconds: 30 });
    });
  });

  describe('scale-out', () => {
    it('no gate, into the warm pool, or not for the mesh: CONTINUE at once', () => {
      for (const o of [
        launch(),
        launch({ settings: istiod, action: { transition: 'launching', destination: 'WarmPool' } }),
        launch({ settings: istiod, converged: { kind: 'not-member', reason: 'refused' } }),
      ]) {
        expect(nextLifecycleStep(o)).toMatchObject({
          kind: 'complete',
          result: 'CONTINUE',
          writeEntry: false,
        });
      }
    });

    it('istiod gate: Healthy=True completes; otherwise polls every 10 s until the deadline, then ABANDON and remove', () => {
      const unhealthy = { kind: 'istiod', healthy: false, reason: 'no condition' } as const;
      expect(
        nextLifecycleStep(
          launch({ settings: istiod, gate: { kind: 'istiod', healthy: true, reason: 'ok' } }),
        ),
      ).toMatchObject({ kind: 'complete', result: 'CONTINUE', removeEntry: false });
      expect(nextLifecycleStep(launch({ settings: istiod, gate: unhealthy }))).toMatchObject({
        kind: 'wait',
        delaySeconds: 10,
        next: { phase: 'gate', gateDeadline: s(300) },
      });
      const gating = { phase: 'gate' as const, startedAt: T0, heartbeatAt: T0, gateDeadline: s(300) };
      expect(
        nextLifecycleStep(launch({ settings: istiod, gate: unhealthy, now: s(295), progress: gating })),
      ).toMatchObject({ kind: 'wait', delaySeconds: 5 });
      expect(
        nextLifecycleStep(launch({ settings: istiod, gate: unhealthy, now: s(300), progress: gating })),
      ).toEqual({
        kind: 'complete',
        result: 'ABANDON',
        removeEntry: true,
        writeEntry: false,
        gateTimedOut: true,
        reason: 'launch gate did not pass within 300 s (no condition): ABANDON',
      });
    });

    it('a gate timing out with CONTINUE keeps (istiod) or writes (probe) the entry', () => {
      const gating = { phase: 'gate' as const, startedAt: T0, heartbeatAt: T0, gateDeadline: s(120) };
      const cont = (settings: LifecycleSettings) =>
        ({ ...settings, gate: { ...settings.gate, timeoutResult: 'CONTINUE' } }) as LifecycleSettings;
      expect(
        nextLifecycleStep(
          launch({
            settings: cont(istiod),
            now: s(120),
            progress: gating,
            gate: { kind: 'istiod', healthy: false, reason: 'x' },
          }),
        ),
      ).toMatchObject({ kind: 'complete', result: 'CONTINUE', removeEntry: false, writeEntry: false });
      expect(
        nextLifecycleStep(
          launch({
            settings: cont(probeSettings),
            converged: { kind: 'held' },
            now: s(120),
            progress: gating,
            gate: { kind: 'probe', passed: false, reason: 'refused' },
          }),
        ),
      ).toMatchObject({ kind: 'complete', result: 'CONTINUE', removeEntry: false, writeEntry: true });
    });

    it('probe gate: successThreshold passes in a row write the entry and complete; a failure starts over', () => {
      const held = { kind: 'held' } as const;
      const pass = { kind: 'probe', passed: true, reason: 'answered 200' } as const;
      const first = nextLifecycleStep(launch({ settings: probeSettings, converged: held, gate: pass }));
      expect(first).toMatchObject({ kind: 'wait', delaySeconds: 5, next: { probePasses: 1 } });
      const progress = first.kind === 'wait' ? first.next : undefined;
      expect(
        nextLifecycleStep(
          launch({ settings: probeSettings, converged: held, gate: pass, now: s(5), progress: progress! }),
        ),
      ).toMatchObject({ kind: 'complete', result: 'CONTINUE', writeEntry: true });
      expect(
        nextLifecycleStep(
          launch({
            settings: probeSettings,
            converged: held,
            gate: { kind: 'probe', passed: false, reason: 'answered 503' },
            now: s(5),
            progress: progress!,
          }),
        ),
      ).toMatchObject({ kind: 'wait', next: { probePasses: 0 } });
    });

    it('probe not due yet (initialDelaySeconds): waits until it is', () => {
      expect(
        nextLifecycleStep(
          launch({
            settings: probeSettings,
            converged: { kind: 'held' },
            gate: { kind: 'probe-not-due', dueAt: s(40) },
          }),
        ),
      ).toMatchObject({ kind: 'wait', delaySeconds: 40 });
    });

    it('registration failing: retried while the budget lasts, then the failure result before the hook would time out', () => {
      const failing = { kind: 'failed', reason: 'apply: 503' } as const;
      // Ungated: the hook's heartbeat timeout (300 s) is the budget, the hook's default result the answer.
      const ungated = {
        hook: {
          heartbeatTimeoutSeconds: 300,
          globalTimeoutSeconds: 30_000,
          defaultResult: 'ABANDON' as const,
        },
      };
      expect(nextLifecycleStep(launch({ ...ungated, converged: failing }))).toMatchObject({
        kind: 'wait',
        retry: true,
      });
      const failingSince = {
        phase: 'start' as const,
        startedAt: T0,
        heartbeatAt: T0,
        failingSince: T0,
        failures: 16,
      };
      expect(
        nextLifecycleStep(launch({ ...ungated, converged: failing, now: s(250), progress: failingSince })),
      ).toMatchObject({
        kind: 'complete',
        result: 'ABANDON',
        removeEntry: true,
      });
      // Gated: the gate timeout is the budget and its result the answer.
      expect(
        nextLifecycleStep(
          launch({ settings: istiod, converged: failing, now: s(260), progress: failingSince }),
        ),
      ).toMatchObject({ kind: 'complete', result: 'ABANDON' });
      expect(
        nextLifecycleStep(
          launch({ settings: istiod, converged: failing, now: s(200), progress: failingSince }),
        ),
      ).toMatchObject({ kind: 'wait', retry: true });
    });
  });
});

describe('Function: readLifecycleSettings()', () => {
  it('defaults: the configured drain, no gate, no rebalance deregistration', () => {
    expect(readLifecycleSettings(group(), 30)).toEqual({ settings: noGate, problems: [] });
  });

  it('reads every annotation', () => {
    const { settings, problems } = readLifecycleSettings(
      group({
        annotations: {
          'istio-vm-registrar.io/drain-seconds': '90',
          'istio-vm-registrar.io/launch-gate': 'istiod',
          'istio-vm-registrar.io/launch-gate-timeout-seconds': '600',
          'istio-vm-registrar.io/launch-gate-timeout-result': 'continue',
          'istio-vm-registrar.io/deregister-on-rebalance': 'true',
        },
      }),
      30,
    );
    expect(problems).toEqual([]);
    expect(settings).toEqual({
      drainSeconds: 90,
      gate: { mode: 'istiod', timeoutSeconds: 600, timeoutResult: 'CONTINUE' },
      deregisterOnRebalance: true,
    });
  });

  it('reports values it cannot read and uses the defaults instead (fails open)', () => {
    const { settings, problems } = readLifecycleSettings(
      group({
        annotations: {
          'istio-vm-registrar.io/drain-seconds': '-5',
          'istio-vm-registrar.io/launch-gate': 'maybe',
          'istio-vm-registrar.io/deregister-on-rebalance': 'yes please',
        },
      }),
      30,
    );
    expect(settings).toEqual(noGate);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/drain-seconds "-5" is not 0-3600 seconds/);
  });

  it('a probe gate without a probe it can run is no gate, and says why', () => {
    for (const [probe, why] of [
      [undefined, /has no spec.probe/],
      [{ exec: { command: ['true'] } }, /exec, which only the VM itself can run/],
      [{ httpGet: { path: '/x' } }, /no port/],
    ] as const) {
      const { settings, problems } = readLifecycleSettings(
        group({ annotations: { 'istio-vm-registrar.io/launch-gate': 'probe' }, ...(probe ? { probe } : {}) }),
        30,
      );
      expect(settings.gate).toEqual({ mode: 'off' });
      expect(problems.join()).toMatch(why);
    }
  });
});

describe('Function: readProbe()', () => {
  it("uses the kubelet's defaults for unset or zero timing, and a / path", () => {
    expect(readProbe({ httpGet: { port: 8080 }, periodSeconds: 0 })).toEqual({
      kind: 'http',
      port: 8080,
      path: '/',
      scheme: 'HTTP',
      headers: [],
      initialDelaySeconds: 0,
      periodSeconds: 10,
      timeoutSeconds: 1,
      successThreshold: 1,
    });
    expect(readProbe({ tcpSocket: { port: 22 }, successThreshold: 3 })).toMatchObject({
      kind: 'tcp',
      port: 22,
      successThreshold: 3,
    });
  });
});

describe('Function: actionPending()', () => {
  it.each([
    ['launching', 'Pending:Wait', 'yes'],
    ['launching', 'Pending', 'yes'],
    ['launching', 'Warmed:Pending:Wait', 'yes'],
    ['launching', 'InService', 'no'],
    ['launching', 'Pending:Proceed', 'no'],
    ['terminating', 'Terminating:Wait', 'yes'],
    ['terminating', 'Warmed:Terminating:Wait', 'yes'],
    ['terminating', 'Terminating:Proceed', 'no'],
    ['terminating', 'InService', 'no'],
  ] as const)('%s with Auto Scaling state %s -> %s', (transition, state, expected) => {
    expect(
      actionPending(
        { transition, autoScalingGroupName: 'my-asg' },
        facts({ autoScalingLifecycleState: state }),
      ),
    ).toBe(expected);
  });

  it('no for another group, an instance EC2 does not know or in no group; unknown when unreadable', () => {
    const action = { transition: 'launching', autoScalingGroupName: 'other-asg' } as const;
    expect(actionPending(action, facts({ autoScalingLifecycleState: 'Pending:Wait' }))).toBe('no');
    expect(actionPending({ ...action, autoScalingGroupName: 'my-asg' }, undefined)).toBe('no');
    expect(actionPending({ ...action, autoScalingGroupName: 'my-asg' }, facts())).toBe('no');
    expect(
      actionPending({ ...action, autoScalingGroupName: 'my-asg' }, facts({ autoScalingStateUnknown: true })),
    ).toBe('unknown');
  });
});

describe('Functions: gates and holds', () => {
  it('the probe gate holds the entry only while Auto Scaling holds the launch', () => {
    const gated = group({
      annotations: { 'istio-vm-registrar.io/launch-gate': 'probe' },
      probe: { httpGet: { port: 8080, path: '/ready' } },
    });
    expect(launchGateHolds(facts({ autoScalingLifecycleState: 'Pending:Wait' }), gated)).toBe(true);
    expect(launchGateHolds(facts({ autoScalingLifecycleState: 'InService' }), gated)).toBe(false);
    expect(launchGateHolds(facts({ autoScalingLifecycleState: 'Pending:Wait' }), group())).toBe(false);
  });

  it('the gate is looked at only for a launch into service that converged', () => {
    const action = { transition: 'launching' } as const;
    expect(gateToObserve(action, 'yes', { kind: 'member' }, istiod)).toEqual(istiod.gate);
    expect(gateToObserve(action, 'yes', { kind: 'failed', reason: 'x' }, istiod)).toBeUndefined();
    expect(
      gateToObserve({ ...action, destination: 'WarmPool' }, 'yes', { kind: 'member' }, istiod),
    ).toBeUndefined();
    expect(gateToObserve(action, 'yes', { kind: 'member' }, noGate)).toBeUndefined();
  });

  it("entryHealth reads istiod's Healthy condition", () => {
    const entry = (status?: WorkloadEntryObject['status']) =>
      ({
        apiVersion: 'networking.istio.io/v1',
        kind: 'WorkloadEntry',
        metadata: { name: 'a', namespace: 'b' },
        spec: {},
        ...(status ? { status } : {}),
      }) as WorkloadEntryObject;
    expect(entryHealth(undefined).healthy).toBe(false);
    expect(entryHealth(entry()).reason).toMatch(/no Healthy condition/);
    expect(
      entryHealth(entry({ conditions: [{ type: 'Healthy', status: 'False', message: 'probe failed' }] })),
    ).toEqual({
      healthy: false,
      reason: 'istiod reports Healthy=False: probe failed',
    });
    expect(entryHealth(entry({ conditions: [{ type: 'Healthy', status: 'True' }] })).healthy).toBe(true);
  });

  it("startProgress: the event's time when it reads as recent, else now", () => {
    expect(startProgress('2026-11-26T09:59:30Z', T0)).toEqual({
      phase: 'start',
      startedAt: s(-30),
      heartbeatAt: s(-30),
    });
    expect(startProgress('yyyy-mm-ddThh:mm:ssZ', T0).startedAt).toBe(T0);
    expect(startProgress('2026-11-26T10:05:00Z', T0).startedAt).toBe(T0);
  });
});
