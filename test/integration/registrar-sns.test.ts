import { describe, expect, it } from 'vitest';
import { eventText, stateChange } from '../helpers/fixtures.ts';
import { instance, useHarness } from '../helpers/harness.ts';

const A = 'i-0000000000000cc01';
const LIFECYCLE = 'i-0598c7d356eba48d7';

/** The verbatim Lambda SNS sample (aws-lambda-go) with one record per message. */
function lambdaSnsEvent(...messages: string[]) {
  const sample = JSON.parse(eventText('aws-lambda-go.sns-event.json'));
  const record = sample.Records[0];
  return {
    Records: messages.map((Message, i) => ({
      ...record,
      Sns: { ...record.Sns, MessageId: `sns-${i}`, Message },
    })),
  };
}

describe('Registrar handler: a Lambda SNS event (the function subscribed to a topic)', () => {
  const h = useHarness();

  it('converges every record message as one event and completes the lifecycle action', async () => {
    // Prepare
    h.aws.putInstance(instance(A));
    h.aws.putInstance(instance(LIFECYCLE, { state: 'pending' }));
    h.aws.addLifecycleAction({
      autoScalingGroupName: 'my-asg',
      lifecycleHookName: 'my-hook',
      instanceId: LIFECYCLE,
      token: '71514b9d-6a40-4b26-8523-05e7ee35fa40',
    });
    const event = lambdaSnsEvent(
      stateChange(A, 'running'),
      eventText('asg-lifecycle-notification-sns-sqs-launching.txt'),
    );

    // Act
    const response = (await h.invoke(event)) as { result: Array<{ kind: string; instanceId?: string }> };

    // Assess
    expect(response.result.map((r) => [r.kind, r.instanceId])).toEqual([
      ['converged', A],
      ['converged', LIFECYCLE],
    ]);
    expect(
      h
        .entries()
        .map((e) => e.metadata.name)
        .sort(),
    ).toEqual([`reviews-${A}`, `reviews-${LIFECYCLE}`]);
    expect(h.aws.completedLifecycleActions()).toMatchObject([{ instanceId: LIFECYCLE, result: 'CONTINUE' }]);
  });

  it('acknowledges a message that is no event, and fails the invocation (Lambda retries it) on a retriable failure', async () => {
    // Prepare
    h.aws.putInstance(instance(A));
    h.kube.setFaults({ failureRate: 1, kinds: [503], onlyWrites: true });
    const event = lambdaSnsEvent('Hello from SNS!', stateChange(A, 'running'));

    // Act
    const failed = await h.invoke(event).then(
      () => undefined,
      (error: Error) => error,
    );
    h.kube.setFaults(undefined);
    const retried = (await h.invoke(event)) as { result: Array<{ kind: string }> };

    // Assess
    expect(failed?.message).toBe('1 of 2 SNS messages failed: sns-1');
    expect(retried.result.map((r) => r.kind)).toEqual(['rejected', 'converged']);
    expect(h.entries().map((e) => e.metadata.name)).toEqual([`reviews-${A}`]);
  });
});
