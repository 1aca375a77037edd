/**
 * The Kubernetes API stand-in, driven only through the real @kubernetes/client-node over HTTP, the way
 * the registrar reaches a cluster. Each case checks a behaviour a real kube-apiserver has.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type KubeApiStandIn,
  type KubeObject,
  type KubeStatus,
  startKubeApi,
} from '#test/standins/kube-api/index.ts';

const GROUP = 'networking.istio.io';
const VERSION = 'v1';
const NS = 'default';

function workloadEntry(
  name: string,
  spec: Record<string, unknown>,
  extra: Partial<KubeObject['metadata']> = {},
): KubeObject {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'WorkloadEntry',
    metadata: { name, namespace: NS, ...extra },
    spec,
  };
}

/** Awaits a client call that must fail; returns the HTTP code and the server's Status body. */
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

describe('Stand-in: Kubernetes API', () => {
  let standIn: KubeApiStandIn;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let objects: KubernetesObjectApi;
  const entries = { group: GROUP, version: VERSION, namespace: NS, plural: 'workloadentries' };

  beforeAll(async () => {
    standIn = await startKubeApi({ namespaces: ['default', 'other'] });
    const kc = new KubeConfig();
    kc.loadFromString(standIn.kubeconfigYaml());
    custom = kc.makeApiClient(CustomObjectsApi);
    core = kc.makeApiClient(CoreV1Api);
    objects = KubernetesObjectApi.makeApiClient(kc);
  });

  afterAll(async () => {
    await standIn.close();
  });

  beforeEach(() => {
    standIn.setFaults(undefined);
    standIn.resetStats();
  });

  const apply = async (obj: KubeObject, manager: string, force?: boolean): Promise<KubeObject> =>
    (await objects.patch(
      obj as unknown as KubernetesObject,
      undefined,
      undefined,
      manager,
      force,
      PatchStrategy.ServerSideApply,
    )) as unknown as KubeObject;

  describe('create and read', () => {
    it('creates a valid WorkloadEntry and serves it at every version', async () => {
      // Prepare
      const body = workloadEntry('we-valid', {
        address: '10.0.0.1',
        ports: { http: 8080 },
        labels: { app: 'web' },
      });

      // Act
      const created = (await custom.createNamespacedCustomObject({ ...entries, body })) as KubeObject;
      const asBeta = (await custom.getNamespacedCustomObject({
        ...entries,
        version: 'v1beta1',
        name: 'we-valid',
      })) as KubeObject;

      // Assess
      expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number(created.metadata.resourceVersion)).toBeGreaterThan(0);
      expect(created.metadata.generation).toBe(1);
      expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      expect(created.metadata.managedFields?.[0]).toMatchObject({
        operation: 'Update',
        apiVersion: `${GROUP}/v1`,
      });
      expect(asBeta.apiVersion).toBe(`${GROUP}/v1beta1`);
      expect(asBeta.metadata.uid).toBe(created.metadata.uid);
      expect(asBeta.spec).toEqual(body.spec);
    });

    it('answers a missing object with a NotFound Status', async () => {
      // Act
      const { code, status } = await failure(custom.getNamespacedCustomObject({ ...entries, name: 'nope' }));

      // Assess
      expect(code).toBe(404);
      expect(status).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `workloadentries.${GROUP} "nope" not found`,
        reason: 'NotFound',
        details: { name: 'nope', group: GROUP, kind: 'workloadentries' },
        code: 404,
      });
    });

    it('refuses to create into a namespace that does not exist', async () => {
      // Act
      const { code, status } = await failure(
        custom.createNamespacedCustomObject({
          ...entries,
          namespace: 'nowhere',
          body: {
            ...workloadEntry('we-x', { address: '10.0.0.9' }),
            metadata: { name: 'we-x', namespace: 'nowhere' },
          },
        }),
      );

      // Assess
      expect(code).toBe(404);
      expect(status.message).toBe('namespaces "nowhere" not found');
      expect(status.details).toEqual({ name: 'nowhere', kind: 'namespaces' });
    });

    it('refuses a second create of the same name with AlreadyExists', async () => {
      // Prepare
      const body = workloadEntry('we-dup', { address: '10.0.0.2' });
      await custom.createNamespacedCustomObject({ ...entries, body });

      // Act
      const { code, status } = await failure(custom.createNamespacedCustomObject({ ...entries, body }));

      // Assess
      expect(code).toBe(409);
      expect(status.reason).toBe('AlreadyExists');
      expect(status.message).toBe(`workloadentries.${GROUP} "we-dup" already exists`);
    });

    it('rejects names that are not DNS-1123 subdomains and bad label values', async () => {
      // Act
      const { code, status } = await failure(
        custom.createNamespacedCustomObject({
          ...entries,
          body: workloadEntry('Bad_Name', { address: '10.0.0.3' }, { labels: { app: 'has space' } }),
        }),
      );

      // Assess
      expect(code).toBe(422);
      expect(status.details?.causes?.map((c) => c.field)).toEqual(['metadata.name', 'metadata.labels']);
    });
  });

  describe('validation', () => {
    it('applies the CRD CEL rule: a spec with neither address nor network is refused', async () => {
      // Act
      const { code, status } = await failure(
        custom.createNamespacedCustomObject({ ...entries, body: workloadEntry('we-noaddr', { weight: 1 }) }),
      );

      // Assess
      expect(code).toBe(422);
      expect(status.reason).toBe('Invalid');
      expect(status.message).toBe(
        `WorkloadEntry.${GROUP} "we-noaddr" is invalid: spec: Invalid value: "object": Address is required`,
      );
      expect(status.details).toMatchObject({
        name: 'we-noaddr',
        group: GROUP,
        kind: 'WorkloadEntry',
        causes: [
          {
            reason: 'FieldValueInvalid',
            field: 'spec',
            message: 'Invalid value: "object": Address is required',
          },
        ],
      });
    });

    it('rejects an out-of-range port (CEL) and a negative weight (OpenAPI minimum) together', async () => {
      // Act
      const { code, status } = await failure(
        custom.createNamespacedCustomObject({
          ...entries,
          body: workloadEntry('we-range', { address: '10.0.0.4', ports: { http: 70000 }, weight: -1 }),
        }),
      );

      // Assess
      expect(code).toBe(422);
      const causes = status.details?.causes ?? [];
      expect(causes).toContainEqual({
        reason: 'FieldValueInvalid',
        field: 'spec.weight',
        message: 'Invalid value: -1: spec.weight in body should be greater than or equal to 0',
      });
      expect(causes).toContainEqual({
        reason: 'FieldValueInvalid',
        field: 'spec.ports[http]',
        message: 'Invalid value: "integer": port must be between 1-65535',
      });
    });

    it('rejects a value of the wrong type', async () => {
      // Act
      const { code, status } = await failure(
        custom.createNamespacedCustomObject({ ...entries, body: workloadEntry('we-type', { address: 42 }) }),
      );

      // Assess
      expect(code).toBe(422);
      expect(status.details?.causes?.[0]).toMatchObject({
        reason: 'FieldValueTypeInvalid',
        field: 'spec.address',
      });
    });

    it('prunes unknown fields and says so in a Warning header', async () => {
      // Act
      const info = await custom.createNamespacedCustomObjectWithHttpInfo({
        ...entries,
        body: { ...workloadEntry('we-prune', { address: '10.0.0.5', colour: 'blue' }), extra: true },
      });
      const stored = standIn.get(`${GROUP}/v1`, 'WorkloadEntry', NS, 'we-prune');

      // Assess
      expect(info.httpStatusCode).toBe(201);
      expect(info.headers.warning).toContain('unknown field \\"spec.colour\\"');
      expect(info.headers.warning).toContain('unknown field \\"extra\\"');
      expect(stored?.spec).toEqual({ address: '10.0.0.5' });
      expect(stored).not.toHaveProperty('extra');
    });
  });

  describe('updates', () => {
    it('refuses a PUT carrying a stale resourceVersion with 409 Conflict', async () => {
      // Prepare
      const created = (await custom.createNamespacedCustomObject({
        ...entries,
        body: workloadEntry('we-stale', { address: '10.0.0.6' }),
      })) as KubeObject;
      await custom.replaceNamespacedCustomObject({
        ...entries,
        name: 'we-stale',
        body: { ...created, spec: { address: '10.0.0.7' } },
      });

      // Act
      const { code, status } = await failure(
        custom.replaceNamespacedCustomObject({
          ...entries,
          name: 'we-stale',
          body: { ...created, spec: { address: '10.0.0.8' } },
        }),
      );

      // Assess
      expect(code).toBe(409);
      expect(status.reason).toBe('Conflict');
      expect(status.message).toBe(
        `Operation cannot be fulfilled on workloadentries.${GROUP} "we-stale": the object has been modified; please apply your changes to the latest version and try again`,
      );
      expect(standIn.get(`${GROUP}/v1`, 'WorkloadEntry', NS, 'we-stale')?.spec).toEqual({
        address: '10.0.0.7',
      });
    });

    it('merge-patches a CR and bumps generation; refuses strategic merge patch with 415', async () => {
      // Prepare
      await custom.createNamespacedCustomObject({
        ...entries,
        body: workloadEntry('we-merge', { address: '10.0.1.1', labels: { a: '1', b: '2' } }),
      });

      // Act
      const patched = (await custom.patchNamespacedCustomObject(
        { ...entries, name: 'we-merge', body: { spec: { weight: 5, labels: { b: null, c: '3' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )) as KubeObject;
      const strategic = await failure(
        custom.patchNamespacedCustomObject(
          { ...entries, name: 'we-merge', body: { spec: { weight: 6 } } },
          setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
        ),
      );

      // Assess
      expect(patched.spec).toEqual({ address: '10.0.1.1', weight: 5, labels: { a: '1', c: '3' } });
      expect(patched.metadata.generation).toBe(2);
      expect(strategic.code).toBe(415);
      expect(strategic.status.reason).toBe('UnsupportedMediaType');
    });

    it('applies a JSON patch', async () => {
      // Prepare
      await custom.createNamespacedCustomObject({
        ...entries,
        body: workloadEntry('we-jsonpatch', { address: '10.0.1.2' }),
      });

      // Act
      const patched = (await custom.patchNamespacedCustomObject(
        {
          ...entries,
          name: 'we-jsonpatch',
          body: [{ op: 'replace', path: '/spec/address', value: '10.0.1.3' }],
        },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      )) as KubeObject;

      // Assess
      expect(patched.spec).toEqual({ address: '10.0.1.3' });
    });
  });

  describe('server-side apply', () => {
    it('creates on first apply, records the Apply manager, and a repeated apply changes nothing', async () => {
      // Prepare
      const desired = workloadEntry(
        'we-ssa',
        { address: '10.0.2.1', network: 'vpc-1' },
        { labels: { app: 'web' } },
      );

      // Act
      const first = await apply(desired, 'registrar');
      const second = await apply(desired, 'registrar');

      // Assess
      expect(first.metadata?.managedFields?.map((m) => [m.manager, m.operation])).toEqual([
        ['registrar', 'Apply'],
      ]);
      expect(first.metadata?.managedFields?.[0]?.fieldsV1).toEqual({
        'f:metadata': { 'f:labels': { 'f:app': {} } },
        'f:spec': { 'f:address': {}, 'f:network': {} },
      });
      expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
      expect(standIn.stats().byVerb.apply).toBe(2);
    });

    it('removes fields the manager stops applying', async () => {
      // Prepare
      await apply(
        workloadEntry(
          'we-drop',
          { address: '10.0.2.2', network: 'vpc-1', labels: { version: 'v1', track: 'stable' } },
          { labels: { app: 'web', tier: 'a' } },
        ),
        'registrar',
      );

      // Act
      const after = await apply(
        workloadEntry(
          'we-drop',
          { address: '10.0.2.2', labels: { version: 'v1' } },
          { labels: { app: 'web' } },
        ),
        'registrar',
      );
      const got = (await custom.getNamespacedCustomObject({ ...entries, name: 'we-drop' })) as KubeObject;

      // Assess
      expect(after.spec).toEqual({ address: '10.0.2.2', labels: { version: 'v1' } });
      expect(after.metadata?.labels).toEqual({ app: 'web' });
      expect(got.spec).toEqual(after.spec);
      expect(got.metadata.labels).toEqual({ app: 'web' });
    });

    it('keeps a field another manager set, and merges maps key by key', async () => {
      // Prepare
      await apply(
        workloadEntry('we-share', { address: '10.0.2.3' }, { labels: { app: 'web' } }),
        'registrar',
      );
      await apply(
        workloadEntry('we-share', { address: '10.0.2.3' }, { labels: { team: 'mesh' } }),
        'operator',
      );

      // Act
      const after = await apply(workloadEntry('we-share', { address: '10.0.2.3', weight: 2 }), 'registrar');

      // Assess
      expect(after.metadata?.labels).toEqual({ team: 'mesh' });
      expect(after.spec).toEqual({ address: '10.0.2.3', weight: 2 });
    });

    it('reports a conflict between two managers, and force takes the field over', async () => {
      // Prepare
      await apply(workloadEntry('we-conflict', { address: '10.0.2.4' }), 'registrar');

      // Act
      const refused = await failure(apply(workloadEntry('we-conflict', { address: '10.0.2.5' }), 'intruder'));
      const forced = await apply(workloadEntry('we-conflict', { address: '10.0.2.5' }), 'intruder', true);

      // Assess
      expect(refused.code).toBe(409);
      expect(refused.status.reason).toBe('Conflict');
      expect(refused.status.message).toBe(
        'Apply failed with 1 conflict: conflict with "registrar": .spec.address',
      );
      expect(refused.status.details?.causes).toEqual([
        { reason: 'FieldManagerConflict', message: 'conflict with "registrar"', field: '.spec.address' },
      ]);
      expect((forced.spec as { address: string }).address).toBe('10.0.2.5');
      const owners = forced.metadata?.managedFields?.map((m) => [m.manager, m.fieldsV1]);
      expect(owners).toContainEqual(['intruder', { 'f:spec': { 'f:address': {} } }]);
    });

    it('requires a fieldManager for apply', async () => {
      // Act
      const { code, status } = await failure(
        custom.patchNamespacedCustomObject(
          { ...entries, name: 'we-nomanager', body: workloadEntry('we-nomanager', { address: '10.0.2.6' }) },
          setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
        ),
      );

      // Assess
      expect(code).toBe(422);
      expect(status.message).toBe(
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
      );
    });
  });

  describe('lists', () => {
    beforeAll(() => {
      const seed = (name: string, labels: Record<string, string>): void => {
        standIn.seed({
          ...workloadEntry(name, { address: '10.0.3.1' }, { namespace: 'other', labels }),
        } as KubeObject);
      };
      seed('sel-a', { app: 'web', tier: 'front' });
      seed('sel-b', { app: 'web', tier: 'back' });
      seed('sel-c', { app: 'db' });
      seed('sel-d', {});
    });

    const names = async (labelSelector?: string, fieldSelector?: string): Promise<string[]> => {
      const list = (await custom.listNamespacedCustomObject({
        ...entries,
        namespace: 'other',
        labelSelector,
        fieldSelector,
      })) as {
        items: KubeObject[];
      };
      return list.items.map((i) => i.metadata.name!);
    };

    it('filters with every label selector form', async () => {
      // Act
      const results = {
        eq: await names('app=web'),
        eqeq: await names('app==db'),
        ne: await names('app!=web'),
        in: await names('tier in (front, back)'),
        notin: await names('tier notin (front)'),
        exists: await names('tier'),
        absent: await names('!app'),
        and: await names('app=web,tier!=front'),
      };

      // Assess
      expect(results).toEqual({
        eq: ['sel-a', 'sel-b'],
        eqeq: ['sel-c'],
        ne: ['sel-c', 'sel-d'],
        in: ['sel-a', 'sel-b'],
        notin: ['sel-b', 'sel-c', 'sel-d'],
        exists: ['sel-a', 'sel-b'],
        absent: ['sel-d'],
        and: ['sel-b'],
      });
    });

    it('filters by metadata.name and refuses an unparsable selector with 400', async () => {
      // Act
      const byName = await names(undefined, 'metadata.name=sel-c');
      const bad = await failure(
        custom.listNamespacedCustomObject({ ...entries, labelSelector: 'app in (web' }),
      );

      // Assess
      expect(byName).toEqual(['sel-c']);
      expect(bad.code).toBe(400);
      expect(bad.status.reason).toBe('BadRequest');
    });

    it('pages 1,200 objects with limit and continue, in name order, from a consistent snapshot', async () => {
      // Prepare
      standIn.createNamespace('paging');
      for (let i = 0; i < 1200; i++) {
        standIn.seed(
          workloadEntry(
            `page-${String(i).padStart(4, '0')}`,
            { address: '10.0.4.1' },
            { namespace: 'paging' },
          ),
        );
      }
      const seen: string[] = [];
      const remaining: Array<number | undefined> = [];
      const versions: string[] = [];

      // Act
      let cont: string | undefined;
      let page = 0;
      do {
        const list = (await custom.listNamespacedCustomObject({
          ...entries,
          namespace: 'paging',
          limit: 500,
          _continue: cont,
        })) as {
          items: KubeObject[];
          metadata: { continue?: string; remainingItemCount?: number; resourceVersion: string };
        };
        seen.push(...list.items.map((i) => i.metadata.name!));
        remaining.push(list.metadata.remainingItemCount);
        versions.push(list.metadata.resourceVersion);
        cont = list.metadata.continue;
        if (page++ === 0) {
          standIn.seed(workloadEntry('page-9999', { address: '10.0.4.2' }, { namespace: 'paging' }));
        }
      } while (cont !== undefined && cont !== '');

      // Assess
      expect(seen).toHaveLength(1200);
      expect(seen).toEqual([...seen].sort());
      expect(new Set(seen).size).toBe(1200);
      expect(remaining).toEqual([700, 200, undefined]);
      expect(new Set(versions).size).toBe(1);
      expect(standIn.list(`${GROUP}/v1`, 'WorkloadEntry', 'paging')).toHaveLength(1201);
    });

    it('lists across namespaces and through KubernetesObjectApi discovery', async () => {
      // Act
      const all = await objects.list(
        `${GROUP}/v1`,
        'WorkloadEntry',
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        'app=web',
      );
      const namespaces = await core.listNamespace();

      // Assess
      expect(all.items.map((i) => `${i.metadata?.namespace}/${i.metadata?.name}`)).toEqual(
        expect.arrayContaining(['other/sel-a', 'other/sel-b']),
      );
      expect(namespaces.items.map((n) => n.metadata?.name)).toEqual(
        expect.arrayContaining(['default', 'other']),
      );
    });
  });

  describe('deletion', () => {
    it('honours delete preconditions and answers 404 for a missing object', async () => {
      // Prepare
      const created = (await custom.createNamespacedCustomObject({
        ...entries,
        body: workloadEntry('we-del', { address: '10.0.5.1' }),
      })) as KubeObject;

      // Act
      const wrongUid = await failure(
        custom.deleteNamespacedCustomObject({
          ...entries,
          name: 'we-del',
          body: { preconditions: { uid: 'not-the-uid' } },
        }),
      );
      const wrongRv = await failure(
        custom.deleteNamespacedCustomObject({
          ...entries,
          name: 'we-del',
          body: { preconditions: { resourceVersion: '1' } },
        }),
      );
      await custom.deleteNamespacedCustomObject({
        ...entries,
        name: 'we-del',
        body: {
          preconditions: { uid: created.metadata.uid!, resourceVersion: created.metadata.resourceVersion! },
        },
      });
      const missing = await failure(custom.deleteNamespacedCustomObject({ ...entries, name: 'we-del' }));

      // Assess
      expect(wrongUid.code).toBe(409);
      expect(wrongUid.status.message).toContain('Precondition failed: UID in precondition: not-the-uid');
      expect(wrongRv.code).toBe(409);
      expect(wrongRv.status.message).toContain('Precondition failed: ResourceVersion in precondition: 1');
      expect(missing.code).toBe(404);
      expect(standIn.get(`${GROUP}/v1`, 'WorkloadEntry', NS, 'we-del')).toBeUndefined();
    });

    it('garbage-collects dependents of a deleted owner, and orphans them on request', async () => {
      // Prepare
      const owner = (name: string): KubeObject =>
        standIn.seed({
          apiVersion: `${GROUP}/v1`,
          kind: 'WorkloadGroup',
          metadata: { name, namespace: NS },
          spec: { template: { serviceAccount: 'sa' } },
        });
      const dependent = (name: string, of: KubeObject): KubeObject =>
        standIn.seed(
          workloadEntry(
            name,
            { address: '10.0.6.1' },
            {
              ownerReferences: [
                {
                  apiVersion: `${GROUP}/v1`,
                  kind: 'WorkloadGroup',
                  name: of.metadata.name!,
                  uid: of.metadata.uid!,
                  controller: true,
                },
              ],
            },
          ),
        );
      const wg = owner('wg-gc');
      dependent('we-gc', wg);
      const wgKeep = owner('wg-orphan');
      dependent('we-orphan', wgKeep);

      // Act
      await custom.deleteNamespacedCustomObject({
        group: GROUP,
        version: 'v1',
        namespace: NS,
        plural: 'workloadgroups',
        name: 'wg-gc',
      });
      await custom.deleteNamespacedCustomObject({
        group: GROUP,
        version: 'v1',
        namespace: NS,
        plural: 'workloadgroups',
        name: 'wg-orphan',
        propagationPolicy: 'Orphan',
      });

      // Assess
      expect(standIn.get(`${GROUP}/v1`, 'WorkloadEntry', NS, 'we-gc')).toBeUndefined();
      const orphan = standIn.get(`${GROUP}/v1`, 'WorkloadEntry', NS, 'we-orphan');
      expect(orphan).toBeDefined();
      expect(orphan?.metadata.ownerReferences).toBeUndefined();
    });

    it('rejects owner references without a uid', async () => {
      // Act
      const { code, status } = await failure(
        custom.createNamespacedCustomObject({
          ...entries,
          body: workloadEntry(
            'we-badowner',
            { address: '10.0.6.2' },
            { ownerReferences: [{ apiVersion: `${GROUP}/v1`, kind: 'WorkloadGroup', name: 'wg', uid: '' }] },
          ),
        }),
      );

      // Assess
      expect(code).toBe(422);
      expect(status.details?.causes).toContainEqual({
        reason: 'FieldValueInvalid',
        field: 'metadata.ownerReferences[0].uid',
        message: 'Invalid value: "": uid must not be empty',
      });
    });

    it('deletes the objects of a deleted namespace', async () => {
      // Prepare
      await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
      await core.createNamespacedService({
        namespace: 'doomed',
        body: { metadata: { name: 'svc' }, spec: { ports: [{ port: 80 }] } },
      });
      standIn.seed(workloadEntry('we-doomed', { address: '10.0.7.1' }, { namespace: 'doomed' }));

      // Act
      await core.deleteNamespace({ name: 'doomed' });

      // Assess: the objects at once, the namespace once the controller's finalizer is done.
      expect(standIn.list(`${GROUP}/v1`, 'WorkloadEntry', 'doomed')).toEqual([]);
      expect(standIn.list('v1', 'Service', 'doomed')).toEqual([]);
      await vi.waitFor(() => expect(standIn.get('v1', 'Namespace', '', 'doomed')).toBeUndefined(), {
        timeout: 5000,
        interval: 20,
      });
    });
  });

  describe('core resources', () => {
    it('defaults a Service and allocates a cluster IP', async () => {
      // Act
      const svc = await core.createNamespacedService({
        namespace: NS,
        body: {
          metadata: { name: 'web' },
          spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] },
        },
      });

      // Assess
      expect(svc.spec?.type).toBe('ClusterIP');
      expect(svc.spec?.clusterIP).toMatch(/^10\.96\.\d+\.\d+$/);
      expect(svc.spec?.ports?.[0]).toMatchObject({ protocol: 'TCP', targetPort: 80 });
    });
  });

  describe('fault injection and counting', () => {
    const getMany = async (n: number): Promise<string[]> => {
      const outcomes: string[] = [];
      for (let i = 0; i < n; i++) {
        try {
          await custom.getNamespacedCustomObject({ ...entries, name: 'we-valid' });
          outcomes.push('ok');
        } catch (e) {
          outcomes.push(e instanceof ApiException ? String(e.code) : 'reset');
        }
      }
      return outcomes;
    };

    it('fails about the requested share of requests, deterministically for a seed', async () => {
      // Prepare
      standIn.setFaults({ failureRate: 0.3, seed: 42 });

      // Act
      const first = await getMany(200);
      standIn.setFaults({ failureRate: 0.3, seed: 42 });
      const second = await getMany(200);

      // Assess
      const failed = first.filter((o) => o !== 'ok').length;
      expect(failed).toBeGreaterThan(40);
      expect(failed).toBeLessThan(80);
      expect(new Set(first)).toEqual(new Set(['ok', '500', '503', '429', 'reset']));
      expect(second).toEqual(first);
      expect(standIn.stats().byVerb.get).toBe(400);
    });

    it('limits faults to writes when asked, and counts writes whatever their outcome', async () => {
      // Prepare
      standIn.setFaults({ failureRate: 1, kinds: [503], onlyWrites: true });

      // Act
      const read = await custom.getNamespacedCustomObject({ ...entries, name: 'we-valid' });
      const write = await failure(
        custom.createNamespacedCustomObject({
          ...entries,
          body: workloadEntry('we-fault', { address: '10.0.8.1' }),
        }),
      );

      // Assess
      expect(read).toBeDefined();
      expect(write.code).toBe(503);
      expect(standIn.get(`${GROUP}/v1`, 'WorkloadEntry', NS, 'we-fault')).toBeUndefined();
      expect(standIn.stats()).toEqual({ total: 2, writes: 1, byVerb: { get: 1, create: 1 } });
    });
  });
  describe('CEL rules of other CRDs', () => {
    const crd = (rule: string, message: string): string => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: { kind: Widget, listKind: WidgetList, plural: widgets, singular: widget }
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: { status: {} }
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: { type: integer }
              name:
                type: string
                x-kubernetes-validations:
                - { rule: 'self == oldSelf', message: name is immutable }
            x-kubernetes-validations:
            - rule: '${rule}'
              message: ${message}
`;
    const crdDir = (rule: string, message: string): string => {
      const dir = mkdtempSync(join(tmpdir(), 'kube-standin-crds-'));
      writeFileSync(join(dir, 'widgets.yaml'), crd(rule, message));
      return dir;
    };

    it('evaluates transition rules (oldSelf) on update only', async () => {
      // Prepare
      const widgets = await startKubeApi({
        crdDir: crdDir('!has(oldSelf.size) || self.size >= oldSelf.size', 'size may not shrink'),
      });
      const kc = new KubeConfig();
      kc.loadFromString(widgets.kubeconfigYaml());
      const api = kc.makeApiClient(CustomObjectsApi);
      const at = { group: 'example.com', version: 'v1', namespace: NS, plural: 'widgets' };
      const body = {
        apiVersion: 'example.com/v1',
        kind: 'Widget',
        metadata: { name: 'w' } as { name: string; resourceVersion?: string },
        spec: { size: 3, name: 'a' },
      };

      try {
        // Act
        const created = (await api.createNamespacedCustomObject({ ...at, body })) as KubeObject;
        // A custom resource PUT must carry the resourceVersion it replaces.
        body.metadata.resourceVersion = created.metadata.resourceVersion!;
        const shrink = await failure(
          api.replaceNamespacedCustomObject({
            ...at,
            name: 'w',
            body: { ...body, spec: { size: 2, name: 'a' } },
          }),
        );
        const rename = await failure(
          api.replaceNamespacedCustomObject({
            ...at,
            name: 'w',
            body: { ...body, spec: { size: 4, name: 'b' } },
          }),
        );
        const grown = (await api.replaceNamespacedCustomObject({
          ...at,
          name: 'w',
          body: { ...body, spec: { size: 4, name: 'a' } },
        })) as KubeObject;

        // Assess
        expect(shrink.code).toBe(422);
        expect(shrink.status.details?.causes).toEqual([
          {
            reason: 'FieldValueInvalid',
            field: 'spec',
            message: 'Invalid value: "object": size may not shrink',
          },
        ]);
        expect(rename.status.details?.causes).toEqual([
          {
            reason: 'FieldValueInvalid',
            field: 'spec.name',
            message: 'Invalid value: "string": name is immutable',
          },
        ]);
        expect(grown.spec).toEqual({ size: 4, name: 'a' });
      } finally {
        await widgets.close();
      }
    });

    it('refuses to start with a rule it cannot compile instead of skipping it', async () => {
      // Act
      const started = startKubeApi({ crdDir: crdDir('isFrobnicated(self.name)', 'frobnicated') });

      // Assess
      await expect(started).rejects.toThrow(/isFrobnicated/);
    });
  });
});
