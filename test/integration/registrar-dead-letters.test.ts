import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { missingPermission } from '../../shared/adapters/dead-letters.ts';
import { logger, telemetry } from '../../shared/observability.ts';
import { stateChange } from '../helpers/fixtures.ts';
import { instance, NAMESPACE, useHarness } from '../helpers/harness.ts';
import { rbacForbidden } from '../standins/kube-api/index.ts';

const IDS = ['i-0000000000000dd01', 'i-0000000000000dd02'];
const DLQ = 'https://sqs.us-west-2.amazonaws.com/123456789012/istio-vm-registrar-dlq';

describe('Registrar: records that cannot succeed on retry go to the dead-letter queue once', () => {
  const h = useHarness({ DEAD_LETTER_QUEUE_URL: DLQ });
  const sqs = mockClient(SQSClient);
  beforeEach(() => {
    sqs.reset();
    sqs.on(SendMessageCommand).resolves({ MessageId: 'dlq-1' });
  });
  afterEach(() => sqs.reset());

  it('moves every record of a batch EC2 refuses (AccessDenied) with the missing permission, and acknowledges them', async () => {
    // Prepare
    for (const id of IDS) h.aws.putInstance(instance(id));
    h.aws.setFaults({ denyActions: ['DescribeInstances'] });
    const bodies = IDS.map((id) => stateChange(id, 'running'));
    const error = vi.spyOn(logger, 'error');
    const count = vi.spyOn(telemetry, 'count');

    // Act
    const response = await h.send(bodies);

    // Assess: acknowledged (no redelivery), each original body in the DLQ with the reason.
    expect(response.batchItemFailures).toEqual([]);
    const sent = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(sent.map((m) => m.MessageBody).sort()).toEqual([...bodies].sort());
    expect(sent.every((m) => m.QueueUrl === DLQ)).toBe(true);
    expect(sent[0]?.MessageAttributes?.['istio-vm-registrar.failure']?.StringValue).toMatch(
      /UnauthorizedOperation.*ec2:DescribeInstances/,
    );
    expect(error).toHaveBeenCalledWith(
      'record cannot succeed on retry: moved to the dead-letter queue',
      expect.objectContaining({ recordId: 'batch1-0', missingPermission: 'ec2:DescribeInstances' }),
    );
    expect(count).toHaveBeenCalledWith('EventsDeadLettered');
    expect(count).not.toHaveBeenCalledWith('EventsFailed');
    expect(h.entries()).toEqual([]);
  });

  it('moves a record whose write RBAC forbids, naming the verb, resource and namespace', async () => {
    // Prepare
    h.aws.putInstance(instance(IDS[0]!));
    h.kube.setRequestHook(({ verb, path }) => {
      if (verb === 'apply')
        throw rbacForbidden({
          user: 'arn:aws:sts::123456789012:assumed-role/registrar/x',
          verb: 'patch',
          group: 'networking.istio.io',
          resource: 'workloadentries',
          namespace: NAMESPACE,
          name: path.split('/').at(-1)!,
        });
    });
    const error = vi.spyOn(logger, 'error');

    // Act
    const response = await h.send([stateChange(IDS[0]!, 'running')]);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(1);
    expect(error).toHaveBeenCalledWith(
      'record cannot succeed on retry: moved to the dead-letter queue',
      expect.objectContaining({
        missingPermission: `patch workloadentries.networking.istio.io in namespace ${NAMESPACE}`,
      }),
    );
  });

  it('still hands a throttled record back to SQS, and nothing goes to the DLQ', async () => {
    // Prepare
    h.aws.putInstance(instance(IDS[0]!));
    h.aws.setFaults({ ec2ThrottleRate: 1, seed: 1 });

    // Act
    const response = await h.send([stateChange(IDS[0]!, 'running')]);

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'batch1-0' }]);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
  });

  it('hands the record back to SQS when the dead-letter queue cannot be reached', async () => {
    // Prepare
    h.aws.putInstance(instance(IDS[0]!));
    h.aws.setFaults({ denyActions: ['DescribeInstances'] });
    sqs.on(SendMessageCommand).rejects(new Error('connect ECONNREFUSED'));
    const count = vi.spyOn(telemetry, 'count');

    // Act
    const response = await h.send([stateChange(IDS[0]!, 'running')]);

    // Assess: never lost: SQS delivers it again (and moves it after maxReceiveCount).
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'batch1-0' }]);
    expect(count).toHaveBeenCalledWith('EventsFailed');
    expect(count).not.toHaveBeenCalledWith('EventsDeadLettered');
  });
});

describe('Function: missingPermission()', () => {
  it('names the IAM action of an EC2 or Auto Scaling denial and the RBAC rule of a Kubernetes one', () => {
    expect(
      missingPermission(
        'User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: autoscaling:CompleteLifecycleAction on resource: arn',
      ),
    ).toBe('autoscaling:CompleteLifecycleAction');
    expect(
      missingPermission(
        'workloadgroups.networking.istio.io "reviews" is forbidden: User "u" cannot get resource "workloadgroups" in API group "networking.istio.io" in the namespace "bookinfo"',
      ),
    ).toBe('get workloadgroups.networking.istio.io in namespace bookinfo');
    expect(missingPermission('Throttling: Rate exceeded')).toBeUndefined();
  });
});
