import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { renderContinuation } from '../../shared/domain/continuation.ts';
import { parseMessageBody } from '../../shared/domain/events.ts';
import { metrics } from '../../shared/observability.ts';
import { allEventFixtures, eventText, stateChange, withInstance } from '../helpers/fixtures.ts';
import { GROUP_TAG, instance, NAMESPACE, reviewsGroup } from '../helpers/harness.ts';
import { ISTIOD_FIELD_MANAGER, playIstiod } from '../helpers/istiod.ts';
import {
  ASG,
  firstIndex,
  LAUNCH_HOOK,
  type LifecycleHarness,
  lifecycleEvent,
  TERMINATE_HOOK,
  type TimelineEntry,
  useLifecycleHarness,
} from '../helpers/lifecycle.ts';
import { type ReadinessServer, startReadinessServer } from '../helpers/readiness-server.ts';

/**
 * Lifecycle hooks that wait for the mesh, through the real handler, the real SDK clients (Auto
 * Scaling, EC2, SQS) and client-node over HTTP against the stand-ins, with the registrar's queue
 * played as the Lambda event source does it and one virtual clock for waits, delays and Auto
 * Scaling's timeouts. Acceptance is read off the order of requests the stand-ins saw.
 */
const ID = 'i-0000000000000cc01';
const TOKEN = 'c0ffee00-0000-4000-8000-000000000001';
const ENTRY = `reviews-${ID}`;

const at = (timeline: TimelineEntry[], what: string | RegExp) => {
  const i = firstIndex(timeline, what);
  if (i < 0)
    throw new Error(`no ${String(what)} in the timeline:\n${timeline.map((e) => e.what).join('\n')}`);
  return timeline[i]!;
};
const all = (timeline: TimelineEntry[], what: string) => timeline.filter((e) => e.what === what);

function hold(
  h: LifecycleHarness,
  transition: 'launching' | 'terminating',
  hook: { heartbeatTimeout?: number; defaultResult?: 'CONTINUE' | 'ABANDON' } = {},
) {
  const lifecycleHookName = transition === 'launching' ? LAUNCH_HOOK : TERMINATE_HOOK;
  h.aws.addLifecycleHook({
    autoScalingGroupName: ASG,
    lifecycleHookName,
    transition,
    heartbeatTimeout: hook.heartbeatTimeout ?? 300,
    defaultResult: hook.defaultResult ?? 'CONTINUE',
  });
  h.aws.addLifecycleAction({
    autoScalingGroupName: ASG,
    lifecycleHookName,
    instanceId: ID,
    token: TOKEN,
    transition,
  });
  return lifecycleEvent(transition, ID, { token: TOKEN, time: h.clock.now() });
}

async function register(h: LifecycleHarness, overrides: Parameters<typeof instance>[1] = {}) {
  h.aws.putInstance(instance(ID, overrides));
  h.enqueue(stateChange(ID, 'running'));
  await h.pump();
  expect(h.entries().map((e) => e.metadata.name)).toEqual([ENTRY]);
}

describe('Lifecycle: drained scale-in', () => {
  const h = useLifecycleHarness();

  it('deletes the entry, waits the drain period on the queue (no Lambda waits), then completes CONTINUE', async () => {
    // Prepare: a registered VM that Auto Scaling now holds in Terminating:Wait.
    await register(h);
    const event = hold(h, 'terminating');
    const start = h.clock.now();

    // Act
    h.enqueue(event);
    const pumped = await h.pump();

    // Assess: delete, then a continuation delayed by the drain, then the completion 30 s later.
    const t = h.timeline();
    const deleted = at(t, `delete workloadentries/${ENTRY}`);
    const parked = at(t, 'SendMessage');
    const completed = at(t, 'CompleteLifecycleAction');
    expect(deleted.seq).toBeLessThan(parked.seq);
    expect(parked.seq).toBeLessThan(completed.seq);
    expect(parked.params?.DelaySeconds).toBe('30');
    expect(deleted.at).toBe(start);
    expect(completed.at - deleted.at).toBe(30_000);
    expect(completed.params).toMatchObject({
      LifecycleActionResult: 'CONTINUE',
      LifecycleActionToken: TOKEN,
      InstanceId: ID,
    });
    // Two invocations, each returning at once: the event's and the continuation's.
    expect(pumped).toEqual({ invocations: 2, failedRecords: 0 });
    expect(h.aws.completedLifecycleActions()).toEqual([
      expect.objectContaining({ token: TOKEN, result: 'CONTINUE', by: 'call', at: start + 30_000 }),
    ]);
    expect(h.entries()).toEqual([]);
    expect(h.aws.queueMessages(h.deadLetterQueueUrl)).toEqual([]);
  });
});

