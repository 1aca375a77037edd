// The namespace import lets esbuild keep only the zod pieces used (`import { z }` keeps every locale).
import * as z from 'zod';
import { claimsContinuation, continuationIntake } from './continuation.ts';
import type { LifecycleProgress } from './lifecycle.ts';
import { INSTANCE_ID_PATTERN, INSTANCE_STATES } from './types.ts';

/**
 * Event intake: turns whatever arrives (an EventBridge event, an SQS body holding one, an SNS
 * envelope or a Lambda SNS event's message, or a lifecycle-hook notification in JSON or in AWS's
 * `Key: value` text form) into a hint about one instance. Pure: no I/O, no clock.
 *
 * Events are only hints. Nothing here is trusted as the instance's state; the registrar reads
 * EC2 for that. Fields AWS fills with placeholders in its own samples (`time`, `resources`) are
 * accepted as any string and never used.
 */

/** Lifecycle action to complete once the instance has converged. */
export interface LifecycleAction {
  readonly autoScalingGroupName: string;
  readonly lifecycleHookName: string;
  readonly token?: string;
  readonly transition: 'launching' | 'terminating';
  /** Warm pools: where the instance is going (`AutoScalingGroup` or `WarmPool`). */
  readonly destination?: string;
  readonly origin?: string;
}

export type HintSource =
  | 'ec2-state-change'
  | 'ec2-spot-interruption'
  | 'ec2-rebalance-recommendation'
  | 'asg-launch-successful'
  | 'asg-launch-unsuccessful'
  | 'asg-terminate-successful'
  | 'asg-lifecycle-action'
  /** The registrar's own delayed message taking a lifecycle action up again (continuation.ts). */
  | 'registrar-continuation';

/** "Look at this instance": what an event amounts to. */
export interface InstanceHint {
  readonly instanceId: string;
  readonly source: HintSource;
  readonly detailType: string;
  readonly eventId?: string;
  /** The event's `time`, as sent; AWS's own samples carry placeholders, so it may not parse. */
  readonly time?: string;
  readonly region?: string;
  readonly account?: string;
  /** State the event claims, for logs only. */
  readonly reportedState?: string;
  readonly autoScalingGroupName?: string;
  readonly lifecycleAction?: LifecycleAction;
  /** Continuations only: where the action stood when the continuation was sent. */
  readonly lifecycleProgress?: LifecycleProgress;
}

export type Intake =
  | { readonly kind: 'hint'; readonly hint: InstanceHint }
  | { readonly kind: 'ignore'; readonly reason: string; readonly detailType?: string }
  | { readonly kind: 'reject'; readonly reason: string };

/** Surrounding whitespace (hand-built or templated events) is trimmed, not a reason to drop the event. */
const instanceId = z.string().trim().regex(INSTANCE_ID_PATTERN, 'not an EC2 instance id');

/**
 * The EventBridge envelope: Powertools' `EventBridgeSchema`, relaxed where AWS's own published
 * samples differ from it (`version` is missing from some, `time` may be a literal placeholder).
 * Written out here rather than extended from Powertools, whose schemas import zod in a form the
 * bundler cannot trim (0.4 MB more in every bundle, docs/benchmarks.md).
 */
export const LenientEventBridgeSchema = z.object({
  version: z.string().optional(),
  id: z.string().optional(),
  source: z.string(),
  account: z.string().optional(),
  time: z.string().optional(),
  region: z.string().optional(),
  resources: z.array(z.string()).optional(),
  'detail-type': z.string(),
  detail: z.unknown(),
  'replay-name': z.string().optional(),
});
type Envelope = z.infer<typeof LenientEventBridgeSchema>;

