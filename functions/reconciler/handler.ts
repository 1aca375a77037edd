import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { Deadline } from '../../shared/adapters/deadline.ts';
import { readReconcileRequest } from '../../shared/app/reconcile-request.ts';
import { Reconciler, type ReconcileSummary } from '../../shared/app/reconciler.ts';
import { type AppContext, createApp } from '../../shared/app/wiring.ts';
import { DEADLINE_MARGIN_MS, Metric } from '../../shared/constants.ts';
import { logger, metricsMiddleware, telemetry, tracingMiddleware } from '../../shared/observability.ts';

/**
 * Reconciler: run by EventBridge Scheduler (payload `{}`) or invoked by hand with
 * `{dryRun, namespaces, groups, force}`. Returns the sweep's JSON summary.
 */
let app: { context: AppContext; reconciler: Reconciler } | undefined;

/**
 * Builds the wiring once per container. In Lambda this runs at init (below), so a bad configuration
 * fails the function's init with one log line naming every problem; elsewhere at the first call.
 */
function wiring(): { context: AppContext; reconciler: Reconciler } {
  if (!app) {
    let context: AppContext;
    try {
      context = createApp();
    } catch (error) {
      logger.error('invalid configuration: fix the function environment', { error });
      throw error;
    }
    app = { context, reconciler: new Reconciler({ ...context, logger, telemetry }) };
  }
  return app;
}

if (process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined) wiring();

async function lambdaHandler(payload: unknown, context: Context): Promise<ReconcileSummary> {
  let request: ReturnType<typeof readReconcileRequest>;
  try {
    request = readReconcileRequest(payload);
  } catch (error) {
    telemetry.count(Metric.ReconcileRequestsRejected);
    logger.error('reconcile request refused', { error });
    throw error;
  }
  const app = wiring();
  // Stop retrying in time to return the summary (what failed is in it, and the next sweep retries).
  const deadline = new Deadline(
    Date.now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS.reconciler,
  );
  let summary: ReconcileSummary;
  try {
    summary = await app.reconciler.run(request, (message) => logger.debug(message), deadline);
  } finally {
    deadline.end();
  }
  logger.info('reconcile finished', {
    dryRun: summary.dryRun,
    converged: summary.converged,
    totals: summary.totals,
    durationMs: summary.durationMs,
    safetyStops: summary.safetyStops.length,
    errors: summary.errors.length,
  });
  return summary;
}

export const handler = middy(lambdaHandler)
  .use(await tracingMiddleware({ captureResponse: false }))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(metricsMiddleware());

/** For tests: drop the cached wiring so the next call reads the environment again. */
export function resetApp(): void {
  app = undefined;
}
