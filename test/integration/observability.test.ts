import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { EventsV1Event } from '@kubernetes/client-node';
import type { SQSBatchResponse } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler } from '../../functions/registrar/handler.ts';
import { runStatus } from '../../shared/cli/reconcile.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import { telemetry } from '../../shared/observability.ts';
import { delivered, eventSchemas } from '../helpers/event-schemas.ts';
import { sqsRecord, stateChange, withInstance } from '../helpers/fixtures.ts';
import { instance, useHarness } from '../helpers/harness.ts';
import { reconcilerFromEnv } from '../helpers/reconcile.ts';

// Powertools metrics on for this file (the suite turns them off): the EMF documents are the output.
vi.hoisted(() => {
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
});

/**
 * What an on-call engineer sees of a scale-out, a scale-in, a refused instance and a failing
 * Kubernetes API, through the real registrar handler: the EMF documents it prints (names,
 * dimensions, values, latencies), the EventBridge entries it publishes (validated against
 * docs/events/), and the Kubernetes Events it leaves on the WorkloadGroup.
 */
interface Emf {
  _aws: {
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: string }>;
    }>;
  };
  [key: string]: unknown;
}

const eventBridge = mockClient(EventBridgeClient);

// EMF documents printed outside emfOf (by the sweeps and invocations a test prepares with) are not
// this file's output: dropped, everything else written through.
const stdoutWrite = process.stdout.write;
beforeAll(() => {
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) =>
    String(chunk).startsWith('{"_aws"')
      ? true
      : stdoutWrite.call(process.stdout, chunk as string, ...(rest as []))) as typeof process.stdout.write;
});
afterAll(() => {
  process.stdout.write = stdoutWrite;
});
const IDS = ['i-0a0000000000000b1', 'i-0a0000000000000b2'];

/** Every EMF document printed while `act` runs. */
async function emfOf(act: () => Promise<unknown>): Promise<Emf[]> {
  const out: Emf[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown, ...rest: unknown[]) => {
    for (const line of String(chunk).split('\n')) {
      if (!line.startsWith('{')) continue;
      const doc = JSON.parse(line) as Emf;
      if (doc._aws) out.push(doc);
      else write(line, ...(rest as []));
    }
    return true;
  });
  try {
    await act();
  } finally {
    spy.mockRestore();
  }
  return out;
}