export const Ec2StateChangeDetail = z.object({ 'instance-id': instanceId, state: z.enum(INSTANCE_STATES) });
export const Ec2SpotInterruptionDetail = z.object({
  'instance-id': instanceId,
  'instance-action': z.string(),
});
export const Ec2RebalanceDetail = z.object({ 'instance-id': instanceId });
export const AsgActivityDetail = z.object({
  EC2InstanceId: z.union([instanceId, z.literal('')]).optional(),
  AutoScalingGroupName: z.string().min(1),
  StatusCode: z.string().optional(),
});
export const LifecycleActionDetail = z.object({
  EC2InstanceId: instanceId,
  AutoScalingGroupName: z.string().min(1),
  LifecycleHookName: z.string().min(1),
  // An empty token is no token: the action is then completed by instance id.
  LifecycleActionToken: z.string().optional(),
  LifecycleTransition: z.enum(['autoscaling:EC2_INSTANCE_LAUNCHING', 'autoscaling:EC2_INSTANCE_TERMINATING']),
  NotificationMetadata: z.string().optional(),
  Origin: z.string().optional(),
  Destination: z.string().optional(),
});

interface Route {
  readonly source: 'aws.ec2' | 'aws.autoscaling';
  readonly toHint: (detail: unknown, envelope: Envelope) => Intake;
}

const hint = (h: InstanceHint): Intake => ({ kind: 'hint', hint: h });

function lifecycleFrom(detail: z.infer<typeof LifecycleActionDetail>): LifecycleAction {
  return {
    autoScalingGroupName: detail.AutoScalingGroupName,
    lifecycleHookName: detail.LifecycleHookName,
    transition:
      detail.LifecycleTransition === 'autoscaling:EC2_INSTANCE_LAUNCHING' ? 'launching' : 'terminating',
    ...(detail.LifecycleActionToken ? { token: detail.LifecycleActionToken } : {}),
    ...(detail.Destination ? { destination: detail.Destination } : {}),
    ...(detail.Origin ? { origin: detail.Origin } : {}),
  };
}

function asgActivity(source: HintSource) {
  return (raw: unknown, env: Envelope): Intake => {
    const d = AsgActivityDetail.parse(raw);
    if (!d.EC2InstanceId) {
      // A launch can fail before any instance exists: nothing to converge.
      return {
        kind: 'ignore',
        reason: 'no instance in the Auto Scaling activity',
        detailType: env['detail-type'],
      };
    }
    return hint({
      ...common(env),
      instanceId: d.EC2InstanceId,
      source,
      autoScalingGroupName: d.AutoScalingGroupName,
      ...(d.StatusCode ? { reportedState: d.StatusCode } : {}),
    });
  };
}

function common(env: Envelope): Pick<InstanceHint, 'detailType' | 'eventId' | 'time' | 'region' | 'account'> {
  return {
    detailType: env['detail-type'],
    ...(env.id ? { eventId: env.id } : {}),
    ...(env.time ? { time: env.time } : {}),
    ...(env.region ? { region: env.region } : {}),
    ...(env.account ? { account: env.account } : {}),
  };
}

/** Detail-types the registrar understands, keyed by `detail-type`. Infra derives its rules from this. */
export const ROUTES: Readonly<Record<string, Route>> = {
  'EC2 Instance State-change Notification': {
    source: 'aws.ec2',
    toHint: (raw, env) => {
      const d = Ec2StateChangeDetail.parse(raw);
      return hint({
        ...common(env),
        instanceId: d['instance-id'],
        source: 'ec2-state-change',
        reportedState: d.state,
      });
    },
  },
  'EC2 Spot Instance Interruption Warning': {
    source: 'aws.ec2',
    toHint: (raw, env) => {
      const d = Ec2SpotInterruptionDetail.parse(raw);
      return hint({
        ...common(env),
        instanceId: d['instance-id'],
        source: 'ec2-spot-interruption',
        reportedState: `interruption:${d['instance-action']}`,
      });
    },
  },
  'EC2 Instance Rebalance Recommendation': {
    source: 'aws.ec2',
    toHint: (raw, env) => {
      const d = Ec2RebalanceDetail.parse(raw);
      return hint({ ...common(env), instanceId: d['instance-id'], source: 'ec2-rebalance-recommendation' });
    },
  },
  'EC2 Instance Launch Successful': {
    source: 'aws.autoscaling',
    toHint: asgActivity('asg-launch-successful'),
  },
  'EC2 Instance Launch Unsuccessful': {
    source: 'aws.autoscaling',
    toHint: asgActivity('asg-launch-unsuccessful'),
  },
  'EC2 Instance Terminate Successful': {
    source: 'aws.autoscaling',
    toHint: asgActivity('asg-terminate-successful'),
  },
  'EC2 Instance-launch Lifecycle Action': { source: 'aws.autoscaling', toHint: lifecycleHint },
  'EC2 Instance-terminate Lifecycle Action': { source: 'aws.autoscaling', toHint: lifecycleHint },
};

