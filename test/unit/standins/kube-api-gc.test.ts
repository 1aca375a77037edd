/**
 * The stand-in's garbage collector for dependents whose owners do not exist, as kube-controller-manager
 * runs it: driven through the real @kubernetes/client-node over HTTP.
 */

import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type KubeApiStandIn,
  type KubeObject,
  type OwnerReference,
  startKubeApi,
} from '#test/standins/kube-api/index.ts';

const GROUP = 'networking.istio.io';
const NS = 'default';
/** Long enough that the object is still there when the create's response is read, even on a loaded machine. */
const GC_DELAY_MS = 250;
/** Long enough past the delay that a collection, had it been due, would have happened. */
const SETTLE_MS = GC_DELAY_MS * 3;
const STALE_UID = '00000000-0000-4000-8000-00000000dead';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function groupRef(name: string, uid: string): OwnerReference {
  return { apiVersion: `${GROUP}/v1`, kind: 'WorkloadGroup', name, uid, controller: true };
}

describe('Stand-in: Kubernetes garbage collector for dangling owners', () => {
  let standIn: KubeApiStandIn;
  let custom: CustomObjectsApi;
  const entries = { group: GROUP, version: 'v1', namespace: NS, plural: 'workloadentries' };
  const groups = { group: GROUP, version: 'v1', namespace: NS, plural: 'workloadgroups' };

  beforeAll(async () => {
    standIn = await startKubeApi({ danglingOwnerGcDelayMs: GC_DELAY_MS });
    const kc = new KubeConfig();
    kc.loadFromString(standIn.kubeconfigYaml());
    custom = kc.makeApiClient(CustomObjectsApi);
  });

  afterAll(async () => {
    await standIn.close();
  });

  const createEntry = async (name: string, ownerReferences: OwnerReference[]): Promise<KubeObject> =>
    (await custom.createNamespacedCustomObject({
      ...entries,
      body: {
        apiVersion: `${GROUP}/v1`,
        kind: 'WorkloadEntry',
        metadata: { name, ownerReferences },
        spec: { address: '10.0.9.1' },
      },
    })) as KubeObject;

  const createGroup = async (name: string): Promise<KubeObject> =>
    (await custom.createNamespacedCustomObject({
      ...groups,
      body: {
        apiVersion: `${GROUP}/v1`,
        kind: 'WorkloadGroup',
        metadata: { name },
        spec: { template: { serviceAccount: 'sa' } },
      },
    })) as KubeObject;

  const entry = (name: string): KubeObject | undefined =>
    standIn.get(`${GROUP}/v1`, 'WorkloadEntry', NS, name);

  const collected = (name: string): Promise<void> =>
    vi.waitFor(
      () => {
        if (entry(name) !== undefined) throw new Error(`${name} not collected yet`);
      },
      { timeout: 2000, interval: 5 },
    );

  it('deletes an object whose only owner does not exist, a short while after the write', async () => {
    // Act
    const created = await createEntry('we-no-owner', [groupRef('wg-missing', STALE_UID)]);
    const rightAfter = entry('we-no-owner');
    await collected('we-no-owner');

    // Assess
    expect(rightAfter?.metadata.uid).toBe(created.metadata.uid);
    expect(entry('we-no-owner')).toBeUndefined();
  });

  it('keeps an object whose owner exists with the referenced uid', async () => {
    // Prepare
    const wg = await createGroup('wg-live');

    // Act
    await createEntry('we-live-owner', [groupRef('wg-live', wg.metadata.uid!)]);
    await sleep(SETTLE_MS);

    // Assess
    expect(entry('we-live-owner')).toBeDefined();
  });

  it('collects an object written after its owner was re-created under the same name (stale uid)', async () => {
    // Prepare
    const first = await createGroup('wg-reborn');
    await custom.deleteNamespacedCustomObject({ ...groups, name: 'wg-reborn' });
    const second = await createGroup('wg-reborn');

    // Act
    await createEntry('we-stale-owner', [groupRef('wg-reborn', first.metadata.uid!)]);
    await createEntry('we-new-owner', [groupRef('wg-reborn', second.metadata.uid!)]);
    await collected('we-stale-owner');
    await sleep(SETTLE_MS);

    // Assess
    expect(second.metadata.uid).not.toBe(first.metadata.uid);
    expect(entry('we-stale-owner')).toBeUndefined();
    expect(entry('we-new-owner')).toBeDefined();
  });

  it('keeps an object whose owner is of a kind the server does not serve', async () => {
    // Act
    await createEntry('we-foreign-owner', [
      { apiVersion: 'example.com/v1', kind: 'Gadget', name: 'g', uid: STALE_UID },
    ]);
    await sleep(SETTLE_MS);

    // Assess
    expect(entry('we-foreign-owner')).toBeDefined();
  });

  it('drops only the dangling reference when another owner is alive', async () => {
    // Prepare
    const wg = await createGroup('wg-half');

    // Act
    const created = await createEntry('we-half-owned', [
      { ...groupRef('wg-half', wg.metadata.uid!), controller: false },
      { ...groupRef('wg-gone', STALE_UID), controller: false },
    ]);
    await vi.waitFor(
      () => {
        if (entry('we-half-owned')?.metadata.ownerReferences?.length !== 1) throw new Error('not yet');
      },
      { timeout: 2000, interval: 5 },
    );
    const after = entry('we-half-owned');

    // Assess
    expect(after?.metadata.ownerReferences).toEqual([
      { ...groupRef('wg-half', wg.metadata.uid!), controller: false },
    ]);
    expect(Number(after?.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));
  });

  it('marks a dangling dependent with finalizers for deletion instead of removing it', async () => {
    // Act
    await custom.createNamespacedCustomObject({
      ...entries,
      body: {
        apiVersion: `${GROUP}/v1`,
        kind: 'WorkloadEntry',
        metadata: {
          name: 'we-finalized',
          ownerReferences: [groupRef('wg-missing', STALE_UID)],
          finalizers: ['example.com/hold'],
        },
        spec: { address: '10.0.9.2' },
      },
    });
    await vi.waitFor(
      () => {
        if (entry('we-finalized')?.metadata.deletionTimestamp === undefined) throw new Error('not yet');
      },
      { timeout: 2000, interval: 5 },
    );

    // Assess
    expect(entry('we-finalized')?.metadata.deletionTimestamp).toMatch(/Z$/);
  });

  it('never collects when the delay is disabled, and close() cancels pending collections', async () => {
    // Prepare
    const off = await startKubeApi({ danglingOwnerGcDelayMs: -1 });
    const closing = await startKubeApi({ danglingOwnerGcDelayMs: GC_DELAY_MS });
    const dangling = (s: KubeApiStandIn, name: string): void => {
      s.seed({
        apiVersion: `${GROUP}/v1`,
        kind: 'WorkloadEntry',
        metadata: { name, namespace: NS, ownerReferences: [groupRef('wg-missing', STALE_UID)] },
        spec: { address: '10.0.9.3' },
      });
    };

    // Act
    dangling(off, 'we-kept');
    dangling(closing, 'we-pending');
    await closing.close();
    await sleep(SETTLE_MS);

    // Assess
    expect(off.get(`${GROUP}/v1`, 'WorkloadEntry', NS, 'we-kept')).toBeDefined();
    expect(closing.get(`${GROUP}/v1`, 'WorkloadEntry', NS, 'we-pending')).toBeDefined();
    await off.close();
  });
});
