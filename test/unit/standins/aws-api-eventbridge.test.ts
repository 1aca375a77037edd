import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '#shared/adapters/event-bus.ts';
import { type AwsApiStandIn, startAwsApi } from '#test/standins/aws-api/index.ts';

const credentials = { accessKeyId: 'AKIDSTANDINTEST', secretAccessKey: 'not-a-secret' };

describe('AWS stand-in: EventBridge PutEvents through the real EventBridge client', () => {
  let aws: AwsApiStandIn;
  let client: EventBridgeClient;
  beforeEach(async () => {
    aws = await startAwsApi();
    client = new EventBridgeClient({ endpoint: aws.url, region: 'us-west-2', credentials, maxAttempts: 1 });
  });
  afterEach(async () => {
    client.destroy();
    await aws.close();
  });

  it('accepts entries on a created bus (by name or ARN) and answers an EventId per entry, in order', async () => {
    // Prepare
    aws.createEventBus('mesh');

    // Act
    const out = await client.send(
      new PutEventsCommand({
        Entries: [
          { EventBusName: 'mesh', Source: 'istio-vm-registrar', DetailType: 'A', Detail: '{"n":1}' },
          {
            EventBusName: 'arn:aws:events:us-west-2:123456789012:event-bus/mesh',
            Source: 'istio-vm-registrar',
            DetailType: 'B',
            Detail: '{"n":2}',
            Resources: ['arn:aws:ec2:us-west-2:123456789012:instance/i-0abc'],
          },
        ],
      }),
    );

    // Assess
    expect(out.FailedEntryCount).toBe(0);
    expect(out.Entries?.map((e) => typeof e.EventId)).toEqual(['string', 'string']);
    expect(aws.publishedEvents().map((e) => [e.eventBusName, e.detailType, e.detail, e.resources])).toEqual([
      ['mesh', 'A', { n: 1 }, []],
      ['mesh', 'B', { n: 2 }, ['arn:aws:ec2:us-west-2:123456789012:instance/i-0abc']],
    ]);
  });

  it('fails a malformed entry alone (FailedEntryCount), a bus that does not exist and more than 10 entries for the whole request', async () => {
    // Act
    const partial = await client.send(
      new PutEventsCommand({
        Entries: [
          { Source: 's', DetailType: 'ok', Detail: '{}' },
          { Source: 's', DetailType: 'bad', Detail: 'not json' },
        ],
      }),
    );
    const missing = await client
      .send(
        new PutEventsCommand({
          Entries: [{ EventBusName: 'nope', Source: 's', DetailType: 'x', Detail: '{}' }],
        }),
      )
      .catch((e: Error) => e);
    const tooMany = await client
      .send(
        new PutEventsCommand({
          Entries: Array.from({ length: 11 }, () => ({ Source: 's', DetailType: 'x', Detail: '{}' })),
        }),
      )
      .catch((e: Error) => e);

    // Assess
    expect(partial.FailedEntryCount).toBe(1);
    expect(partial.Entries?.[1]).toMatchObject({ ErrorCode: 'MalformedDetail' });
    expect(missing).toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'Event bus nope does not exist.',
    });
    expect(tooMany).toMatchObject({ name: 'ValidationException' });
    expect(aws.publishedEvents().map((e) => e.detailType)).toEqual(['ok']);
  });

  it("the registrar's publisher sends 23 entries as three requests of at most 10", async () => {
    // Prepare
    aws.createEventBus('mesh');
    const bus = new EventBus(client, 'mesh', { source: 'istio-vm-registrar' });

    // Act
    const result = await bus.publish(
      Array.from({ length: 23 }, (_, n) => ({ detailType: 'WorkloadEntry Registered', detail: { n } })),
    );

    // Assess
    expect(result).toEqual({ published: 23, failed: [], retried: 0 });
    expect(aws.stats().byAction.PutEvents).toBe(3);
    expect(aws.publishedEvents().map((e) => (e.detail as { n: number }).n)).toEqual(
      Array.from({ length: 23 }, (_, n) => n),
    );
  });
});
