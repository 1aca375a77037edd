import { describe, expect, it } from 'vitest';
import { matchesEventPattern } from './event-pattern.ts';

describe('Function: matchesEventPattern() (the test matcher itself)', () => {
  const event = {
    source: 'aws.ec2',
    'detail-type': 'EC2 Instance State-change Notification',
    resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-1'],
    detail: { 'instance-id': 'i-1', state: 'pending' },
  };

  it('matches exact values, nested objects and any element of an array', () => {
    expect(
      matchesEventPattern(
        {
          source: ['aws.ec2'],
          detail: { state: ['running', 'pending'] },
          resources: [{ prefix: 'arn:aws:ec2:' }],
        },
        event,
      ),
    ).toBe(true);
  });

  it('rejects a different value, a missing field and a failed prefix', () => {
    expect(matchesEventPattern({ source: ['aws.autoscaling'] }, event)).toBe(false);
    expect(matchesEventPattern({ detail: { AutoScalingGroupName: ['my-asg'] } }, event)).toBe(false);
    expect(matchesEventPattern({ resources: [{ prefix: 'arn:aws:autoscaling:' }] }, event)).toBe(false);
    expect(matchesEventPattern({ detail: { state: ['pending'] } }, { ...event, detail: 'pending' })).toBe(
      false,
    );
  });

  it('refuses matchers it does not implement rather than guessing', () => {
    expect(() => matchesEventPattern({ detail: { state: [{ 'anything-but': 'stopped' }] } }, event)).toThrow(
      /unsupported/,
    );
  });
});
