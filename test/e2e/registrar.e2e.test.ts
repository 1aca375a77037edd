import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler, resetApp } from '../../functions/registrar/handler.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import { eventually, orNotFound } from '../helpers/e2e.ts';
import { eventText, sqsEvent, stateChange, withInstance } from '../helpers/fixtures.ts';
import { instance } from '../helpers/harness.ts';
import { reconcilerFromEnv } from '../helpers/reconcile.ts';
import { type AwsApiStandIn, startAwsApi } from '../standins/aws-api/index.ts';

/**
 * The registrar scenarios against a real cluster with Istio's CRDs (`E2E_KUBECONFIG`). EC2 stays the
 * local stand-in. Everything happens in a namespace created for the run and deleted after it.
 */
const kubeconfigPath = process.env.E2E_KUBECONFIG;
if (!kubeconfigPath) process.stderr.write('E2E_KUBECONFIG is not set: the real-cluster suite was not run\n');

const GROUP = 'networking.istio.io';
const VERSION = 'v1';

describe.runIf(kubeconfigPath)('E2E: registrar against a real cluster', () => {
  const namespace = `vm-registrar-e2e-${randomBytes(3).toString('hex')}`;
  let aws: AwsApiStandIn;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  const ids = ['i-0e2e00000000000a1', 'i-0e2e00000000000a2'];
  const send = async (bodies: string[]) =>
    (await handler(sqsEvent(bodies, 'e2e'), cliContext('registrar-e2e'))) as SQSBatchResponse;
  const entries = async () =>
    (
      (await custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: 'workloadentries',
      })) as {
        items: Array<{ metadata: { name: string; resourceVersion: string }; spec: { address?: string } }>;
      }
    ).items;

  beforeAll(async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath!);
    custom = kc.makeApiClient(CustomObjectsApi);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: 'workloadgroups',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'WorkloadGroup',
        metadata: { name: 'reviews', namespace },
        spec: {
          metadata: { labels: { app: 'reviews' } },
          template: { ports: { http: 9080 }, serviceAccount: 'reviews' },
        },
      },
    });
    aws = await startAwsApi({ region: 'us-west-2' });
    Object.assign(process.env, aws.env(), { KUBECONFIG: kubeconfigPath, ALLOWED_NAMESPACES: namespace });
    delete process.env.CLUSTER_NAME;
    resetApp();
  });

  afterAll(async () => {
    resetApp();
    await aws?.close();
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('registers launched instances, and a replay changes nothing', async () => {
    for (const id of ids)
      aws.putInstance(instance(id, { tags: { 'istio-vm/workload-group': `${namespace}/reviews` } }));
    expect(await send(ids.map((id) => withInstance('asg-ec2-instance-launch-successful.json', id)))).toEqual({
      batchItemFailures: [],
    });
    const first = await entries();
    expect(first.map((e) => e.metadata.name).sort()).toEqual(ids.map((id) => `reviews-${id}`));
    await send(ids.map((id) => stateChange(id, 'running')));
    const second = await entries();
    expect(second.map((e) => e.metadata.resourceVersion).sort()).toEqual(
      first.map((e) => e.metadata.resourceVersion).sort(),
    );
  });

  it('deletes the entry of a terminated instance', async () => {
    aws.setState(ids[0]!, 'terminated');
    await send([stateChange(ids[0]!, 'terminated')]);
    expect((await entries()).map((e) => e.metadata.name)).toEqual([`reviews-${ids[1]}`]);
  });

  it('the reconciler repairs an entry deleted by hand and leaves the rest', async () => {
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: 'workloadentries',
      name: `reviews-${ids[1]}`,
    });
    const summary = await reconcilerFromEnv().run();
    expect(summary.totals.create).toBe(1);
    expect((await entries()).map((e) => e.metadata.name)).toEqual([`reviews-${ids[1]}`]);
  });

  it('the API server agrees with the stand-in: an entry with neither address nor network is refused by CEL', async () => {
    const error = await custom
      .createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: 'workloadentries',
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: 'WorkloadEntry',
          metadata: { name: 'no-address' },
          spec: {},
        },
      })
      .catch((e: { code?: number; body?: unknown }) => e);
    expect((error as { code?: number }).code).toBe(422);
    expect(JSON.stringify((error as { body?: unknown }).body)).toContain('Address is required');
  });

  it('never touches an entry it does not own, and refuses the instance', async () => {
    const id = 'i-0e2e00000000000b1';
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: 'workloadentries',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'WorkloadEntry',
        metadata: { name: `reviews-${id}`, namespace },
        spec: { address: '192.168.0.1' },
      },
    });
    aws.putInstance(instance(id, { tags: { 'istio-vm/workload-group': `${namespace}/reviews` } }));
    expect(await send([stateChange(id, 'running')])).toEqual({ batchItemFailures: [] });
    const entry = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: 'workloadentries',
      name: `reviews-${id}`,
    })) as { spec: { address: string }; metadata: { labels?: Record<string, string> } };
    expect(entry.spec.address).toBe('192.168.0.1');
    expect(entry.metadata.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
  });

  it('a converged replay of every verbatim launch sample makes no change (resourceVersion kept)', async () => {
    const id = 'i-1234567890abcdef0';
    aws.putInstance(instance(id, { tags: { 'istio-vm/workload-group': `${namespace}/reviews` } }));
    const samples = [
      'asg-ec2-instance-launch-successful.json',
      'aws-lambda-go.autoscaling-event-launch-successful.json',
      'ec2-instance-rebalance-recommendation.json',
      'asg-warm-pool-launch-lifecycle-action-warmpool-to-asg.json',
    ].map((file) => eventText(file));
    expect(await send(samples)).toEqual({ batchItemFailures: [] });
    const before = (await entries()).find((e) => e.metadata.name === `reviews-${id}`);
    expect(before).toBeDefined();
    await send(samples);
    const after = (await entries()).find((e) => e.metadata.name === `reviews-${id}`);
    expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
  });

  it('a sweep treats a name held by a foreign entry as a refusal, in a dry run and for real', async () => {
    // The foreign `reviews-i-0e2e00000000000b1` from the scenario above holds the instance's name.
    for (const summary of [
      await reconcilerFromEnv().run({ dryRun: true }),
      await reconcilerFromEnv().run(),
    ]) {
      expect(summary.errors).toEqual([]);
      expect(summary.changes.filter((c) => c.entry.endsWith('i-0e2e00000000000b1'))).toEqual([]);
      expect(summary.refusals).toContainEqual(
        expect.objectContaining({ instanceId: 'i-0e2e00000000000b1', reason: 'entry-not-owned' }),
      );
    }
  });

  it('after the WorkloadGroup is re-created, new entries carry its new uid and the garbage collector keeps them', async () => {
    // Prepare: the group deleted (the collector removes its entries in the background) and re-created.
    const ref = { group: GROUP, version: VERSION, namespace, plural: 'workloadgroups' };
    const old = (await custom.getNamespacedCustomObject({ ...ref, name: 'reviews' })) as {
      metadata: { uid: string };
      spec: unknown;
    };
    await custom.deleteNamespacedCustomObject({ ...ref, name: 'reviews' });
    const created = (await custom.createNamespacedCustomObject({
      ...ref,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'WorkloadGroup',
        metadata: { name: 'reviews', namespace },
        spec: old.spec,
      },
    })) as { metadata: { uid: string } };
    const id = 'i-0e2e00000000000c1';
    aws.putInstance(instance(id, { tags: { 'istio-vm/workload-group': `${namespace}/reviews` } }));

    // Act: inside the group cache's 30 s TTL.
    expect(await send([stateChange(id, 'running')])).toEqual({ batchItemFailures: [] });

    // Assess: the entry names the live group (the collector resolves owners by uid)...
    const read = (name: string) =>
      orNotFound(custom.getNamespacedCustomObject({ ...ref, plural: 'workloadentries', name })) as Promise<
        { metadata: { ownerReferences?: Array<{ uid: string }> } } | undefined
      >;
    expect((await read(`reviews-${id}`))?.metadata.ownerReferences?.[0]?.uid).toBe(created.metadata.uid);
    // ...and the collector, which runs asynchronously, keeps it. A control entry written after ours
    // and owned by the old uid is deleted by it: once that is gone, it has been over this owner since.
    await custom.createNamespacedCustomObject({
      ...ref,
      plural: 'workloadentries',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'WorkloadEntry',
        metadata: {
          name: 'gc-control',
          namespace,
          ownerReferences: [
            {
              apiVersion: `${GROUP}/${VERSION}`,
              kind: 'WorkloadGroup',
              name: 'reviews',
              uid: old.metadata.uid,
            },
          ],
        },
        spec: { address: '192.168.0.2' },
      },
    });
    expect(
      await eventually(
        () => read('gc-control'),
        (e) => e === undefined,
      ),
    ).toBeUndefined();
    expect((await read(`reviews-${id}`))?.metadata.ownerReferences?.[0]?.uid).toBe(created.metadata.uid);
  });
});
