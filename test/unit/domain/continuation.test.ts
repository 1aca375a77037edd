import { describe, expect, it } from 'vitest';
import { CONTINUATION_KIND, renderContinuation } from '../../../shared/domain/continuation.ts';
import { parseMessageBody } from '../../../shared/domain/events.ts';
import { eventText } from '../../helpers/fixtures.ts';

describe('Lifecycle continuations: render and intake', () => {
  it('a rendered continuation reads back as the same action and progress', () => {
    // Prepare: the hint of a verbatim terminate lifecycle event.
    const original = parseMessageBody(eventText('asg-ec2-instance-terminate-lifecycle-action.json'));
    if (original.kind !== 'hint' || !original.hint.lifecycleAction)
      throw new Error('fixture is not a lifecycle hint');
    const progress = { phase: 'drain', startedAt: 1_000, heartbeatAt: 1_000, drainUntil: 31_000 } as const;

    // Act
    const back = parseMessageBody(
      renderContinuation({ ...original.hint, lifecycleAction: original.hint.lifecycleAction }, progress),
    );

    // Assess
    expect(back).toEqual({
      kind: 'hint',
      hint: {
        instanceId: original.hint.instanceId,
        source: 'registrar-continuation',
        detailType: 'Lifecycle continuation',
        autoScalingGroupName: original.hint.lifecycleAction.autoScalingGroupName,
        lifecycleAction: original.hint.lifecycleAction,
        lifecycleProgress: progress,
        time: '1970-01-01T00:00:01.000Z',
        account: original.hint.account,
        region: original.hint.region,
      },
    });
  });

  it('a body that claims to be a continuation and is not one is rejected with the reason', () => {
    const intake = parseMessageBody(
      JSON.stringify({
        kind: CONTINUATION_KIND,
        version: 1,
        instanceId: 'i-1234567890abcdef0',
        action: { autoScalingGroupName: 'my-asg', lifecycleHookName: 'h', transition: 'sideways' },
        progress: { phase: 'drain', startedAt: -1, heartbeatAt: 0 },
      }),
    );
    expect(intake.kind).toBe('reject');
    expect(intake.kind === 'reject' && intake.reason).toMatch(
      /^malformed lifecycle continuation: .*action\.transition.*progress\.startedAt/,
    );
  });
});
