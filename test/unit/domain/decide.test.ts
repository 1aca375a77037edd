import { describe, expect, it } from 'vitest';
import { decideInstance, type LifecyclePolicy } from '../../../shared/domain/decide.ts';
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