/** The values of `name` in the documents with exactly `dims` (service included), by dimension values. */
function values(docs: Emf[], name: string, dims: string[], where: Record<string, string> = {}): number[] {
  const want = ['service', ...dims].sort().join(',');
  return docs.flatMap((d) => {
    const cw = d._aws.CloudWatchMetrics[0]!;
    if (!cw.Dimensions.some((set) => [...set].sort().join(',') === want)) return [];
    if (!cw.Metrics.some((m) => m.Name === name)) return [];
    if (Object.entries(where).some(([k, v]) => d[k] !== v)) return [];
    const v = d[name];
    return Array.isArray(v) ? (v as number[]) : [v as number];
  });
}
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** An SQS batch of events stamped `ageMs` ago (event time and SentTimestamp). */
function batch(bodies: string[], ageMs: number) {
  const sent = Date.now() - ageMs;
  const time = new Date(Math.floor(sent / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    Records: bodies.map((body, i) => {
      const record = sqsRecord(JSON.stringify({ ...JSON.parse(body), time }), `obs-${i}`) as Record<
        string,
        unknown
      >;
      return { ...record, attributes: { ...(record.attributes as object), SentTimestamp: String(sent) } };
    }),
  };
}

describe('Observability of the registrar handler (EMF, EventBridge, Kubernetes Events)', () => {
  const h = useHarness({
    EVENT_BUS: 'arn:aws:events:us-west-2:111122223333:event-bus/registrar',
    KUBE_EVENTS: 'all',
  });
  const schemas = eventSchemas();
  beforeEach(() => {
    eventBridge.reset();
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map((_, i) => ({ EventId: `ev-${i}` })),
    }));
  });
  afterEach(() => eventBridge.reset());

  const send = async (event: ReturnType<typeof batch>) =>
    (await handler(event, cliContext('registrar-test'))) as SQSBatchResponse;
  const groupEvents = () =>
    (h.kube.list('events.k8s.io/v1', 'Event', 'bookinfo') as unknown as EventsV1Event[]).filter(
      (e) => e.regarding?.kind === 'WorkloadGroup',
    );
  const published = () =>
    eventBridge.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []);

  it('scale-out: counts in total and by group, time to mesh and message age, call latencies, one PutEvents, Registered Events', async () => {
    // Prepare
    for (const id of IDS) h.aws.putInstance(instance(id));

    // Act
    let response: SQSBatchResponse | undefined;
    const docs = await emfOf(async () => {
      response = await send(
        batch(
          IDS.map((id) => withInstance('asg-ec2-instance-launch-successful.json', id)),
          2_500,
        ),
      );
    });

    // Assess: metrics
    expect(response).toEqual({ batchItemFailures: [] });
    expect(sum(values(docs, 'EntriesApplied', []))).toBe(2);
    expect(values(docs, 'EntriesApplied', ['WorkloadGroup'], { WorkloadGroup: 'bookinfo/reviews' })).toEqual([
      2,
    ]);
    const ttm = values(docs, 'TimeToMesh', ['Action'], { Action: 'register' });
    expect(ttm).toHaveLength(2);
    for (const ms of ttm) expect(ms).toBeGreaterThanOrEqual(2_500);
    for (const ms of ttm) expect(ms).toBeLessThan(60_000);
    const age = values(docs, 'MessageAge', []);
    expect(age).toHaveLength(2);
    for (const ms of age) expect(ms).toBeGreaterThanOrEqual(2_500);
    expect(values(docs, 'KubernetesLatency', ['Operation'], { Operation: 'apply' })).toHaveLength(2);
    expect(
      values(docs, 'Ec2Latency', ['Operation'], { Operation: 'DescribeInstances' }).length,
    ).toBeGreaterThanOrEqual(1);
    expect(sum(values(docs, 'KubernetesEventsWritten', []))).toBe(4);
    expect(sum(values(docs, 'BusEventsPublished', []))).toBe(2);
    for (const doc of docs) {
      // Never an instance id as a dimension.
      expect(JSON.stringify(doc._aws.CloudWatchMetrics[0]!.Dimensions)).not.toMatch(/instance/i);
      expect(Object.values(doc)).not.toContain(IDS[0]);
    }
    // EventBridge: one request for the batch, entries valid against docs/events.
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
    for (const entry of published()) {
      const s = schemas.get(entry.DetailType!)!;
      expect(s.validate(delivered(entry)), JSON.stringify(s.validate.errors)).toBe(true);
      expect(entry).toMatchObject({ Source: 'istio-vm-registrar', DetailType: 'WorkloadEntry Registered' });
      expect(entry.EventBusName).toBe('arn:aws:events:us-west-2:111122223333:event-bus/registrar');
    }
    // Kubernetes Events on the group, one per instance, naming address and zone.
    const notes = groupEvents()
      .map((e) => e.note)
      .sort();
    expect(notes).toEqual(
      IDS.map((id) => `Registered ${id} (${instance(id).privateIpAddress}, us-west-2b)`).sort(),
    );
    expect(groupEvents().every((e) => e.reason === 'Registered' && e.type === 'Normal')).toBe(true);
  });

  it('scale-in: EntriesDeleted in total and by group, time to mesh of the deregistration, a Deregistered Event', async () => {
    // Prepare
    for (const id of IDS) h.aws.putInstance(instance(id));
    await send(
      batch(
        IDS.map((id) => withInstance('asg-ec2-instance-launch-successful.json', id)),
        0,
      ),
    );
    h.aws.setState(IDS[0]!, 'terminated');
    eventBridge.resetHistory();

    // Act
    const docs = await emfOf(() => send(batch([stateChange(IDS[0]!, 'terminated')], 1_200)));

    // Assess
    expect(sum(values(docs, 'EntriesDeleted', []))).toBe(1);
    expect(values(docs, 'EntriesDeleted', ['WorkloadGroup'], { WorkloadGroup: 'bookinfo/reviews' })).toEqual([
      1,
    ]);
    const ttm = values(docs, 'TimeToMesh', ['Action'], { Action: 'deregister' });
    expect(ttm).toHaveLength(1);
    expect(ttm[0]).toBeGreaterThanOrEqual(1_200);
    expect(values(docs, 'KubernetesLatency', ['Operation'], { Operation: 'delete' })).toHaveLength(1);
    const [entry] = published();
    expect(entry?.DetailType).toBe('WorkloadEntry Deregistered');
    expect(schemas.get('WorkloadEntry Deregistered')!.validate(delivered(entry!))).toBe(true);
    expect(JSON.parse(entry!.Detail!)).toMatchObject({
      instanceId: IDS[0],
      reason: 'instance is terminated',
      timeToMeshMs: ttm[0],
    });
    expect(
      groupEvents()
        .filter((e) => e.reason === 'Deregistered')
        .map((e) => e.note),
    ).toEqual([`Deregistered ${IDS[0]}: instance is terminated`]);
  });

  it('refused input: InstancesRefused by reason and by group, an Instance Refused event, a Warning Event', async () => {
    // Prepare
    h.aws.putInstance({ ...instance(IDS[0]!), privateIpAddress: undefined } as never);

    // Act
    const docs = await emfOf(() => send(batch([stateChange(IDS[0]!, 'running')], 0)));

    // Assess
    expect(values(docs, 'InstancesRefused', ['Reason'], { Reason: 'no-private-ip' })).toEqual([1]);
    expect(
      values(docs, 'InstancesRefused', ['WorkloadGroup'], { WorkloadGroup: 'bookinfo/reviews' }),
    ).toEqual([1]);
    expect(values(docs, 'TimeToMesh', ['Action'])).toEqual([]);
    const [entry] = published();
    expect(entry?.DetailType).toBe('Instance Refused');
    expect(schemas.get('Instance Refused')!.validate(delivered(entry!))).toBe(true);
    const [event] = groupEvents();
    expect(event).toMatchObject({
      type: 'Warning',
      reason: 'Refused',
      note: `Refused ${IDS[0]}: instance has no primary private IPv4 address`,
    });
  });

  it('Kubernetes failing: the record comes back, EventsFailed in total and by group, KubernetesErrors, nothing published', async () => {
    // Prepare
    h.aws.putInstance(instance(IDS[0]!));
    h.kube.setFaults({ failureRate: 1, kinds: [500], seed: 7 });

    // Act
    let response: SQSBatchResponse | undefined;
    const docs = await emfOf(async () => {
      response = await send(batch([stateChange(IDS[0]!, 'running')], 0));
    });

    // Assess
    expect(response?.batchItemFailures).toEqual([{ itemIdentifier: 'obs-0' }]);
    expect(sum(values(docs, 'EventsFailed', []))).toBe(1);
    expect(values(docs, 'EventsFailed', ['WorkloadGroup'], { WorkloadGroup: 'bookinfo/reviews' })).toEqual([
      1,
    ]);
    expect(sum(values(docs, 'KubernetesErrors', []))).toBe(1);
    // The failed call's latency is measured too (all its attempts).
    expect(
      values(docs, 'KubernetesLatency', ['Operation'], { Operation: 'get' }).length,
    ).toBeGreaterThanOrEqual(1);
    expect(values(docs, 'EntriesApplied', [])).toEqual([]);
    expect(published()).toEqual([]);
  });
});

