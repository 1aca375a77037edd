import { describe, expect, it, vi } from 'vitest';
import { metrics } from '../../shared/observability.ts';
import { allEventFixtures, eventText } from '../helpers/fixtures.ts';
import { instance, useHarness } from '../helpers/harness.ts';
import type { FakeInstance } from '../standins/aws-api/index.ts';

/**
 * Every verbatim AWS sample through the real handler, the real SDK and client-node over HTTP, with
 * EC2 saying what the instance really is. Each case names its outcome.
 */
const ID = 'i-1234567890abcdef0';

type Case = {
  /** EC2 truth before the event; undefined: EC2 does not know the instance. */
  ec2?: 'running' | 'terminated' | 'absent';
  /** Entry registered before the event. */
  registered?: boolean;
  instanceId?: string;
  expect: 'entry' | 'no-entry' | 'ignored' | 'rejected';
  lifecycle?: { hook: string; token: string; asg: string };
  /** What else EC2 and Auto Scaling say about the instance (evicting hints are verified against it). */
  truth?: Partial<FakeInstance>;
};

const CASES: Record<string, Case> = {
  'asg-ec2-instance-launch-lifecycle-action.json': {
    ec2: 'running',
    expect: 'entry',
    lifecycle: { hook: 'my-lifecycle-hook', token: '87654321-4321-4321-4321-210987654321', asg: 'my-asg' },
  },
  'asg-ec2-instance-launch-successful.json': { ec2: 'running', expect: 'entry' },
  // The launch failed: EC2 has no such instance, so nothing is registered (and a stale entry goes).
  'asg-ec2-instance-launch-unsuccessful.json': { ec2: 'absent', registered: true, expect: 'no-entry' },
  'asg-ec2-instance-terminate-lifecycle-action.json': {
    ec2: 'running',
    truth: { autoScalingLifecycleState: 'Terminating:Wait' },
    registered: true,
    expect: 'no-entry',
    lifecycle: { hook: 'my-lifecycle-hook', token: '87654321-4321-4321-4321-210987654321', asg: 'my-asg' },
  },
  'asg-ec2-instance-terminate-successful.json': { ec2: 'terminated', registered: true, expect: 'no-entry' },
  'asg-lifecycle-notification-sns-sqs-launching.txt': {
    ec2: 'running',
    instanceId: 'i-0598c7d356eba48d7',
    expect: 'entry',
    lifecycle: { hook: 'my-hook', token: '71514b9d-6a40-4b26-8523-05e7ee35fa40', asg: 'my-asg' },
  },
  'asg-lifecycle-test-notification.txt': { expect: 'ignored' },
  'asg-warm-pool-launch-lifecycle-action-ec2-to-asg.json': {
    ec2: 'running',
    expect: 'entry',
    lifecycle: {
      hook: 'my-launch-lifecycle-hook',
      token: '87654321-4321-4321-4321-21098EXAMPLE',
      asg: 'my-asg',
    },
  },
  'asg-warm-pool-launch-lifecycle-action-warmpool-to-asg.json': {
    ec2: 'running',
    expect: 'entry',
    lifecycle: {
      hook: 'my-launch-lifecycle-hook',
      token: '19cc4d4a-e450-4d1c-b448-0de67EXAMPLE',
      asg: 'my-asg',
    },
  },
  'aws-lambda-go.autoscaling-event-launch-successful.json': { ec2: 'running', expect: 'entry' },
  'aws-lambda-go.autoscaling-event-launch-unsuccessful.json': { ec2: 'absent', expect: 'no-entry' },
  'aws-lambda-go.autoscaling-event-lifecycle-action.json': {
    ec2: 'running',
    expect: 'entry',
    lifecycle: { hook: 'my-lifecycle-hook', token: '87654321-4321-4321-4321-210987654321', asg: 'my-asg' },
  },
  'aws-lambda-go.autoscaling-event-terminate-action.json': {
    ec2: 'running',
    truth: { autoScalingLifecycleState: 'Terminating:Wait' },
    registered: true,
    expect: 'no-entry',
    lifecycle: { hook: 'my-lifecycle-hook', token: '87654321-4321-4321-4321-210987654321', asg: 'my-asg' },
  },
  'ec2-instance-rebalance-recommendation.json': { ec2: 'running', expect: 'entry' },
  'ec2-instance-state-change-pending-cwe-2015.json': {
    ec2: 'running',
    instanceId: 'i-abcd1111',
    expect: 'entry',
  },
  'ec2-instance-state-change-pending.json': { ec2: 'running', instanceId: 'i-abcd1111', expect: 'entry' },
  // The event says terminated; EC2 agrees (truth decides, not the event).
  'ec2-instance-state-change-terminated.json': { ec2: 'terminated', registered: true, expect: 'no-entry' },
  // Still running, but a Spot interruption takes it out at once.
  'ec2-spot-instance-interruption-warning.json': {
    ec2: 'running',
    truth: { instanceLifecycle: 'spot' },
    registered: true,
    expect: 'no-entry',
  },
  'lambda-sqs-event-eventbridge-s3-object-created.powertools.json': { expect: 'ignored' },
  'lambda-sqs-event-plain-body.json': { expect: 'rejected' },
  // A Lambda SNS event: its one message ("Hello from SNS!") is read, and is no event.
  'aws-lambda-go.sns-event.json': { expect: 'rejected' },
};

