import { describe, expect, it } from 'vitest';
import {
  awaitsLaunchVisibility,
  decideInstance,
  type LifecyclePolicy,
} from '../../../shared/domain/decide.ts';
import type { InstanceHint } from '../../../shared/domain/events.ts';
import { facts } from '../../helpers/domain.ts';

const policy: LifecyclePolicy = {
  tagPrefix: 'istio-vm/',
  allowedNamespaces: ['bookinfo'],
  stoppedInstancePolicy: 'delete',
};
const hint = (h: Partial<InstanceHint>): InstanceHint => ({
  instanceId: 'i-1234567890abcdef0',
  source: 'ec2-state-change',
  detailType: 'x',
  ...h,
});

describe('Function: decideInstance()', () => {
  it.each([
    ['pending', 'register'],
    ['running', 'register'],
    ['shutting-down', 'deregister'],
    ['terminated', 'deregister'],
    ['stopping', 'deregister'],
    ['stopped', 'deregister'],
  ] as const)('state %s -> %s', (state, kind) => {
    expect(decideInstance(facts({ state }), undefined, policy).kind).toBe(kind);
  });

  it('deregisters running instances Auto Scaling has out of service', () => {
    for (const state of [
      'Warmed:Running',
      'Warmed:Pending',
      'Terminating:Wait',
      'Terminating',
      'Standby',
      'EnteringStandby',
    ]) {
      expect(decideInstance(facts({ autoScalingLifecycleState: state }), undefined, policy).kind, state).toBe(
        'deregister',
      );
    }
    for (const state of ['InService', 'Pending:Wait', 'Pending', 'Detaching']) {
      expect(decideInstance(facts({ autoScalingLifecycleState: state }), undefined, policy).kind, state).toBe(
        'register',
      );
    }
  });

  it('keeps stopped instances when the policy says keep', () => {
    expect(
      decideInstance(facts({ state: 'stopped' }), undefined, { ...policy, stoppedInstancePolicy: 'keep' })
        .kind,
    ).toBe('keep');
  });

  it('treats an instance EC2 does not know as gone', () => {
    expect(decideInstance(undefined, hint({}), policy)).toEqual({
      kind: 'deregister',
      reason: 'instance not found in EC2',
    });
  });

  it('deregisters at once on a Spot interruption even while running', () => {
    expect(decideInstance(facts(), hint({ source: 'ec2-spot-interruption' }), policy).kind).toBe(
      'deregister',
    );
  });

  it('deregisters on a terminate lifecycle action and on a launch into the warm pool', () => {
    const action = { autoScalingGroupName: 'a', lifecycleHookName: 'h' };
    expect(
      decideInstance(facts(), hint({ lifecycleAction: { ...action, transition: 'terminating' } }), policy)
        .kind,
    ).toBe('deregister');
    expect(
      decideInstance(
        facts(),
        hint({ lifecycleAction: { ...action, transition: 'launching', destination: 'WarmPool' } }),
        policy,
      ).kind,
    ).toBe('deregister');
    expect(
      decideInstance(
        facts(),
        hint({ lifecycleAction: { ...action, transition: 'launching', destination: 'AutoScalingGroup' } }),
        policy,
      ).kind,
    ).toBe('register');
  });

  it('ignores untagged instances and refuses bad tags, foreign namespaces, bad networks and missing IPs', () => {
    expect(decideInstance(facts({ tags: {} }), undefined, policy).kind).toBe('ignore');
    const refuse = (f: ReturnType<typeof facts>) => {
      const intent = decideInstance(f, undefined, policy);
      return intent.kind === 'refuse' ? intent.refusal.reason : intent.kind;
    };
    expect(refuse(facts({ tags: { 'istio-vm/workload-group': 'reviews' } }))).toBe('invalid-group-tag');
    expect(refuse(facts({ tags: { 'istio-vm/workload-group': 'Bookinfo/reviews' } }))).toBe(
      'invalid-group-tag',
    );
    expect(refuse(facts({ tags: { 'istio-vm/workload-group': 'kube-system/reviews' } }))).toBe(
      'namespace-not-allowed',
    );
    expect(
      refuse(
        facts({
          tags: { 'istio-vm/workload-group': 'bookinfo/reviews', 'istio-vm/network': 'bad network!' },
        }),
      ),
    ).toBe('invalid-network-tag');
    const { privateIpAddress: _ip, ...noIp } = facts();
    expect(refuse(noIp)).toBe('no-private-ip');
  });

  it('honours a custom tag prefix, the network tag and a wildcard namespace list', () => {
    const intent = decideInstance(
      facts({ tags: { 'mesh:workload-group': 'any-ns/reviews', 'mesh:network': 'vm-net' } }),
      undefined,
      { ...policy, tagPrefix: 'mesh:', allowedNamespaces: ['*'] },
    );
    expect(intent).toEqual({
      kind: 'register',
      group: { namespace: 'any-ns', name: 'reviews' },
      network: 'vm-net',
    });
  });
});

describe('Function: awaitsLaunchVisibility()', () => {
  const now = Date.parse('2026-11-26T10:00:00Z');
  const fresh = '2026-11-26T09:59:00Z';
  it('waits for a just-launched instance EC2 does not know yet', () => {
    expect(awaitsLaunchVisibility(undefined, hint({ time: fresh, reportedState: 'pending' }), now)).toBe(
      true,
    );
    expect(
      awaitsLaunchVisibility(undefined, hint({ time: fresh, source: 'asg-launch-successful' }), now),
    ).toBe(true);
  });
  it('takes EC2 at its word for old, undatable or non-launch events, and when it knows the instance', () => {
    expect(
      awaitsLaunchVisibility(
        undefined,
        hint({ time: '2026-11-26T09:50:00Z', reportedState: 'running' }),
        now,
      ),
    ).toBe(false);
    expect(
      awaitsLaunchVisibility(
        undefined,
        hint({ time: 'yyyy-mm-ddThh:mm:ssZ', reportedState: 'running' }),
        now,
      ),
    ).toBe(false);
    expect(awaitsLaunchVisibility(undefined, hint({ time: fresh, reportedState: 'terminated' }), now)).toBe(
      false,
    );
    expect(
      awaitsLaunchVisibility(undefined, hint({ time: fresh, source: 'asg-launch-unsuccessful' }), now),
    ).toBe(false);
    expect(awaitsLaunchVisibility(facts(), hint({ time: fresh, reportedState: 'running' }), now)).toBe(false);
  });
});
