import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../shared/app/wiring.ts';
import { stateChange } from '../helpers/fixtures.ts';
import { instance, NAMESPACE, reviewsGroup, useHarness } from '../helpers/harness.ts';
import { reconcilerFromEnv } from '../helpers/reconcile.ts';
import { adminApis, patchGroup, service, sliceAddresses, slices } from '../helpers/services.ts';
import { cli } from './cli-process.ts';

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
const ip = (n: number) => `10.0.9.${n}`;
const SERVICE = { 'istio-vm-registrar.io/service': 'service' };
const DIRECT = { 'istio-vm-registrar.io/direct-endpoints': 'true' };

describe('Services for VM workloads: sweep, status and the lifecycle hook', () => {
  const h = useHarness();
  const launch = async (ns: number[]) => {
    for (const n of ns) h.aws.putInstance(instance(id(n), { privateIpAddress: ip(n) }));
    return h.send(ns.map((n) => stateChange(id(n), 'running')));
  };

  it('a foreign Service is reported by the sweep (dry run and real) and by status, and left as it is', async () => {
    h.kube.seed({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'reviews', namespace: NAMESPACE },
      spec: { selector: { app: 'reviews' }, ports: [{ port: 80 }] },
    });
    const before = service(h.kube, 'reviews');
    await patchGroup(h.kube, { annotations: SERVICE });
    h.aws.putInstance(instance(id(1), { privateIpAddress: ip(1) }));

    for (const summary of [
      await reconcilerFromEnv().run({ dryRun: true }),
      await reconcilerFromEnv().run(),
    ]) {
      expect(summary.errors).toEqual([]);
      expect(summary.services?.changes).toEqual([]);
      expect(summary.services?.refusals).toEqual([
        expect.objectContaining({
          group: 'bookinfo/reviews',
          reason: 'service-not-owned',
          message: expect.stringContaining(
            'Service bookinfo/reviews exists and is not managed by the registrar',
          ),
        }),
      ]);
    }
    expect(service(h.kube, 'reviews')).toEqual(before);

    const status = await cli(['status', '--namespace', 'bookinfo', '--output', 'json']);
    expect(JSON.parse(status.stdout).services).toEqual([
      { group: 'bookinfo/reviews', object: 'Service bookinfo/reviews', status: 'refused: service-not-owned' },
    ]);
  });

  it('an opt-out found by the sweep deletes our Service; deleting several at once is a safety stop unless forced', async () => {
    for (const name of ['ratings', 'details']) {
      h.kube.seed(reviewsGroup({ name, annotations: SERVICE }));
    }
    await patchGroup(h.kube, { annotations: SERVICE });
    expect((await reconcilerFromEnv().run()).services?.changes).toHaveLength(3);

    await patchGroup(h.kube, { annotations: { 'istio-vm-registrar.io/service': 'none' } });
    const one = await reconcilerFromEnv().run();
    expect(one.services?.changes).toEqual([
      expect.objectContaining({
        action: 'delete',
        kind: 'Service',
        name: 'bookinfo/reviews',
        status: 'applied',
      }),
    ]);
    expect(service(h.kube, 'reviews')).toBeUndefined();

    for (const name of ['ratings', 'details'])
      await patchGroup(h.kube, { annotations: { 'istio-vm-registrar.io/service': 'none' } }, name);
    const stopped = await reconcilerFromEnv().run();
    expect(stopped.safetyStops).toEqual([
      expect.objectContaining({ group: '(services)', deletes: 2, entries: 2 }),
    ]);
    expect(stopped.services?.changes.map((c) => c.status)).toEqual(['withheld', 'withheld']);
    expect(service(h.kube, 'ratings')).toBeDefined();

    await reconcilerFromEnv().run({ force: true });
    expect(service(h.kube, 'ratings')).toBeUndefined();
    expect(service(h.kube, 'details')).toBeUndefined();
  });

  it("direct endpoints are ready as the entry's Healthy condition says; an event keeps what the sweep set", async () => {
    await patchGroup(h.kube, { annotations: DIRECT });
    await launch([1, 2]);
    await adminApis(h.kube).custom.patchNamespacedCustomObjectStatus(
      {
        group: 'networking.istio.io',
        version: 'v1',
        namespace: NAMESPACE,
        plural: 'workloadentries',
        name: `reviews-${id(2)}`,
        body: { status: { conditions: [{ type: 'Healthy', status: 'False' }] } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );

    await reconcilerFromEnv().run();
    const conditions = () =>
      Object.fromEntries(
        (slices(h.kube)[0]?.endpoints ?? []).map((e) => [e.addresses[0], e.conditions ?? {}]),
      );
    expect(conditions()).toEqual({ [ip(1)]: {}, [ip(2)]: { ready: false, serving: false } });

    await h.send([stateChange(id(1), 'running'), stateChange(id(2), 'running')]);
    expect(conditions()).toEqual({ [ip(1)]: {}, [ip(2)]: { ready: false, serving: false } });
  });

  it('removeInstanceEndpoints takes one instance out of the direct slices at once', async () => {
    await patchGroup(h.kube, { annotations: DIRECT });
    await launch([1, 2, 3]);
    const app = createApp();
    const group = await app.kube.getWorkloadGroup(NAMESPACE, 'reviews');

    expect(await app.services.removeInstanceEndpoints(app.kube, group!, id(2))).toBe(true);
    expect(await app.services.removeInstanceEndpoints(app.kube, group!, id(2))).toBe(false);

    expect(sliceAddresses(h.kube, 'reviews-direct').addresses).toEqual([ip(1), ip(3)]);
  });
});
