import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import type { SQSBatchResponse } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { handler } from '../../functions/registrar/handler.ts';
import { Deadline } from '../../shared/adapters/deadline.ts';
import { KubeWorkloads } from '../../shared/adapters/kube.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import { logger } from '../../shared/observability.ts';
import { sqsEvent, stateChange, withInstance } from '../helpers/fixtures.ts';
import { instance, NAMESPACE, reviewsGroup, useHarness } from '../helpers/harness.ts';

const IDS = ['i-0000000000000bb01', 'i-0000000000000bb02', 'i-0000000000000bb03'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Registrar: invocations cut off by their deadline', () => {
  const h = useHarness();

  it('keeps each invocation to its own records and its own deadline, and a slow EC2 fails records, not the batch', async () => {
    // Prepare: EC2 answers in 1.5 s; invocation A has 1 s left after the margin, B has minutes.
    h.aws.putInstance(instance(IDS[0]!));
    h.aws.putInstance(instance(IDS[1]!));
    h.aws.setLatency(1_500);
    const short = { ...cliContext('registrar-test'), getRemainingTimeInMillis: () => 4_000 };
    const long = cliContext('registrar-test');

    // Act: A is still running when B starts, as an abandoned invocation would be.
    const a = handler(sqsEvent([stateChange(IDS[0]!, 'running')], 'a'), short) as Promise<SQSBatchResponse>;
    await sleep(50);
    const b = handler(sqsEvent([stateChange(IDS[1]!, 'running')], 'b'), long) as Promise<SQSBatchResponse>;
    const [ra, rb] = await Promise.all([a, b]);

    // Assess: A failed its own record in time (EC2 call cancelled), B converged and reports nothing.
    expect(ra.batchItemFailures).toEqual([{ itemIdentifier: 'a-0' }]);
    expect(rb.batchItemFailures).toEqual([]);
    expect(h.entries().map((e) => e.metadata.name)).toEqual([`reviews-${IDS[1]}`]);
  });

  it('cancels a timed-out Kubernetes request: nothing lands after it was given up', async () => {
    // Prepare: the API server takes 800 ms per request; our requests time out after 200 ms.
    h.aws.putInstance(instance(IDS[0]!));
    await h.restart({ KUBE_REQUEST_TIMEOUT_MS: '200' });
    h.aws.putInstance(instance(IDS[0]!));
    h.kube.setLatency(800);

    // Act: the launch fails (every attempt timed out), then the API server becomes fast.
    const launch = await h.send([stateChange(IDS[0]!, 'running')]);
    h.kube.setLatency(0);
    await sleep(1_000);

    // Assess: no attempt landed late.
    expect(launch.batchItemFailures).toHaveLength(1);
    expect(h.entries()).toEqual([]);
  });

  it('Deadline.end() cancels calls still running under it', async () => {
    // Prepare
    h.kube.setLatency(2_000);
    const kc = new KubeConfig();
    kc.loadFromString(h.kube.kubeconfigYaml());
    const deadline = new Deadline(Date.now() + 60_000);
    const kube = new KubeWorkloads(async () => kc, {
      fieldManager: 'test',
      requestTimeoutMs: 10_000,
    }).withDeadline(deadline);

    // Act
    const started = Date.now();
    const read = kube.getWorkloadGroup(NAMESPACE, 'reviews');
    setTimeout(() => deadline.end(), 100);

    // Assess
    await expect(read).rejects.toThrow(/no time left in this invocation/);
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});

describe('Registrar: inputs at the edges', () => {
  const h = useHarness();

  it('trims whitespace around an instance id, so a terminate event still removes the entry', async () => {
    // Prepare
    h.aws.putInstance(instance(IDS[0]!));
    await h.send([stateChange(IDS[0]!, 'running')]);
    expect(h.entries()).toHaveLength(1);
    h.aws.putInstance(instance(IDS[0]!, { state: 'terminated' }));

    // Act
    const response = await h.send([stateChange(` ${IDS[0]!}\n`, 'terminated')]);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(h.entries()).toEqual([]);
  });

  it('treats an empty lifecycle token as absent and completes the action by instance id', async () => {
    // Prepare: a pending launch action for the instance, announced with an empty token.
    const sample = JSON.parse(withInstance('asg-ec2-instance-launch-lifecycle-action.json', IDS[0]!)) as {
      detail: Record<string, unknown>;
    };
    const detail = sample.detail as { AutoScalingGroupName: string; LifecycleHookName: string };
    h.aws.putInstance(
      instance(IDS[0]!, {
        tags: {
          'istio-vm/workload-group': `${NAMESPACE}/reviews`,
          'aws:autoscaling:groupName': detail.AutoScalingGroupName,
        },
        autoScalingLifecycleState: 'Pending:Wait',
      }),
    );
    h.aws.addLifecycleAction({
      instanceId: IDS[0]!,
      autoScalingGroupName: detail.AutoScalingGroupName,
      lifecycleHookName: detail.LifecycleHookName,
      token: 'c0ffee00-0000-4000-8000-000000000001',
    });

    // Act
    const response = await h.send([
      JSON.stringify({ ...sample, detail: { ...detail, LifecycleActionToken: '' } }),
    ]);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(h.entries()).toHaveLength(1);
    expect(h.aws.completedLifecycleActions()).toEqual([
      expect.objectContaining({ instanceId: IDS[0], result: 'CONTINUE' }),
    ]);
  });
});

describe('Registrar: hints that would evict a VM are checked against EC2 and Auto Scaling', () => {
  const h = useHarness();
  const register = async (id: string) => {
    await h.send([stateChange(id, 'running')]);
    expect(h.entries().map((e) => e.metadata.name)).toEqual([`reviews-${id}`]);
  };

  it('keeps the entry of an on-demand instance named by a Spot interruption warning', async () => {
    // Prepare
    h.aws.putInstance(instance(IDS[0]!));
    await register(IDS[0]!);
    const warn = vi.spyOn(logger, 'warn');

    // Act: a hand-sent warning for a VM EC2 reports as on-demand.
    const response = await h.send([withInstance('ec2-spot-instance-interruption-warning.json', IDS[0]!)]);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(h.entries()).toHaveLength(1);
    expect(warn).toHaveBeenCalledWith(
      expect.stringMatching(/hint not acted on: Spot interruption warning/),
      expect.anything(),
    );
  });

  it('keeps the entry of an instance Auto Scaling reports InService when a terminate lifecycle event names it', async () => {
    // Prepare
    h.aws.putInstance(instance(IDS[0]!, { autoScalingLifecycleState: 'InService' }));
    await register(IDS[0]!);

    // Act
    const response = await h.send([
      withInstance('asg-ec2-instance-terminate-lifecycle-action.json', IDS[0]!),
    ]);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(h.entries()).toHaveLength(1);
  });

  it('deregisters a Spot instance at its warning even while Auto Scaling reads are throttled', async () => {
    // Prepare
    h.aws.putInstance(instance(IDS[0]!, { instanceLifecycle: 'spot' }));
    await register(IDS[0]!);
    h.aws.setFaults({ autoScalingThrottleRate: 1, seed: 1 });

    // Act
    const response = await h.send([withInstance('ec2-spot-instance-interruption-warning.json', IDS[0]!)]);

    // Assess: EC2's word is enough to deregister; a registration would wait instead.
    expect(response.batchItemFailures).toEqual([]);
    expect(h.entries()).toEqual([]);
    h.aws.putInstance(instance(IDS[1]!));
    const launch = await h.send([stateChange(IDS[1]!, 'running')]);
    expect(launch.batchItemFailures).toHaveLength(1);
    expect(h.entries()).toEqual([]);
  });
});

describe('Registrar: a WorkloadGroup deleted and re-created under the same name', () => {
  const h = useHarness({ WORKLOAD_GROUP_CACHE_TTL_SECONDS: '30' });

  it("writes the live group's uid, so the garbage collector keeps the new entries", async () => {
    // Prepare: one VM registered (the group is now cached), then the group is re-created.
    h.aws.putInstance(instance(IDS[0]!));
    h.aws.putInstance(instance(IDS[1]!));
    await h.send([stateChange(IDS[0]!, 'running')]);
    const kc = new KubeConfig();
    kc.loadFromString(h.kube.kubeconfigYaml());
    const api = kc.makeApiClient(CustomObjectsApi);
    const ref = {
      group: 'networking.istio.io',
      version: 'v1',
      namespace: NAMESPACE,
      plural: 'workloadgroups',
    };
    await api.deleteNamespacedCustomObject({ ...ref, name: 'reviews' });
    expect(h.entries()).toEqual([]);
    await api.createNamespacedCustomObject({ ...ref, body: reviewsGroup() });
    const uid = h.kube.get('networking.istio.io/v1', 'WorkloadGroup', NAMESPACE, 'reviews')!.metadata.uid;

    // Act: a launch inside the cache's TTL, then time for the garbage collector to run.
    const response = await h.send([stateChange(IDS[1]!, 'running')]);
    await sleep(900);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    const entries = h.entries();
    expect(entries.map((e) => e.metadata.name)).toEqual([`reviews-${IDS[1]}`]);
    expect(entries[0]?.metadata.ownerReferences?.[0]?.uid).toBe(uid);
  });
});

describe('Registrar: REQUIRE_GROUP_ALLOW_LIST', () => {
  const h = useHarness({ REQUIRE_GROUP_ALLOW_LIST: 'true' });

  it('refuses to join a group that names no allowed sources, and admits a named Auto Scaling group', async () => {
    // Prepare
    h.aws.putInstance(instance(IDS[0]!));
    const warn = vi.spyOn(logger, 'warn');

    // Act
    const refused = await h.send([stateChange(IDS[0]!, 'running')]);
    h.kube.seed(
      reviewsGroup({
        name: 'ratings',
        annotations: { 'istio-vm-registrar.io/allowed-autoscaling-groups': 'my-asg' },
      }),
    );
    h.aws.putInstance(
      instance(IDS[1]!, {
        tags: { 'istio-vm/workload-group': `${NAMESPACE}/ratings`, 'aws:autoscaling:groupName': 'my-asg' },
      }),
    );
    const admitted = await h.send([stateChange(IDS[1]!, 'running')]);

    // Assess
    expect(refused.batchItemFailures).toEqual([]);
    expect(admitted.batchItemFailures).toEqual([]);
    expect(h.entries().map((e) => e.metadata.name)).toEqual([`ratings-${IDS[1]}`]);
    expect(warn).toHaveBeenCalledWith(
      expect.stringMatching(/names no allowed Auto Scaling groups or accounts/),
      expect.objectContaining({ reason: 'source-not-allowed' }),
    );
  });
});

describe('Registrar: a launch and a terminate in different batches', () => {
  const h = useHarness();

  it("deletes the entry of a launch whose apply lands after the instance's terminate was handled", async () => {
    // Prepare: batch A's apply is held at the API server until batch B (the terminate) is done.
    h.aws.putInstance(instance(IDS[0]!));
    const held = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    h.kube.setRequestHook(async ({ verb }) => {
      if (verb !== 'apply') return;
      held.resolve();
      await release.promise;
    });

    // Act: A read "running"; the instance terminates; B finds no entry to delete; A's apply lands.
    const a = h.send([stateChange(IDS[0]!, 'running')]);
    await held.promise;
    h.kube.setRequestHook(undefined);
    h.aws.putInstance(instance(IDS[0]!, { state: 'terminated' }));
    const b = await h.send([stateChange(IDS[0]!, 'terminated')]);
    expect(h.entries()).toEqual([]);
    release.resolve();
    const ra = await a;

    // Assess: both acknowledged, and no entry outlives the instance.
    expect(b.batchItemFailures).toEqual([]);
    expect(ra.batchItemFailures).toEqual([]);
    expect(h.entries()).toEqual([]);
  });

  it("registers again an instance started while a stale stop's delete was in flight", async () => {
    // Prepare: registered; stopped; batch A's delete (from the stop) is held at the API server.
    h.aws.putInstance(instance(IDS[0]!));
    await h.send([stateChange(IDS[0]!, 'running')]);
    h.aws.setState(IDS[0]!, 'stopped');
    const held = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    h.kube.setRequestHook(async ({ method }) => {
      if (method !== 'DELETE') return;
      held.resolve();
      await release.promise;
    });

    // Act: the instance is started and B registers it (unchanged: the entry is still there); then
    // A's delete lands.
    const a = h.send([stateChange(IDS[0]!, 'stopped')]);
    await held.promise;
    h.kube.setRequestHook(undefined);
    h.aws.setState(IDS[0]!, 'running');
    const b = await h.send([stateChange(IDS[0]!, 'running')]);
    release.resolve();
    const ra = await a;

    // Assess: the running VM keeps (gets back) its entry without waiting for a sweep.
    expect(b.batchItemFailures).toEqual([]);
    expect(ra.batchItemFailures).toEqual([]);
    expect(h.entries().map((e) => e.metadata.name)).toEqual([`reviews-${IDS[0]}`]);
  });

  it('lets a verified Spot warning stand although EC2 still reports the instance running', async () => {
    // Prepare
    h.aws.putInstance(instance(IDS[0]!, { instanceLifecycle: 'spot' }));
    await h.send([stateChange(IDS[0]!, 'running')]);

    // Act
    const response = await h.send([withInstance('ec2-spot-instance-interruption-warning.json', IDS[0]!)]);

    // Assess: no re-registration by the post-write re-read.
    expect(response.batchItemFailures).toEqual([]);
    expect(h.entries()).toEqual([]);
  });

  it('re-reads a batch of launches with one DescribeInstances after its applies', async () => {
    // Prepare
    for (const id of IDS) h.aws.putInstance(instance(id));
    h.aws.resetStats();

    // Act
    const response = await h.send(IDS.map((id) => stateChange(id, 'running')));

    // Assess: the batch's read and the post-apply re-read; the entries stay (nobody left).
    expect(response.batchItemFailures).toEqual([]);
    expect(h.entries()).toHaveLength(IDS.length);
    expect(h.aws.stats().byAction.DescribeInstances).toBe(2);
  });

  it('keeps the entry when the re-read fails, and fails the record so it is read again', async () => {
    // Prepare: EC2 answers the batch's read, then throttles every call.
    h.aws.putInstance(instance(IDS[0]!));
    h.kube.setRequestHook(({ verb }) => {
      if (verb === 'apply') h.aws.setFaults({ ec2ThrottleRate: 1, seed: 1 });
    });

    // Act
    const response = await h.send([stateChange(IDS[0]!, 'running')]);

    // Assess: the write is not undone on a failed read, and the record comes back.
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'batch1-0' }]);
    expect(h.entries()).toHaveLength(1);
  });
});
