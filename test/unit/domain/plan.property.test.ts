import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PlanInput, type PlannedChange, planReconcile } from '../../../shared/domain/plan.ts';
import {
  groupKey,
  type InstanceFacts,
  type WorkloadEntryObject,
  type WorkloadGroupView,
} from '../../../shared/domain/types.ts';
import { renderWorkloadEntry } from '../../../shared/domain/workload-entry.ts';
import { facts, group } from '../../helpers/domain.ts';

/** Seeded and bounded: the same cases on every run, well inside the suite's time budget. */
const RUNS = { seed: 20261204, numRuns: 300 };

const reviews = group();
const ratings = group({ name: 'ratings', uid: '2f8e4c9a-0000-4000-8000-000000000002' });
const groups = new Map<string, WorkloadGroupView>([
  [groupKey(reviews), reviews],
  [groupKey(ratings), ratings],
]);
const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;

/** One instance as EC2 may report it: any state, any of the tags that matter, with or without an IP. */
const instanceArb = (n: number): fc.Arbitrary<InstanceFacts> =>
  fc
    .record({
      state: fc.constantFrom(
        'pending',
        'running',
        'running',
        'stopping',
        'stopped',
        'shutting-down',
        'terminated',
      ),
      tag: fc.constantFrom(
        'bookinfo/reviews',
        'bookinfo/ratings',
        'bookinfo/missing',
        'kube-system/reviews',
        'bookinfo/../x',
        undefined,
      ),
      ip: fc.option(
        fc.integer({ min: 1, max: 250 }).map((o) => `10.0.3.${o}`),
        { nil: undefined },
      ),
      network: fc.option(fc.constantFrom('net-a', 'bad net'), { nil: undefined }),
      asgState: fc.option(fc.constantFrom('InService', 'Warmed:Running', 'Terminating:Wait', 'Standby'), {
        nil: undefined,
      }),
    })
    .map(({ state, tag, ip, network, asgState }) =>
      facts({
        instanceId: id(n),
        state,
        ...(ip ? { privateIpAddress: ip } : { privateIpAddress: undefined }),
        tags: {
          ...(tag !== undefined ? { 'istio-vm/workload-group': tag } : {}),
          ...(network ? { 'istio-vm/network': network } : {}),
          'aws:autoscaling:groupName': 'my-asg',
        },
        ...(asgState ? { autoScalingLifecycleState: asgState } : {}),
      }),
    );

/** An entry as it may be found: rendered from some past version of an instance, maybe edited by hand, maybe not ours. */
const entryArb = (n: number): fc.Arbitrary<WorkloadEntryObject | undefined> =>
  fc
    .record({
      exists: fc.boolean(),
      of: fc.constantFrom(reviews, ratings),
      ip: fc.integer({ min: 1, max: 250 }).map((o) => `10.0.3.${o}`),
      edit: fc.constantFrom('none', 'weight', 'label', 'foreign'),
    })
    .map(({ exists, of, ip, edit }) => {
      if (!exists) return undefined;
      const r = renderWorkloadEntry(facts({ instanceId: id(n), privateIpAddress: ip }), of);
      if (!r.ok) return undefined;
      const e = r.entry;
      const metadata = { ...e.metadata, uid: `uid-${n}-${of.name}` };
      switch (edit) {
        case 'weight':
          return { ...e, metadata, spec: { ...e.spec, weight: 7 } };
        case 'label':
          return { ...e, metadata: { ...metadata, labels: { ...metadata.labels, extra: 'x' } } };
        case 'foreign':
          return { ...e, metadata: { ...metadata, labels: { app: 'hand-made' } } };
        default:
          return { ...e, metadata };
      }
    });

const stateArb = fc
  .integer({ min: 0, max: 8 })
  .chain((count) =>
    fc.record({
      instances: fc.tuple(...Array.from({ length: count }, (_, i) => instanceArb(i + 1))),
      entries: fc.tuple(...Array.from({ length: count + 2 }, (_, i) => entryArb(i + 1))),
      stopped: fc.constantFrom<'delete' | 'keep'>('delete', 'keep'),
    }),
  )
  .map(({ instances, entries, stopped }) => ({
    instances: instances as InstanceFacts[],
    entries: (entries as Array<WorkloadEntryObject | undefined>).filter((e) => e !== undefined),
    stopped,
  }));

const inputOf = (
  state: { instances: InstanceFacts[]; entries: WorkloadEntryObject[]; stopped: 'delete' | 'keep' },
  entries: readonly WorkloadEntryObject[],
  force: boolean,
): PlanInput => ({
  instances: state.instances,
  entries,
  groups,
  policy: { tagPrefix: 'istio-vm/', allowedNamespaces: ['bookinfo'], stoppedInstancePolicy: state.stopped },
  inScope: () => true,
  complete: true,
  maxDeleteRatio: 0.5,
  force,
});

/** What the cluster holds once a plan's changes are written (an apply stores what it applied). */
function applyChanges(entries: readonly WorkloadEntryObject[], changes: readonly PlannedChange[]) {
  const byKey = new Map(entries.map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e]));
  for (const c of changes) {
    const key = `${c.namespace}/${c.name}`;
    if (c.action === 'delete') byKey.delete(key);
    else
      byKey.set(key, { ...c.desired!, metadata: { ...c.desired!.metadata, uid: `uid-applied-${c.name}` } });
  }
  return [...byKey.values()];
}

describe('Property: planReconcile() is idempotent', () => {
  it('plan(apply(plan(x))) has no change, whatever EC2 and the cluster hold', () => {
    fc.assert(
      fc.property(stateArb, (state) => {
        const first = planReconcile(inputOf(state, state.entries, true));
        const second = planReconcile(inputOf(state, applyChanges(state.entries, first.changes), true));
        expect(second.changes).toEqual([]);
      }),
      RUNS,
    );
  });

  it('with safety stops on, a second plan holds only the deletes the first one withheld', () => {
    fc.assert(
      fc.property(stateArb, (state) => {
        const first = planReconcile(inputOf(state, state.entries, false));
        const second = planReconcile(inputOf(state, applyChanges(state.entries, first.changes), false));
        expect(second.changes.filter((c) => c.action !== 'delete')).toEqual([]);
        const withheld = new Set(first.withheldDeletes.map((d) => `${d.namespace}/${d.name}`));
        for (const d of second.changes) expect(withheld.has(`${d.namespace}/${d.name}`)).toBe(true);
      }),
      RUNS,
    );
  });

  it('never plans a change to an entry it does not own, and never deletes on an incomplete listing', () => {
    fc.assert(
      fc.property(stateArb, fc.boolean(), (state, force) => {
        const plan = planReconcile({ ...inputOf(state, state.entries, force), complete: false });
        expect(plan.changes.filter((c) => c.action === 'delete')).toEqual([]);
        const foreign = new Set(
          state.entries
            .filter((e) => e.metadata.labels?.['app.kubernetes.io/managed-by'] !== 'istio-vm-registrar')
            .map((e) => `${e.metadata.namespace}/${e.metadata.name}`),
        );
        for (const c of plan.changes.filter((c) => c.action === 'update')) {
          expect(foreign.has(`${c.namespace}/${c.name}`)).toBe(false);
        }
      }),
      RUNS,
    );
  });
});
