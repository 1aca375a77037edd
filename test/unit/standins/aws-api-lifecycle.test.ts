import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingInstancesCommand,
  DescribeLifecycleHooksCommand,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '#test/helpers/lifecycle.ts';
import { type AwsApiStandIn, startAwsApi } from '#test/standins/aws-api/index.ts';

const credentials = { accessKeyId: 'AKIDSTANDINTEST', secretAccessKey: 'not-a-secret' };
const ID = 'i-0000000000000dd01';
const TOKEN = 'bcd2f1b8-9a78-44d3-8a7a-4dd07d7cf635';
const hook = {
  autoScalingGroupName: 'web-asg',
  lifecycleHookName: 'istio-register',
  transition: 'launching',
  heartbeatTimeout: 60,
  defaultResult: 'ABANDON',
} as const;

describe('Stand-in: Auto Scaling lifecycle hooks on a clock, and SQS', () => {
  let api: AwsApiStandIn;
  let clock: VirtualClock;
  let autoScaling: AutoScalingClient;
  beforeEach(async () => {
    clock = new VirtualClock();
    api = await startAwsApi({ now: clock.now });
    autoScaling = new AutoScalingClient({ region: 'us-west-2', endpoint: api.url, credentials });
    api.putInstance({
      instanceId: ID,
      state: 'running',
      privateIpAddress: '10.0.0.1',
      availabilityZone: 'us-west-2a',
      launchTime: '2026-01-01T00:00:00.000Z',
      tags: { 'aws:autoscaling:groupName': 'web-asg' },
    });
  });
  afterEach(() => api.close());
  const state = async () =>
    (await autoScaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [ID] })))
      .AutoScalingInstances?.[0]?.LifecycleState;

  it("describes a hook's timeouts and default result, as DescribeLifecycleHooks does", async () => {
    api.addLifecycleHook(hook);
    const out = await autoScaling.send(
      new DescribeLifecycleHooksCommand({
        AutoScalingGroupName: 'web-asg',
        LifecycleHookNames: ['istio-register'],
      }),
    );
    expect(out.LifecycleHooks).toEqual([
      {
        AutoScalingGroupName: 'web-asg',
        LifecycleHookName: 'istio-register',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        HeartbeatTimeout: 60,
        GlobalTimeout: 6000,
        DefaultResult: 'ABANDON',
      },
    ]);
  });

  it('holds the instance in Pending:Wait, and puts it in service on CONTINUE', async () => {
    api.addLifecycleHook(hook);
    api.addLifecycleAction({
      autoScalingGroupName: 'web-asg',
      lifecycleHookName: 'istio-register',
      instanceId: ID,
      token: TOKEN,
    });
    expect(await state()).toBe('Pending:Wait');
    await autoScaling.send(
      new CompleteLifecycleActionCommand({
        AutoScalingGroupName: 'web-asg',
        LifecycleHookName: 'istio-register',
        LifecycleActionToken: TOKEN,
        InstanceId: ID,
        LifecycleActionResult: 'CONTINUE',
      }),
    );
    expect(await state()).toBe('InService');
  });

  it('applies the default result when the heartbeat timeout passes; a heartbeat restarts it', async () => {
    // Prepare
    api.addLifecycleHook(hook);
    api.addLifecycleAction({
      autoScalingGroupName: 'web-asg',
      lifecycleHookName: 'istio-register',
      instanceId: ID,
      token: TOKEN,
    });
    const start = clock.now();

    // Act: a heartbeat at 50 s moves the timeout to 110 s.
    clock.advance(50_000);
    await autoScaling.send(
      new RecordLifecycleActionHeartbeatCommand({
        AutoScalingGroupName: 'web-asg',
        LifecycleHookName: 'istio-register',
        LifecycleActionToken: TOKEN,
      }),
    );
    clock.advance(50_000);
    const stillPending = api.pendingLifecycleActions();
    clock.advance(10_000);

    // Assess
    expect(stillPending).toEqual([
      expect.objectContaining({ token: TOKEN, heartbeats: 1, expiresAt: start + 110_000 }),
    ]);
    expect(api.pendingLifecycleActions()).toEqual([]);
    expect(api.completedLifecycleActions()).toEqual([
      expect.objectContaining({ token: TOKEN, result: 'ABANDON', by: 'timeout', at: start + 110_000 }),
    ]);
    expect(await state()).toBe('Terminating:Proceed');
    expect(api.calls().map((c) => c.action)).toEqual([
      'RecordLifecycleActionHeartbeat',
      'LifecycleActionTimeout',
      'DescribeAutoScalingInstances',
    ]);
  });

  it('no heartbeat extends an action past its global timeout (100 x the heartbeat timeout)', async () => {
    api.addLifecycleHook({ ...hook, heartbeatTimeout: 30 });
    api.addLifecycleAction({
      autoScalingGroupName: 'web-asg',
      lifecycleHookName: 'istio-register',
      instanceId: ID,
      token: TOKEN,
    });
    const start = clock.now();
    for (let t = 20_000; t < 3_000_000; t += 20_000) {
      clock.advanceTo(start + t);
      await autoScaling
        .send(
          new RecordLifecycleActionHeartbeatCommand({
            AutoScalingGroupName: 'web-asg',
            LifecycleHookName: 'istio-register',
            InstanceId: ID,
          }),
        )
        .catch(() => undefined);
    }
    clock.advanceTo(start + 3_100_000);
    expect(api.completedLifecycleActions()).toEqual([
      expect.objectContaining({ by: 'timeout', at: start + 3_000_000 }),
    ]);
  });

  it('SQS: SendMessage through the real SDK (JSON protocol, MD5 checked) delays the message on the clock', async () => {
    // Prepare
    const url = api.createQueue('events', { visibilityTimeoutSeconds: 30 });
    const sqs = new SQSClient({ region: 'us-west-2', credentials, endpoint: api.url });

    // Act
    const out = await sqs.send(
      new SendMessageCommand({ QueueUrl: url, MessageBody: '{"a":1}', DelaySeconds: 45 }),
    );
    const early = api.receive(url);
    clock.advance(45_000);
    const due = api.receive(url);

    // Assess
    expect(out.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(early).toEqual([]);
    expect(due).toEqual([expect.objectContaining({ body: '{"a":1}', receiveCount: 1 })]);
    expect(api.calls().filter((c) => c.service === 'sqs')).toEqual([
      expect.objectContaining({
        action: 'SendMessage',
        status: 200,
        params: expect.objectContaining({ DelaySeconds: '45' }),
      }),
    ]);
  });

  it('SQS: an unknown queue is QueueDoesNotExist; a delay over 900 s is InvalidParameterValue', async () => {
    const url = api.createQueue('events');
    const sqs = new SQSClient({ region: 'us-west-2', credentials, endpoint: api.url });
    const missing = await sqs
      .send(new SendMessageCommand({ QueueUrl: `${url}-gone`, MessageBody: 'x' }))
      .catch((e) => e);
    const tooLong = await sqs
      .send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', DelaySeconds: 901 }))
      .catch((e) => e);
    expect(missing.name).toBe('QueueDoesNotExist');
    expect(tooLong.name).toBe('InvalidParameterValue');
  });

  it('SQS: a message received maxReceiveCount times moves to the dead-letter queue', () => {
    const dlq = api.createQueue('dlq');
    const url = api.createQueue('events', {
      visibilityTimeoutSeconds: 10,
      maxReceiveCount: 2,
      deadLetterQueueUrl: dlq,
    });
    api.enqueue(url, 'poison');
    expect(api.receive(url)).toHaveLength(1);
    clock.advance(10_000);
    expect(api.receive(url)).toHaveLength(1);
    clock.advance(10_000);
    expect(api.receive(url)).toEqual([]);
    expect(api.queueMessages(dlq)).toEqual([expect.objectContaining({ body: 'poison', receiveCount: 2 })]);
  });
});
