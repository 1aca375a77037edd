import { describe, expect, it } from 'vitest';
import {
  HANDLED_DETAIL_TYPES,
  normaliseEvent,
  parseMessageBody,
  snsRecords,
} from '../../../shared/domain/events.ts';
import { allEventFixtures, eventText } from '../../helpers/fixtures.ts';

/** What each verbatim sample must become. */
const EXPECTED: Record<string, { kind: 'hint' | 'ignore' | 'reject'; instanceId?: string; source?: string }> =
  {
    'asg-ec2-instance-launch-lifecycle-action.json': {
      kind: 'hint',
      instanceId: 'i-1234567890abcdef0',
      source: 'asg-lifecycle-action',
    },
    'asg-ec2-instance-launch-successful.json': {
      kind: 'hint',
      instanceId: 'i-1234567890abcdef0',
      source: 'asg-launch-successful',
    },
    'asg-ec2-instance-launch-unsuccessful.json': {
      kind: 'hint',
      instanceId: 'i-1234567890abcdef0',
      source: 'asg-launch-unsuccessful',
    },
    'asg-ec2-instance-terminate-lifecycle-action.json': {
      kind: 'hint',
      instanceId: 'i-1234567890abcdef0',
      source: 'asg-lifecycle-action',
    },
    'asg-ec2-instance-terminate-successful.json': {
      kind: 'hint',
      instanceId: 'i-1234567890abcdef0',
      source: 'asg-terminate-successful',
    },
    'asg-lifecycle-notification-sns-sqs-launching.txt': {
      kind: 'hint',
      instanceId: 'i-0598c7d356eba48d7',
      source: 'asg-lifecycle-action',
    },
    'asg-lifecycle-test-notification.txt': { kind: 'ignore' },
    'asg-warm-pool-launch-lifecycle-action-ec2-to-asg.json': {
      kind: 'hint',
      instanceId: 'i-1234567890abcdef0',
      source: 'asg-lifecycle-action',
    },
    'asg-warm-pool-launch-lifecycle-action-warmpool-to-asg.json': {
      kind: 'hint',
      instanceId: 'i-1234567890abcdef0',
      source: 'asg-lifecycle-action',
    },
    'aws-lambda-go.autoscaling-event-launch-successful.json': {
      kind: 'hint',
      instanceId: 'i-1234567890abcdef0',
      source: 'asg-launch-successful',
    },
    'aws-lambda-go.autoscaling-event-launch-unsuccessful.json': {
      kind: 'hint',
      instanceId: 'i-1234567890abcdef0',
      source: 'asg-launch-unsuccessful',
    },
    'aws-lambda-go.autoscaling-event-lifecycle-action.json': {
      kind: 'hint',
      instanceId: 'i-1234567890abcdef0',
      source: 'asg-lifecycle-action',
    },
    'aws-lambda-go.autoscaling-event-terminate-action.json': {
      kind: 'hint',
      instanceId: 'i-1234567890abcdef0',
      source: 'asg-lifecycle-action',
    },
    'ec2-instance-rebalance-recommendation.json': {
      kind: 'hint',
      instanceId: 'i-1234567890abcdef0',
      source: 'ec2-rebalance-recommendation',
    },
    'ec2-instance-state-change-pending-cwe-2015.json': {
      kind: 'hint',
      instanceId: 'i-abcd1111',
      source: 'ec2-state-change',
    },
    'ec2-instance-state-change-pending.json': {
      kind: 'hint',
      instanceId: 'i-abcd1111',
      source: 'ec2-state-change',
    },
    'ec2-instance-state-change-terminated.json': {
      kind: 'hint',
      instanceId: 'i-1234567890abcdef0',
      source: 'ec2-state-change',
    },
    'ec2-spot-instance-interruption-warning.json': {
      kind: 'hint',
      instanceId: 'i-1234567890abcdef0',
      source: 'ec2-spot-interruption',
    },
    // A Lambda SNS event holding one message is read as that message: here plain text, no event.
    'aws-lambda-go.sns-event.json': { kind: 'reject' },
    // Whole Lambda SQS events are not event bodies: the handler unwraps them first.
    'lambda-sqs-event-eventbridge-s3-object-created.powertools.json': { kind: 'reject' },
    'lambda-sqs-event-plain-body.json': { kind: 'reject' },
  };

