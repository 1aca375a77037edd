import type { SQSBatchResponse } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { handler } from '../../functions/registrar/handler.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import { logger, metrics, telemetry } from '../../shared/observability.ts';
import { eventText, sqsEvent, stateChange, withInstance } from '../helpers/fixtures.ts';
import { GROUP_TAG, type Harness, instance, NAMESPACE, useHarness } from '../helpers/harness.ts';

const IDS = ['i-0000000000000aa01', 'i-0000000000000aa02', 'i-0000000000000aa03', 'i-0000000000000aa04'];

/** The cluster state that matters: entry name -> spec. */
const snapshot = (h: Harness) =>
  Object.fromEntries(h.entries().map((e) => [e.metadata.name, { spec: e.spec, labels: e.metadata.labels }]));

describe('Registrar handler: level-triggered convergence', () => {
  const h = useHarness();

  it('renders the entry of the contract and the API server accepts it (schema and CEL)', async () => {
    h.aws.putInstance(
      instance(IDS[0]!, {
        tags: {
          [GROUP_TAG]: 'bookinfo/reviews',
          'aws:autoscaling:groupName': 'my-asg',
          'istio-vm/network': 'vm-net',
        },
      }),
    );
    await h.send([stateChange(IDS[0]!, 'running')]);
    const [entry] = h.entries() as unknown as Array<Record<string, unknown>>;
    const group = h.kube.get('networking.istio.io/v1', 'WorkloadGroup', NAMESPACE, 'reviews')!;
    expect(entry).toMatchObject({
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      metadata: {
        name: `reviews-${IDS[0]}`,
        namespace: NAMESPACE,
        labels: {
          app: 'reviews',
          version: 'v1',
          'app.kubernetes.io/managed-by': 'istio-vm-registrar',
          'istio-vm-registrar.io/instance-id': IDS[0],
        },
        annotations: {
          'istio-vm-registrar.io/autoscaling-group': 'my-asg',
          'istio-vm-registrar.io/launch-time': '2026-11-26T09:00:00.000Z',
        },
        ownerReferences: [
          { kind: 'WorkloadGroup', name: 'reviews', uid: group.metadata.uid, controller: true },
        ],
      },
      spec: {
        address: instance(IDS[0]!).privateIpAddress,
        network: 'vm-net',
        locality: 'us-west-2/us-west-2b',
        ports: { http: 9080 },
        serviceAccount: 'reviews',
        labels: { app: 'reviews', version: 'v1' },
      },
    });
  });

  it('replaying a sequence twice, or shuffled, ends in the same state, and a converged replay writes nothing', async () => {
    // Prepare: two running, one terminated, one stopped.
    h.aws.putInstance(instance(IDS[0]!));
    h.aws.putInstance(instance(IDS[1]!));
    h.aws.putInstance(instance(IDS[2]!, { state: 'terminated' }));
    h.aws.putInstance(instance(IDS[3]!, { state: 'stopped' }));
    const sequence = [
      withInstance('asg-ec2-instance-launch-successful.json', IDS[0]!),
      stateChange(IDS[1]!, 'pending'),
      stateChange(IDS[1]!, 'running'),
      stateChange(IDS[2]!, 'running'), // stale hint: EC2 says terminated
      withInstance('asg-ec2-instance-terminate-successful.json', IDS[2]!),
      stateChange(IDS[3]!, 'stopped'),
    ];

    // Act
    await h.send(sequence);
    const first = snapshot(h);
    const writesBefore = h.kube.stats().writes;
    await h.send(sequence);
    const writesOfReplay = h.kube.stats().writes - writesBefore;
    for (const body of [...sequence].reverse()) await h.send([body]);
    const writesOfReversed = h.kube.stats().writes - writesBefore;

    // Assess
    expect(Object.keys(first).sort()).toEqual([`reviews-${IDS[0]}`, `reviews-${IDS[1]}`]);
    expect(snapshot(h)).toEqual(first);
    expect(writesOfReplay).toBe(0);
    expect(writesOfReversed).toBe(0);
  });

  it('follows EC2, not the event: a "running" event for a stopped instance deletes its entry', async () => {
    h.aws.putInstance(instance(IDS[0]!));
    await h.send([stateChange(IDS[0]!, 'running')]);
    h.aws.setState(IDS[0]!, 'stopped');
    await h.send([stateChange(IDS[0]!, 'running')]);
    expect(h.entries()).toEqual([]);
  });

  it('keeps the entry of a stopped instance when STOPPED_INSTANCE_POLICY=keep', async () => {
    await h.restart({ STOPPED_INSTANCE_POLICY: 'keep' });
    h.aws.putInstance(instance(IDS[0]!));
    await h.send([stateChange(IDS[0]!, 'running')]);
    h.aws.setState(IDS[0]!, 'stopped');
    await h.send([stateChange(IDS[0]!, 'stopped')]);
    expect(h.entries().map((e) => e.metadata.name)).toEqual([`reviews-${IDS[0]}`]);
  });

  it('updates the address when EC2 reports a new private IP', async () => {
    h.aws.putInstance(instance(IDS[0]!));
    await h.send([stateChange(IDS[0]!, 'running')]);
    h.aws.putInstance(instance(IDS[0]!, { privateIpAddress: '10.9.9.9' }));
    await h.send([stateChange(IDS[0]!, 'running')]);
    expect(h.entries()[0]!.spec.address).toBe('10.9.9.9');
  });

  it('batches DescribeInstances: one call for a batch naming several instances (and one re-read after its writes)', async () => {
    for (const id of IDS) h.aws.putInstance(instance(id));
    h.aws.resetStats();
    await h.send(IDS.map((id) => stateChange(id, 'running')));
    expect(h.aws.stats().byAction.DescribeInstances).toBe(2);
    expect(h.entries()).toHaveLength(4);
    // A converged replay writes nothing, so it reads once.
    h.aws.resetStats();
    await h.send(IDS.map((id) => stateChange(id, 'running')));
    expect(h.aws.stats().byAction.DescribeInstances).toBe(1);
  });

  it('a batch naming an instance EC2 does not know converges the others (NotFound is not a failure)', async () => {
    h.aws.putInstance(instance(IDS[0]!));
    h.aws.putInstance(instance(IDS[1]!));
    h.aws.resetStats();
    const response = await h.send([
      stateChange(IDS[0]!, 'running'),
      stateChange(IDS[3]!, 'running'),
      stateChange(IDS[1]!, 'running'),
    ]);
    expect(response.batchItemFailures).toEqual([]);
    expect(
      h
        .entries()
        .map((e) => e.metadata.name)
        .sort(),
    ).toEqual([`reviews-${IDS[0]}`, `reviews-${IDS[1]}`]);
    // The whole call fails on one unknown id: it is asked again without it (then the re-read of
    // the two written).
    expect(h.aws.stats().byAction.DescribeInstances).toBe(3);
  });

  it("completes only its own hooks' lifecycle actions and leaves other hooks' actions pending", async () => {
    h.aws.putInstance(instance(IDS[0]!));
    h.aws.addLifecycleAction({
      autoScalingGroupName: 'my-asg',
      lifecycleHookName: 'node-drainer',
      instanceId: IDS[0]!,
      token: 't-foreign',
    });
    const foreign = JSON.parse(withInstance('asg-ec2-instance-launch-lifecycle-action.json', IDS[0]!));
    foreign.detail.LifecycleHookName = 'node-drainer';
    foreign.detail.LifecycleActionToken = 't-foreign';
    expect(await h.send([JSON.stringify(foreign)])).toEqual({ batchItemFailures: [] });
    // The event still counted as a hint: the entry exists; the foreign action was not completed.
    expect(h.entries()).toHaveLength(1);
    expect(h.aws.completedLifecycleActions()).toEqual([]);
  });

  it('counts a lifecycle action already completed (a replayed event) as not pending, not as a failure', async () => {
    // Prepare: a launch action of our hook, announced by the verbatim sample.
    const sample = JSON.parse(withInstance('asg-ec2-instance-launch-lifecycle-action.json', IDS[0]!));
    h.aws.putInstance(
      instance(IDS[0]!, {
        tags: {
          [GROUP_TAG]: `${NAMESPACE}/reviews`,
          'aws:autoscaling:groupName': sample.detail.AutoScalingGroupName,
        },
      }),
    );
    h.aws.addLifecycleAction({
      autoScalingGroupName: sample.detail.AutoScalingGroupName,
      lifecycleHookName: sample.detail.LifecycleHookName,
      instanceId: IDS[0]!,
      token: sample.detail.LifecycleActionToken,
      transition: 'launching',
    });
    const count = vi.spyOn(telemetry, 'count');

    // Act: the event, then the same event again.
    const first = await h.send([JSON.stringify(sample)]);
    const replay = await h.send([JSON.stringify(sample)]);

    // Assess
    expect(first.batchItemFailures).toEqual([]);
    expect(replay.batchItemFailures).toEqual([]);
    expect(h.aws.completedLifecycleActions()).toHaveLength(1);
    expect(count).toHaveBeenCalledWith('LifecycleActionsCompleted');
    expect(count).toHaveBeenCalledWith('LifecycleActionsNotPending');
  });

  it('does not register a running instance that Auto Scaling keeps in the warm pool, in standby or terminating', async () => {
    h.aws.putInstance(instance(IDS[0]!, { autoScalingLifecycleState: 'Warmed:Running' }));
    h.aws.putInstance(instance(IDS[1]!, { autoScalingLifecycleState: 'Standby' }));
    h.aws.putInstance(instance(IDS[2]!));
    await h.send(IDS.slice(0, 3).map((id) => stateChange(id, 'running')));
    expect(h.entries().map((e) => e.metadata.name)).toEqual([`reviews-${IDS[2]}`]);
    // The instance is picked for scale-in: its terminate hook waits, its entry goes.
    h.aws.putInstance(instance(IDS[2]!, { autoScalingLifecycleState: 'Terminating:Wait' }));
    await h.send([stateChange(IDS[2]!, 'running')]);
    expect(h.entries()).toEqual([]);
  });

  it('retries a fresh launch event for an instance EC2 does not show yet, then converges', async () => {
    const event = JSON.parse(stateChange(IDS[0]!, 'pending'));
    event.time = new Date().toISOString();
    const info = vi.spyOn(logger, 'info');
    const error = vi.spyOn(logger, 'error');
    const count = vi.spyOn(telemetry, 'count');
    const first = await h.send([JSON.stringify(event)]);
    expect(first.batchItemFailures).toHaveLength(1);
    // Eventual consistency, not a failure: info, counted apart, so scale-out raises no alarm.
    expect(info).toHaveBeenCalledWith(
      'instance not visible in EC2 yet; the record comes back later',
      expect.objectContaining({ recordId: 'batch1-0' }),
    );
    expect(error).not.toHaveBeenCalled();
    expect(count).toHaveBeenCalledWith('LaunchesNotVisibleYet');
    expect(count).not.toHaveBeenCalledWith('EventsFailed');
    h.aws.putInstance(instance(IDS[0]!));
    const second = await h.send([JSON.stringify(event)]);
    expect(second.batchItemFailures).toEqual([]);
    expect(h.entries()).toHaveLength(1);
  });

  it('never touches an entry it does not own', async () => {
    const foreign = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      metadata: {
        name: `reviews-${IDS[0]}`,
        namespace: NAMESPACE,
        labels: { 'istio-vm-registrar.io/instance-id': IDS[0]! },
      },
      spec: { address: '192.168.0.1' },
    };
    h.kube.seed(foreign);
    h.aws.putInstance(instance(IDS[0]!));
    const warn = vi.spyOn(logger, 'warn');
    await h.send([stateChange(IDS[0]!, 'running')]);
    h.aws.setState(IDS[0]!, 'terminated');
    await h.send([stateChange(IDS[0]!, 'terminated')]);
    expect(h.entries()[0]!.spec.address).toBe('192.168.0.1');
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining('not managed by the registrar'),
      expect.anything(),
    );
  });

  it('deleting the WorkloadGroup removes its entries through the owner reference', async () => {
    h.aws.putInstance(instance(IDS[0]!));
    await h.send([stateChange(IDS[0]!, 'running')]);
    const group = h.kube.get('networking.istio.io/v1', 'WorkloadGroup', NAMESPACE, 'reviews')!;
    const { CustomObjectsApi, KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    kc.loadFromString(h.kube.kubeconfigYaml());
    await kc.makeApiClient(CustomObjectsApi).deleteNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1',
      namespace: NAMESPACE,
      plural: 'workloadgroups',
      name: group.metadata.name!,
    });
    expect(h.entries()).toEqual([]);
  });

  it('accepts an EventBridge event invoked directly, without SQS', async () => {
    h.aws.putInstance(instance(IDS[0]!));
    const result = await h.invoke(JSON.parse(stateChange(IDS[0]!, 'running')));
    expect(result).toMatchObject({ result: { kind: 'converged', outcome: { action: 'applied' } } });
    expect(h.entries()).toHaveLength(1);
  });
});

