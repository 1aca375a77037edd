/**
 * The events.k8s.io/v1 behaviours the registrar's Kubernetes Events rely on, pinned in the stand-in
 * (each is what a kube-apiserver 1.26 does; test/e2e/kube-events.e2e.test.ts checks them on one):
 * MicroTime parsing and encoding, the required fields and series rules of ValidateEventCreate, the
 * immutable fields of ValidateEventUpdate, a merge patch of `series` (the repeat of an Event), and
 * 404 for a patch of an Event that is gone (the recorder then creates it again).
 */
import {
  ApiException,
  EventsV1Api,
  type EventsV1Event,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KubeApiStandIn, startKubeApi } from '#test/standins/kube-api/index.ts';

const NS = 'bookinfo';

async function failure(p: Promise<unknown>): Promise<{ code: number; reason?: string; message?: string }> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    const body = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as {
      reason?: string;
      message?: string;
    };
    return { code: e.code, ...body };
  }
  return { code: 200 };
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe('Stand-in: events.k8s.io/v1 Events', () => {
  let standIn: KubeApiStandIn;
  let events: EventsV1Api;

  beforeAll(async () => {
    standIn = await startKubeApi({ namespaces: [NS], danglingOwnerGcDelayMs: -1 });
    const kc = new KubeConfig();
    kc.loadFromString(standIn.kubeconfigYaml());
    events = kc.makeApiClient(EventsV1Api);
  });
  afterAll(() => standIn.close());

  let n = 0;
  const valid = (overrides: Record<string, unknown> = {}): EventsV1Event =>
    ({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `reviews.${++n}`, namespace: NS },
      eventTime: '2026-11-26T09:00:00.123456Z',
      reportingController: 'istio-vm-registrar.io/registrar',
      reportingInstance: 'istio-vm-registrar-registrar-abc',
      action: 'Register',
      reason: 'Registered',
      note: 'Registered i-0abc (10.0.1.10, us-west-2a)',
      type: 'Normal',
      regarding: {
        apiVersion: 'networking.istio.io/v1',
        kind: 'WorkloadGroup',
        namespace: NS,
        name: 'reviews',
        uid: '6d3f1a8e-0000-4000-8000-000000000001',
      },
      ...overrides,
    }) as unknown as EventsV1Event;

  it('stores an Event with eventTime in UTC to the microsecond, zero deprecated fields as null and {}', async () => {
    // Prepare
    const body = valid({ eventTime: '2026-11-26T10:00:00.123456+01:00' });

    // Act
    const created = await events.createNamespacedEvent({ namespace: NS, body });
    const raw = standIn.get('events.k8s.io/v1', 'Event', NS, body.metadata!.name!) as Record<string, unknown>;

    // Assess
    expect(raw.eventTime).toBe('2026-11-26T09:00:00.123456Z');
    expect(raw).toMatchObject({
      deprecatedFirstTimestamp: null,
      deprecatedLastTimestamp: null,
      deprecatedSource: {},
    });
    expect(raw).not.toHaveProperty('deprecatedCount');
    expect((raw.metadata as Record<string, unknown>).generation).toBeUndefined();
    expect(created.reason).toBe('Registered');
  });

  it.each([
    ['milliseconds', '2026-11-26T09:00:00.123Z', 'cannot parse ".123Z" as ".000000"'],
    ['whole seconds', '2026-11-26T09:00:00Z', 'cannot parse "Z" as ".000000"'],
    ['nanoseconds', '2026-11-26T09:00:00.123456789Z', 'cannot parse "789Z" as "Z07:00"'],
  ])(
    'refuses an eventTime in %s: MicroTime takes exactly six fractional digits (400)',
    async (_, time, why) => {
      // Act
      const result = await failure(
        events.createNamespacedEvent({ namespace: NS, body: valid({ eventTime: time }) }),
      );

      // Assess
      expect(result.code).toBe(400);
      expect(result.message).toBe(
        `Event in version "v1" cannot be handled as a Event: parsing time "${time}" as "2006-01-02T15:04:05.000000Z07:00": ${why}`,
      );
    },
  );

  it('refuses an Event without eventTime, reportingController, reportingInstance, action or reason, naming internal fields', async () => {
    // Prepare
    const body = valid({
      eventTime: undefined,
      reportingController: undefined,
      reportingInstance: undefined,
      action: undefined,
      reason: undefined,
    });

    // Act
    const result = await failure(events.createNamespacedEvent({ namespace: NS, body }));

    // Assess: without eventTime the old-style (core) checks apply, then events.k8s.io's own.
    expect(result.code).toBe(422);
    expect(result.message).toBe(
      `Event.events.k8s.io "${body.metadata!.name}" is invalid: eventTime: Required value`,
    );
  });

  it('refuses missing reporting fields, action and reason of a new-style Event (422, one cause each)', async () => {
    // Prepare
    const body = valid({ reportingController: '', reportingInstance: '', action: '', reason: '' });

    // Act
    const result = await failure(events.createNamespacedEvent({ namespace: NS, body }));

    // Assess
    expect(result.code).toBe(422);
    expect(result.message).toContain('reportingController: Required value');
    expect(result.message).toContain('reportingInstance: Required value');
    expect(result.message).toContain('action: Required value');
    expect(result.message).toContain('reason: Required value');
  });

  it.each([
    [
      'a type other than Normal or Warning',
      { type: 'Info' },
      'type: Invalid value: "": has invalid value: Info',
    ],
    [
      'a series of one',
      { series: { count: 1, lastObservedTime: '2026-11-26T09:00:01.000000Z' } },
      'series.count: Invalid value: "": should be at least 2',
    ],
    [
      'a series without lastObservedTime',
      { series: { count: 2 } },
      'series.lastObservedTime: Required value',
    ],
    ['deprecatedCount set', { deprecatedCount: 3 }, 'count: Invalid value: "": needs to be unset'],
    [
      'deprecatedSource set',
      { deprecatedSource: { component: 'x' } },
      'source: Invalid value: "": needs to be unset',
    ],
    [
      'a note over 1024 characters',
      { note: 'x'.repeat(1025) },
      'message: Invalid value: "": can have at most 1024 characters',
    ],
    [
      'a reason over 128 characters',
      { reason: 'R'.repeat(129) },
      'reason: Invalid value: "": can have at most 128 characters',
    ],
    [
      'a reportingController that is not a qualified name',
      { reportingController: 'istio vm' },
      'reportingController: Invalid value: "istio vm": name part must consist of',
    ],
    [
      'a regarding object without namespace outside default',
      { regarding: { apiVersion: 'v1', kind: 'Node', name: 'n1' } },
      'involvedObject.namespace: Invalid value: "": does not match event.namespace',
    ],
  ])('refuses %s (422)', async (_, overrides, message) => {
    // Act
    const result = await failure(events.createNamespacedEvent({ namespace: NS, body: valid(overrides) }));

    // Assess
    expect(result.code).toBe(422);
    expect(result.reason).toBe('Invalid');
    expect(result.message).toContain(message);
  });

  it('takes a merge patch of series (the repeat of an Event) and keeps the rest', async () => {
    // Prepare
    const body = valid();
    const name = body.metadata!.name!;
    await events.createNamespacedEvent({ namespace: NS, body });

    // Act
    const patched = await events.patchNamespacedEvent(
      {
        name,
        namespace: NS,
        body: { series: { count: 2, lastObservedTime: '2026-11-26T09:05:00.000001Z' } },
      },
      mergePatch,
    );
    const again = await events.patchNamespacedEvent(
      {
        name,
        namespace: NS,
        body: { series: { count: 3, lastObservedTime: '2026-11-26T09:10:00.000000Z' } },
      },
      mergePatch,
    );

    // Assess
    expect(patched.series?.count).toBe(2);
    const raw = standIn.get('events.k8s.io/v1', 'Event', NS, name) as Record<string, unknown>;
    expect(raw.series).toEqual({ count: 3, lastObservedTime: '2026-11-26T09:10:00.000000Z' });
    expect(raw.note).toBe(body.note);
    expect(Number(again.metadata?.resourceVersion)).toBeGreaterThan(
      Number(patched.metadata?.resourceVersion),
    );
  });

  it.each([
    [
      'series.count below 2',
      { series: { count: 1, lastObservedTime: '2026-11-26T09:05:00.000000Z' } },
      'series.count: Invalid value: "": should be at least 2',
    ],
    ['the note', { note: 'something else' }, 'message: Invalid value: "something else": field is immutable'],
    ['the reason', { reason: 'Other' }, 'reason: Invalid value: "Other": field is immutable'],
    [
      'the eventTime',
      { eventTime: '2026-11-26T09:00:01.000000Z' },
      'eventTime: Forbidden: field is immutable',
    ],
    [
      'the regarding object',
      { regarding: { name: 'ratings' } },
      'involvedObject: Invalid value: core.ObjectReference{Kind:"WorkloadGroup"',
    ],
  ])('refuses a patch of %s (422)', async (_, patch, message) => {
    // Prepare
    const body = valid();
    await events.createNamespacedEvent({ namespace: NS, body });

    // Act
    const result = await failure(
      events.patchNamespacedEvent({ name: body.metadata!.name!, namespace: NS, body: patch }, mergePatch),
    );

    // Assess
    expect(result.code).toBe(422);
    expect(result.message).toContain(message);
  });

  it('answers 404 to a patch of an Event that does not exist (a merge patch never creates)', async () => {
    // Act
    const result = await failure(
      events.patchNamespacedEvent(
        {
          name: 'gone.1',
          namespace: NS,
          body: { series: { count: 2, lastObservedTime: '2026-11-26T09:05:00.000000Z' } },
        },
        mergePatch,
      ),
    );

    // Assess
    expect(result).toMatchObject({ code: 404, reason: 'NotFound' });
  });

  it('lists Events by label selector, across pages', async () => {
    // Prepare
    for (let i = 0; i < 3; i++) {
      await events.createNamespacedEvent({
        namespace: NS,
        body: valid({
          metadata: {
            name: `labelled.${i}`,
            namespace: NS,
            labels: { 'app.kubernetes.io/managed-by': 'istio-vm-registrar' },
          },
        }),
      });
    }

    // Act
    const first = await events.listNamespacedEvent({
      namespace: NS,
      labelSelector: 'app.kubernetes.io/managed-by=istio-vm-registrar',
      limit: 2,
    });
    const second = await events.listNamespacedEvent({
      namespace: NS,
      labelSelector: 'app.kubernetes.io/managed-by=istio-vm-registrar',
      limit: 2,
      _continue: first.metadata!._continue!,
    });

    // Assess
    expect([...first.items, ...second.items].map((e) => e.metadata?.name)).toEqual([
      'labelled.0',
      'labelled.1',
      'labelled.2',
    ]);
  });
});