function lifecycleHint(raw: unknown, env: Envelope): Intake {
  const d = LifecycleActionDetail.parse(raw);
  return hint({
    ...common(env),
    instanceId: d.EC2InstanceId,
    source: 'asg-lifecycle-action',
    autoScalingGroupName: d.AutoScalingGroupName,
    lifecycleAction: lifecycleFrom(d),
  });
}

/** The detail-types handled, for EventBridge rules and docs. */
export const HANDLED_DETAIL_TYPES: ReadonlyArray<{ source: string; detailType: string }> = Object.entries(
  ROUTES,
).map(([detailType, route]) => ({ source: route.source, detailType }));

/**
 * A lifecycle-hook notification delivered straight to SQS/SNS (not through EventBridge), in JSON.
 * https://docs.aws.amazon.com/autoscaling/ec2/userguide/prepare-for-lifecycle-notifications.html
 */
const DirectNotificationSchema = z.object({
  Service: z.string().optional(),
  Event: z.string().optional(),
  LifecycleTransition: z.string().optional(),
});

const SnsEnvelopeSchema = z.object({ Type: z.literal('Notification'), Message: z.string() });

/** SNS envelopes one body may nest: EventBridge -> SNS -> SNS -> SQS is the deepest chain seen. */
const MAX_SNS_WRAPPING = 2;

/**
 * A Lambda SNS event: the function subscribed to a topic (Auto Scaling notifications are often
 * sent to one). Lambda delivers one record per invocation today, but the shape allows more.
 * https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html
 */
const LambdaSnsEventSchema = z.object({
  Records: z
    .array(
      z.object({
        EventSource: z.literal('aws:sns'),
        Sns: z.object({ MessageId: z.string().optional(), Message: z.string() }),
      }),
    )
    .min(1),
});

/** One message of a Lambda event that carries several. */
export interface EventRecord {
  /** The SNS MessageId, or the record's position when the message has none. */
  readonly id: string;
  readonly body: string;
}

/**
 * The messages of a Lambda SNS event (`Records[].Sns.Message`, each one event), or undefined when
 * `value` is not one. Lambda SQS events are the batch processor's business, not this function's.
 */
