import * as z from 'zod';

/** The reconciler's invocation payload. Unknown keys are refused so that typos do not go unnoticed. */
export const ReconcileRequestSchema = z
  .object({
    dryRun: z.boolean().optional(),
    namespaces: z.array(z.string().min(1)).optional(),
    groups: z.array(z.string().regex(/^[^/]+\/[^/]+$/, 'groups are <namespace>/<name>')).optional(),
    force: z.boolean().optional(),
  })
  .strict();

export type ReconcileRequest = z.infer<typeof ReconcileRequestSchema>;

/** A reconciler payload that is not a {@link ReconcileRequest}: the message names every bad field. */
export class InvalidReconcileRequest extends Error {
  override readonly name = 'InvalidReconcileRequest';
}

/**
 * Validates a reconciler payload. EventBridge Scheduler sends `{}`; a hand-made payload with a typo
 * or a wrong type is refused with the fields named (Powertools' parser would only say "Failed to
 * parse schema").
 */
export function readReconcileRequest(payload: unknown): ReconcileRequest {
  const parsed = ReconcileRequestSchema.safeParse(payload);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`);
  throw new InvalidReconcileRequest(`invalid reconcile request: ${problems.join('; ')}`);
}
