/**
 * The server behaviours the registrar's Services and direct EndpointSlices rely on, pinned in the
 * Kubernetes stand-in (each is what a kube-apiserver 1.26 does; the e2e suite checks them there):
 * optimistic concurrency on EndpointSlice updates and deletes, AlreadyExists on a taken name, slices
 * removed with the Service that owns them, and a repeated apply of a Service (whose cluster IP and
 * defaults the server filled in) changing nothing.
 */
import {
  ApiException,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1EndpointSlice,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KubeApiStandIn, startKubeApi } from '#test/standins/kube-api/index.ts';

const NS = 'default';

async function code(p: Promise<unknown>): Promise<{ code: number; reason?: string }> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    const body = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as { reason?: string };
    return { code: e.code, ...(body.reason ? { reason: body.reason } : {}) };
  }
  return { code: 200 };
}

describe('Stand-in: the EndpointSlice and Service writes the registrar relies on', () => {
  let standIn: KubeApiStandIn;
  let core: CoreV1Api;
  let discovery: DiscoveryV1Api;

  beforeAll(async () => {
    standIn = await startKubeApi({ danglingOwnerGcDelayMs: -1 });
    const kc = new KubeConfig();
    kc.loadFromString(standIn.kubeconfigYaml());
    core = kc.makeApiClient(CoreV1Api);
    discovery = kc.makeApiClient(DiscoveryV1Api);
  });
  afterAll(() => standIn.close());

  const slice = (name: string, owner: { name: string; uid: string }, ip: string): V1EndpointSlice => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: NS,
      labels: { 'kubernetes.io/service-name': owner.name },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: owner.name, uid: owner.uid }],
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [ip] }],
    ports: [{ name: 'http', port: 9080 }],
  });

  it('refuses an update or delete carrying a stale resourceVersion with 409 Conflict, and a taken name with AlreadyExists', async () => {
    // Prepare
    const svc = await core.createNamespacedService({
      namespace: NS,
      body: { metadata: { name: 'direct-a' }, spec: { ports: [{ name: 'http', port: 9080 }] } },
    });
    const owner = { name: 'direct-a', uid: svc.metadata!.uid! };
    const created = await discovery.createNamespacedEndpointSlice({
      namespace: NS,
      body: slice('direct-a-1', owner, '10.0.0.1'),
    });
    const first = await discovery.replaceNamespacedEndpointSlice({
      namespace: NS,
      name: 'direct-a-1',
      body: { ...created, endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }] },
    });

    // Act: a second writer that read before the first wrote.
    const stale = discovery.replaceNamespacedEndpointSlice({
      namespace: NS,
      name: 'direct-a-1',
      body: { ...created, endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.3'] }] },
    });
    const staleDelete = discovery.deleteNamespacedEndpointSlice({
      namespace: NS,
      name: 'direct-a-1',
      body: { preconditions: { resourceVersion: created.metadata!.resourceVersion! } },
    });
    const taken = discovery.createNamespacedEndpointSlice({
      namespace: NS,
      body: slice('direct-a-1', owner, '10.0.0.9'),
    });

    // Assess
    expect(await code(stale)).toEqual({ code: 409, reason: 'Conflict' });
    expect(await code(staleDelete)).toEqual({ code: 409, reason: 'Conflict' });
    expect(await code(taken)).toEqual({ code: 409, reason: 'AlreadyExists' });
    const now = await discovery.readNamespacedEndpointSlice({ namespace: NS, name: 'direct-a-1' });
    expect(now.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    expect(now.endpoints?.map((e) => e.addresses[0])).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it("gives a built-in list's items no apiVersion or kind, as a real server does; custom resources' items keep them", async () => {
    const res = await fetch(`${standIn.url}/api/v1/namespaces/${NS}/services`, {
      headers: { Authorization: 'Bearer t' },
    });
    const list = (await res.json()) as {
      kind: string;
      apiVersion: string;
      items: Array<Record<string, unknown>>;
    };
    expect(list).toMatchObject({ kind: 'ServiceList', apiVersion: 'v1' });
    expect(list.items.length).toBeGreaterThan(0);
    for (const item of list.items)
      expect([item.apiVersion, item.kind, typeof item.metadata]).toEqual([undefined, undefined, 'object']);
    standIn.seed({
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'se', namespace: NS },
      spec: { hosts: ['se.example.com'] },
    });
    const crs = (await (
      await fetch(`${standIn.url}/apis/networking.istio.io/v1/namespaces/${NS}/serviceentries`, {
        headers: { Authorization: 'Bearer t' },
      })
    ).json()) as { items: Array<Record<string, unknown>> };
    expect(crs.items.map((i) => [i.apiVersion, i.kind])).toEqual([
      ['networking.istio.io/v1', 'ServiceEntry'],
    ]);
  });

  it('deletes the slices a Service owns when the Service is deleted', async () => {
    const svc = await core.createNamespacedService({
      namespace: NS,
      body: { metadata: { name: 'direct-b' }, spec: { ports: [{ name: 'http', port: 9080 }] } },
    });
    await discovery.createNamespacedEndpointSlice({
      namespace: NS,
      body: slice('direct-b-1', { name: 'direct-b', uid: svc.metadata!.uid! }, '10.0.1.1'),
    });

    await core.deleteNamespacedService({ namespace: NS, name: 'direct-b', propagationPolicy: 'Background' });

    expect(standIn.get('discovery.k8s.io/v1', 'EndpointSlice', NS, 'direct-b-1')).toBeUndefined();
  });

  it("a repeated apply of a Service changes nothing: the server's cluster IP and defaults are nobody's drift", async () => {
    const body = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'mesh',
        namespace: NS,
        labels: { 'app.kubernetes.io/managed-by': 'istio-vm-registrar' },
      },
      spec: {
        selector: { app: 'reviews' },
        ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'TCP', appProtocol: 'http' }],
      },
    };
    const apply = () =>
      core.patchNamespacedService(
        { namespace: NS, name: 'mesh', body, fieldManager: 'istio-vm-registrar', force: true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      );
    const first = await apply();
    const second = await apply();
    expect(first.spec?.clusterIP).toMatch(/^10\.96\./);
    expect(first.spec).toMatchObject({
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      ipFamilies: ['IPv4'],
    });
    expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    expect(second.spec?.clusterIP).toBe(first.spec?.clusterIP);
  });
});
