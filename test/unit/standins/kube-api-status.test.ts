/**
 * The status subresource and server-side apply, as a kube-apiserver 1.26 serves them for a CRD with
 * `subresources.status` (the WorkloadEntry CRD has one): what the istiod launch gate relies on.
 * istiod writes its annotations with a merge patch and the `Healthy` condition with UpdateStatus,
 * under its own field manager; the registrar's applies must never take either away.
 */
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ISTIOD_FIELD_MANAGER, playIstiod } from '#test/helpers/istiod.ts';
import { type KubeApiStandIn, type KubeObject, startKubeApi } from '#test/standins/kube-api/index.ts';

const NS = 'default';
const target = { group: 'networking.istio.io', version: 'v1', namespace: NS, plural: 'workloadentries' };

describe('Stand-in: status subresource and server-side apply of WorkloadEntries', () => {
  let standIn: KubeApiStandIn;
  let custom: CustomObjectsApi;
  const apply = (name: string, body: Record<string, unknown>) =>
    custom.patchNamespacedCustomObject(
      { ...target, name, body, fieldManager: 'istio-vm-registrar', force: true },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    ) as Promise<KubeObject>;
  const ours = (name: string, address: string) => ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'WorkloadEntry',
    metadata: {
      name,
      namespace: NS,
      labels: { 'app.kubernetes.io/managed-by': 'istio-vm-registrar' },
      annotations: { 'proxy.istio.io/health-checks-enabled': 'true' },
    },
    spec: { address },
  });

  beforeAll(async () => {
    standIn = await startKubeApi();
    const kc = new KubeConfig();
    kc.loadFromString(standIn.kubeconfigYaml());
    custom = kc.makeApiClient(CustomObjectsApi);
  });
  afterAll(() => standIn.close());

  it("keeps istiod's condition, annotations and their ownership through our forced applies", async () => {
    // Prepare: our entry, then istiod's writes.
    await apply('vm-a', ours('vm-a', '10.0.0.1'));
    await playIstiod(standIn.kubeconfigYaml(), NS, 'vm-a', {
      healthy: true,
      at: new Date('2026-11-26T10:00:00Z'),
    });

    // Act: we apply a changed address, with force, naming neither status nor istiod's annotations.
    const after = await apply('vm-a', ours('vm-a', '10.0.0.2'));

    // Assess
    expect(after.spec).toEqual({ address: '10.0.0.2' });
    expect(after.metadata.annotations).toEqual({
      'proxy.istio.io/health-checks-enabled': 'true',
      'istio.io/workloadController': 'istiod-7f9d8c6b5-x2k4p',
      'istio.io/connectedAt': '2026-11-26T10:00:00.000Z',
    });
    expect(after.status).toEqual({
      conditions: [
        {
          type: 'Healthy',
          status: 'True',
          lastProbeTime: '2026-11-26T10:00:00.000Z',
          lastTransitionTime: '2026-11-26T10:00:00.000Z',
        },
      ],
    });
    const managers = after.metadata.managedFields!.map((m) => [m.manager, m.operation, m.subresource ?? '']);
    expect(managers).toEqual(
      expect.arrayContaining([
        ['istio-vm-registrar', 'Apply', ''],
        [ISTIOD_FIELD_MANAGER, 'Update', ''],
        [ISTIOD_FIELD_MANAGER, 'Update', 'status'],
      ]),
    );
  });

  it('ignores status in a write to the main resource, and everything but status in a write to /status', async () => {
    // Prepare
    await apply('vm-b', ours('vm-b', '10.0.0.3'));

    // Act: an apply carrying a status; a status write carrying another address.
    const applied = await apply('vm-b', {
      ...ours('vm-b', '10.0.0.3'),
      status: { conditions: [{ type: 'Healthy', status: 'True' }] },
    });
    const live = (await custom.getNamespacedCustomObject({ ...target, name: 'vm-b' })) as KubeObject;
    const written = (await custom.replaceNamespacedCustomObjectStatus({
      ...target,
      name: 'vm-b',
      body: {
        ...live,
        spec: { address: '10.9.9.9' },
        status: { conditions: [{ type: 'Healthy', status: 'False' }] },
      },
    })) as KubeObject;

    // Assess
    expect(applied.status).toBeUndefined();
    expect(written.spec).toEqual({ address: '10.0.0.3' });
    expect(written.status).toEqual({ conditions: [{ type: 'Healthy', status: 'False' }] });
  });
});