describe('Lifecycle: a drain period longer than the hook timeout', () => {
  const h = useLifecycleHarness({ groupAnnotations: { 'istio-vm-registrar.io/drain-seconds': '120' } });

  it("heartbeats the hook through the group's own drain period and completes it, never Auto Scaling's timeout", async () => {
    // Prepare: a 60 s heartbeat timeout against a 120 s drain (annotation).
    await register(h);
    const event = hold(h, 'terminating', { heartbeatTimeout: 60, defaultResult: 'ABANDON' });
    const start = h.clock.now();

    // Act
    h.enqueue(event);
    await h.pump();

    // Assess
    const t = h.timeline();
    const heartbeats = all(t, 'RecordLifecycleActionHeartbeat');
    expect(heartbeats.length).toBeGreaterThanOrEqual(2);
    // Never more than the timeout between two heartbeats (or the start and the first).
    const beats = [start, ...heartbeats.map((b) => b.at)];
    for (let i = 1; i < beats.length; i++) expect(beats[i]! - beats[i - 1]!).toBeLessThan(60_000);
    expect(all(t, 'LifecycleActionTimeout')).toEqual([]);
    expect(h.aws.completedLifecycleActions()).toEqual([
      expect.objectContaining({ result: 'CONTINUE', by: 'call', at: start + 120_000 }),
    ]);
  });
});

describe('Lifecycle: a terminate hook while Kubernetes fails for ten minutes', () => {
  const h = useLifecycleHarness({ env: { LIFECYCLE_RETRY_SECONDS: '60' } });

  it('is heartbeated, retried by continuations (never SQS redelivery), and completed by the registrar once the entry is gone', async () => {
    // Prepare
    await register(h);
    const event = hold(h, 'terminating', { heartbeatTimeout: 300, defaultResult: 'CONTINUE' });
    const start = h.clock.now();
    h.kube.setFaults({ failureRate: 1, kinds: [500, 503, 'reset'], seed: 9 });
    const addMetric = vi.spyOn(metrics, 'addMetric');

    // Act: Kubernetes comes back after ten minutes.
    h.enqueue(event);
    const pumped = await h.pump({
      onClock: (now) => {
        if (now - start >= 600_000) h.kube.setFaults(undefined);
      },
    });

    // Assess
    const t = h.timeline();
    const completed = at(t, 'CompleteLifecycleAction');
    expect(all(t, 'LifecycleActionTimeout')).toEqual([]);
    expect(all(t, 'RecordLifecycleActionHeartbeat').length).toBeGreaterThanOrEqual(2);
    expect(h.aws.completedLifecycleActions()).toEqual([
      expect.objectContaining({ token: TOKEN, result: 'CONTINUE', by: 'call' }),
    ]);
    // Completed only after Kubernetes came back, the entry was deleted and the drain ran.
    expect(completed.at).toBeGreaterThanOrEqual(start + 600_000 + 30_000);
    const lastDelete = t.filter((e) => e.what === `delete workloadentries/${ENTRY}`).at(-1)!;
    expect(lastDelete.seq).toBeLessThan(completed.seq);
    expect(h.entries()).toEqual([]);
    // Every delivery acknowledged: nothing came back through SQS, nothing reached the DLQ.
    expect(pumped.failedRecords).toBe(0);
    expect(h.aws.queueMessages(h.deadLetterQueueUrl)).toEqual([]);
    expect(addMetric.mock.calls.filter(([n]) => n === 'LifecycleRetries').length).toBeGreaterThanOrEqual(9);
  });
});

describe('Lifecycle: a launch whose registration keeps failing', () => {
  const h = useLifecycleHarness({ env: { LIFECYCLE_RETRY_SECONDS: '30' } });

  it("completes with the hook's own default result before the hook would time out", async () => {
    // Prepare: Kubernetes down for good; the hook would ABANDON after 300 s.
    h.aws.putInstance(instance(ID));
    const event = hold(h, 'launching', { heartbeatTimeout: 300, defaultResult: 'ABANDON' });
    const start = h.clock.now();
    h.kube.setFaults({ failureRate: 1, kinds: [503], seed: 3 });

    // Act
    h.enqueue(event);
    await h.pump();

    // Assess: ABANDON by the registrar, before the timeout would have applied it.
    const done = h.aws.completedLifecycleActions();
    expect(done).toEqual([expect.objectContaining({ token: TOKEN, result: 'ABANDON', by: 'call' })]);
    expect(done[0]!.at).toBeLessThan(start + 300_000);
    expect(all(h.timeline(), 'LifecycleActionTimeout')).toEqual([]);
  });
});

