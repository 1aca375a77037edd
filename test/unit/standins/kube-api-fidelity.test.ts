/**
 * What a kube-apiserver 1.26 answers to deletes, unconditional updates, bad dryRun values and /version,
 * pinned through the real @kubernetes/client-node.
 */

import { ApiException, CoreV1Api, CustomObjectsApi, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type KubeApiStandIn,
  type KubeObject,
  type KubeStatus,
  startKubeApi,
} from '#test/standins/kube-api/index.ts';

const GROUP = 'networking.istio.io';
const NS = 'default';

async function failure(p: Promise<unknown>): Promise<{ code: number; status: KubeStatus }> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    const body = typeof e.body === 'string' ? e.body : JSON.stringify(e.body);
    return { code: e.code, status: JSON.parse(body) as KubeStatus };
  }
  throw new Error('expected the request to fail');
}

describe('Stand-in: Kubernetes API response fidelity', () => {
  let standIn: KubeApiStandIn;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let kc: KubeConfig;
  const entries = { group: GROUP, version: 'v1', namespace: NS, plural: 'workloadentries' };
  const entry = (name: string, extra: Record<string, unknown> = {}): KubeObject => ({
    apiVersion: `${GROUP}/v1`,
    kind: 'WorkloadEntry',
    metadata: { name, namespace: NS, ...extra },
    spec: { address: '10.0.0.1' },
  });

  beforeAll(async () => {
    standIn = await startKubeApi();
    kc = new KubeConfig();
    kc.loadFromString(standIn.kubeconfigYaml());
    custom = kc.makeApiClient(CustomObjectsApi);
    core = kc.makeApiClient(CoreV1Api);
  });

  afterAll(async () => {
    await standIn.close();
  });

  it('answers an immediate DELETE of a custom resource with a Success Status, and of a Service with the Service', async () => {
    // Prepare
    const created = (await custom.createNamespacedCustomObject({
      ...entries,
      body: entry('we-gone'),
    })) as KubeObject;
    await core.createNamespacedService({
      namespace: NS,
      body: { metadata: { name: 'svc-gone' }, spec: { ports: [{ port: 80 }] } },
    });

    // Act
    const status = await custom.deleteNamespacedCustomObject({ ...entries, name: 'we-gone' });
    const svc = await core.deleteNamespacedService({ name: 'svc-gone', namespace: NS });

    // Assess
    expect(status).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name: 'we-gone', group: GROUP, kind: 'workloadentries', uid: created.metadata.uid },
    });
    expect(svc.kind).toBe('Service');
    expect(svc.metadata?.name).toBe('svc-gone');
  });

  it('answers a DELETE held by finalizers with 200 and the object, and 202 only for orphanDependents=false', async () => {
    // Prepare
    await custom.createNamespacedCustomObject({
      ...entries,
      body: entry('we-held', { finalizers: ['example.com/hold'] }),
    });
    await custom.createNamespacedCustomObject({
      ...entries,
      body: entry('we-held-2', { finalizers: ['example.com/hold'] }),
    });

    // Act
    const plain = await custom.deleteNamespacedCustomObjectWithHttpInfo({ ...entries, name: 'we-held' });
    const cascading = await custom.deleteNamespacedCustomObjectWithHttpInfo({
      ...entries,
      name: 'we-held-2',
      orphanDependents: false,
    });

    // Assess
    expect(plain.httpStatusCode).toBe(200);
    expect((plain.data as KubeObject).metadata.deletionTimestamp).toMatch(/Z$/);
    expect(cascading.httpStatusCode).toBe(202);
  });

  it('refuses a custom resource PUT without metadata.resourceVersion; a Service allows it', async () => {
    // Prepare
    await custom.createNamespacedCustomObject({ ...entries, body: entry('we-unconditional') });
    await core.createNamespacedService({
      namespace: NS,
      body: { metadata: { name: 'svc-unconditional' }, spec: { ports: [{ port: 80 }] } },
    });

    // Act
    const refused = await failure(
      custom.replaceNamespacedCustomObject({
        ...entries,
        name: 'we-unconditional',
        body: entry('we-unconditional'),
      }),
    );
    const svc = await core.replaceNamespacedService({
      name: 'svc-unconditional',
      namespace: NS,
      body: { metadata: { name: 'svc-unconditional' }, spec: { ports: [{ port: 81 }] } },
    });

    // Assess
    expect(refused.code).toBe(422);
    expect(refused.status.message).toBe(
      `WorkloadEntry.${GROUP} "we-unconditional" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`,
    );
    expect(svc.spec?.ports?.[0]?.port).toBe(81);
  });

  it('refuses an unknown dryRun value with 422 naming the options type', async () => {
    // Act
    const res = await fetch(`${standIn.url}/apis/${GROUP}/v1/namespaces/${NS}/workloadentries?dryRun=Bogus`, {
      method: 'POST',
      headers: { Authorization: 'Bearer t', 'Content-Type': 'application/json' },
      body: JSON.stringify(entry('we-dry')),
    });
    const status = (await res.json()) as KubeStatus;

    // Assess
    expect(res.status).toBe(422);
    expect(status.message).toBe(
      'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Bogus"}: supported values: "All"',
    );
    expect(standIn.get(`${GROUP}/v1`, 'WorkloadEntry', NS, 'we-dry')).toBeUndefined();
  });

  it('answers a deletecollection with the list of what it deleted', async () => {
    // Prepare
    standIn.createNamespace('sweep');
    for (const name of ['a', 'b']) standIn.seed(entry(`we-sweep-${name}`, { namespace: 'sweep' }));

    // Act
    const list = (await custom.deleteCollectionNamespacedCustomObject({
      ...entries,
      namespace: 'sweep',
    })) as {
      kind: string;
      items: KubeObject[];
    };

    // Assess
    expect(list.kind).toBe('WorkloadEntryList');
    expect(list.items.map((i) => i.metadata.name)).toEqual(['we-sweep-a', 'we-sweep-b']);
    expect(standIn.list(`${GROUP}/v1`, 'WorkloadEntry', 'sweep')).toEqual([]);
  });

  it('reports a 1.26 server on /version', async () => {
    // Act
    const version = await kc.makeApiClient(VersionApi).getCode();

    // Assess
    expect(version).toMatchObject({ major: '1', minor: '26', gitVersion: 'v1.26.0' });
  });
});
