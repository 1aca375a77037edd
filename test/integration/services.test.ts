import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { describe, expect, it, vi } from 'vitest';
import { logger, telemetry } from '../../shared/observability.ts';
import { stateChange } from '../helpers/fixtures.ts';
import { instance, NAMESPACE, useHarness } from '../helpers/harness.ts';
import { reconcilerFromEnv } from '../helpers/reconcile.ts';
import {
  adminApis,
  patchGroup,
  service,
  serviceEntry,
  services,
  sliceAddresses,
  slices,
} from '../helpers/services.ts';

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
const ip = (n: number) => `10.0.${n >> 8}.${n & 255}`;
const launch = async (h: ReturnType<typeof useHarness>, ns: number[]) => {
  for (const n of ns) h.aws.putInstance(instance(id(n), { privateIpAddress: ip(n) }));
  return h.send(ns.map((n) => stateChange(id(n), 'running')));
};
const terminate = async (h: ReturnType<typeof useHarness>, ns: number[]) => {
  for (const n of ns) h.aws.setState(id(n), 'terminated');
  return h.send(ns.map((n) => stateChange(id(n), 'terminated')));
};

describe('Services for VM workloads: event path', () => {
  const h = useHarness();

  it('creates the Service with the entries labels as selector and the template ports, owned by the group', async () => {
    // Prepare
    await patchGroup(h.kube, { annotations: { 'istio-vm-registrar.io/service': 'service' } });

    // Act
    expect(await launch(h, [1])).toEqual({ batchItemFailures: [] });

    // Assess
    const svc = service(h.kube, 'reviews');
    const group = h.kube.get('networking.istio.io/v1', 'WorkloadGroup', NAMESPACE, 'reviews')!;
    expect(svc?.spec.selector).toEqual({ app: 'reviews', version: 'v1' });
    expect(svc?.spec.ports).toEqual([
      { name: 'http', port: 9080, targetPort: 9080, protocol: 'TCP', appProtocol: 'http' },
    ]);
    expect(svc?.metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'istio-vm-registrar',
      'istio-vm-registrar.io/workload-group-uid': group.metadata.uid,
    });
    expect(svc?.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'WorkloadGroup', name: 'reviews', uid: group.metadata.uid }),
    ]);
    const managed = (svc!.metadata as { managedFields?: Array<{ manager: string; operation: string }> })
      .managedFields;
    expect(managed?.map((m) => `${m.manager}/${m.operation}`)).toEqual(['istio-vm-registrar/Apply']);
  });

  it('follows a port change and prunes the port it no longer sets; a converged replay writes nothing', async () => {
    await patchGroup(h.kube, { annotations: { 'istio-vm-registrar.io/service': 'service' } });
    await launch(h, [1, 2]);
    await patchGroup(h.kube, {
      spec: { template: { ports: { http: null, 'grpc-api': 9090, 'tcp-db': 5432, metrics: 15020 } } },
    });

    await h.send([stateChange(id(1), 'running'), stateChange(id(2), 'running')]);

    expect(service(h.kube, 'reviews')?.spec.ports).toEqual([
      { name: 'grpc-api', port: 9090, targetPort: 9090, protocol: 'TCP', appProtocol: 'grpc' },
      { name: 'metrics', port: 15020, targetPort: 15020, protocol: 'TCP' },
      { name: 'tcp-db', port: 5432, targetPort: 5432, protocol: 'TCP', appProtocol: 'tcp' },
    ]);
    h.kube.resetStats();
    await h.send([stateChange(id(1), 'running'), stateChange(id(2), 'running')]);
    expect(h.kube.stats().writes).toBe(0);
  });

  it('an explicit appProtocol annotation wins over the port name', async () => {
    await patchGroup(h.kube, {
      annotations: {
        'istio-vm-registrar.io/service': 'service',
        'istio-vm-registrar.io/app-protocols': 'http=kubernetes.io/h2c',
      },
    });
    await launch(h, [1]);
    expect(service(h.kube, 'reviews')?.spec.ports?.[0]?.appProtocol).toBe('kubernetes.io/h2c');
  });

  it('leaves a same-named Service it does not manage exactly as it is, and registers the VMs anyway', async () => {
    h.kube.seed({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'reviews', namespace: NAMESPACE },
      spec: { selector: { app: 'reviews' }, ports: [{ port: 80 }] },
    });
    const before = service(h.kube, 'reviews')!;
    await patchGroup(h.kube, { annotations: { 'istio-vm-registrar.io/service': 'service' } });
    const warn = vi.spyOn(logger, 'warn');

    expect(await launch(h, [1])).toEqual({ batchItemFailures: [] });

    expect(service(h.kube, 'reviews')).toEqual(before);
    expect(h.entries()).toHaveLength(1);
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining('Service bookinfo/reviews exists and is not managed by the registrar'),
      expect.objectContaining({ reason: 'service-not-owned', group: 'bookinfo/reviews' }),
    );
  });

  it('keeps fields another manager set on our Service (type, externalTrafficPolicy, annotations) through a port change', async () => {
    await patchGroup(h.kube, { annotations: { 'istio-vm-registrar.io/service': 'service' } });
    await launch(h, [1]);
    await adminApis(h.kube).core.patchNamespacedService(
      {
        name: 'reviews',
        namespace: NAMESPACE,
        fieldManager: 'platform-team',
        body: {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'reviews', annotations: { 'example.com/owner': 'platform' } },
          spec: { type: 'NodePort', externalTrafficPolicy: 'Local' },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    // Another manager's fields are not drift: no write for them.
    h.kube.resetStats();
    await h.send([stateChange(id(1), 'running')]);
    expect(h.kube.stats().writes).toBe(0);

    await patchGroup(h.kube, { spec: { template: { ports: { http: 9081 } } } });
    await h.send([stateChange(id(1), 'running')]);

    const svc = service(h.kube, 'reviews')!;
    expect(svc.spec.type).toBe('NodePort');
    expect(svc.spec.externalTrafficPolicy).toBe('Local');
    expect(svc.metadata.annotations?.['example.com/owner']).toBe('platform');
    expect(svc.spec.ports?.map((p) => p.port)).toEqual([9081]);
  });

  it('writes a ServiceEntry the CRD accepts (schema and CEL) when the group asks for one', async () => {
    await patchGroup(h.kube, {
      annotations: {
        'istio-vm-registrar.io/service': 'serviceentry',
        'istio-vm-registrar.io/service-hosts': 'reviews.vm.example.com, reviews.bookinfo.svc.cluster.local',
      },
      spec: { template: { ports: { http: 9080, 'grpc-web': 9443 } } },
    });

    expect(await launch(h, [1])).toEqual({ batchItemFailures: [] });

    expect(service(h.kube, 'reviews')).toBeUndefined();
    expect(serviceEntry(h.kube, 'reviews')?.spec).toEqual({
      hosts: ['reviews.vm.example.com', 'reviews.bookinfo.svc.cluster.local'],
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      ports: [
        { name: 'grpc-web', number: 9443, protocol: 'GRPC-Web' },
        { name: 'http', number: 9080, protocol: 'HTTP' },
      ],
      workloadSelector: { labels: { app: 'reviews', version: 'v1' } },
    });
    // Switching to a Service removes the ServiceEntry.
    await patchGroup(h.kube, { annotations: { 'istio-vm-registrar.io/service': 'service' } });
    await h.send([stateChange(id(1), 'running')]);
    expect(serviceEntry(h.kube, 'reviews')).toBeUndefined();
    expect(service(h.kube, 'reviews')).toBeDefined();
  });

  it('refuses a bad annotation or a group without ports clearly, and changes nothing', async () => {
    const warn = vi.spyOn(logger, 'warn');
    await patchGroup(h.kube, { annotations: { 'istio-vm-registrar.io/service': 'Service' } });
    expect(await launch(h, [1])).toEqual({ batchItemFailures: [] });
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining('is not one of service, serviceentry, none'),
      expect.objectContaining({ reason: 'invalid-service-annotation' }),
    );
    await patchGroup(h.kube, {
      annotations: { 'istio-vm-registrar.io/service': 'service' },
      spec: { template: { ports: null, serviceAccount: 'reviews' } },
    });
    expect(await launch(h, [2])).toEqual({ batchItemFailures: [] });
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining('has no ports in its template'),
      expect.objectContaining({ reason: 'no-ports' }),
    );
    expect(services(h.kube)).toEqual([]);
    expect(h.entries()).toHaveLength(2);
  });

  describe('direct endpoints', () => {
    const direct = { 'istio-vm-registrar.io/direct-endpoints': 'true' };

    it('a selectorless reviews-direct Service whose slices follow scale-out and scale-in, event by event', async () => {
      await patchGroup(h.kube, { annotations: direct });

      await launch(h, [1]);
      await launch(h, [2, 3]);
      expect(sliceAddresses(h.kube, 'reviews-direct')).toEqual({
        slices: [3],
        addresses: [ip(1), ip(2), ip(3)].sort(),
      });
      const svc = service(h.kube, 'reviews-direct')!;
      expect(svc.spec.selector).toBeUndefined();
      const [slice] = slices(h.kube);
      expect(slice?.metadata.labels).toMatchObject({
        'kubernetes.io/service-name': 'reviews-direct',
        'endpointslice.kubernetes.io/managed-by': 'registrar.istio-vm-registrar.io',
        'app.kubernetes.io/managed-by': 'istio-vm-registrar',
      });
      expect(slice?.metadata.ownerReferences).toEqual([
        expect.objectContaining({ kind: 'Service', name: 'reviews-direct', uid: svc.metadata.uid }),
      ]);
      expect(slice?.ports).toEqual([{ name: 'http', port: 9080, protocol: 'TCP', appProtocol: 'http' }]);
      expect(slice?.endpoints?.[0]).toEqual({
        addresses: [ip(1)],
        conditions: {},
        targetRef: {
          kind: 'WorkloadEntry',
          apiVersion: 'networking.istio.io/v1',
          namespace: NAMESPACE,
          name: `reviews-${id(1)}`,
        },
        zone: 'us-west-2b',
      });
      // The mesh Service (none asked for here) never gets slices.
      expect(service(h.kube, 'reviews')).toBeUndefined();

      await terminate(h, [2]);
      expect(sliceAddresses(h.kube, 'reviews-direct')).toEqual({
        slices: [2],
        addresses: [ip(1), ip(3)].sort(),
      });
      await terminate(h, [1, 3]);
      expect(sliceAddresses(h.kube, 'reviews-direct')).toEqual({ slices: [], addresses: [] });
    });

    it('one slice write per batch, split at 100 endpoints, and an unchanged replay writes nothing', async () => {
      await patchGroup(h.kube, { annotations: direct });
      await launch(h, [1]);
      h.kube.resetStats();
      const batch = Array.from({ length: 10 }, (_, i) => i + 2);
      await launch(h, batch);
      // 10 entries, one slice update.
      expect(h.kube.stats().byVerb).toMatchObject({ apply: 10, update: 1 });
      for (let b = 0; b < 14; b++)
        await launch(
          h,
          Array.from({ length: 10 }, (_, i) => 12 + b * 10 + i),
        );
      expect(sliceAddresses(h.kube, 'reviews-direct').slices).toEqual([100, 51]);

      h.kube.resetStats();
      await h.send([stateChange(id(5), 'running'), stateChange(id(140), 'running')]);
      expect(h.kube.stats().writes).toBe(0);

      // Scale-in from the first slice: the others keep their endpoints where they are.
      await terminate(
        h,
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
      expect(sliceAddresses(h.kube, 'reviews-direct').slices).toEqual([90, 51]);
      await launch(h, [500]);
      expect(sliceAddresses(h.kube, 'reviews-direct').slices).toEqual([91, 51]);
    });

    it('two batches writing the same slice at once both land (resourceVersion precondition, re-read on conflict)', async () => {
      await patchGroup(h.kube, { annotations: direct });
      await launch(h, [1]);
      for (const n of [2, 3, 4, 5]) h.aws.putInstance(instance(id(n), { privateIpAddress: ip(n) }));

      const count = vi.spyOn(telemetry, 'count');
      const [a, b] = await Promise.all([
        h.send([stateChange(id(2), 'running'), stateChange(id(3), 'running')]),
        h.send([stateChange(id(4), 'running'), stateChange(id(5), 'running')]),
      ]);

      expect([a, b]).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
      expect(sliceAddresses(h.kube, 'reviews-direct').addresses).toEqual([1, 2, 3, 4, 5].map(ip).sort());
      // The second writer's resourceVersion was stale: refused, re-read, written again.
      expect(count).toHaveBeenCalledWith('EndpointSliceConflicts');
    });

    it('a failed slice write fails the records of that group, and they converge on redelivery', async () => {
      await patchGroup(h.kube, { annotations: direct });
      await launch(h, [1]);
      h.aws.putInstance(instance(id(2), { privateIpAddress: ip(2) }));
      h.kube.setFaults({ failureRate: 1, kinds: [503], onlyWrites: true, seed: 1 });
      const failed = await h.send([stateChange(id(2), 'running')]);
      h.kube.setFaults(undefined);
      expect(failed.batchItemFailures).toHaveLength(1);

      expect(await h.send([stateChange(id(2), 'running')])).toEqual({ batchItemFailures: [] });
      expect(sliceAddresses(h.kube, 'reviews-direct').addresses).toEqual([ip(1), ip(2)].sort());
    });

    it('opting out removes the direct Service and its slices; a multi-network group is refused', async () => {
      await patchGroup(h.kube, { annotations: direct });
      await launch(h, [1, 2]);
      await patchGroup(h.kube, { annotations: { 'istio-vm-registrar.io/direct-endpoints': 'false' } });

      await h.send([stateChange(id(1), 'running')]);

      expect(service(h.kube, 'reviews-direct')).toBeUndefined();
      expect(slices(h.kube)).toEqual([]);
      const warn = vi.spyOn(logger, 'warn');
      await patchGroup(h.kube, {
        annotations: direct,
        spec: { template: { network: 'vm-network' } },
      });
      await h.send([stateChange(id(1), 'running')]);
      expect(service(h.kube, 'reviews-direct')).toBeUndefined();
      expect(warn).toHaveBeenCalledWith(
        expect.stringContaining('direct endpoints are for single-network meshes'),
        expect.objectContaining({ reason: 'direct-endpoints-multi-network' }),
      );
    });
  });

  it('without any Service annotation and DEFAULT_SERVICE_MODE=none makes no Service call at all', async () => {
    h.kube.resetStats();
    await launch(h, [1]);
    const paths = h.kube.stats().byVerb;
    expect(paths.list ?? 0).toBe(0);
    expect(services(h.kube)).toEqual([]);
  });

  it('the sweep repairs a deleted Service and missing endpoints, and a converged sweep writes nothing', async () => {
    await patchGroup(h.kube, {
      annotations: {
        'istio-vm-registrar.io/service': 'service',
        'istio-vm-registrar.io/direct-endpoints': 'true',
      },
    });
    await launch(h, [1, 2]);
    await adminApis(h.kube).core.deleteNamespacedService({ name: 'reviews', namespace: NAMESPACE });
    h.aws.putInstance(instance(id(3), { privateIpAddress: ip(3) })); // launch event lost

    const dry = await reconcilerFromEnv().run({ dryRun: true });
    expect(dry.services?.changes.map((c) => `${c.action} ${c.kind} ${c.name} ${c.status}`)).toEqual([
      'create Service bookinfo/reviews planned',
      'update EndpointSlice bookinfo/reviews-direct-1 planned',
    ]);
    expect(dry.converged).toBe(false);

    const real = await reconcilerFromEnv().run();
    expect(real.errors).toEqual([]);
    expect(service(h.kube, 'reviews')?.spec.selector).toEqual({ app: 'reviews', version: 'v1' });
    expect(sliceAddresses(h.kube, 'reviews-direct').addresses).toEqual([1, 2, 3].map(ip).sort());

    h.kube.resetStats();
    const converged = await reconcilerFromEnv().run();
    expect(converged.converged).toBe(true);
    expect(h.kube.stats().writes).toBe(0);
  });
});
