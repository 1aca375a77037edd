import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resetApp } from '../../functions/registrar/handler.ts';
import { createApp } from '../../shared/app/wiring.ts';
import { stateChange } from '../helpers/fixtures.ts';
import { instance } from '../helpers/harness.ts';
import { ISTIOD_FIELD_MANAGER, playIstiod } from '../helpers/istiod.ts';
import {
  ASG,
  createRegistrarQueues,
  LAUNCH_HOOK,
  lifecycleEvent,
  pumpQueue,
  TERMINATE_HOOK,
  VirtualClock,
} from '../helpers/lifecycle.ts';
import { type AwsApiStandIn, startAwsApi } from '../standins/aws-api/index.ts';

/**
 * The istiod launch gate and the drained scale-in against a real cluster with Istio's CRDs
 * (`E2E_KUBECONFIG`). No istiod runs there: the test writes what istiod writes (its annotations by
 * merge patch, the `Healthy` condition through the status subresource, as its own field manager).
 * EC2, Auto Scaling and the registrar's queue stay the local stand-ins, on a virtual clock.
 */
const kubeconfigPath = process.env.E2E_KUBECONFIG;
if (!kubeconfigPath)
  process.stderr.write('E2E_KUBECONFIG is not set: the real-cluster lifecycle suite was not run\n');

const GROUP = 'networking.istio.io';
const VERSION = 'v1';

