import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  handler as reconcilerHandler,
  resetApp as resetReconciler,
} from '../../functions/reconciler/handler.ts';
import { handler } from '../../functions/registrar/handler.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import { logger, telemetry } from '../../shared/observability.ts';
import { FIXTURES, sqsEvent, stateChange } from '../helpers/fixtures.ts';
import { type Harness, instance, NAMESPACE, reviewsGroup, startHarness } from '../helpers/harness.ts';
import type { FakeInstance } from '../standins/aws-api/index.ts';

const DIR = join(FIXTURES, 'bad-input');

interface Case {
  description: string;
  invoke?: 'registrar' | 'reconciler';
  event?: unknown;
  body?: string;
  generate?: {
    kind: string;
    text?: string;
    bytes?: number;
    open?: string;
    close?: string;
    depth?: number;
    length?: number;
  };
  wrap?: { sns: number };
  payload?: unknown;
  instances?: Array<Partial<FakeInstance> & { privateIpAddress?: string | null; ipv6Only?: boolean }>;
  group?: { name: string; labels: Record<string, string> };
  foreignEntry?: boolean;
  lifecycleAction?: boolean;
  expect: {
    outcome: 'acknowledged' | 'retried' | 'returned' | 'thrown';
    result?: string;
    metric?: string | null;
    dimension?: Record<string, string>;
    extraMetric?: string;
    log: { level: 'info' | 'warn' | 'error'; reason: string };
    entry?: 'present' | 'absent';
    labels?: Record<string, string>;
    lifecycleCompleted?: boolean;
    error?: string;
  };
}

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

/** Instance ids per case: the case's own, and two good ones, all distinct across cases. */
const ids = (n: number) => {
  const base = (tag: string, suffix: string) =>
    `i-00000000000${tag}${n.toString(16).padStart(3, '0')}${suffix}`;
  return { bad: base('b', '01'), good: [base('a', '01'), base('a', '02')] as const };
};

function generated(c: Case, id: string): string {
  const g = c.generate!;
  switch (g.kind) {
    case 'repeat':
      return g.text!.repeat(Math.ceil(g.bytes! / g.text!.length)).slice(0, g.bytes);
    case 'nest':
      return `${g.open!.repeat(g.depth!)}${g.close!.repeat(g.depth!)}`;
    case 'nest-detail': {
      const detail = `${'{"a":'.repeat(g.depth!)}1${'}'.repeat(g.depth!)}`;
      return `{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":${detail}}`;
    }
    case 'nest-in-sns':
      return JSON.stringify({
        Type: 'Notification',
        Message: `${'['.repeat(g.depth!)}${']'.repeat(g.depth!)}`,
      });
    case 'long-id':
      return JSON.stringify(c.event).replaceAll('{{id}}', `i-${'a'.repeat(g.length! - 2)}`);
    case 'pad-detail': {
      const event = JSON.parse(JSON.stringify(c.event).replaceAll('{{id}}', id)) as {
        detail: Record<string, unknown>;
      };
      event.detail.padding = 'x'.repeat(g.bytes!);
      return JSON.stringify(event);
    }
    default:
      throw new Error(`unknown generator ${g.kind}`);
  }
}

/** The record body of an SQS case, placeholders filled in. */
function bodyOf(c: Case, id: string): string {
  const fill = (text: string) =>
    text.replaceAll('{{id}}', id).replaceAll('{{now}}', new Date().toISOString());
  if (c.generate) return generated(c, id);
  const eventText = c.event === undefined ? '' : fill(JSON.stringify(c.event));
  if (c.body !== undefined) return fill(c.body.replaceAll('{{event}}', eventText));
  let text = eventText;
  for (let i = 0; i < (c.wrap?.sns ?? 0); i++)
    text = JSON.stringify({ Type: 'Notification', MessageId: `m${i}`, Message: text });
  return text;
}