describe('Registrar handler: bad input', () => {
  const h = useHarness();

  it('reports each bad record and converges the good ones of the same batch; nothing is retried', async () => {
    // Prepare
    const good = IDS[0]!;
    h.aws.putInstance(instance(good));
    h.aws.putInstance(instance(IDS[1]!, { tags: { [GROUP_TAG]: 'not a group' } }));
    h.aws.putInstance(instance(IDS[2]!, { tags: { [GROUP_TAG]: 'kube-system/reviews' } }));
    h.aws.putInstance(instance(IDS[3]!, { tags: { [GROUP_TAG]: 'bookinfo/ratings' } }));
    h.aws.putInstance(
      instance('i-0000000000000aa05', {
        privateIpAddress: undefined,
        tags: { [GROUP_TAG]: 'bookinfo/reviews' },
      }),
    );
    const unknownType = JSON.parse(eventText('ec2-instance-state-change-pending.json'));
    unknownType['detail-type'] = 'EC2 Instance Exploded';
    const addMetric = vi.spyOn(metrics, 'addMetric');
    const error = vi.spyOn(logger, 'error');
    const warn = vi.spyOn(logger, 'warn');

    // Act
    const response = await h.send([
      '{"detail-type": "EC2 Instance State-change Notifi', // truncated JSON
      'test',
      JSON.stringify(unknownType),
      stateChange(IDS[1]!, 'running'), // invalid tag
      stateChange(IDS[2]!, 'running'), // namespace not allowed
      stateChange(IDS[3]!, 'running'), // group does not exist
      stateChange('i-0000000000000aa05', 'running'), // no private IP
      stateChange(good, 'running'),
    ]);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(h.entries().map((e) => e.metadata.name)).toEqual([`reviews-${good}`]);
    const refusedReasons = warn.mock.calls.map(([, extra]) => (extra as { reason?: string }).reason).sort();
    expect(refusedReasons).toEqual([
      'invalid-group-tag',
      'namespace-not-allowed',
      'no-private-ip',
      'workload-group-not-found',
    ]);
    expect(error).toHaveBeenCalledTimes(2);
    const count = (name: string) =>
      addMetric.mock.calls.filter(([n]) => n === name).reduce((s, [, , v]) => s + Number(v), 0);
    expect(count('EventsRejected')).toBe(2);
    expect(count('EventsIgnored')).toBe(1);
    expect(count('EntriesApplied')).toBe(1);
  });

  it('hands back only the records that hit a retriable failure, and they converge on redelivery', async () => {
    h.aws.putInstance(instance(IDS[0]!));
    h.kube.setFaults({ failureRate: 1, kinds: [503], onlyWrites: true, seed: 1 });
    const first = await h.send([stateChange(IDS[0]!, 'running'), 'test']);
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: 'batch1-0' }]);
    h.kube.setFaults(undefined);
    const second = await h.send([stateChange(IDS[0]!, 'running')]);
    expect(second.batchItemFailures).toEqual([]);
    expect(h.entries()).toHaveLength(1);
  });

  it('a misconfigured function fails the invocation with one clear log line', async () => {
    await h.restart({ ALLOWED_NAMESPACES: 'Not_A_Namespace', STOPPED_INSTANCE_POLICY: 'hibernate' });
    const error = vi.spyOn(logger, 'error');
    await expect(h.send([stateChange(IDS[0]!, 'running')])).rejects.toThrow(
      /ALLOWED_NAMESPACES.*STOPPED_INSTANCE_POLICY/,
    );
    expect(error).toHaveBeenCalledWith(
      'invalid configuration: fix the function environment',
      expect.anything(),
    );
  });

  it('fails slow records before the invocation times out, so the partial-batch response is not lost', async () => {
    h.aws.putInstance(instance(IDS[0]!));
    h.kube.setLatency(3_000);
    const context = { ...cliContext('registrar-test'), getRemainingTimeInMillis: () => 4_500 };
    const started = Date.now();
    const response = (await handler(
      sqsEvent([stateChange(IDS[0]!, 'running')]),
      context,
    )) as SQSBatchResponse;
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(response.batchItemFailures).toHaveLength(1);
  });

  it('fails records (for SQS to redeliver) when EC2 keeps throttling', async () => {
    h.aws.putInstance(instance(IDS[0]!));
    h.aws.setFaults({ ec2ThrottleRate: 1, seed: 3 });
    const response = await h.send([stateChange(IDS[0]!, 'running')]);
    expect(response.batchItemFailures).toHaveLength(1);
    expect(h.entries()).toEqual([]);
  });
});