describe.runIf(kubeconfigPath)('E2E: lifecycle hooks against a real cluster', () => {
  const namespace = `vm-registrar-e2e-lc-${randomBytes(3).toString('hex')}`;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let kubeconfigYaml: string;
  let aws: AwsApiStandIn;
  let clock: VirtualClock;
  let queueUrl: string;
  let counter = 0;
  let id: string;
  let token: string;

  const entryName = () => `reviews-${id}`;
  const readEntry = async () =>
    (await custom
      .getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: 'workloadentries',
        name: entryName(),
      })
      .catch(() => undefined)) as
      | {
          metadata: {
            annotations?: Record<string, string>;
            managedFields?: Array<{ manager: string; subresource?: string }>;
          };
          spec: { address?: string };
          status?: { conditions?: Array<{ type: string; status: string }> };
        }
      | undefined;
  const hold = (transition: 'launching' | 'terminating') => {
    const lifecycleHookName = transition === 'launching' ? LAUNCH_HOOK : TERMINATE_HOOK;
    aws.addLifecycleHook({
      autoScalingGroupName: ASG,
      lifecycleHookName,
      transition,
      heartbeatTimeout: 300,
      defaultResult: 'CONTINUE',
    });
    aws.addLifecycleAction({
      autoScalingGroupName: ASG,
      lifecycleHookName,
      instanceId: id,
      token,
      transition,
    });
    return lifecycleEvent(transition, id, { token, time: clock.now() });
  };
  const vm = (overrides: Parameters<typeof instance>[1] = {}) =>
    instance(id, {
      tags: { 'istio-vm/workload-group': `${namespace}/reviews`, 'aws:autoscaling:groupName': ASG },
      ...overrides,
    });
  const completion = () =>
    aws.calls().find((c) => c.action === 'CompleteLifecycleAction' && c.status === 200);

  beforeAll(async () => {
    kubeconfigYaml = readFileSync(kubeconfigPath!, 'utf8');
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfigYaml);
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
        metadata: {
          name: 'reviews',
          namespace,
          annotations: {
            'istio-vm-registrar.io/launch-gate': 'istiod',
            'istio-vm-registrar.io/launch-gate-timeout-seconds': '120',
          },
        },
        spec: {
          metadata: { labels: { app: 'reviews' } },
          template: { ports: { http: 9080 }, serviceAccount: 'reviews' },
          probe: { httpGet: { port: 15021, path: '/healthz/ready' }, periodSeconds: 5 },
        },
      },
    });
    clock = new VirtualClock();
    aws = await startAwsApi({ region: 'us-west-2', now: clock.now });
    queueUrl = createRegistrarQueues(aws).queueUrl;
    Object.assign(process.env, aws.env(), {
      KUBECONFIG: kubeconfigPath,
      ALLOWED_NAMESPACES: namespace,
      LIFECYCLE_QUEUE_URL: queueUrl,
    });
    delete process.env.CLUSTER_NAME;
    delete process.env.LIFECYCLE_HOOK_NAMES;
    resetApp(createApp(process.env, { now: clock.now }));
  });

  beforeEach(() => {
    counter++;
    id = `i-0e2e0000000000c${counter.toString(16).padStart(2, '0')}`;
    token = `e2e00000-0000-4000-8000-0000000000${counter.toString(16).padStart(2, '0')}`;
    aws.resetStats();
  });

  afterAll(async () => {
    resetApp();
    await aws?.close();
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('istiod gate: a health-checked entry, CONTINUE only after Healthy=True, and our re-apply keeps what istiod wrote', async () => {
    // Prepare
    aws.putInstance(vm());
    aws.enqueue(queueUrl, hold('launching'));
    const start = clock.now();
    let healthyAt: number | undefined;

    // Act: istiod reports the proxy healthy 30 s in.
    await pumpQueue(aws, queueUrl, clock, {
      onClock: async (now) => {
        if (healthyAt === undefined && now - start >= 30_000) {
          await playIstiod(kubeconfigYaml, namespace, entryName(), { healthy: true, at: new Date(now) });
          healthyAt = now;
        }
      },
    });

    // Assess
    const done = completion();
    expect(done?.params.LifecycleActionResult).toBe('CONTINUE');
    expect(healthyAt).toBeDefined();
    expect(done!.at).toBeGreaterThanOrEqual(healthyAt!);
    const entry = await readEntry();
    expect(entry?.metadata.annotations?.['proxy.istio.io/health-checks-enabled']).toBe('true');

    // Act again: a new address makes the registrar apply (force) the entry.
    aws.putInstance(vm({ privateIpAddress: '10.0.7.250' }));
    aws.enqueue(queueUrl, stateChange(id, 'running'));
    await pumpQueue(aws, queueUrl, clock);

    // Assess: the real API server kept istiod's annotations, condition and managed fields.
    const live = await readEntry();
    expect(live?.spec.address).toBe('10.0.7.250');
    expect(live?.metadata.annotations).toMatchObject({
      'istio.io/workloadController': 'istiod-7f9d8c6b5-x2k4p',
      'istio.io/connectedAt': expect.any(String),
    });
    expect(live?.status?.conditions).toEqual([expect.objectContaining({ type: 'Healthy', status: 'True' })]);
    const istiod = (live?.metadata.managedFields ?? []).filter((m) => m.manager === ISTIOD_FIELD_MANAGER);
    expect(istiod.map((m) => m.subresource ?? '').sort()).toEqual(['', 'status']);
  });

  it('istiod gate that never passes: the entry is removed and the action ABANDONed at the gate timeout', async () => {
    // Prepare
    aws.putInstance(vm());
    aws.enqueue(queueUrl, hold('launching'));
    const start = clock.now();

    // Act: istiod reports the proxy unhealthy.
    let played = false;
    await pumpQueue(aws, queueUrl, clock, {
      onClock: async (now) => {
        if (!played && now - start >= 10_000) {
          played = true;
          await playIstiod(kubeconfigYaml, namespace, entryName(), {
            healthy: false,
            at: new Date(now),
            message: 'connection refused',
          });
        }
      },
    });

    // Assess
    const done = completion();
    expect(done?.params.LifecycleActionResult).toBe('ABANDON');
    expect(done!.at).toBe(start + 120_000);
    expect(await readEntry()).toBeUndefined();
  });

  it('drained scale-in: the entry is gone before the action is completed, 30 s later', async () => {
    // Prepare: a registered VM, then held in Terminating:Wait.
    aws.putInstance(vm());
    aws.enqueue(queueUrl, stateChange(id, 'running'));
    await pumpQueue(aws, queueUrl, clock);
    expect(await readEntry()).toBeDefined();
    aws.enqueue(queueUrl, hold('terminating'));
    const start = clock.now();
    let goneAt: number | undefined;

    // Act
    await pumpQueue(aws, queueUrl, clock, {
      onClock: async (now) => {
        if (goneAt === undefined && (await readEntry()) === undefined) goneAt = now;
      },
    });

    // Assess: gone before the first clock move (at the start), completed after the drain.
    const done = completion();
    expect(goneAt).toBe(start + 30_000);
    expect(done?.params.LifecycleActionResult).toBe('CONTINUE');
    expect(done!.at).toBe(start + 30_000);
    expect(await readEntry()).toBeUndefined();
  });
});
