import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  handler as reconcilerHandler,
  resetApp as resetReconciler,
} from '../../functions/reconciler/handler.ts';
import { Reconciler } from '../../shared/app/reconciler.ts';
import { createApp as reconcilerApp } from '../../shared/app/wiring.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import { logger, telemetry } from '../../shared/observability.ts';
import { stateChange } from '../helpers/fixtures.ts';
import { GROUP_TAG, instance, NAMESPACE, reviewsGroup, useHarness } from '../helpers/harness.ts';
import { reconcilerFromEnv } from '../helpers/reconcile.ts';

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;

describe('Reconciler: whole-fleet sweep', () => {
  const h = useHarness();
  beforeEach(() => resetReconciler());
  afterEach(() => resetReconciler());

  it('creates missing entries, deletes stale ones, updates drifted ones and leaves foreign ones alone', async () => {
    // Prepare: 6 running instances registered through events, then drift.
    for (let n = 1; n <= 6; n++) h.aws.putInstance(instance(id(n)));
    await h.send([1, 2, 3, 4, 5, 6].map((n) => stateChange(id(n), 'running')));
    h.aws.putInstance(instance(id(7))); // missed launch event
    h.aws.setState(id(1), 'terminated'); // missed termination
    h.aws.putInstance(instance(id(2), { tags: {} })); // tag removed: no longer ours to register
    h.aws.putInstance(instance(id(3), { privateIpAddress: '10.1.1.1' })); // IP drift
    h.kube.seed({
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      metadata: { name: 'hand-made', namespace: NAMESPACE, labels: { app: 'reviews' } },
      spec: { address: '192.168.1.1' },
    });

    // Act
    const summary = await reconcilerFromEnv().run();

    // Assess
    expect(summary.totals).toMatchObject({ create: 1, update: 1, delete: 2, unchanged: 3, failed: 0 });
    const byName = Object.fromEntries(h.entries().map((e) => [e.metadata.name, e.spec.address]));
    expect(Object.keys(byName).sort()).toEqual(
      [
        'hand-made',
        `reviews-${id(3)}`,
        `reviews-${id(4)}`,
        `reviews-${id(5)}`,
        `reviews-${id(6)}`,
        `reviews-${id(7)}`,
      ].sort(),
    );
    expect(byName[`reviews-${id(3)}`]).toBe('10.1.1.1');
    expect(byName['hand-made']).toBe('192.168.1.1');
    expect(summary.converged).toBe(true);
  });

  it('rolls a template change out to existing entries (ports, labels, serviceAccount, network, weight)', async () => {
    for (let n = 1; n <= 3; n++) h.aws.putInstance(instance(id(n)));
    await h.send([1, 2, 3].map((n) => stateChange(id(n), 'running')));
    const { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } = await import(
      '@kubernetes/client-node'
    );
    const kc = new KubeConfig();
    kc.loadFromString(h.kube.kubeconfigYaml());
    await kc.makeApiClient(CustomObjectsApi).patchNamespacedCustomObject(
      {
        group: 'networking.istio.io',
        version: 'v1',
        namespace: NAMESPACE,
        plural: 'workloadgroups',
        name: 'reviews',
        body: {
          spec: {
            metadata: { labels: { app: 'reviews', version: 'v2' } },
            template: { ports: { grpc: 9090 }, serviceAccount: 'reviews-v2', network: 'vm-net', weight: 5 },
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );

    const summary = await reconcilerFromEnv().run();

    expect(summary.totals.update).toBe(3);
    for (const entry of h.entries()) {
      // Merge patch merged the port maps: http stays, grpc joins.
      expect(entry.spec).toMatchObject({
        ports: { http: 9080, grpc: 9090 },
        serviceAccount: 'reviews-v2',
        network: 'vm-net',
        weight: 5,
      });
      expect(entry.metadata.labels).toMatchObject({ version: 'v2' });
    }
  });

  it('sweeps follow the Auto Scaling lifecycle state: warm-pool and terminating instances have no entry', async () => {
    for (let n = 1; n <= 4; n++) h.aws.putInstance(instance(id(n)));
    await h.send([1, 2, 3, 4].map((n) => stateChange(id(n), 'running')));
    h.aws.putInstance(instance(id(1), { autoScalingLifecycleState: 'Terminating:Wait' }));
    h.aws.putInstance(instance(id(5), { autoScalingLifecycleState: 'Warmed:Running' }));
    const summary = await reconcilerFromEnv().run();
    expect(summary.totals).toMatchObject({ create: 0, delete: 1, unchanged: 3 });
    expect(
      h
        .entries()
        .map((e) => e.metadata.name)
        .sort(),
    ).toEqual([2, 3, 4].map((n) => `reviews-${id(n)}`));
  });

  it('re-reads instances just before writing: one that terminated during the sweep gets no entry', async () => {
    // Prepare: two missing entries; one instance terminates after the listing, before the writes.
    h.aws.putInstance(instance(id(1)));
    h.aws.putInstance(instance(id(2)));
    const app = reconcilerApp();
    const listTagged = app.ec2.listTagged.bind(app.ec2);
    app.ec2.listTagged = async function* (tagKey: string) {
      yield* listTagged(tagKey);
      h.aws.setState(id(2), 'terminated');
    };

    // Act
    const summary = await new Reconciler({ ...app, logger, telemetry }).run();

    // Assess
    expect(h.entries().map((e) => e.metadata.name)).toEqual([`reviews-${id(1)}`]);
    expect(summary.changes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ entry: `bookinfo/reviews-${id(2)}`, status: 'skipped' }),
      ]),
    );
  });

  it('a dry run plans but writes nothing', async () => {
    for (let n = 1; n <= 3; n++) h.aws.putInstance(instance(id(n)));
    const before = h.kube.stats().writes;
    const summary = await reconcilerFromEnv().run({ dryRun: true });
    expect(summary.totals.create).toBe(3);
    expect(summary.changes.every((c) => c.status === 'planned')).toBe(true);
    expect(h.kube.stats().writes - before).toBe(0);
    expect(summary.converged).toBe(false);
  });

  it('an EC2 listing that fails mid-way (after its first page) makes zero deletions', async () => {
    // Prepare: 12 registered instances whose ids sort after 1,190 others, so they are on page 2.
    const registered = Array.from({ length: 12 }, (_, i) => id(0x50000 + i));
    for (const r of registered) h.aws.putInstance(instance(r));
    await h.send(registered.map((r) => stateChange(r, 'running')));
    for (let n = 1; n <= 1190; n++)
      h.aws.putInstance(instance(id(n), { tags: { [GROUP_TAG]: 'other/ratings' } }));
    h.aws.setFaults({ failDescribeAfterPages: 1 });
    h.aws.resetStats();

    // Act
    const summary = await reconcilerFromEnv().run();

    // Assess: page 1 was read, page 2 failed; nothing was deleted, the deletes are reported withheld.
    expect(h.aws.stats().byAction.DescribeInstances).toBeGreaterThanOrEqual(2);
    expect(summary.incompleteListing).toMatch(/EC2 instances/);
    expect(summary.totals.delete).toBe(0);
    expect(h.entries()).toHaveLength(12);
    expect(summary.changes.filter((c) => c.status === 'withheld')).toHaveLength(12);
  });

  it('a Kubernetes listing that keeps failing makes zero deletions and says so', async () => {
    for (let n = 1; n <= 3; n++) h.aws.putInstance(instance(id(n)));
    await h.send([1, 2, 3].map((n) => stateChange(id(n), 'running')));
    for (let n = 1; n <= 3; n++) h.aws.removeInstance(id(n));
    h.kube.setFaults({ failureRate: 1, kinds: [503], seed: 2 });
    const summary = await reconcilerFromEnv().run({ force: true });
    h.kube.setFaults(undefined);
    expect(summary.incompleteListing).toMatch(/listing Workload(Groups|Entries) failed/);
    expect(summary.totals.delete).toBe(0);
    expect(h.entries()).toHaveLength(3);
  });

  it('the deletion cap stops a sweep that would delete most of a group, unless forced', async () => {
    for (let n = 1; n <= 10; n++) h.aws.putInstance(instance(id(n)));
    await h.send(Array.from({ length: 10 }, (_, i) => stateChange(id(i + 1), 'running')));
    // Six instances vanish from EC2 entirely (no evidence they left): 60% > 50%.
    for (let n = 1; n <= 6; n++) h.aws.removeInstance(id(n));

    const stopped = await reconcilerFromEnv().run();
    expect(stopped.safetyStops).toEqual([
      expect.objectContaining({ group: `${NAMESPACE}/reviews`, deletes: 6, entries: 10 }),
    ]);
    expect(h.entries()).toHaveLength(10);

    const forced = await reconcilerFromEnv().run({ force: true });
    expect(forced.totals.delete).toBe(6);
    expect(h.entries()).toHaveLength(4);
  });

  it('terminated instances still listed by EC2 are evidence: their deletes are not capped', async () => {
    for (let n = 1; n <= 4; n++) h.aws.putInstance(instance(id(n)));
    await h.send([1, 2, 3, 4].map((n) => stateChange(id(n), 'running')));
    for (let n = 1; n <= 3; n++) h.aws.setState(id(n), 'terminated');
    const summary = await reconcilerFromEnv().run();
    expect(summary.safetyStops).toEqual([]);
    expect(summary.totals.delete).toBe(3);
  });

  it('scopes by namespace and group, and refuses namespaces outside the allow-list', async () => {
    h.kube.seed(reviewsGroup({ name: 'ratings', namespace: 'other' }));
    h.aws.putInstance(instance(id(1)));
    h.aws.putInstance(instance(id(2), { tags: { [GROUP_TAG]: 'other/ratings' } }));
    const scoped = await reconcilerFromEnv().run({ groups: ['other/ratings'] });
    expect(scoped.totals.create).toBe(1);
    expect(h.entries('other').map((e) => e.metadata.name)).toEqual([`ratings-${id(2)}`]);
    expect(h.entries()).toEqual([]);
    await expect(reconcilerFromEnv().run({ namespaces: ['kube-system'] })).rejects.toThrow(/not allowed/);
  });

  it('the Lambda handler validates the payload and returns the JSON summary', async () => {
    h.aws.putInstance(instance(id(1)));
    const summary = (await reconcilerHandler({ dryRun: true }, cliContext('reconciler-test'))) as {
      totals: { create: number };
    };
    expect(summary.totals.create).toBe(1);
    await expect(
      reconcilerHandler({ dryRun: 'yes' } as never, cliContext('reconciler-test')),
    ).rejects.toThrow();
    await expect(
      reconcilerHandler({ drynRun: true } as never, cliContext('reconciler-test')),
    ).rejects.toThrow();
  });
});