describe('Bad input: every case of test/fixtures/bad-input through the real handlers', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    h.kube.seed(reviewsGroup());
  });
  afterAll(async () => {
    resetReconciler();
    await h.close();
  });

  it('has at least 60 cases, each with an expected outcome', () => {
    expect(files.length).toBeGreaterThanOrEqual(60);
    for (const f of files)
      expect((JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Case).expect.outcome).toBeTruthy();
  });

  it.each(files)('%s', async (file) => {
    // Prepare
    const c = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Case;
    const n = Number.parseInt(file, 10);
    const { bad, good } = ids(n);
    for (const g of good) h.aws.putInstance(instance(g));
    for (const spec of c.instances ?? []) {
      const { ipv6Only: _ipv6, privateIpAddress, instanceId: _id, ...rest } = spec;
      const fake = instance(bad, rest);
      if (privateIpAddress === null) delete fake.privateIpAddress;
      h.aws.putInstance(fake);
    }
    if (c.group) {
      h.kube.seed(
        reviewsGroup({
          name: c.group.name,
          spec: { metadata: { labels: c.group.labels }, template: { ports: { http: 9080 } } },
        }),
      );
    }
    const entryName = `${c.group?.name ?? 'reviews'}-${bad}`;
    if (c.foreignEntry) {
      h.kube.seed({
        apiVersion: 'networking.istio.io/v1',
        kind: 'WorkloadEntry',
        metadata: { name: entryName, namespace: NAMESPACE },
        spec: { address: '10.9.9.9' },
      });
    }
    if (c.lifecycleAction) {
      // Auto Scaling holds the instance in Pending:Wait (Terminating:Wait) on the hook the event names.
      const transition = JSON.stringify(c.event).includes('EC2_INSTANCE_TERMINATING')
        ? 'terminating'
        : 'launching';
      h.aws.addLifecycleHook({
        autoScalingGroupName: 'my-asg',
        lifecycleHookName: 'my-lifecycle-hook',
        transition,
        heartbeatTimeout: 300,
        defaultResult: 'CONTINUE',
      });
      h.aws.addLifecycleAction({
        autoScalingGroupName: 'my-asg',
        lifecycleHookName: 'my-lifecycle-hook',
        instanceId: bad,
        token: 'a-token-the-event-does-not-carry',
        transition,
      });
    }
    const count = vi.spyOn(telemetry, 'count');
    const logs = (['info', 'warn', 'error'] as const).map((level) => ({
      level,
      spy: vi.spyOn(logger, level),
    }));
    const context = cliContext('bad-input');

    // Act
    let recordId: string;
    let outcome: string;
    if (c.invoke === 'reconciler') {
      recordId = '';
      const error = await (reconcilerHandler(c.payload, context) as Promise<unknown>).then(
        () => undefined,
        (e: Error) => e,
      );
      outcome = error ? 'thrown' : 'returned';
      expect(error?.message).toBe(c.expect.error);
    } else if (c.invoke === 'registrar') {
      const response = (await handler(c.payload, context)) as { result: { kind: string } } | SQSBatchResponse;
      if ('batchItemFailures' in response) {
        recordId = 'no-body';
        outcome = response.batchItemFailures.length > 0 ? 'retried' : 'acknowledged';
      } else {
        recordId = 'event';
        outcome = 'returned';
        expect(response.result.kind).toBe(c.expect.result);
      }
    } else {
      const event = sqsEvent(
        [stateChange(good[0], 'running'), bodyOf(c, bad), stateChange(good[1], 'running')],
        `case${n}`,
      );
      recordId = `case${n}-1`;
      const response = (await handler(event, context)) as SQSBatchResponse;
      const failed = response.batchItemFailures.map((f) => f.itemIdentifier);
      outcome = failed.includes(recordId) ? 'retried' : 'acknowledged';
      // The good records of the batch are never held back by the bad one.
      expect(failed.filter((f) => f !== recordId)).toEqual([]);
    }

    // Assess
    expect(outcome).toBe(c.expect.outcome);
    const named = logs.flatMap(({ level, spy }) =>
      spy.mock.calls
        .filter(
          ([, attributes]) => recordId === '' || (attributes as { recordId?: string })?.recordId === recordId,
        )
        .map(([message, attributes]) => {
          const a = (attributes ?? {}) as { reason?: string; error?: { message?: string } };
          return { level, text: `${String(message)} ${a.reason ?? ''} ${a.error?.message ?? ''}` };
        }),
    );
    expect(named.filter((l) => l.level === c.expect.log.level).map((l) => l.text)).toContainEqual(
      expect.stringContaining(c.expect.log.reason),
    );
    const counted = count.mock.calls.map(([name, , dimension]) => ({ name, dimension }));
    if (c.expect.metric) {
      const dimension = c.expect.dimension
        ? { name: Object.keys(c.expect.dimension)[0], value: Object.values(c.expect.dimension)[0] }
        : undefined;
      expect(counted).toContainEqual(
        dimension ? { name: c.expect.metric, dimension } : expect.objectContaining({ name: c.expect.metric }),
      );
    }
    if (c.expect.extraMetric)
      expect(counted).toContainEqual(expect.objectContaining({ name: c.expect.extraMetric }));
    const entries = h.entries();
    const entry = entries.find((e) => e.metadata.name === entryName);
    if (c.expect.entry === 'present')
      expect(entry?.metadata.labels).toMatchObject(fill(c.expect.labels ?? {}, bad));
    if (c.expect.entry === 'absent')
      expect(entry === undefined || !entry.metadata.labels?.['app.kubernetes.io/managed-by']).toBe(true);
    if (c.expect.lifecycleCompleted) {
      expect(h.aws.completedLifecycleActions().map((a) => a.instanceId)).toContain(bad);
    }
    // No input reaches the prototypes.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, 'instance-id')).toBe(false);

    // The handler still works after it, and the good records of the batch converged.
    if (c.invoke === 'reconciler') {
      await expect(reconcilerHandler({ dryRun: true }, context)).resolves.toMatchObject({ dryRun: true });
    } else {
      if (c.invoke === 'registrar') {
        for (const g of good) await handler(JSON.parse(stateChange(g, 'running')), context);
      }
      const names = new Set(h.entries().map((e) => e.metadata.name));
      expect(names.has(`reviews-${good[0]}`) && names.has(`reviews-${good[1]}`)).toBe(true);
    }
    vi.restoreAllMocks();
  });
});

function fill(labels: Record<string, string>, id: string): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, v.replaceAll('{{id}}', id)]));
}
