/**
 * The stand-in's latency model: reads and writes priced apart, writes through a limited number of
 * commit slots. Asserted by order and by lower bounds only (a slow machine can only make it slower).
 */
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { type KubeApiStandIn, REAL_APISERVER_LATENCY, startKubeApi } from '#test/standins/kube-api/index.ts';

const GROUP = 'networking.istio.io';
const entries = { group: GROUP, version: 'v1', namespace: 'default', plural: 'workloadentries' };

describe('Stand-in: Kubernetes API latency model', () => {
  let standIn: KubeApiStandIn | undefined;
  afterEach(async () => {
    await standIn?.close();
    standIn = undefined;
  });

  const client = (s: KubeApiStandIn) => {
    const kc = new KubeConfig();
    kc.loadFromString(s.kubeconfigYaml());
    return kc.makeApiClient(CustomObjectsApi);
  };
  const apply = (api: CustomObjectsApi, name: string) =>
    api.patchNamespacedCustomObject(
      {
        ...entries,
        name,
        fieldManager: 'latency-test',
        body: {
          apiVersion: `${GROUP}/v1`,
          kind: 'WorkloadEntry',
          metadata: { name },
          spec: { address: '10.0.0.1' },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );

  it('queues writes behind its commit slots while reads go straight through', async () => {
    // Prepare: one commit at a time, 40 ms each; reads free.
    standIn = await startKubeApi({ latency: { readMs: 0, writeMs: 40, writeConcurrency: 1 } });
    standIn.seed({
      apiVersion: `${GROUP}/v1`,
      kind: 'WorkloadEntry',
      metadata: { name: 'we-read', namespace: 'default' },
      spec: { address: '10.0.0.9' },
    });
    const api = client(standIn);
    const done: string[] = [];
    const started = performance.now();

    // Act: three applies and a read, all sent at once.
    await Promise.all([
      ...['we-1', 'we-2', 'we-3'].map((n) => apply(api, n).then(() => done.push(n))),
      api.getNamespacedCustomObject({ ...entries, name: 'we-read' }).then(() => done.push('read')),
    ]);
    const elapsed = performance.now() - started;

    // Assess: the read did not wait for the writes; the writes took their turns (never faster).
    expect(done[0]).toBe('read');
    expect(done.slice(1).sort()).toEqual(['we-1', 'we-2', 'we-3']);
    expect(elapsed).toBeGreaterThanOrEqual(3 * 40);
    expect(standIn.list(`${GROUP}/v1`, 'WorkloadEntry', 'default')).toHaveLength(4);
  });

  it('models the reference server: reads a tenth of an apply, two commits at once', () => {
    expect(REAL_APISERVER_LATENCY.readMs).toBeCloseTo(REAL_APISERVER_LATENCY.writeMs / 10, 1);
    // One at a time: 1000 / 11 ms = about 90 applies/s; ten at a time: two commits, about 180/s.
    expect(Math.round(1000 / REAL_APISERVER_LATENCY.writeMs)).toBe(91);
    expect(REAL_APISERVER_LATENCY.writeConcurrency).toBe(2);
  });
});
