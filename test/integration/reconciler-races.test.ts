import { describe, expect, it } from 'vitest';
import { stateChange } from '../helpers/fixtures.ts';
import { instance, NAMESPACE, useHarness } from '../helpers/harness.ts';
import { reconcilerFromEnv } from '../helpers/reconcile.ts';

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
const names = (entries: ReadonlyArray<{ metadata: { name: string } }>) =>
  entries.map((e) => e.metadata.name).sort();

describe('Reconciler: deletes re-read EC2 just before they run', () => {
  const h = useHarness();

  it('keeps the entry of an instance stopped at listing time and started before the delete', async () => {
    // Prepare: registered, then stopped (the stop event was lost).
    h.aws.putInstance(instance(id(1)));
    await h.send([stateChange(id(1), 'running')]);
    h.aws.setState(id(1), 'stopped');

    // Act: the instance is started again between the sweep's plan and its writes.
    const summary = await reconcilerFromEnv().run({}, (message) => {
      if (message.startsWith('planned')) h.aws.setState(id(1), 'running');
    });

    // Assess
    expect(names(h.entries())).toEqual([`reviews-${id(1)}`]);
    expect(summary.changes).toMatchObject([{ action: 'delete', status: 'skipped' }]);
  });

  it('keeps the entry of an instance missing from the tag-filtered listing but tagged and running when re-read', async () => {
    // Prepare: registered; at listing time EC2 does not show its tags yet.
    h.aws.putInstance(instance(id(2)));
    await h.send([stateChange(id(2), 'running')]);
    h.aws.putInstance(instance(id(2), { tags: {} }));

    // Act
    const summary = await reconcilerFromEnv().run({}, (message) => {
      if (message.startsWith('planned')) h.aws.putInstance(instance(id(2)));
    });

    // Assess
    expect(names(h.entries())).toEqual([`reviews-${id(2)}`]);
    expect(summary.totals.delete).toBe(0);
  });

  it('never deletes on absence alone while the entry was launched inside the launch-visibility window', async () => {
    // Prepare: a VM launched a minute ago that EC2 does not show at all (eventual consistency).
    h.aws.putInstance(instance(id(3), { launchTime: new Date(Date.now() - 60_000).toISOString() }));
    await h.send([stateChange(id(3), 'running')]);
    h.aws.removeInstance(id(3));

    // Act
    const summary = await reconcilerFromEnv().run();

    // Assess
    expect(names(h.entries())).toEqual([`reviews-${id(3)}`]);
    expect(summary.totals.delete).toBe(0);
  });

  it('still deletes the entry of an instance that is gone and launched long ago', async () => {
    // Prepare
    h.aws.putInstance(instance(id(4)));
    await h.send([stateChange(id(4), 'running')]);
    h.aws.removeInstance(id(4));

    // Act
    const summary = await reconcilerFromEnv().run({ force: true });

    // Assess
    expect(h.entries()).toEqual([]);
    expect(summary.totals.delete).toBe(1);
  });
});

describe('Reconciler: a name held by a foreign entry', () => {
  const h = useHarness();

  it('is a refusal (entry-not-owned), not a failed sweep, and a dry run plans no change for it', async () => {
    // Prepare: a hand-made entry holds the name the registrar would give the instance.
    h.aws.putInstance(instance(id(5)));
    h.kube.seed({
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      metadata: { name: `reviews-${id(5)}`, namespace: NAMESPACE, labels: { app: 'reviews' } },
      spec: { address: '192.168.1.5' },
    });

    // Act
    const dry = await reconcilerFromEnv().run({ dryRun: true });
    const real = await reconcilerFromEnv().run();

    // Assess
    for (const summary of [dry, real]) {
      expect(summary.changes).toEqual([]);
      expect(summary.errors).toEqual([]);
      expect(summary.refusals).toEqual([
        expect.objectContaining({ instanceId: id(5), reason: 'entry-not-owned' }),
      ]);
    }
    expect(h.entries()[0]?.spec.address).toBe('192.168.1.5');
    expect(h.entries()[0]?.metadata.labels).toEqual({ app: 'reviews' });
  });
});

