import * as z from 'zod';
import type { InstanceHint, Intake, LifecycleAction } from './events.ts';
import type { LifecycleProgress } from './lifecycle.ts';
import { INSTANCE_ID_PATTERN } from './types.ts';

/**
 * Continuations: the message the registrar sends to its own queue, delayed by a wait, to take up a
 * lifecycle action again (see lifecycle.ts). Like any event it is only a hint: every delivery reads
 * EC2, Auto Scaling and the cluster again, and nothing is completed unless Auto Scaling shows the
 * action waiting for that instance. Pure: no I/O, no clock.
 *
 * ```json
 * { "kind": "istio-vm-registrar.io/lifecycle-continuation", "version": 1,
 *   "instanceId": "i-0abc...", "account": "...", "region": "...",
 *   "action": { "autoScalingGroupName": "...", "lifecycleHookName": "...", "token": "...",
 *               "transition": "terminating" },
 *   "progress": { "phase": "drain", "startedAt": 1767225600000, "heartbeatAt": 1767225600000,
 *                 "drainUntil": 1767225630000 } }
 * ```
 */
export const CONTINUATION_KIND = 'istio-vm-registrar.io/lifecycle-continuation';
/** The `detailType` of a continuation's hint, in logs and reports. */
export const CONTINUATION_DETAIL_TYPE = 'Lifecycle continuation';

const epochMs = z.number().int().nonnegative();

export const ContinuationSchema = z.object({
  kind: z.literal(CONTINUATION_KIND),
  version: z.literal(1),
  instanceId: z.string().regex(INSTANCE_ID_PATTERN, 'not an EC2 instance id'),
  account: z.string().optional(),
  region: z.string().optional(),
  action: z.object({
    autoScalingGroupName: z.string().min(1).max(255),
    lifecycleHookName: z.string().min(1).max(255),
    token: z.string().min(1).max(36).optional(),
    transition: z.enum(['launching', 'terminating']),
    destination: z.string().max(64).optional(),
    origin: z.string().max(64).optional(),
  }),
  progress: z.object({
    phase: z.enum(['start', 'drain', 'gate']),
    startedAt: epochMs,
    heartbeatAt: epochMs,
    drainUntil: epochMs.optional(),
    gateDeadline: epochMs.optional(),
    probePasses: z.number().int().min(0).max(1000).optional(),
    failingSince: epochMs.optional(),
    failures: z.number().int().min(0).optional(),
  }),
});

/** Whether a parsed message body claims to be a continuation (then it must parse as one). */
export function claimsContinuation(value: object): boolean {
  return (value as { kind?: unknown }).kind === CONTINUATION_KIND;
}

/** The hint a continuation stands for, or why it cannot be read. */
export function continuationIntake(value: unknown): Intake {
  const parsed = ContinuationSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    return { kind: 'reject', reason: `malformed lifecycle continuation: ${issues}` };
  }
  const c = parsed.data;
  const action: LifecycleAction = {
    autoScalingGroupName: c.action.autoScalingGroupName,
    lifecycleHookName: c.action.lifecycleHookName,
    transition: c.action.transition,
    ...(c.action.token ? { token: c.action.token } : {}),
    ...(c.action.destination ? { destination: c.action.destination } : {}),
    ...(c.action.origin ? { origin: c.action.origin } : {}),
  };
  const progress = Object.fromEntries(
    Object.entries(c.progress).filter(([, v]) => v !== undefined),
  ) as unknown as LifecycleProgress;
  return {
    kind: 'hint',
    hint: {
      instanceId: c.instanceId,
      source: 'registrar-continuation',
      detailType: CONTINUATION_DETAIL_TYPE,
      autoScalingGroupName: action.autoScalingGroupName,
      lifecycleAction: action,
      lifecycleProgress: progress,
      // When the action began: a launch EC2 does not show yet is waited for, as for the event itself.
      time: new Date(c.progress.startedAt).toISOString(),
      ...(c.account ? { account: c.account } : {}),
      ...(c.region ? { region: c.region } : {}),
    },
  };
}

/** The message body that takes `hint`'s action up again at `progress`. */
export function renderContinuation(
  hint: InstanceHint & { readonly lifecycleAction: LifecycleAction },
  progress: LifecycleProgress,
): string {
  const a = hint.lifecycleAction;
  const body: z.input<typeof ContinuationSchema> = {
    kind: CONTINUATION_KIND,
    version: 1,
    instanceId: hint.instanceId,
    ...(hint.account ? { account: hint.account } : {}),
    ...(hint.region ? { region: hint.region } : {}),
    action: {
      autoScalingGroupName: a.autoScalingGroupName,
      lifecycleHookName: a.lifecycleHookName,
      transition: a.transition,
      ...(a.token ? { token: a.token } : {}),
      ...(a.destination ? { destination: a.destination } : {}),
      ...(a.origin ? { origin: a.origin } : {}),
    },
    progress,
  };
  return JSON.stringify(body);
}
