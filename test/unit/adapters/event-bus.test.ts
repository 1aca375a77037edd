import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../../shared/adapters/event-bus.ts';
import { RefusalReason } from '../../../shared/domain/errors.ts';
import {
  busEventFor,
  DetailType,
  EVENT_SOURCE,
  type InstanceNotice,
} from '../../../shared/domain/notifications.ts';
import { delivered, eventSchemas } from '../../helpers/event-schemas.ts';

const eventBridge = mockClient(EventBridgeClient);
afterEach(() => eventBridge.reset());

const bus = (maxAttempts = 3) =>
  new EventBus(new EventBridgeClient({ region: 'us-west-2' }), 'registrar-events', {
    source: EVENT_SOURCE,
    maxAttempts,
    sleep: async () => {},
  });

const entry = (i: number) => ({ detailType: DetailType.Registered, detail: { i } });

describe('Class: EventBus', () => {
  it('sends at most ten entries per PutEvents, to the named bus with source istio-vm-registrar', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map((_, i) => ({ EventId: `id-${i}` })),
    }));

    // Act
    const result = await bus().publish(Array.from({ length: 23 }, (_, i) => entry(i)));

    // Assess
    const calls = eventBridge.commandCalls(PutEventsCommand);
    expect(calls.map((c) => c.args[0].input.Entries?.length)).toEqual([10, 10, 3]);
    expect(calls[0]!.args[0].input.Entries![0]).toMatchObject({
      EventBusName: 'registrar-events',
      Source: 'istio-vm-registrar',
      DetailType: 'WorkloadEntry Registered',
      Detail: '{"i":0}',
    });
    expect(result).toEqual({ published: 23, failed: [], retried: 0 });
  });

  it('retries only the entries a partial failure names with an error that may clear, and reports the rest', async () => {
    // Prepare: entry 1 throttled once, entry 2 refused for good.
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 2,
        Entries: [
          { EventId: 'a' },
          { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' },
          { ErrorCode: 'AccessDeniedException', ErrorMessage: 'not authorized to put events' },
        ],
      })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'b' }] });

    // Act
    const result = await bus().publish([entry(0), entry(1), entry(2)]);

    // Assess
    const calls = eventBridge.commandCalls(PutEventsCommand);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.args[0].input.Entries!.map((e) => e.Detail)).toEqual(['{"i":1}']);
    expect(result.published).toBe(2);
    expect(result.retried).toBe(1);
    expect(result.failed).toEqual([
      {
        detailType: 'WorkloadEntry Registered',
        error: 'AccessDeniedException: not authorized to put events',
      },
    ]);
  });

  it('gives up on an entry that keeps failing after maxAttempts, without throwing', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'internal' }],
    });

    // Act
    const result = await bus(3).publish([entry(0)]);

    // Assess
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(3);
    expect(result).toEqual({
      published: 0,
      retried: 2,
      failed: [{ detailType: 'WorkloadEntry Registered', error: 'InternalFailure: internal' }],
    });
  });

  it('reports every entry of a request that failed as a whole (after the SDK retries)', async () => {
    // Prepare
    const denied = Object.assign(new Error('User is not authorized to perform: events:PutEvents'), {
      name: 'AccessDeniedException',
    });
    eventBridge.on(PutEventsCommand).rejects(denied);

    // Act
    const result = await bus().publish([entry(0), entry(1)]);

    // Assess
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
    expect(result.failed.map((f) => f.error)).toEqual([
      'AccessDeniedException: User is not authorized to perform: events:PutEvents',
      'AccessDeniedException: User is not authorized to perform: events:PutEvents',
    ]);
  });
});

describe('docs/events: one JSON schema per detail-type, with a valid example', () => {
  const schemas = eventSchemas();

  it('has a schema for each detail-type the registrar publishes, and nothing else', () => {
    expect([...schemas.keys()].sort()).toEqual(Object.values(DetailType).sort());
  });

  it.each([...eventSchemas().values()].map((s) => [s.file, s] as const))(
    '%s: its example validates',
    (_, s) => {
      const examples = s.schema.examples as unknown[];
      expect(examples.length).toBeGreaterThan(0);
      for (const example of examples)
        expect(s.validate(example), JSON.stringify(s.validate.errors)).toBe(true);
    },
  );

  it('Instance Refused lists exactly the refusal reasons of shared/domain/errors.ts', () => {
    const schema = schemas.get(DetailType.Refused)!.schema as {
      properties: { detail: { properties: { reason: { enum: string[] } } } };
    };
    expect(schema.properties.detail.properties.reason.enum.sort()).toEqual(
      Object.values(RefusalReason).sort(),
    );
  });

  it('refuses an event missing a required field (the schemas can fail)', () => {
    const s = schemas.get(DetailType.Registered)!;
    const example = structuredClone((s.schema.examples as Array<{ detail: Record<string, unknown> }>)[0]!);
    delete example.detail.address;
    expect(s.validate(example)).toBe(false);
  });

  const group = {
    namespace: 'bookinfo',
    name: 'reviews',
    uid: 'u-1',
    apiVersion: 'networking.istio.io/v1',
    annotations: {},
    entryMetadata: { labels: {}, annotations: {} },
    template: {},
  };
  const trigger = {
    source: 'event',
    detailType: 'EC2 Instance State-change Notification',
    eventId: 'e-1',
    eventTime: '2026-11-26T09:00:00Z',
  } as const;
  const notices: InstanceNotice[] = [
    {
      kind: 'registered',
      instanceId: 'i-0abcdef1234567890',
      group,
      entry: { namespace: 'bookinfo', name: 'reviews-i-0abcdef1234567890', uid: 'e-uid' },
      address: '10.0.1.10',
      availabilityZone: 'us-west-2a',
      region: 'us-west-2',
      account: '111122223333',
      trigger,
      timeToMeshMs: 1200,
      correlationId: 'c-1',
    },
    {
      kind: 'deregistered',
      instanceId: 'i-0abcdef1234567890',
      groupKey: 'bookinfo/reviews',
      entries: [{ namespace: 'bookinfo', name: 'reviews-i-0abcdef1234567890' }],
      reason: 'instance terminated',
      trigger,
      correlationId: 'c-2',
    },
    {
      kind: 'refused',
      instanceId: 'i-0abcdef1234567890',
      groupKey: 'Bookinfo/Reviews!',
      refusal: { reason: RefusalReason.InvalidGroupTag, message: 'tag is not <namespace>/<name>' },
      trigger: { source: 'reconcile' },
      correlationId: 'c-3',
    },
  ];

  it.each(notices.map((n) => [n.kind, n] as const))(
    'the %s event the code builds validates against its schema',
    (_, notice) => {
      // Prepare
      eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'x' }] });
      const event = busEventFor(notice);

      // Act
      return bus()
        .publish([{ ...event, time: new Date('2026-11-26T09:00:02Z') }])
        .then(() => {
          // Assess
          const sent = eventBridge.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]!;
          const s = schemas.get(sent.DetailType!)!;
          expect(s.validate(delivered(sent)), JSON.stringify(s.validate.errors)).toBe(true);
        });
    },
  );
});