describe('Function: parseMessageBody()', () => {
  it('has an expectation for every verbatim sample', () => {
    expect(allEventFixtures().sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const file of Object.keys(EXPECTED)) {
    it(`reads ${file}`, () => {
      // Act
      const intake = parseMessageBody(eventText(file));
      // Assess
      const want = EXPECTED[file]!;
      expect(intake.kind).toBe(want.kind);
      if (intake.kind === 'hint') {
        expect(intake.hint.instanceId).toBe(want.instanceId);
        expect(intake.hint.source).toBe(want.source);
      }
    });
  }

  it('carries the lifecycle action, warm-pool destination and missing metadata', () => {
    const warm = parseMessageBody(eventText('asg-warm-pool-launch-lifecycle-action-warmpool-to-asg.json'));
    const term = parseMessageBody(eventText('aws-lambda-go.autoscaling-event-terminate-action.json'));
    expect(warm.kind === 'hint' && warm.hint.lifecycleAction).toEqual({
      autoScalingGroupName: 'my-asg',
      lifecycleHookName: 'my-launch-lifecycle-hook',
      token: '19cc4d4a-e450-4d1c-b448-0de67EXAMPLE',
      transition: 'launching',
      destination: 'AutoScalingGroup',
      origin: 'WarmPool',
    });
    expect(term.kind === 'hint' && term.hint.lifecycleAction?.transition).toBe('terminating');
  });

  it('unwraps the S3 event inside the verbatim SQS capture and ignores it as foreign', () => {
    const capture = JSON.parse(eventText('lambda-sqs-event-eventbridge-s3-object-created.powertools.json'));
    const intake = parseMessageBody(capture.Records[0].body);
    expect(intake).toMatchObject({ kind: 'ignore', detailType: 'Object Created' });
  });

  it('rejects the plain "test" body of the verbatim SQS sample with a reason', () => {
    const capture = JSON.parse(eventText('lambda-sqs-event-plain-body.json'));
    const intake = parseMessageBody(capture.Records[0].body);
    expect(intake).toMatchObject({ kind: 'reject' });
    expect(intake.kind === 'reject' && intake.reason).toContain('"test"');
  });

  it('unwraps an SNS envelope around a lifecycle notification', () => {
    const body = JSON.stringify({
      Type: 'Notification',
      Message: eventText('asg-lifecycle-notification-sns-sqs-launching.txt'),
    });
    const intake = parseMessageBody(body);
    expect(intake.kind === 'hint' && intake.hint.lifecycleAction?.lifecycleHookName).toBe('my-hook');
  });

  it('rejects a known detail-type with a malformed detail, naming the field', () => {
    const bad = JSON.parse(eventText('ec2-instance-state-change-pending.json'));
    bad.detail.state = 'exploded';
    const intake = normaliseEvent(bad);
    expect(intake.kind).toBe('reject');
    expect(intake.kind === 'reject' && intake.reason).toContain('state');
  });

  it('rejects non-objects, truncated JSON and an instance id that is not one', () => {
    expect(parseMessageBody('[1,2]').kind).toBe('reject');
    expect(parseMessageBody('{"detail-type": "EC2 Instance').kind).toBe('reject');
    const sample = JSON.parse(eventText('ec2-instance-rebalance-recommendation.json'));
    sample.detail['instance-id'] = 'i-NOPE';
    expect(normaliseEvent(sample).kind).toBe('reject');
  });

  it('ignores a handled detail-type from a foreign source', () => {
    const sample = JSON.parse(eventText('ec2-instance-state-change-terminated.json'));
    expect(normaliseEvent({ ...sample, source: 'my.app' }).kind).toBe('ignore');
  });

  it('lists eight handled detail-types across two sources', () => {
    expect(HANDLED_DETAIL_TYPES).toHaveLength(8);
    expect(new Set(HANDLED_DETAIL_TYPES.map((d) => d.source))).toEqual(
      new Set(['aws.ec2', 'aws.autoscaling']),
    );
  });
});

describe('Function: snsRecords()', () => {
  /** The verbatim Lambda SNS sample with its message replaced. */
  const lambdaSns = (...messages: string[]) => {
    const sample = JSON.parse(eventText('aws-lambda-go.sns-event.json'));
    const record = sample.Records[0];
    return {
      Records: messages.map((Message, i) => ({
        ...record,
        Sns: { ...record.Sns, MessageId: `m${i}`, Message },
      })),
    };
  };
  const pending = eventText('ec2-instance-state-change-pending.json');

  it('gives each record of the verbatim Lambda SNS event as one message, keyed by MessageId', () => {
    // Act
    const records = snsRecords(JSON.parse(eventText('aws-lambda-go.sns-event.json')));
    // Assess
    expect(records).toEqual([{ id: '95df01b4-ee98-5cb9-9903-4c221d41eb5e', body: 'Hello from SNS!' }]);
  });

  it('reads an EC2 event and a text lifecycle notification delivered through SNS', () => {
    // Prepare
    const event = lambdaSns(pending, eventText('asg-lifecycle-notification-sns-sqs-launching.txt'));
    // Act
    const intakes = snsRecords(event)!.map((r) => parseMessageBody(r.body));
    // Assess
    expect(intakes.map((i) => i.kind === 'hint' && i.hint.instanceId)).toEqual([
      'i-abcd1111',
      'i-0598c7d356eba48d7',
    ]);
  });

  it('is not fooled by SQS events, empty record lists or records without a message', () => {
    expect(snsRecords(JSON.parse(eventText('lambda-sqs-event-plain-body.json')))).toBeUndefined();
    expect(snsRecords({ Records: [] })).toBeUndefined();
    expect(snsRecords({ Records: [{ EventSource: 'aws:sns', Sns: {} }] })).toBeUndefined();
    expect(snsRecords(null)).toBeUndefined();
  });

  it('reads a one-message Lambda SNS event found where one event was expected, and refuses one with two', () => {
    expect(normaliseEvent(lambdaSns(pending))).toMatchObject({
      kind: 'hint',
      hint: { instanceId: 'i-abcd1111' },
    });
    expect(normaliseEvent(lambdaSns(pending, pending))).toEqual({
      kind: 'reject',
      reason: 'a Lambda SNS event with 2 messages where one event was expected',
    });
  });

  it('unwraps two SNS envelopes and refuses a third with the reason', () => {
    const wrap = (body: string) => JSON.stringify({ Type: 'Notification', Message: body });
    expect(parseMessageBody(wrap(wrap(pending))).kind).toBe('hint');
    expect(parseMessageBody(wrap(wrap(wrap(pending))))).toEqual({
      kind: 'reject',
      reason: 'more than 2 SNS envelopes around one event',
    });
  });
});