describe('Lifecycle: istiod launch gate', () => {
  const h = useLifecycleHarness({
    groupAnnotations: {
      'istio-vm-registrar.io/launch-gate': 'istiod',
      'istio-vm-registrar.io/launch-gate-timeout-seconds': '120',
      'istio-vm-registrar.io/direct-endpoints': 'true',
    },
  });

  it("writes a health-checked entry and completes CONTINUE only once istiod reports Healthy=True; istiod's fields survive our applies", async () => {
    // Prepare
    h.aws.putInstance(instance(ID));
    const event = hold(h, 'launching');
    const start = h.clock.now();
    let played = false;

    // Act: istiod sees the VM's proxy healthy 35 s in.
    h.enqueue(event);
    await h.pump({
      onClock: async (now) => {
        if (!played && now - start >= 35_000) {
          played = true;
          await playIstiod(h.kube.kubeconfigYaml(), NAMESPACE, ENTRY, { healthy: true, at: new Date(now) });
        }
      },
    });

    // Assess: the entry came first, with the annotation istiod needs; completion after Healthy=True.
    const t = h.timeline();
    const applied = at(t, `apply workloadentries/${ENTRY}`);
    const healthy = at(t, `update ${ENTRY}/status`);
    const completed = at(t, 'CompleteLifecycleAction');
    expect(applied.seq).toBeLessThan(healthy.seq);
    expect(healthy.seq).toBeLessThan(completed.seq);
    expect(completed.params?.LifecycleActionResult).toBe('CONTINUE');
    expect(completed.at).toBeGreaterThanOrEqual(start + 35_000);
    expect(h.aws.completedLifecycleActions()).toEqual([
      expect.objectContaining({ result: 'CONTINUE', by: 'call' }),
    ]);
    const [entry] = h.entries();
    expect(entry!.metadata.annotations).toMatchObject({ 'proxy.istio.io/health-checks-enabled': 'true' });

    // Act again: the VM's address changes, so the registrar applies the entry anew.
    h.aws.putInstance(instance(ID, { privateIpAddress: '10.0.7.250' }));
    h.enqueue(stateChange(ID, 'running'));
    await h.pump();

    // Assess: our apply changed the address and left istiod's annotations, condition and ownership.
    const live = h.kube.get('networking.istio.io/v1', 'WorkloadEntry', NAMESPACE, ENTRY)!;
    expect((live.spec as { address: string }).address).toBe('10.0.7.250');
    expect(live.metadata.annotations).toMatchObject({
      'istio.io/workloadController': 'istiod-7f9d8c6b5-x2k4p',
      'istio.io/connectedAt': expect.any(String),
      'proxy.istio.io/health-checks-enabled': 'true',
    });
    expect((live.status as { conditions: unknown[] }).conditions).toEqual([
      expect.objectContaining({ type: 'Healthy', status: 'True' }),
    ]);
    const istiodFields = live.metadata.managedFields!.filter((m) => m.manager === ISTIOD_FIELD_MANAGER);
    expect(istiodFields.map((m) => m.subresource ?? '').sort()).toEqual(['', 'status']);
  });

  it('a gate that never passes ends with ABANDON and no entry left', async () => {
    // Prepare: the proxy never reports healthy.
    h.aws.putInstance(instance(ID));
    const event = hold(h, 'launching');
    const start = h.clock.now();

    // Act
    h.enqueue(event);
    await h.pump({
      onClock: async (now) => {
        if (now - start >= 20_000 && h.entries().length > 0 && !h.entries()[0]!.status) {
          await playIstiod(h.kube.kubeconfigYaml(), NAMESPACE, ENTRY, {
            healthy: false,
            at: new Date(now),
            message: 'Get "http://127.0.0.1:8080/ready": connection refused',
          });
        }
      },
    });

    // Assess: removed, then ABANDON at the gate's timeout.
    const t = h.timeline();
    const deleted = at(t, `delete workloadentries/${ENTRY}`);
    const completed = at(t, 'CompleteLifecycleAction');
    expect(deleted.seq).toBeLessThan(completed.seq);
    expect(completed.params?.LifecycleActionResult).toBe('ABANDON');
    expect(completed.at).toBe(start + 120_000);
    expect(h.entries()).toEqual([]);
    expect(h.aws.completedLifecycleActions()).toEqual([
      expect.objectContaining({ result: 'ABANDON', by: 'call' }),
    ]);
    // Its direct endpoint, written with the entry, went with it.
    const endpoints = h.kube
      .list('discovery.k8s.io/v1', 'EndpointSlice', NAMESPACE)
      .flatMap((x) => (x.endpoints as unknown[] | undefined) ?? []);
    expect(endpoints).toEqual([]);
    expect(firstIndex(t, /^create bookinfo\/endpointslices/)).toBeGreaterThan(-1);
  });
});

