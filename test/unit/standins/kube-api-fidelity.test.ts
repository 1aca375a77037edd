/**
 * What a kube-apiserver 1.26 answers to deletes (foreground ones included), unconditional updates, bad
 * dryRun values, duplicate and unknown fields under strict validation, creates in a terminating
 * namespace, expired continue tokens, validation field paths and /version, pinned through the real
 * @kubernetes/client-node (raw fetch where client-node cannot send the request).
 */

import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  VersionApi,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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

  const groups = { group: GROUP, version: 'v1', namespace: NS, plural: 'workloadgroups' };
  const group = (name: string): KubeObject => ({
    apiVersion: `${GROUP}/v1`,
    kind: 'WorkloadGroup',
    metadata: { name, namespace: NS },
    spec: { template: { ports: { http: 9080 } } },
  });
  const ownedBy = (owner: KubeObject, blockOwnerDeletion: boolean) => ({
    ownerReferences: [
      {
        apiVersion: `${GROUP}/v1`,
        kind: 'WorkloadGroup',
        name: owner.metadata.name!,
        uid: owner.metadata.uid!,
        blockOwnerDeletion,
      },
    ],
  });
  const raw = (path: string, init: { method: string; body?: string; contentType?: string }) =>
    fetch(`${standIn.url}${path}`, {
      method: init.method,
      headers: { Authorization: 'Bearer t', 'Content-Type': init.contentType ?? 'application/json' },
      ...(init.body !== undefined ? { body: init.body } : {}),
    });

  it('keeps an owner deleted in the foreground, with the foregroundDeletion finalizer, until its blocking dependents are gone', async () => {
    // Prepare
    const owner = (await custom.createNamespacedCustomObject({
      ...groups,
      body: group('wg-fg'),
    })) as KubeObject;
    await custom.createNamespacedCustomObject({
      ...entries,
      body: entry('we-fg-held', { finalizers: ['example.com/hold'], ...ownedBy(owner, true) }),
    });
    await custom.createNamespacedCustomObject({
      ...entries,
      body: entry('we-fg-free', ownedBy(owner, false)),
    });

    // Act
    const answer = (await custom.deleteNamespacedCustomObject({
      ...groups,
      name: 'wg-fg',
      propagationPolicy: 'Foreground',
    })) as KubeObject;
    const during = (await custom.getNamespacedCustomObject({ ...groups, name: 'wg-fg' })) as KubeObject;
    const held = standIn.get(`${GROUP}/v1`, 'WorkloadEntry', NS, 'we-fg-held');
    const free = standIn.get(`${GROUP}/v1`, 'WorkloadEntry', NS, 'we-fg-free');
    await custom.patchNamespacedCustomObject(
      { ...entries, name: 'we-fg-held', body: [{ op: 'remove', path: '/metadata/finalizers' }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );

    // Assess
    expect(answer.kind).toBe('WorkloadGroup');
    expect(answer.metadata.finalizers).toEqual(['foregroundDeletion']);
    expect(answer.metadata.deletionTimestamp).toMatch(/Z$/);
    expect(during.metadata.finalizers).toEqual(['foregroundDeletion']);
    expect(held?.metadata.deletionTimestamp).toMatch(/Z$/);
    expect(free).toBeUndefined();
    expect(standIn.get(`${GROUP}/v1`, 'WorkloadEntry', NS, 'we-fg-held')).toBeUndefined();
    expect(standIn.get(`${GROUP}/v1`, 'WorkloadGroup', NS, 'wg-fg')).toBeUndefined();
  });

  it('refuses a duplicate JSON field under fieldValidation=Strict (400) and warns about it by default', async () => {
    // Prepare
    const body = (name: string) =>
      `{"apiVersion":"${GROUP}/v1","kind":"WorkloadEntry","metadata":{"name":"${name}"},"spec":{"address":"10.0.0.1","address":"10.0.0.2"}}`;
    const path = `/apis/${GROUP}/v1/namespaces/${NS}/workloadentries`;

    // Act
    const strict = await raw(`${path}?fieldValidation=Strict`, {
      method: 'POST',
      body: body('we-dup-strict'),
    });
    const warned = await raw(path, { method: 'POST', body: body('we-dup-warn') });

    // Assess
    expect(strict.status).toBe(400);
    expect(((await strict.json()) as KubeStatus).message).toBe(
      'strict decoding error: duplicate field "spec.address"',
    );
    expect(warned.status).toBe(201);
    expect(warned.headers.get('warning')).toBe('299 - "duplicate field \\"spec.address\\""');
    expect(((await warned.json()) as KubeObject).spec).toEqual({ address: '10.0.0.2' });
  });

  it('answers a server-side apply with an unknown field under Strict with 500 "failed to create typed patch object"', async () => {
    // Act
    const res = await raw(
      `/apis/${GROUP}/v1/namespaces/${NS}/workloadentries/we-typed?fieldManager=t&fieldValidation=Strict`,
      {
        method: 'PATCH',
        contentType: 'application/apply-patch+yaml',
        body: JSON.stringify({ ...entry('we-typed'), spec: { address: '10.0.0.1', bogus: 1 } }),
      },
    );

    // Assess
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `failed to create typed patch object (${GROUP}/v1, Kind=WorkloadEntry): .spec.bogus: field not declared in schema`,
      code: 500,
    });
    expect(standIn.get(`${GROUP}/v1`, 'WorkloadEntry', NS, 'we-typed')).toBeUndefined();
  });

  it('refuses a create in a terminating namespace with 403, until the namespace is gone (then 404)', async () => {
    // Prepare
    standIn.createNamespace('ending');
    standIn.seed(entry('we-ending', { namespace: 'ending', finalizers: ['example.com/hold'] }));

    // Act
    const deleted = await core.deleteNamespace({ name: 'ending' });
    const late = await failure(
      custom.createNamespacedCustomObject({
        ...entries,
        namespace: 'ending',
        body: entry('we-late', { namespace: 'ending' }),
      }),
    );
    const phase = (await core.readNamespace({ name: 'ending' })).status?.phase;
    await custom.patchNamespacedCustomObject(
      {
        ...entries,
        namespace: 'ending',
        name: 'we-ending',
        body: [{ op: 'remove', path: '/metadata/finalizers' }],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    await vi.waitFor(() => expect(standIn.get('v1', 'Namespace', '', 'ending')).toBeUndefined(), {
      timeout: 5000,
      interval: 20,
    });
    const after = await failure(
      custom.createNamespacedCustomObject({
        ...entries,
        namespace: 'ending',
        body: entry('we-later', { namespace: 'ending' }),
      }),
    );

    // Assess
    expect((deleted as { status?: { phase?: string } }).status?.phase).toBe('Terminating');
    expect(late.code).toBe(403);
    expect(late.status.message).toBe(
      `workloadentries.${GROUP} "we-late" is forbidden: unable to create new content in namespace ending because it is being terminated`,
    );
    expect(phase).toBe('Terminating');
    expect(after.code).toBe(404);
  });

  it('answers an expired continue token with 410 and a fresh token that lists the rest', async () => {
    // Prepare: a stand-in of its own, on a clock the test moves.
    let clock = 1_000_000;
    const own = await startKubeApi({ now: () => clock });
    try {
      const api = (() => {
        const k = new KubeConfig();
        k.loadFromString(own.kubeconfigYaml());
        return k.makeApiClient(CustomObjectsApi);
      })();
      for (const n of [1, 2, 3, 4]) own.seed(entry(`we-page-${n}`));
      const first = (await api.listNamespacedCustomObject({ ...entries, limit: 2 })) as {
        metadata: { continue: string };
      };
      clock += 6 * 60_000;
      own.seed(entry('we-page-5'));

      // Act
      const expired = await failure(
        api.listNamespacedCustomObject({ ...entries, limit: 2, _continue: first.metadata.continue }),
      );
      const fresh = expired.status.metadata.continue as string;
      const rest = (await api.listNamespacedCustomObject({ ...entries, _continue: fresh })) as {
        items: KubeObject[];
      };

      // Assess
      expect(expired.code).toBe(410);
      expect(expired.status.reason).toBe('Expired');
      expect(fresh).toEqual(expect.any(String));
      expect(rest.items.map((i) => i.metadata.name)).toEqual(['we-page-3', 'we-page-4', 'we-page-5']);
    } finally {
      await own.close();
    }
  });

  it('names array items and labels in validation field paths as the server does', async () => {
    // Act
    const probe = await failure(
      custom.createNamespacedCustomObject({
        ...groups,
        body: {
          ...group('wg-probe'),
          spec: {
            template: {},
            probe: { httpGet: { port: 8080, httpHeaders: [{ name: 'x-ok' }, { name: 'not ok' }] } },
          },
        },
      }),
    );
    const label = await failure(
      custom.createNamespacedCustomObject({
        ...entries,
        body: entry('we-label', { labels: { app: 'a b' } }),
      }),
    );

    // Assess
    expect(probe.status.details?.causes).toEqual([
      {
        reason: 'FieldValueInvalid',
        field: 'spec.probe.httpGet.httpHeaders[1].name',
        message: `Invalid value: "not ok": spec.probe.httpGet.httpHeaders[1].name in body should match '^[-_A-Za-z0-9]+$'`,
      },
    ]);
    expect(label.status.details?.causes?.map((c) => c.field)).toEqual(['metadata.labels']);
  });
});