describe('Reconciler: Auto Scaling reads follow the sweep and fail per group', () => {
  const h = useHarness();
  const inGroup = (n: number, asg: string, group = 'reviews') =>
    instance(id(n), {
      tags: { 'istio-vm/workload-group': `${NAMESPACE}/${group}`, 'aws:autoscaling:groupName': asg },
    });

  it('reads no Auto Scaling group outside --group, so a failing one elsewhere changes nothing', async () => {
    // Prepare: reviews in asg-a, ratings in asg-b, whose reads fail.
    h.kube.seed({ ...(await import('../helpers/harness.ts')).reviewsGroup({ name: 'ratings' }) });
    h.aws.putInstance(inGroup(10, 'asg-a'));
    h.aws.putInstance(inGroup(11, 'asg-b', 'ratings'));
    h.aws.setFaults({ failAutoScalingGroups: ['asg-b'] });
    h.aws.resetStats();

    // Act
    const summary = await reconcilerFromEnv().run({ groups: [`${NAMESPACE}/reviews`] });

    // Assess
    expect(summary.errors).toEqual([]);
    expect(summary.converged).toBe(true);
    expect(names(h.entries())).toEqual([`reviews-${id(10)}`]);
    expect(h.aws.stats().byAction.DescribeAutoScalingGroups).toBe(1);
  });

  it("holds only a failing Auto Scaling group's instances; the others are created and deleted", async () => {
    // Prepare: asg-a is readable, asg-b is not; each has one registered VM whose entry must stay and
    // one new VM; a terminated VM of asg-a has a stale entry.
    h.aws.putInstance(inGroup(20, 'asg-a'));
    h.aws.putInstance(inGroup(21, 'asg-b'));
    h.aws.putInstance(inGroup(22, 'asg-a'));
    await h.send([
      stateChange(id(20), 'running'),
      stateChange(id(21), 'running'),
      stateChange(id(22), 'running'),
    ]);
    h.aws.setState(id(22), 'terminated');
    h.aws.putInstance(inGroup(23, 'asg-a'));
    h.aws.putInstance(inGroup(24, 'asg-b'));
    h.aws.setFaults({ failAutoScalingGroups: ['asg-b'] });

    // Act
    const summary = await reconcilerFromEnv().run();

    // Assess: asg-a converged (23 created, 22 deleted); asg-b's VMs held (21 kept, 24 not created).
    expect(names(h.entries())).toEqual([`reviews-${id(20)}`, `reviews-${id(21)}`, `reviews-${id(23)}`]);
    expect(summary.totals).toMatchObject({ create: 1, delete: 1 });
    expect(summary.errors).toEqual([
      expect.stringMatching(/^Auto Scaling group asg-b: lifecycle states unreadable/),
    ]);
    expect(summary.converged).toBe(false);
  });
});

describe('Reconciler: writes re-read EC2 right after they land', () => {
  const h = useHarness();
  /** Holds the first request matching `method` at the API server until released. */
  const holdFirst = (method: string) => {
    const held = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    h.kube.setRequestHook(async (request) => {
      if (request.method !== method) return;
      h.kube.setRequestHook(undefined);
      held.resolve();
      await release.promise;
    });
    return { held: held.promise, release: () => release.resolve() };
  };

  it('deletes an entry the sweep created for an instance that terminated while the write was in flight', async () => {
    // Prepare: a running VM without an entry; the sweep's apply is held.
    h.aws.putInstance(instance(id(30)));
    const apply = holdFirst('PATCH');

    // Act: it terminates and its event finds nothing to delete; then the sweep's apply lands.
    const sweep = reconcilerFromEnv().run();
    await apply.held;
    h.aws.setState(id(30), 'terminated');
    const event = await h.send([stateChange(id(30), 'terminated')]);
    apply.release();
    const summary = await sweep;

    // Assess
    expect(event.batchItemFailures).toEqual([]);
    expect(h.entries()).toEqual([]);
    expect(summary.changes.map((c) => [c.action, c.status])).toEqual([
      ['create', 'applied'],
      ['delete', 'corrected'],
    ]);
  });

  it('writes again the entry of an instance started while the sweep deleted it', async () => {
    // Prepare: registered, then stopped (its event lost); the sweep's delete is held.
    h.aws.putInstance(instance(id(31)));
    await h.send([stateChange(id(31), 'running')]);
    h.aws.setState(id(31), 'stopped');
    const remove = holdFirst('DELETE');

    // Act: started again; its event finds the entry still there; then the sweep's delete lands.
    const sweep = reconcilerFromEnv().run();
    await remove.held;
    h.aws.setState(id(31), 'running');
    await h.send([stateChange(id(31), 'running')]);
    remove.release();
    const summary = await sweep;

    // Assess
    expect(names(h.entries())).toEqual([`reviews-${id(31)}`]);
    expect(summary.changes.map((c) => [c.action, c.status])).toEqual([
      ['delete', 'applied'],
      ['create', 'corrected'],
    ]);
  });
});