export function snsRecords(value: unknown): EventRecord[] | undefined {
  const parsed = LambdaSnsEventSchema.safeParse(value);
  if (!parsed.success) return undefined;
  return parsed.data.Records.map((r, i) => ({ id: r.Sns.MessageId || `sns-${i + 1}`, body: r.Sns.Message }));
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Normalises an already-parsed value (an EventBridge event or a direct notification). */
export function normaliseEvent(value: unknown, depth = 0): Intake {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'reject', reason: 'event is not a JSON object' };
  }
  const sns = SnsEnvelopeSchema.safeParse(value);
  if (sns.success) {
    if (depth >= MAX_SNS_WRAPPING) {
      return { kind: 'reject', reason: `more than ${MAX_SNS_WRAPPING} SNS envelopes around one event` };
    }
    return parseMessageBody(sns.data.Message, depth + 1);
  }
  const lambdaSns = snsRecords(value);
  if (lambdaSns) {
    // A whole Lambda SNS event where one event was expected (an SQS body, a replayed file).
    if (lambdaSns.length > 1) {
      return {
        kind: 'reject',
        reason: `a Lambda SNS event with ${lambdaSns.length} messages where one event was expected`,
      };
    }
    if (depth >= MAX_SNS_WRAPPING) {
      return { kind: 'reject', reason: `more than ${MAX_SNS_WRAPPING} SNS envelopes around one event` };
    }
    return parseMessageBody(lambdaSns[0]!.body, depth + 1);
  }
  if (claimsContinuation(value)) return continuationIntake(value);
  if ('detail-type' in value) return normaliseEventBridge(value);
  const direct = DirectNotificationSchema.safeParse(value);
  if (direct.success && (direct.data.Event || direct.data.LifecycleTransition)) return normaliseDirect(value);
  return {
    kind: 'reject',
    reason: 'unrecognised event shape (no detail-type, not an Auto Scaling notification)',
  };
}

function normaliseEventBridge(value: object): Intake {
  const envelope = LenientEventBridgeSchema.safeParse(value);
  if (!envelope.success) {
    return { kind: 'reject', reason: `malformed EventBridge envelope: ${describeIssues(envelope.error)}` };
  }
  const env = envelope.data;
  const detailType = env['detail-type'];
  const route = ROUTES[detailType];
  if (!route || route.source !== env.source) {
    return { kind: 'ignore', reason: `unhandled event ${env.source} "${detailType}"`, detailType };
  }
  try {
    return route.toHint(env.detail, env);
  } catch (error) {
    if (error instanceof z.ZodError) {
      return { kind: 'reject', reason: `malformed "${detailType}" detail: ${describeIssues(error)}` };
    }
    throw error;
  }
}

function normaliseDirect(value: object): Intake {
  const record = value as Record<string, unknown>;
  if (record.Event === 'autoscaling:TEST_NOTIFICATION') {
    return {
      kind: 'ignore',
      reason: 'Auto Scaling test notification',
      detailType: 'autoscaling:TEST_NOTIFICATION',
    };
  }
  const parsed = LifecycleActionDetail.safeParse(record);
  if (!parsed.success) {
    return { kind: 'reject', reason: `malformed lifecycle notification: ${describeIssues(parsed.error)}` };
  }
  return hint({
    instanceId: parsed.data.EC2InstanceId,
    source: 'asg-lifecycle-action',
    detailType: parsed.data.LifecycleTransition,
    autoScalingGroupName: parsed.data.AutoScalingGroupName,
    lifecycleAction: lifecycleFrom(parsed.data),
    ...(typeof record.AccountId === 'string' ? { account: record.AccountId } : {}),
  });
}

/**
 * AWS's documented plain-text notification form: one `Key: value` per line. Returns undefined when
 * the text is not in that form.
 */
export function parseKeyValueText(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/).filter((line) => line.trim().length > 0);
  if (lines.length < 2) return undefined;
  for (const line of lines) {
    const match = /^([A-Za-z][A-Za-z0-9]*):\s?(.*)$/.exec(line.trim());
    if (!match) return undefined;
    out[match[1]!] = match[2]!.trim();
  }
  return out;
}

/** Normalises one SQS message body (or any raw text). Never throws. */
export function parseMessageBody(raw: string, depth = 0): Intake {
  // A byte-order mark (some tools write one before JSON) is not part of the event.
  const body = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    const fields = parseKeyValueText(body);
    if (fields) return normaliseEvent(fields, depth);
    return {
      kind: 'reject',
      reason: `body is neither JSON nor an Auto Scaling notification: ${preview(body)}`,
    };
  }
  return normaliseEvent(value, depth);
}

function preview(text: string): string {
  const flat = text.replace(/\s+/g, ' ');
  return JSON.stringify(flat.length > 60 ? `${flat.slice(0, 60)}…` : flat);
}