describe('Lifecycle: probe launch gate', () => {
  let vm: ReadinessServer;
  beforeEach(async () => {
    vm = await startReadinessServer();
  });
  afterEach(() => vm.close());
  const h = useLifecycleHarness({
    group: () =>
      reviewsGroup({
        annotations: {
          'istio-vm-registrar.io/launch-gate': 'probe',
          'istio-vm-registrar.io/launch-gate-timeout-seconds': '90',
        },
        spec: {
          metadata: { labels: { app: 'reviews', version: 'v1' } },
          template: { ports: { http: 9080 }, serviceAccount: 'reviews' },
          probe: { httpGet: { port: vm.port, path: '/ready' }, periodSeconds: 5, successThreshold: 2 },
        },
      }),
  });

  it('writes the entry only after the probe passes successThreshold times, then completes CONTINUE', async () => {
    // Prepare: the VM (its address is the readiness server's) becomes ready 20 s in.
    h.aws.putInstance(instance(ID, { privateIpAddress: '127.0.0.1' }));
    const event = hold(h, 'launching');
    const start = h.clock.now();

    // Act
    h.enqueue(event);
    await h.pump({
      onClock: (now) => {
        if (now - start >= 20_000) vm.setReady(true);
      },
    });

    // Assess: not-ready probes, two passing ones, then the entry, then the completion.
    const probes = vm.probes();
    const passes = probes.filter((p) => p.status === 200);
    expect(probes.filter((p) => p.status === 503).length).toBeGreaterThanOrEqual(3);
    expect(passes).toHaveLength(2);
    const t = h.timeline();
    const applied = at(t, `apply workloadentries/${ENTRY}`);
    const completed = at(t, 'CompleteLifecycleAction');
    expect(passes[1]!.seq).toBeLessThan(applied.seq);
    expect(applied.seq).toBeLessThan(completed.seq);
    expect(completed.params?.LifecycleActionResult).toBe('CONTINUE');
    expect(h.entries().map((e) => e.metadata.name)).toEqual([ENTRY]);
  });

  it('never writes the entry of a VM that stays unready, and ABANDONs at the gate timeout', async () => {
    // Prepare
    h.aws.putInstance(instance(ID, { privateIpAddress: '127.0.0.1' }));
    const event = hold(h, 'launching');
    const start = h.clock.now();

    // Act: a state-change event arrives meanwhile too; it must not write the entry either.
    h.enqueue(event, stateChange(ID, 'running'));
    await h.pump();

    // Assess
    const t = h.timeline();
    expect(firstIndex(t, `apply workloadentries/${ENTRY}`)).toBe(-1);
    expect(vm.probes().length).toBeGreaterThanOrEqual(10);
    const completed = at(t, 'CompleteLifecycleAction');
    expect(completed.params?.LifecycleActionResult).toBe('ABANDON');
    expect(completed.at).toBe(start + 90_000);
    expect(h.entries()).toEqual([]);
  });
});

describe('Lifecycle: rebalance recommendations', () => {
  describe('a group that opts in', () => {
    const h = useLifecycleHarness({
      groupAnnotations: { 'istio-vm-registrar.io/deregister-on-rebalance': 'true' },
    });

    it('removes the entry of the VM at risk', async () => {
      await register(h);
      h.enqueue(withInstance('ec2-instance-rebalance-recommendation.json', ID));
      await h.pump();
      expect(h.entries()).toEqual([]);
    });
  });

  describe('a group that does not', () => {
    const h = useLifecycleHarness();

    it("converges the VM to EC2's answer: the entry stays", async () => {
      await register(h);
      h.enqueue(withInstance('ec2-instance-rebalance-recommendation.json', ID));
      await h.pump();
      expect(h.entries().map((e) => e.metadata.name)).toEqual([ENTRY]);
    });
  });
});