describe('Registrar handler: every verbatim AWS event sample', () => {
  const h = useHarness();

  it('has a case for every fixture', () => {
    expect(allEventFixtures()).toEqual(Object.keys(CASES).sort());
  });

  for (const [file, c] of Object.entries(CASES)) {
    it(`${file} -> ${c.expect}`, async () => {
      // Prepare
      const id = c.instanceId ?? ID;
      if (c.registered) {
        h.aws.putInstance(instance(id));
        await h.send([
          JSON.stringify({
            'detail-type': 'EC2 Instance Rebalance Recommendation',
            source: 'aws.ec2',
            detail: { 'instance-id': id },
          }),
        ]);
        expect(h.entries().map((e) => e.metadata.name)).toEqual([`reviews-${id}`]);
      }
      if (c.ec2 === 'running') h.aws.putInstance(instance(id, c.truth));
      if (c.ec2 === 'terminated') h.aws.putInstance(instance(id, { state: 'terminated' }));
      if (c.ec2 === 'absent') h.aws.removeInstance(id);
      if (c.lifecycle) {
        h.aws.addLifecycleAction({
          autoScalingGroupName: c.lifecycle.asg,
          lifecycleHookName: c.lifecycle.hook,
          instanceId: id,
          token: c.lifecycle.token,
          transition: file.includes('terminate') ? 'terminating' : 'launching',
        });
      }
      const addMetric = vi.spyOn(metrics, 'addMetric');
      const text = eventText(file);

      // Act: a whole Lambda SQS event is handed over as is; anything else is one queued body.
      const parsed = (() => {
        try {
          return JSON.parse(text);
        } catch {
          return undefined;
        }
      })();
      const response = parsed?.Records ? await h.invoke(parsed) : await h.send([text]);

      // Assess: a Lambda SNS event is answered with each message's result (SNS ignores the answer).
      if (parsed?.Records?.[0]?.EventSource === 'aws:sns') {
        expect(response).toEqual({
          result: parsed.Records.map(() => expect.objectContaining({ kind: c.expect })),
        });
      } else {
        expect(response).toEqual({ batchItemFailures: [] });
      }
      const names = h.entries().map((e) => e.metadata.name);
      const counted = (name: string) => addMetric.mock.calls.filter(([n]) => n === name).length;
      switch (c.expect) {
        case 'entry': {
          expect(names).toEqual([`reviews-${id}`]);
          const entry = h.entries()[0]!;
          expect(entry.spec.address).toBe(instance(id).privateIpAddress);
          expect(entry.spec.locality).toBe('us-west-2/us-west-2b');
          break;
        }
        case 'no-entry':
          expect(names).toEqual([]);
          break;
        case 'ignored':
          expect(names).toEqual([]);
          expect(counted('EventsIgnored')).toBeGreaterThan(0);
          break;
        case 'rejected':
          expect(names).toEqual([]);
          expect(counted('EventsRejected')).toBe(parsed?.Records?.length ?? 1);
          break;
      }
      if (c.lifecycle) {
        expect(h.aws.completedLifecycleActions()).toEqual([
          expect.objectContaining({ instanceId: id, token: c.lifecycle.token, result: 'CONTINUE' }),
        ]);
      }
    });
  }
});
