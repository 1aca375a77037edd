import { randomBytes } from 'node:crypto';
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1EndpointSlice,
  type V1Service,
} from '@kubernetes/client-node';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler, resetApp } from '../../functions/registrar/handler.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import { eventually, orNotFound } from '../helpers/e2e.ts';
import { sqsEvent, stateChange } from '../helpers/fixtures.ts';
import { instance } from '../helpers/harness.ts';
import { reconcilerFromEnv } from '../helpers/reconcile.ts';
import { type AwsApiStandIn, startAwsApi } from '../standins/aws-api/index.ts';

/**
 * Services for VM workloads against a real cluster with Istio's CRDs (`E2E_KUBECONFIG`): what a real
 * API server adds (cluster IPs, defaults, field ownership, CEL, asynchronous garbage collection)
 * must not read as drift, and must not stop a scenario. EC2 stays the local stand-in.
 */
const kubeconfigPath = process.env.E2E_KUBECONFIG;
if (!kubeconfigPath)
  process.stderr.write('E2E_KUBECONFIG is not set: the real-cluster Services suite was not run\n');

const GROUP = 'networking.istio.io';
const VERSION = 'v1';

describe.runIf(kubeconfigPath)('E2E: Services for VM workloads against a real cluster', () => {
  const namespace = `vm-registrar-svc-e2e-${randomBytes(3).toString('hex')}`;
  const saved = { ...process.env };
  let aws: AwsApiStandIn;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let discovery: DiscoveryV1Api;
  const id = (n: number) => `i-0e2e5e${n.toString(16).padStart(11, '0')}`;
  const ip = (n: number) => `10.0.42.${n}`;
  const send = async (bodies: string[]) =>
    (await handler(sqsEvent(bodies, 'svc-e2e'), cliContext('services-e2e'))) as SQSBatchResponse;
  const launch = async (group: string, ns: number[]) => {
    for (const n of ns)
      aws.putInstance(
        instance(id(n), {
          privateIpAddress: ip(n),
          tags: { 'istio-vm/workload-group': `${namespace}/${group}` },
        }),
      );
    return send(ns.map((n) => stateChange(id(n), 'running')));
  };
  const annotate = (
    name: string,
    annotations: Record<string, string | null>,
    spec?: Record<string, unknown>,
  ) =>
    custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: 'workloadgroups',
        name,
        body: { metadata: { annotations }, ...(spec ? { spec } : {}) },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  const readService = (name: string): Promise<V1Service | undefined> =>
    orNotFound(core.readNamespacedService({ namespace, name }));
  const directSlices = async (service: string) =>
    (
      await discovery.listNamespacedEndpointSlice({
        namespace,
        labelSelector: `kubernetes.io/service-name=${service}`,
      })
    ).items as V1EndpointSlice[];
  const addresses = (slices: V1EndpointSlice[]) =>
    slices.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses)).sort();

  beforeAll(async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath!);
    custom = kc.makeApiClient(CustomObjectsApi);
    core = kc.makeApiClient(CoreV1Api);
    discovery = kc.makeApiClient(DiscoveryV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    for (const [name, annotations] of [
      ['reviews', { 'istio-vm-registrar.io/service': 'service' }],
      ['ratings', { 'istio-vm-registrar.io/service': 'serviceentry' }],
      ['details', { 'istio-vm-registrar.io/direct-endpoints': 'true' }],
    ] as const) {
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: 'workloadgroups',
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: 'WorkloadGroup',
          metadata: { name, namespace, annotations },
          spec: {
            metadata: { labels: { app: name } },
            template: { ports: { http: 9080, 'grpc-api': 9090 }, serviceAccount: name },
          },
        },
      });
    }
    aws = await startAwsApi({ region: 'us-west-2' });
    Object.assign(process.env, aws.env(), { KUBECONFIG: kubeconfigPath, ALLOWED_NAMESPACES: namespace });
    delete process.env.CLUSTER_NAME;
    resetApp();
  });

  afterAll(async () => {
    resetApp();
    process.env = saved;
    await aws?.close();
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('creates the Service with the entries labels as selector and the template ports; a replay changes nothing', async () => {
    expect(await launch('reviews', [1, 2])).toEqual({ batchItemFailures: [] });
    const svc = await readService('reviews');
    expect(svc?.spec?.selector).toEqual({ app: 'reviews' });
    expect(svc?.spec?.ports?.map((p) => [p.name, p.port, p.targetPort, p.protocol, p.appProtocol])).toEqual([
      ['grpc-api', 9090, 9090, 'TCP', 'grpc'],
      ['http', 9080, 9080, 'TCP', 'http'],
    ]);
    // What the server filled in (cluster IP, sessionAffinity, ipFamilies...) is not drift.
    expect(await send([stateChange(id(1), 'running'), stateChange(id(2), 'running')])).toEqual({
      batchItemFailures: [],
    });
    expect((await readService('reviews'))?.metadata?.resourceVersion).toBe(svc?.metadata?.resourceVersion);
  });

  it("follows a port change, prunes the old port, and keeps another manager's fields", async () => {
    await core.patchNamespacedService(
      {
        name: 'reviews',
        namespace,
        fieldManager: 'platform-team',
        force: true,
        body: {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'reviews', annotations: { 'example.com/owner': 'platform' } },
          spec: { type: 'NodePort', externalTrafficPolicy: 'Local' },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    await annotate('reviews', {}, { template: { ports: { http: 9081, 'grpc-api': null } } });

    expect(await send([stateChange(id(1), 'running')])).toEqual({ batchItemFailures: [] });

    const svc = await readService('reviews');
    expect(svc?.spec?.ports?.map((p) => [p.name, p.port])).toEqual([['http', 9081]]);
    expect(svc?.spec?.type).toBe('NodePort');
    expect(svc?.spec?.externalTrafficPolicy).toBe('Local');
    expect(svc?.metadata?.annotations?.['example.com/owner']).toBe('platform');
  });

  it('leaves a foreign Service of the name it wants exactly as it is, and the sweep reports it', async () => {
    await core.createNamespacedService({
      namespace,
      body: { metadata: { name: 'foreign' }, spec: { selector: { app: 'x' }, ports: [{ port: 80 }] } },
    });
    const before = await readService('foreign');
    await annotate('reviews', { 'istio-vm-registrar.io/service-name': 'foreign' });

    expect(await send([stateChange(id(1), 'running')])).toEqual({ batchItemFailures: [] });
    const summary = await reconcilerFromEnv().run({ dryRun: true });

    expect((await readService('foreign'))?.metadata?.resourceVersion).toBe(before?.metadata?.resourceVersion);
    expect(summary.services?.refusals).toContainEqual(
      expect.objectContaining({ group: `${namespace}/reviews`, reason: 'service-not-owned' }),
    );
    await annotate('reviews', { 'istio-vm-registrar.io/service-name': null });
  });

  it('writes a ServiceEntry the real CRD accepts, CEL rules included', async () => {
    expect(await launch('ratings', [11])).toEqual({ batchItemFailures: [] });
    const entry = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: 'serviceentries',
      name: 'ratings',
    })) as { spec: Record<string, unknown> };
    expect(entry.spec).toMatchObject({
      hosts: [`ratings.${namespace}.svc.cluster.local`],
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      workloadSelector: { labels: { app: 'ratings' } },
    });
  });

  it('a direct Service whose slices follow scale-out and scale-in, and go on opt-out', async () => {
    expect(await launch('details', [21, 22])).toEqual({ batchItemFailures: [] });
    expect(await launch('details', [23])).toEqual({ batchItemFailures: [] });
    const direct = await readService('details-direct');
    expect(direct?.spec?.selector).toBeUndefined();
    expect(direct?.spec?.clusterIP).toBeTruthy();
    let slices = await directSlices('details-direct');
    expect(addresses(slices)).toEqual([ip(21), ip(22), ip(23)].sort());
    expect(slices[0]?.ports?.map((p) => [p.name, p.port, p.appProtocol])).toEqual([
      ['grpc-api', 9090, 'grpc'],
      ['http', 9080, 'http'],
    ]);

    aws.setState(id(22), 'terminated');
    expect(await send([stateChange(id(22), 'terminated')])).toEqual({ batchItemFailures: [] });
    slices = await directSlices('details-direct');
    expect(addresses(slices)).toEqual([ip(21), ip(23)].sort());

    // Converged: a replay and a sweep write nothing.
    const versions = slices.map((s) => s.metadata?.resourceVersion);
    await send([stateChange(id(21), 'running'), stateChange(id(23), 'running')]);
    const summary = await reconcilerFromEnv().run();
    expect(summary.errors).toEqual([]);
    expect(summary.services?.changes).toEqual([]);
    expect((await directSlices('details-direct')).map((s) => s.metadata?.resourceVersion)).toEqual(versions);

    await annotate('details', { 'istio-vm-registrar.io/direct-endpoints': 'false' });
    expect(await send([stateChange(id(21), 'running')])).toEqual({ batchItemFailures: [] });
    expect(await readService('details-direct')).toBeUndefined();
    // The garbage collector removes the slices with their Service.
    expect(
      await eventually(
        () => directSlices('details-direct'),
        (s) => s.length === 0,
      ),
    ).toEqual([]);
  });
});
