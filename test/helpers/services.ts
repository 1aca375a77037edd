import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { EndpointSliceObject } from '../../shared/domain/endpoint-slices.ts';
import type { ServiceEntryObject, ServiceObject } from '../../shared/domain/services.ts';
import type { KubeApiStandIn } from '../standins/kube-api/index.ts';
import { NAMESPACE } from './harness.ts';

/** client-node APIs as a cluster admin would use them against the stand-in. */
export function adminApis(kube: KubeApiStandIn) {
  const kc = new KubeConfig();
  kc.loadFromString(kube.kubeconfigYaml());
  return {
    custom: kc.makeApiClient(CustomObjectsApi),
    core: kc.makeApiClient(CoreV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
  };
}

/** Merge-patches the sample WorkloadGroup as its admin would (`kubectl annotate`, `kubectl edit`). */
export async function patchGroup(
  kube: KubeApiStandIn,
  patch: { annotations?: Record<string, string | null>; spec?: Record<string, unknown> },
  name = 'reviews',
): Promise<void> {
  await adminApis(kube).custom.patchNamespacedCustomObject(
    {
      group: 'networking.istio.io',
      version: 'v1',
      namespace: NAMESPACE,
      plural: 'workloadgroups',
      name,
      body: {
        ...(patch.annotations ? { metadata: { annotations: patch.annotations } } : {}),
        ...(patch.spec ? { spec: patch.spec } : {}),
      },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

export const services = (kube: KubeApiStandIn, namespace = NAMESPACE) =>
  kube.list('v1', 'Service', namespace) as unknown as ServiceObject[];
export const service = (kube: KubeApiStandIn, name: string, namespace = NAMESPACE) =>
  kube.get('v1', 'Service', namespace, name) as unknown as ServiceObject | undefined;
export const serviceEntry = (kube: KubeApiStandIn, name: string, namespace = NAMESPACE) =>
  kube.get('networking.istio.io/v1', 'ServiceEntry', namespace, name) as unknown as
    | ServiceEntryObject
    | undefined;
export const slices = (kube: KubeApiStandIn, namespace = NAMESPACE) =>
  (kube.list('discovery.k8s.io/v1', 'EndpointSlice', namespace) as unknown as EndpointSliceObject[]).sort(
    (a, b) => a.metadata.name.localeCompare(b.metadata.name, 'en', { numeric: true }),
  );

/** The addresses the slices of one Service carry, sorted, and how many slices hold them. */
export function sliceAddresses(kube: KubeApiStandIn, serviceName: string) {
  const own = slices(kube).filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === serviceName);
  return {
    slices: own.map((s) => (s.endpoints ?? []).length),
    addresses: own.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses)).sort(),
  };
}
