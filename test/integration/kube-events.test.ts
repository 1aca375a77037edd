import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { kubeConfigSource } from '../../shared/adapters/eks-auth.ts';
import { KubeWorkloads } from '../../shared/adapters/kube.ts';
import { KubeEventRecorder, microTime } from '../../shared/adapters/kube-events.ts';
import { Notifier } from '../../shared/app/notifier.ts';
import type { KubeEventInput } from '../../shared/domain/notifications.ts';
import { logger, telemetry } from '../../shared/observability.ts';
import { type KubeApiStandIn, rbacForbidden, startKubeApi } from '../standins/kube-api/index.ts';

const NS = 'bookinfo';

describe('Class: KubeEventRecorder (events.k8s.io/v1 through client-node, against the stand-in)', () => {
  let standIn: KubeApiStandIn;
  let dir: string;
  let kube: KubeWorkloads;
  let clock: number;

  beforeEach(async () => {
    standIn = await startKubeApi({ namespaces: [NS], danglingOwnerGcDelayMs: -1 });
    dir = mkdtempSync(join(tmpdir(), 'kube-events-'));
    const path = join(dir, 'kubeconfig');
    standIn.writeKubeconfig(path);
    kube = new KubeWorkloads(kubeConfigSource({ kind: 'kubeconfig', path }), {
      fieldManager: 'istio-vm-registrar',
      requestTimeoutMs: 5000,
      backoffBaseMs: 1,
    });
    clock = Date.parse('2026-11-26T09:00:00.000Z');
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await standIn.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const recorder = () =>
    new KubeEventRecorder(kube, {
      reportingController: 'istio-vm-registrar',
      reportingInstance: 'registrar-0a1b2c3d',
      now: () => clock,
    });
  const registered = (instance = 'i-0abc'): KubeEventInput => ({
    regarding: {
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadGroup',
      namespace: NS,
      name: 'reviews',
      uid: 'g-uid',
    },
    related: {
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      namespace: NS,
      name: `reviews-${instance}`,
    },
    type: 'Normal',
    reason: 'Registered',
    action: 'Register',
    note: `Registered ${instance} (10.0.1.10, us-west-2a)`,
  });
  type StoredEvent = {
    metadata: { name: string };
    series?: { count: number; lastObservedTime: string };
    note?: string;
  };
  const events = () => standIn.list('events.k8s.io/v1', 'Event', NS) as unknown as StoredEvent[];

  it('creates an Event as client-go does: name <regarding>.<hex nanos>, reporting fields, MicroTime, managed-by label', async () => {
    // Act
    const result = await recorder().record(registered());

    // Assess
    expect(result).toBe('created');
    const [event] = events();
    expect(event!.metadata.name).toMatch(/^reviews\.[0-9a-f]+$/);
    expect(event).toMatchObject({
      eventTime: '2026-11-26T09:00:00.000000Z',
      reportingController: 'istio-vm-registrar',
      reportingInstance: 'registrar-0a1b2c3d',
      reason: 'Registered',
      action: 'Register',
      type: 'Normal',
      note: 'Registered i-0abc (10.0.1.10, us-west-2a)',
      regarding: { kind: 'WorkloadGroup', name: 'reviews', namespace: NS, uid: 'g-uid' },
      related: { kind: 'WorkloadEntry', name: 'reviews-i-0abc' },
      metadata: { labels: { 'app.kubernetes.io/managed-by': 'istio-vm-registrar' } },
    });
    expect(event).not.toHaveProperty('series');
  });

  it('counts repeats in the first Event series with one patch each, instead of new Events', async () => {
    // Prepare
    const r = recorder();
    await r.record(registered());
    standIn.resetStats();

    // Act
    clock += 60_000;
    const second = await r.record(registered());
    clock += 60_000;
    const third = await r.record(registered());

    // Assess
    expect([second, third]).toEqual(['counted', 'counted']);
    expect(events()).toHaveLength(1);
    expect(events()[0]!.series).toEqual({ count: 3, lastObservedTime: microTime(clock) });
    expect(standIn.stats().byVerb).toEqual({ patch: 2 });
  });

  it('writes a new Event for another instance (its note and related entry differ) and after the series window', async () => {
    // Prepare
    const r = recorder();
    await r.record(registered('i-0abc'));

    // Act
    await r.record(registered('i-0def'));
    clock += 7 * 60_000;
    await r.record(registered('i-0abc'));

    // Assess
    expect(events()).toHaveLength(3);
    expect(events().every((e) => e.series === undefined)).toBe(true);
  });

  it('creates the Event again, with its series, when the one it counts into is gone (event TTL)', async () => {
    // Prepare
    const r = recorder();
    await r.record(registered());
    const [first] = events();
    await kube.callApi((await import('@kubernetes/client-node')).EventsV1Api, 'delete', (api, o) =>
      api.deleteNamespacedEvent({ namespace: NS, name: first!.metadata.name }, o),
    );

    // Act
    clock += 1_000;
    const result = await r.record(registered());

    // Assess
    expect(result).toBe('created');
    expect(events()).toHaveLength(1);
    expect(events()[0]!.series).toEqual({ count: 2, lastObservedTime: microTime(clock) });
  });

  it('writes concurrent repeats of one Event one after the other: one object, its series counting all', async () => {
    // Prepare
    const r = recorder();

    // Act
    await Promise.all([r.record(registered()), r.record(registered()), r.record(registered())]);

    // Assess
    expect(events()).toHaveLength(1);
    expect(events()[0]!.series?.count).toBe(3);
  });

  it('cuts a note past 1024 characters instead of having the Event refused', async () => {
    // Act
    await recorder().record({ ...registered(), note: 'x'.repeat(2000) });

    // Assess
    expect(String(events()[0]!.note)).toHaveLength(1024);
  });

  describe('Class: Notifications', () => {
    const notifier = (max = 500) =>
      new Notifier({
        recorder: recorder(),
        entryEvents: true,
        telemetry,
        logger,
        maxKubeEventsPerInvocation: max,
      });

    it('never fails: an RBAC denial is counted and logged once with the missing permission', async () => {
      // Prepare
      standIn.setRequestHook((r) => {
        if (r.path.includes('/events'))
          throw rbacForbidden({
            user: 'arn:aws:sts::111122223333:assumed-role/registrar',
            verb: 'create',
            group: 'events.k8s.io',
            resource: 'events',
            namespace: NS,
          });
      });
      const count = vi.spyOn(telemetry, 'count');
      const warn = vi.spyOn(logger, 'warn');
      const n = notifier().start(kube);

      // Act
      n.kube([registered('i-0abc'), registered('i-0def')]);
      await n.settle();

      // Assess
      expect(count.mock.calls.filter(([m]) => m === 'KubernetesEventsFailed')).toHaveLength(2);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]![1]).toMatchObject({ missingPermission: expect.stringContaining('events') });
    });

    it('writes at most the per-invocation bound and counts the rest as failed', async () => {
      // Prepare
      const count = vi.spyOn(telemetry, 'count');
      const n = notifier(2).start(kube);

      // Act
      n.kube([registered('i-01'), registered('i-02'), registered('i-03')]);
      await n.settle();

      // Assess
      expect(events()).toHaveLength(2);
      expect(count).toHaveBeenCalledWith('KubernetesEventsFailed', 1);
    });
  });
});