describe('Observability of a reconcile sweep (drift metrics, Kubernetes Events, Reconcile Completed)', () => {
  const h = useHarness({ EVENT_BUS: 'registrar-events', KUBE_EVENTS: 'workloadgroup' });
  const schemas = eventSchemas();
  beforeEach(() => {
    eventBridge.reset();
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map((_, i) => ({ EventId: `ev-${i}` })),
    }));
  });
  afterEach(() => eventBridge.reset());

  it('a sweep that repairs drift counts it by kind and group, says so on the group, and a sweep in step is one Event counting up', async () => {
    // Prepare: two running instances and no entries (their events were lost).
    for (const id of IDS) h.aws.putInstance(instance(id));
    const reconciler = reconcilerFromEnv();

    // Act
    // The reconciler's handler flushes the dimensioned metrics after each invocation; here by hand.
    const docs = await emfOf(async () => {
      await reconciler.run();
      telemetry.flush();
    });
    await reconciler.run();
    await reconciler.run();

    // Assess: metrics of the first sweep
    expect(values(docs, 'ReconcileDrift', ['Kind'], { Kind: 'missing' })).toEqual([2]);
    expect(
      values(docs, 'ReconcileDrift', ['WorkloadGroup', 'Kind'], {
        WorkloadGroup: 'bookinfo/reviews',
        Kind: 'missing',
      }),
    ).toEqual([2]);
    expect(values(docs, 'ReconcileDrift', ['Kind'], { Kind: 'stale' })).toEqual([]);
    // Events: the repair; the two sweeps in step after it write nothing.
    const events = h.kube.list('events.k8s.io/v1', 'Event', 'bookinfo') as unknown as EventsV1Event[];
    expect(events.map((e) => [e.reason, e.note, e.series?.count]).sort()).toEqual([
      ['DriftRepaired', '2 missing, 0 stale, 0 changed, 0 foreign', undefined],
    ]);
    // One Reconcile Completed per sweep, valid against its schema.
    const completed = eventBridge
      .commandCalls(PutEventsCommand)
      .flatMap((c) => c.args[0].input.Entries ?? []);
    expect(completed.map((e) => e.DetailType)).toEqual(Array(3).fill('Reconcile Completed'));
    for (const entry of completed)
      expect(schemas.get('Reconcile Completed')!.validate(delivered(entry))).toBe(true);
    expect(JSON.parse(completed[0]!.Detail!)).toMatchObject({
      drift: { missing: 2, stale: 0, changed: 0, foreign: 0 },
      groupsWithDrift: { 'bookinfo/reviews': { missing: 2 } },
    });
  });

  it('vm-registrar status --output json: entries per group, out of step, refused, the last sweep and its drift from the Events', async () => {
    // Prepare: a sweep that repaired two missing entries, then an instance the registrar refuses.
    for (const id of IDS) h.aws.putInstance(instance(id));
    await reconcilerFromEnv().run();
    h.aws.putInstance({ ...instance('i-0a0000000000000c3'), privateIpAddress: undefined } as never);
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
      out += String(chunk);
      return true;
    });
    // The listing progress ("listed 2 entries ...") goes to stderr: not this test's output.
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);

    // Act
    const code = await runStatus([], 'json');

    // Assess
    vi.mocked(process.stdout.write).mockRestore();
    vi.mocked(process.stderr.write).mockRestore();
    expect(code).toBe(0);
    const { groups } = JSON.parse(out) as { groups: unknown[] };
    expect(groups).toEqual([
      {
        group: 'bookinfo/reviews',
        instances: 3,
        entries: 2,
        outOfStep: 0,
        refused: 1,
        lastDrift: {
          at: expect.stringMatching(/^\d{4}-/),
          reason: 'DriftRepaired',
          drift: { missing: 2, stale: 0, changed: 0, foreign: 0 },
          note: '2 missing, 0 stale, 0 changed, 0 foreign',
        },
        lastWarning: {
          at: expect.stringMatching(/^\d{4}-/),
          reason: 'DriftRepaired',
          note: '2 missing, 0 stale, 0 changed, 0 foreign',
          count: 1,
        },
      },
    ]);
  });

  it('a dry run writes no Event and emits no drift metric', async () => {
    // Prepare
    for (const id of IDS) h.aws.putInstance(instance(id));
    telemetry.flush();

    // Act
    const docs = await emfOf(async () => {
      await reconcilerFromEnv().run({ dryRun: true });
      telemetry.flush();
    });

    // Assess
    expect(values(docs, 'ReconcileDrift', ['Kind'])).toEqual([]);
    expect(h.kube.list('events.k8s.io/v1', 'Event', 'bookinfo')).toEqual([]);
  });
});
