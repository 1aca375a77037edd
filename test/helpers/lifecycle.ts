import type { SQSBatchResponse } from 'aws-lambda';
import { afterEach, beforeEach, vi } from 'vitest';
import { handler, resetApp } from '../../functions/registrar/handler.ts';
import { createApp } from '../../shared/app/wiring.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import type { AwsApiStandIn, AwsCall } from '../standins/aws-api/index.ts';
import { nextSequence } from '../standins/sequence.ts';
import { eventText, sqsRecord } from './fixtures.ts';
import { type Harness, reviewsGroup, startHarness } from './harness.ts';

/** The registrar's own hooks (LIFECYCLE_HOOK_NAMES' default). */
export const LAUNCH_HOOK = 'istio-vm-registrar-launch';
export const TERMINATE_HOOK = 'istio-vm-registrar-terminate';
export const ASG = 'my-asg';

/** A test's clock: lifecycle waits, queue delays and Auto Scaling timeouts all read it. */
export class VirtualClock {
  #t: number;
  constructor(start = Date.parse('2026-11-26T10:00:00.000Z')) {
    this.#t = start;
  }
  readonly now = (): number => this.#t;
  advanceTo(t: number): void {
    if (t > this.#t) this.#t = t;
  }
  advance(ms: number): void {
    this.#t += ms;
  }
}

/** One request seen by a stand-in, in the order of both. */
export interface TimelineEntry {
  readonly seq: number;
  /** Virtual time, epoch ms. */
  readonly at: number;
  readonly source: 'kube' | 'aws';
  /** `DELETE workloadentries/reviews-i-...`, `apply workloadentries/...`, `CompleteLifecycleAction`, ... */
  readonly what: string;
  readonly params?: Record<string, string>;
}

export interface PumpReport {
  /** Handler invocations made. */
  readonly invocations: number;
  /** Records the handler reported as failed (they come back after the visibility timeout). */
  readonly failedRecords: number;
}

export interface LifecycleHarness extends Harness {
  readonly clock: VirtualClock;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  /** Puts bodies on the registrar's queue, as EventBridge does. */
  enqueue(...bodies: string[]): void;
  /**
   * Plays the Lambda event source mapping: delivers visible messages in batches of up to 10 to the
   * real handler, deletes what it processed, and when nothing is visible moves the clock to the next
   * message's time (Auto Scaling timeouts apply on the way). Stops when the queue is empty.
   * `onClock` runs whenever the clock moves (a test turns faults off, plays istiod, ...).
   */
  pump(options?: {
    maxInvocations?: number;
    onClock?: (now: number) => void | Promise<void>;
  }): Promise<PumpReport>;
  /** Kubernetes requests and AWS calls, in the order the stand-ins saw them. */
  timeline(): TimelineEntry[];
}

/** The registrar's queue the way the CDK stack makes it: 181 s visibility, 5 receives, then the DLQ. */
const VISIBILITY_TIMEOUT_SECONDS = 181;
const MAX_RECEIVE_COUNT = 5;

export async function startLifecycleHarness(env: Record<string, string> = {}): Promise<LifecycleHarness> {
  const clock = new VirtualClock();
  const h = await startHarness(
    {
      LIFECYCLE_HOOK_NAMES: `${LAUNCH_HOOK},${TERMINATE_HOOK},my-lifecycle-hook,my-launch-lifecycle-hook,my-hook`,
      ...env,
    },
    { now: clock.now },
  );
  const { queueUrl, deadLetterQueueUrl } = createRegistrarQueues(h.aws);
  process.env.LIFECYCLE_QUEUE_URL = queueUrl;
  resetApp(createApp(process.env, { now: clock.now }));
  const kubeLog: TimelineEntry[] = [];
  h.kube.setRequestHook((r) => {
    kubeLog.push({
      seq: nextSequence(),
      at: clock.now(),
      source: 'kube',
      what: `${r.verb} ${r.path.split('/').slice(-2).join('/')}`,
    });
  });
  const asTimeline = (c: AwsCall): TimelineEntry => ({
    seq: c.seq,
    at: c.at,
    source: 'aws',
    what: c.error ? `${c.action} (${c.error})` : c.action,
    params: c.params,
  });
  return {
    ...h,
    clock,
    queueUrl,
    deadLetterQueueUrl,
    enqueue: (...bodies) => {
      for (const body of bodies) h.aws.enqueue(queueUrl, body);
    },
    pump: (options = {}) => pumpQueue(h.aws, queueUrl, clock, options),
    timeline: () => [...kubeLog, ...h.aws.calls().map(asTimeline)].sort((a, b) => a.seq - b.seq),
  };
}

let batch = 0;

/**
 * The Lambda event source mapping over a stand-in queue (see {@link LifecycleHarness.pump}): the
 * real handler gets batches of up to 10 visible messages; what it processed is deleted, what it
 * reported failed comes back after the visibility timeout; with nothing visible the clock moves to
 * the next message's time.
 */
export async function pumpQueue(
  aws: AwsApiStandIn,
  queueUrl: string,
  clock: VirtualClock,
  options: { maxInvocations?: number; onClock?: (now: number) => void | Promise<void> } = {},
): Promise<PumpReport> {
  const max = options.maxInvocations ?? 200;
  let invocations = 0;
  let failedRecords = 0;
  while (invocations < max) {
    aws.expireLifecycleActions();
    const received = aws.receive(queueUrl, 10);
    if (received.length === 0) {
      const next = aws.nextVisibleAt(queueUrl);
      if (next === undefined) break;
      clock.advanceTo(next);
      await options.onClock?.(clock.now());
      continue;
    }
    invocations++;
    batch++;
    const event = {
      Records: received.map((m) => {
        const record = sqsRecord(m.body, m.messageId) as ReturnType<typeof sqsRecord> & {
          attributes?: Record<string, string>;
        };
        return {
          ...record,
          receiptHandle: m.receiptHandle,
          attributes: { ...record.attributes, ApproximateReceiveCount: String(m.receiveCount) },
        };
      }),
    };
    const response = (await handler(event, cliContext(`registrar-lifecycle-${batch}`))) as SQSBatchResponse;
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    failedRecords += failed.size;
    for (const m of received) if (!failed.has(m.messageId)) aws.deleteMessage(queueUrl, m.receiptHandle);
  }
  aws.expireLifecycleActions();
  return { invocations, failedRecords };
}

/** The registrar's queue as the CDK stack makes it (181 s visibility, 5 receives), with its DLQ. */
export function createRegistrarQueues(aws: AwsApiStandIn): { queueUrl: string; deadLetterQueueUrl: string } {
  const deadLetterQueueUrl = aws.createQueue('registrar-dlq');
  const queueUrl = aws.createQueue('registrar-events', {
    visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS,
    maxReceiveCount: MAX_RECEIVE_COUNT,
    deadLetterQueueUrl,
  });
  return { queueUrl, deadLetterQueueUrl };
}

/**
 * Registers `beforeEach`/`afterEach` hooks giving every test a fresh lifecycle harness with the
 * sample WorkloadGroup (`annotations` on it when given).
 */
export function useLifecycleHarness(
  options: {
    env?: Record<string, string>;
    groupAnnotations?: Record<string, string>;
    /** The WorkloadGroup to seed instead of the sample (evaluated in beforeEach). */
    group?: () => ReturnType<typeof reviewsGroup>;
  } = {},
): LifecycleHarness {
  let current: LifecycleHarness | undefined;
  beforeEach(async () => {
    current = await startLifecycleHarness(options.env ?? {});
    current.kube.seed(
      options.group?.() ??
        reviewsGroup(options.groupAnnotations ? { annotations: options.groupAnnotations } : {}),
    );
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await current?.close();
    current = undefined;
  });
  return new Proxy({} as LifecycleHarness, {
    get: (_target, property) => {
      if (!current) throw new Error('the harness exists only inside a test');
      return Reflect.get(current, property);
    },
  });
}

/**
 * A verbatim lifecycle sample (`asg-ec2-instance-launch-lifecycle-action.json` or the terminate
 * one) for another instance, hook, token and time: what Auto Scaling sends for our hooks.
 */
export function lifecycleEvent(
  transition: 'launching' | 'terminating',
  instanceId: string,
  options: { hook?: string; token: string; time: number; group?: string },
): string {
  const file =
    transition === 'launching'
      ? 'asg-ec2-instance-launch-lifecycle-action.json'
      : 'asg-ec2-instance-terminate-lifecycle-action.json';
  const sample = JSON.parse(eventText(file)) as { detail: Record<string, unknown> };
  return JSON.stringify({
    ...sample,
    time: new Date(options.time).toISOString(),
    detail: {
      ...sample.detail,
      EC2InstanceId: instanceId,
      AutoScalingGroupName: options.group ?? ASG,
      LifecycleHookName: options.hook ?? (transition === 'launching' ? LAUNCH_HOOK : TERMINATE_HOOK),
      LifecycleActionToken: options.token,
    },
  });
}

/** The position of the first timeline entry matching, or -1. */
export function firstIndex(timeline: readonly TimelineEntry[], what: RegExp | string): number {
  return timeline.findIndex((e) => (typeof what === 'string' ? e.what === what : what.test(e.what)));
}
