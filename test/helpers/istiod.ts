import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';

/** istiod's field manager (pilot-discovery's client), as it appears in managedFields. */
export const ISTIOD_FIELD_MANAGER = 'pilot-discovery';

/**
 * Plays istiod for a health-checked WorkloadEntry, as pilot/pkg/autoregistration does once the VM's
 * proxy connects (started with ISTIO_META_WORKLOAD_ENTRY=<name>): a merge patch of its own
 * annotations (`istio.io/workloadController`, `istio.io/connectedAt`), then the `Healthy`
 * condition written through the status subresource (UpdateStatus: a PUT with the object's
 * resourceVersion). Works against the stand-in and a real API server alike.
 */
export async function playIstiod(
  kubeconfigYaml: string,
  namespace: string,
  name: string,
  health: { healthy: boolean; at: Date; message?: string },
): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigYaml);
  const api = kc.makeApiClient(CustomObjectsApi);
  const target = { group: 'networking.istio.io', version: 'v1', namespace, plural: 'workloadentries', name };
  await api.patchNamespacedCustomObject(
    {
      ...target,
      fieldManager: ISTIOD_FIELD_MANAGER,
      body: {
        metadata: {
          annotations: {
            'istio.io/workloadController': 'istiod-7f9d8c6b5-x2k4p',
            'istio.io/connectedAt': health.at.toISOString(),
          },
        },
      },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  const live = (await api.getNamespacedCustomObject(target)) as {
    metadata: { resourceVersion: string; managedFields?: unknown };
    status?: Record<string, unknown>;
  };
  const time = health.at.toISOString();
  // As istiod's config store sends it: the object as read, managedFields left to the server.
  const { managedFields: _managed, ...metadata } = live.metadata;
  await api.replaceNamespacedCustomObjectStatus({
    ...target,
    fieldManager: ISTIOD_FIELD_MANAGER,
    body: {
      ...live,
      metadata,
      status: {
        conditions: [
          {
            type: 'Healthy',
            status: health.healthy ? 'True' : 'False',
            lastProbeTime: time,
            lastTransitionTime: time,
            ...(health.message ? { message: health.message } : {}),
          },
        ],
      },
    },
  });
}
