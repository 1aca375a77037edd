import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { missingPermission } from '../../shared/adapters/dead-letters.ts';
import { Deadline } from '../../shared/adapters/deadline.ts';
import { AdapterError } from '../../shared/adapters/errors.ts';
import { LaunchNotVisibleYet } from '../../shared/app/registrar.ts';
import { type AppContext, createApp } from '../../shared/app/wiring.ts';
import { DEADLINE_MARGIN_MS, Metric } from '../../shared/constants.ts';
import { snsRecords } from '../../shared/domain/events.ts';
import {
  currentRecord,
  logger,
  metricsMiddleware,
  telemetry,
  tracingMiddleware,
  withRecordContext,
} from '../../shared/observability.ts';

/**
 * Registrar: EventBridge -> SQS -> here, an SNS topic -> here, or an EventBridge event invoked
 * directly. Each SQS record is one event; failures are reported per record
 * (ReportBatchItemFailures) so one bad record never fails its batch. Each SNS record's message is
 * one event too; SNS invokes asynchronously, so a retriable failure fails the invocation and Lambda
 * delivers the event again (every record is converged again, which is harmless). Unreadable records and refused instances are logged, counted and
 * acknowledged (retrying cannot help); every other failure comes back through SQS, and one that
 * keeps failing (throttling that does not clear, a 403 from missing RBAC) ends in the DLQ for redrive.
 */
let app: AppContext | undefined;

const isSqsEvent = (event: unknown): event is SQSEvent =>
  Array.isArray((event as SQSEvent | undefined)?.Records) &&
  (event as SQSEvent).Records.every((r) => r?.eventSource === 'aws:sqs');

/**
 * Builds the wiring once per container. In Lambda this runs at init (below), so a bad configuration
 * fails the function's init with one log line naming every problem; elsewhere (tests, the CLI) at
 * the first invocation.
 */
function wiring(): AppContext {
  if (!app) {
    try {
      app = createApp();
    } catch (error) {
      logger.error('invalid configuration: fix the function environment', { error });
      throw error;
    }
  }
  return app;
}

if (process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined) wiring();

async function lambdaHandler(
  event: unknown,
  context: Context,
): Promise<SQSBatchResponse | { result: unknown }> {
  const app = wiring();
  // Per invocation, never per container: an invocation cut off by its timeout must not leak its
  // records into the next one's response, nor its deadline. Leave time to report the batch:
  // records still waiting on EC2 or Kubernetes then fail (their calls cancelled) and come back.
  const deadline = new Deadline(
    Date.now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS.registrar,
  );
  try {
    return await handleWithin(app, event, context, deadline);
  } finally {
    deadline.end();
  }
}

async function handleWithin(
  app: AppContext,
  event: unknown,
  context: Context,
  deadline: Deadline,
): Promise<SQSBatchResponse | { result: unknown }> {
  if (isSqsEvent(event)) {
    telemetry.count(Metric.EventsReceived, event.Records.length);
    const processor = new BatchProcessor(EventType.SQS);
    const batch = app.registrar.startBatch(
      event.Records.map((r) => ({ id: r.messageId, body: r.body })),
      deadline,
    );
    const handleRecord = async (record: SQSRecord) => {
      try {
        return await batch.process(record.messageId);
      } catch (error) {
        if (error instanceof LaunchNotVisibleYet) {
          logger.info('instance not visible in EC2 yet; the record comes back later', {
            recordId: record.messageId,
          });
        } else if (error instanceof AdapterError && !error.retriable && app.deadLetters) {
          // A missing permission or a request the API rejects fails the same way every time:
          // dead-lettered once, now, with what to fix, instead of redelivered until SQS gives up.
          try {
            await app.deadLetters.send(
              { messageId: record.messageId, body: record.body, reason: error.message },
              deadline.signal,
            );
          } catch (sendError) {
            countFailed();
            logger.error('record failed and could not be dead-lettered; it will be retried', {
              recordId: record.messageId,
              error,
              deadLetterError: sendError,
            });
            throw error;
          }
          telemetry.count(Metric.EventsDeadLettered);
          const permission = missingPermission(error.message);
          logger.error('record cannot succeed on retry: moved to the dead-letter queue', {
            recordId: record.messageId,
            error,
            ...(permission ? { missingPermission: permission } : {}),
          });
          return { kind: 'dead-lettered', reason: error.message };
        } else {
          countFailed();
          logger.error('record failed; it will be retried', { recordId: record.messageId, error });
        }
        throw error;
      }
    };
    // Each record's log lines carry its id and a correlation id (shared/observability.ts).
    const recordHandler = (record: SQSRecord) =>
      withRecordContext({ recordId: record.messageId }, () => {
        countMessageAge(record);
        return handleRecord(record);
      });
    const response = await processPartialResponse(event, recordHandler, processor, {
      context,
      throwOnFullBatchFailure: false,
    });
    await batch.settle();
    return response;
  }
  const sns = snsRecords(event);
  if (sns) {
    telemetry.count(Metric.EventsReceived, sns.length);
    const batch = app.registrar.startBatch(sns, deadline);
    const settled = await Promise.allSettled(
      sns.map((r) =>
        withRecordContext({ recordId: r.id }, async () => {
          try {
            return await batch.process(r.id);
          } catch (error) {
            countFailed();
            logger.error('SNS message failed; the event will be retried', { recordId: r.id, error });
            throw error;
          }
        }),
      ),
    );
    await batch.settle();
    const failed = sns.filter((_, i) => settled[i]!.status === 'rejected');
    if (failed.length > 0) {
      throw new Error(
        `${failed.length} of ${sns.length} SNS messages failed: ${failed.map((r) => r.id).join(', ')}`,
      );
    }
    return { result: settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) };
  }
  telemetry.count(Metric.EventsReceived);
  try {
    return {
      result: await withRecordContext({ recordId: 'event' }, () =>
        app.registrar.handleEvent(event, deadline),
      ),
    };
  } catch (error) {
    countFailed();
    throw error;
  }
}

/** A record that failed and comes back: counted in total and, once its instance was read, by group. */
function countFailed(): void {
  telemetry.count(Metric.EventsFailed);
  const group = currentRecord().workloadGroup;
  if (group) telemetry.count(Metric.EventsFailed, 1, { WorkloadGroup: group });
}

/** How long the message waited in SQS before this invocation got it. */
function countMessageAge(record: SQSRecord): void {
  const sent = Number(record.attributes?.SentTimestamp);
  if (Number.isFinite(sent) && sent > 0) telemetry.milliseconds(Metric.MessageAge, Date.now() - sent);
}

export const handler = middy(lambdaHandler)
  .use(await tracingMiddleware())
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(metricsMiddleware());

/** For tests and the CLI: replace the wiring (e.g. after changing the environment). */
export function resetApp(next?: AppContext): void {
  app = next;
}
