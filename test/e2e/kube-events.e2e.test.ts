import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  type EventsV1Event,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler, resetApp } from '../../functions/registrar/handler.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import { sqsEvent, stateChange, withInstance } from '../helpers/fixtures.ts';
import { instance } from '../helpers/harness.ts';
import { type AwsApiStandIn, startAwsApi } from '../standins/aws-api/index.ts';

/**
 * Kubernetes Events against a real kube-apiserver 1.26 (`E2E_KUBECONFIG`): first the server
 * behaviours the recorder relies on (the same ones test/unit/standins/kube-api-events.test.ts pins in
 * the stand-in), then the Events a scale-out and a scale-in leave on the WorkloadGroup through the
 * real registrar handler, and what `kubectl describe workloadgroup` shows of them (printed, for the
 * README). EC2 stays the local stand-in; everything happens in a namespace made for the run.
 */
const kubeconfigPath = process.env.E2E_KUBECONFIG;
if (!kubeconfigPath) process.stderr.write('E2E_KUBECONFIG is not set: the real-cluster suite was not run\n');

const GROUP = 'networking.istio.io';
const VERSION = 'v1';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

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

describe.runIf(kubeconfigPath)('E2E: Kubernetes Events against a real cluster', () => {
  const namespace = `vm-registrar-e2e-ev-${randomBytes(3).toString('hex')}`;
  let aws: AwsApiStandIn;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let events: EventsV1Api;
  let groupUid: string;
  const ids = ['i-0e2e0000000000e01', 'i-0e2e0000000000e02'];
  const send = async (bodies: string[]) =>
    (await handler(sqsEvent(bodies, 'e2e'), cliContext('registrar-e2e'))) as SQSBatchResponse;
  const groupEvents = async () =>
    (await events.listNamespacedEvent({ namespace })).items.filter(
      (e) => e.regarding?.kind === 'WorkloadGroup' && e.regarding.uid === groupUid,
    );

  let n = 0;
  const probe = (overrides: Record<string, unknown> = {}): EventsV1Event =>
    ({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `probe.${++n}`, namespace },
      eventTime: '2026-11-26T09:00:00.123456Z',
      reportingController: 'istio-vm-registrar',
      reportingInstance: 'e2e',
      action: 'Register',
      reason: 'Probe',
      note: 'probe',
      type: 'Normal',
      regarding: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'WorkloadGroup',
        namespace,
        name: 'reviews',
        uid: groupUid,
      },
      ...overrides,
    }) as unknown as EventsV1Event;

  beforeAll(async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath!);
    custom = kc.makeApiClient(CustomObjectsApi);
    core = kc.makeApiClient(CoreV1Api);
    events = kc.makeApiClient(EventsV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const group = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: 'workloadgroups',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'WorkloadGroup',
        metadata: { name: 'reviews', namespace },
        spec: {
          metadata: { labels: { app: 'reviews' } },
          template: { ports: { http: 9080 }, serviceAccount: 'reviews' },
        },
      },
    })) as { metadata: { uid: string } };
    groupUid = group.metadata.uid;
    aws = await startAwsApi({ region: 'us-west-2' });
    Object.assign(process.env, aws.env(), {
      KUBECONFIG: kubeconfigPath,
      ALLOWED_NAMESPACES: namespace,
      KUBE_EVENTS: 'all',
    });
    delete process.env.CLUSTER_NAME;
    resetApp();
  });

  afterAll(async () => {
    resetApp();
    await aws?.close();
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  describe('what the recorder relies on', () => {
    it('refuses an eventTime without exactly six fractional digits (400, MicroTime)', async () => {
      const result = await failure(
        events.createNamespacedEvent({ namespace, body: probe({ eventTime: '2026-11-26T09:00:00.123Z' }) }),
      );
      expect(result.code).toBe(400);
      expect(result.message).toContain('cannot parse ".123Z" as ".000000"');
    });

    it('refuses a new-style Event without reportingController, reportingInstance, action or reason (422)', async () => {
      const result = await failure(
        events.createNamespacedEvent({
          namespace,
          body: probe({ reportingController: '', reportingInstance: '', action: '', reason: '' }),
        }),
      );
      expect(result.code).toBe(422);
      for (const field of ['reportingController', 'reportingInstance', 'action', 'reason'])
        expect(result.message).toContain(`${field}: Required value`);
    });

    it('refuses a series of one (422) and a changed note on patch (immutable, as message)', async () => {
      const created = await failure(
        events.createNamespacedEvent({
          namespace,
          body: probe({ series: { count: 1, lastObservedTime: '2026-11-26T09:00:01.000000Z' } }),
        }),
      );
      expect(created).toMatchObject({ code: 422 });
      expect(created.message).toContain('series.count: Invalid value: "": should be at least 2');
      const body = probe();
      await events.createNamespacedEvent({ namespace, body });
      const patched = await failure(
        events.patchNamespacedEvent(
          { namespace, name: body.metadata!.name!, body: { note: 'other' } },
          mergePatch,
        ),
      );
      expect(patched.code).toBe(422);
      expect(patched.message).toContain('message: Invalid value: "other": field is immutable');
    });

    it('takes a merge patch of series, stores MicroTime in UTC, and answers 404 to a patch of a missing Event', async () => {
      const body = probe({ eventTime: '2026-11-26T10:00:00.123456+01:00' });
      await events.createNamespacedEvent({ namespace, body });
      const patched = await events.patchNamespacedEvent(
        {
          namespace,
          name: body.metadata!.name!,
          body: { series: { count: 2, lastObservedTime: '2026-11-26T09:05:00.000001Z' } },
        },
        mergePatch,
      );
      expect(patched.series?.count).toBe(2);
      const raw = (await custom.getNamespacedCustomObject({
        group: 'events.k8s.io',
        version: 'v1',
        namespace,
        plural: 'events',
        name: body.metadata!.name!,
      })) as Record<string, unknown>;
      expect(raw.eventTime).toBe('2026-11-26T09:00:00.123456Z');
      expect(raw).toMatchObject({ deprecatedFirstTimestamp: null, deprecatedLastTimestamp: null });
      const missing = await failure(
        events.patchNamespacedEvent(
          {
            namespace,
            name: 'gone.1',
            body: { series: { count: 2, lastObservedTime: '2026-11-26T09:05:00.000000Z' } },
          },
          mergePatch,
        ),
      );
      expect(missing).toMatchObject({ code: 404, reason: 'NotFound' });
    });
  });

  describe('the Events of a scale-out and a scale-in on the WorkloadGroup', () => {
    it('a scale-out leaves one Registered Event per instance, naming its address and zone', async () => {
      for (const id of ids)
        aws.putInstance(instance(id, { tags: { 'istio-vm/workload-group': `${namespace}/reviews` } }));
      const before = (await groupEvents()).length;
      expect(
        await send(ids.map((id) => withInstance('asg-ec2-instance-launch-successful.json', id))),
      ).toEqual({
        batchItemFailures: [],
      });
      const registered = (await groupEvents()).filter((e) => e.reason === 'Registered');
      expect(registered).toHaveLength(2);
      expect(before).toBeGreaterThanOrEqual(0);
      for (const id of ids) {
        const e = registered.find((x) => x.note?.startsWith(`Registered ${id} (`));
        expect(e, `event for ${id}`).toBeDefined();
        expect(e).toMatchObject({
          type: 'Normal',
          action: 'Register',
          reportingController: 'istio-vm-registrar',
        });
        expect(e!.note).toMatch(/^Registered i-\w+ \(10\.0\.7\.\d+, us-west-2b\)$/);
      }
      // The entry carries its own Event while it exists.
      const entryEvents = (await events.listNamespacedEvent({ namespace })).items.filter(
        (e) => e.regarding?.kind === 'WorkloadEntry' && e.reason === 'Registered',
      );
      expect(entryEvents.map((e) => e.regarding?.name).sort()).toEqual(ids.map((id) => `reviews-${id}`));
    });

    it('a scale-in leaves a Deregistered Event; a repeat of a refusal is counted in its series', async () => {
      aws.setState(ids[0]!, 'terminated');
      await send([stateChange(ids[0]!, 'terminated')]);
      const deregistered = (await groupEvents()).filter((e) => e.reason === 'Deregistered');
      expect(deregistered.map((e) => e.note)).toEqual([`Deregistered ${ids[0]}: instance is terminated`]);

      const refusedId = 'i-0e2e0000000000e03';
      aws.putInstance(
        instance(refusedId, {
          privateIpAddress: undefined,
          tags: { 'istio-vm/workload-group': `${namespace}/reviews` },
        } as never),
      );
      await send([stateChange(refusedId, 'running')]);
      await send([stateChange(refusedId, 'running')]);
      const refused = (await groupEvents()).filter((e) => e.reason === 'Refused');
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({ type: 'Warning', series: { count: 2 } });
    });

    it('kubectl describe workloadgroup lists them (printed for the README)', () => {
      let out: string;
      try {
        out = execFileSync(
          'kubectl',
          ['--kubeconfig', kubeconfigPath!, '-n', namespace, 'describe', 'workloadgroup', 'reviews'],
          {
            encoding: 'utf8',
          },
        );
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          process.stderr.write('kubectl not found: describe output not checked\n');
          return;
        }
        throw error;
      }
      process.stdout.write(`\n--- kubectl describe workloadgroup reviews ---\n${out}\n`);
      expect(out).toMatch(
        /Normal\s+Registered\s+.*Registered i-0e2e0000000000e01 \(10\.0\.7\.\d+, us-west-2b\)/,
      );
      expect(out).toMatch(/Warning\s+Refused\s+.*\(x2 over/);
    });
  });
});