describe('Lifecycle: continuations are hints, not orders', () => {
  const h = useLifecycleHarness();

  it('a forged continuation for an instance Auto Scaling has in service completes nothing and keeps the entry', async () => {
    // Prepare: a registered InService VM; a continuation claiming its drain is over.
    await register(h);
    h.aws.addLifecycleHook({
      autoScalingGroupName: ASG,
      lifecycleHookName: TERMINATE_HOOK,
      transition: 'terminating',
    });
    const forged = renderContinuation(
      {
        instanceId: ID,
        source: 'registrar-continuation',
        detailType: 'Lifecycle continuation',
        lifecycleAction: {
          autoScalingGroupName: ASG,
          lifecycleHookName: TERMINATE_HOOK,
          transition: 'terminating',
        },
      },
      { phase: 'drain', startedAt: 0, heartbeatAt: 0, drainUntil: 1 },
    );
    const addMetric = vi.spyOn(metrics, 'addMetric');

    // Act
    h.enqueue(forged);
    await h.pump();

    // Assess
    expect(firstIndex(h.timeline(), 'CompleteLifecycleAction')).toBe(-1);
    expect(h.entries().map((e) => e.metadata.name)).toEqual([ENTRY]);
    expect(addMetric.mock.calls.filter(([n]) => n === 'LifecycleActionsNotPending')).toHaveLength(1);
  });
});

describe('Lifecycle: a server-side apply never takes what istiod wrote', () => {
  const h = useLifecycleHarness({ groupAnnotations: { 'istio-vm-registrar.io/launch-gate': 'istiod' } });

  it('keeps status, condition and annotations written by istiod through a forced re-apply of every field we own', async () => {
    // Prepare: our entry, then istiod's write, then a hand edit of a field we own (forces an apply).
    await register(h);
    await playIstiod(h.kube.kubeconfigYaml(), NAMESPACE, ENTRY, {
      healthy: true,
      at: new Date(h.clock.now()),
    });
    const kc = new KubeConfig();
    kc.loadFromString(h.kube.kubeconfigYaml());
    await kc.makeApiClient(CustomObjectsApi).patchNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1',
      namespace: NAMESPACE,
      plural: 'workloadentries',
      name: ENTRY,
      body: [{ op: 'replace', path: '/spec/address', value: '10.9.9.9' }],
      fieldManager: 'kubectl-edit',
    });

    // Act
    h.enqueue(stateChange(ID, 'running'));
    await h.pump();

    // Assess
    const live = h.kube.get('networking.istio.io/v1', 'WorkloadEntry', NAMESPACE, ENTRY)!;
    expect((live.spec as { address: string }).address).toBe(instance(ID).privateIpAddress);
    expect(live.metadata.annotations?.['istio.io/workloadController']).toBe('istiod-7f9d8c6b5-x2k4p');
    expect(live.metadata.annotations?.['istio.io/connectedAt']).toBeDefined();
    expect((live.status as { conditions: Array<{ type: string; status: string }> }).conditions).toEqual([
      expect.objectContaining({ type: 'Healthy', status: 'True' }),
    ]);
  });
});

