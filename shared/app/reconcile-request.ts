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
