import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { Deadline } from '../../shared/adapters/deadline.ts';
import type { BootstrapSummary } from '../../shared/app/bootstrap.ts';
import { type BootstrapApp, createBootstrapApp } from '../../shared/app/bootstrap-wiring.ts';
import { logger, metricsMiddleware, tracingMiddleware } from '../../shared/observability.ts';

/**
 * VM bootstrap: run by EventBridge Scheduler (payload `{}`), or by hand with `{"groups": ["ns/name"]}`
 * to refresh some opted-in groups now. Renders each group's bundle into SSM Parameter Store and mints
 * its `istio-ca` token when due. Returns the run's summary (which never holds a token).
 */
export const BootstrapRequestSchema = z.strictObject({ groups: z.array(z.string()).optional() });

let app: BootstrapApp | undefined;

async function lambdaHandler(
  request: z.infer<typeof BootstrapRequestSchema>,
  context: Context,
): Promise<BootstrapSummary> {
  if (!app) {
    try {
      app = createBootstrapApp();
    } catch (error) {
      logger.error('invalid configuration: fix the function environment', {
        error: (error as Error).message,
      });
      throw error;
    }
  }
  const deadline = new Deadline(Date.now() + context.getRemainingTimeInMillis() - 3_000);
  let summary: BootstrapSummary;
  try {
    summary = await app.refresher.run(deadline, request.groups);
  } finally {
    deadline.end();
  }
  logger.info('bootstrap run finished', {
    groups: summary.groups.length,
    minted: summary.minted,
    failed: summary.failed,
    minSecondsLeft: summary.minSecondsLeft,
    durationMs: summary.durationMs,
  });
  return summary;
}

export const handler = middy(lambdaHandler)
  .use(await tracingMiddleware({ captureResponse: false }))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(metricsMiddleware())
  .use(parser({ schema: BootstrapRequestSchema }));

/** For tests: drop the cached wiring so the next call reads the environment again. */
export function resetApp(next?: BootstrapApp): void {
  app = next;
}