describe('Lifecycle: every verbatim lifecycle sample, replayed three times', () => {
  const h = useLifecycleHarness();
  const samples = allEventFixtures().flatMap((file) => {
    const intake = parseMessageBody(eventText(file));
    return intake.kind === 'hint' && intake.hint.lifecycleAction ? [{ file, hint: intake.hint }] : [];
  });

  it('covers the launch and terminate samples', () => {
    expect(samples.map((s) => s.hint.lifecycleAction!.transition).sort()).toEqual([
      'launching',
      'launching',
      'launching',
      'launching',
      'launching',
      'terminating',
      'terminating',
    ]);
  });

  for (const { file, hint } of samples) {
    it(`${file}: one completion for its token, by the registrar`, async () => {
      // Prepare: Auto Scaling holds the instance for this action (a terminating VM is registered first).
      const action = hint.lifecycleAction!;
      const id = hint.instanceId;
      const vm = instance(id, {
        tags: {
          [GROUP_TAG]: `${NAMESPACE}/reviews`,
          'aws:autoscaling:groupName': action.autoScalingGroupName,
        },
      });
      h.aws.putInstance(vm);
      if (action.transition === 'terminating') {
        h.enqueue(stateChange(id, 'running'));
        await h.pump();
      }
      h.aws.addLifecycleHook({
        autoScalingGroupName: action.autoScalingGroupName,
        lifecycleHookName: action.lifecycleHookName,
        transition: action.transition,
        heartbeatTimeout: 300,
        defaultResult: 'ABANDON',
      });
      h.aws.addLifecycleAction({
        autoScalingGroupName: action.autoScalingGroupName,
        lifecycleHookName: action.lifecycleHookName,
        instanceId: id,
        token: action.token!,
        transition: action.transition,
      });
      const body = eventText(file);

      // Act: once alone, then twice in one batch (duplicates in one batch and across batches).
      h.enqueue(body);
      await h.pump({ maxInvocations: 1 });
      h.enqueue(body, body);
      await h.pump();

      // Assess
      const completions = h.aws.completedLifecycleActions().filter((a) => a.token === action.token);
      expect(completions).toEqual([expect.objectContaining({ result: 'CONTINUE', by: 'call' })]);
      const accepted = h.aws
        .calls()
        .filter((c) => c.action === 'CompleteLifecycleAction' && c.status === 200);
      expect(accepted).toHaveLength(1);
      expect(h.entries().map((e) => e.metadata.name)).toEqual(
        action.transition === 'launching' && action.destination !== 'WarmPool' ? [`reviews-${id}`] : [],
      );
      expect(h.aws.queueMessages(h.deadLetterQueueUrl)).toEqual([]);
    });
  }
});

describe('Lifecycle: a launch EC2 does not show yet', () => {
  const h = useLifecycleHarness();

  it('is waited for by continuations, not dropped, and completed once EC2 shows the instance', async () => {
    // Prepare: Auto Scaling holds the launch; EC2's DescribeInstances does not know the VM yet.
    h.aws.addLifecycleHook({
      autoScalingGroupName: ASG,
      lifecycleHookName: LAUNCH_HOOK,
      transition: 'launching',
      heartbeatTimeout: 300,
      defaultResult: 'ABANDON',
    });
    const start = h.clock.now();
    const event = lifecycleEvent('launching', ID, { token: TOKEN, time: start });

    // Act: EC2 shows it 40 s in, already held in Pending:Wait.
    h.enqueue(event);
    const pumped = await h.pump({
      onClock: (now) => {
        if (now - start >= 40_000 && !h.aws.instance(ID)) {
          h.aws.putInstance(instance(ID));
          h.aws.addLifecycleAction({
            autoScalingGroupName: ASG,
            lifecycleHookName: LAUNCH_HOOK,
            instanceId: ID,
            token: TOKEN,
            transition: 'launching',
          });
        }
      },
    });

    // Assess
    expect(pumped.failedRecords).toBe(0);
    expect(h.entries().map((e) => e.metadata.name)).toEqual([ENTRY]);
    expect(h.aws.completedLifecycleActions()).toEqual([
      expect.objectContaining({ token: TOKEN, result: 'CONTINUE', by: 'call' }),
    ]);
  });
});

describe('Lifecycle: drained scale-in of a group with direct endpoints', () => {
  const h = useLifecycleHarness({ groupAnnotations: { 'istio-vm-registrar.io/direct-endpoints': 'true' } });

  it("takes the VM's direct endpoint out with its entry, before the drain starts", async () => {
    // Prepare: a registered VM with its endpoint in the group's direct slice.
    await register(h);
    const slices = () => h.kube.list('discovery.k8s.io/v1', 'EndpointSlice', NAMESPACE);
    const addresses = () =>
      slices().flatMap((s) => (s.endpoints as Array<{ addresses: string[] }>).map((e) => e.addresses[0]));
    expect(addresses()).toEqual([instance(ID).privateIpAddress]);
    const event = hold(h, 'terminating');

    // Act
    h.enqueue(event);
    await h.pump();

    // Assess: entry deleted and the VM out of the slice, then 30 s, then the completion.
    const t = h.timeline();
    const deleted = at(t, `delete workloadentries/${ENTRY}`);
    // The slice is rewritten without the VM, or deleted when it was the last endpoint.
    const sliceWrite = t.filter((e) => /^(update|delete) endpointslices\//.test(e.what)).at(-1)!;
    const completed = at(t, 'CompleteLifecycleAction');
    expect(deleted.seq).toBeLessThan(completed.seq);
    expect(sliceWrite.seq).toBeLessThan(completed.seq);
    expect(completed.at - sliceWrite.at).toBe(30_000);
    expect(addresses()).toEqual([]);
  });
});
