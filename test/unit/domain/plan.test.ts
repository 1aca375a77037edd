import { describe, expect, it } from 'vitest';
import { type PlanInput, planReconcile } from '../../../shared/domain/plan.ts';
import { groupKey, type WorkloadGroupView } from '../../../shared/domain/types.ts';
import { renderWorkloadEntry } from '../../../shared/domain/workload-entry.ts';
import { facts, group } from '../../helpers/domain.ts';

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
const g = group();
const entryFor = (n: number, over: Parameters<typeof facts>[0] = {}) => {
  const r = renderWorkloadEntry(facts({ instanceId: id(n), ...over }), g);
  if (!r.ok) throw new Error(r.refusal.message);
  return { ...r.entry, metadata: { ...r.entry.metadata, uid: `uid-${n}` } };
};
const input = (over: Partial<PlanInput>): PlanInput => ({
  instances: [],
  entries: [],
  groups: new Map<string, WorkloadGroupView>([[groupKey(g), g]]),
  policy: { tagPrefix: 'istio-vm/', allowedNamespaces: ['bookinfo'], stoppedInstancePolicy: 'delete' },
  inScope: () => true,
  complete: true,
  maxDeleteRatio: 0.5,
  force: false,
  ...over,
});

describe('Function: planReconcile()', () => {
  it('plans create, update, delete and unchanged, and ignores entries we do not own', () => {
    const foreign = { ...entryFor(9), metadata: { ...entryFor(9).metadata, name: 'hand-made', labels: {} } };
    const plan = planReconcile(
      input({
        instances: [
          facts({ instanceId: id(1) }),
          facts({ instanceId: id(2), privateIpAddress: '10.9.9.9' }),
          facts({ instanceId: id(3) }),
        ],
        entries: [entryFor(2), entryFor(3), entryFor(4), foreign],
      }),
    );
    expect(plan.changes.map((c) => [c.action, c.instanceId]).sort()).toEqual([
      ['create', id(1)],
      ['delete', id(4)],
      ['update', id(2)],
    ]);
    expect(plan.unchanged.get('bookinfo/reviews')).toBe(1);
    expect(plan.changes.find((c) => c.action === 'delete')?.uid).toBe('uid-4');
  });

  it('withholds every delete when the picture is incomplete, even when forced', () => {
    const plan = planReconcile(input({ entries: [entryFor(1)], complete: false, force: true }));
    expect(plan.changes).toEqual([]);
    expect(plan.withheldDeletes).toHaveLength(1);
  });

  it('caps deletes without evidence per group, not deletes of instances EC2 still lists', () => {
    const entries = [1, 2, 3, 4].map((n) => entryFor(n));
    const vanished = planReconcile(input({ instances: [facts({ instanceId: id(4) })], entries }));
    expect(vanished.safetyStops).toEqual([
      expect.objectContaining({ group: 'bookinfo/reviews', deletes: 3, entries: 4 }),
    ]);
    expect(vanished.changes).toEqual([]);
    const terminated = planReconcile(
      input({
        instances: [1, 2, 3]
          .map((n) => facts({ instanceId: id(n), state: 'terminated' }))
          .concat(facts({ instanceId: id(4) })),
        entries,
      }),
    );
    expect(terminated.safetyStops).toEqual([]);
    expect(terminated.changes.filter((c) => c.action === 'delete')).toHaveLength(3);
  });

  it('counts deletes caused by refusals toward the cap (a bad allow-list must not wipe a group)', () => {
    const entries = [1, 2, 3, 4].map((n) => entryFor(n));
    const narrowed = {
      ...g,
      annotations: { 'istio-vm-registrar.io/allowed-autoscaling-groups': 'typo-asg' },
    };
    const plan = planReconcile(
      input({
        instances: [1, 2, 3, 4].map((n) => facts({ instanceId: id(n) })),
        entries,
        groups: new Map([[groupKey(g), narrowed]]),
      }),
    );
    expect(plan.refusals).toHaveLength(4);
    expect(plan.safetyStops).toEqual([expect.objectContaining({ deletes: 4, entries: 4 })]);
    expect(plan.changes).toEqual([]);
  });

  it('keeps entries of stopped instances under the keep policy', () => {
    const plan = planReconcile(
      input({
        instances: [facts({ instanceId: id(1), state: 'stopped' })],
        entries: [entryFor(1)],
        policy: { tagPrefix: 'istio-vm/', allowedNamespaces: ['bookinfo'], stoppedInstancePolicy: 'keep' },
      }),
    );
    expect(plan.changes).toEqual([]);
    expect(plan.unchanged.get('bookinfo/reviews')).toBe(1);
  });
});

describe('Function: planReconcile() and the probe launch gate', () => {
  it('neither creates nor deletes the entry of a VM Auto Scaling holds for the probe gate', () => {
    // Prepare: a probe-gated group; one VM held without an entry, one held whose entry the gate wrote.
    const gated = group({
      annotations: { 'istio-vm-registrar.io/launch-gate': 'probe' },
      probe: { httpGet: { port: 8080, path: '/ready' } },
    });
    const held = { autoScalingLifecycleState: 'Pending:Wait' };
    const written = entryFor(2);

    // Act
    const plan = planReconcile(
      input({
        groups: new Map([[groupKey(gated), gated]]),
        instances: [facts({ instanceId: id(1), ...held }), facts({ instanceId: id(2), ...held })],
        entries: [written],
      }),
    );

    // Assess
    expect(plan.changes).toEqual([]);
    expect(plan.unchanged.get('bookinfo/reviews')).toBe(1);
  });
});
