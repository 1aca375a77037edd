import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Context, SQSBatchResponse } from 'aws-lambda';
import { printEntries } from './entries-table.ts';
import { EXIT } from './exit.ts';

/** A Lambda context for invocations made from the CLI. */
export function cliContext(functionName = 'vm-registrar-cli'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'cli',
    getRemainingTimeInMillis: () => 900_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/**
 * The Lambda event a file stands for: a Lambda SQS event as is; anything else (an EventBridge
 * event, a lifecycle notification in text) as the body of one SQS record, which is how the queue
 * delivers it.
 */
export function toLambdaEvent(text: string, id: string): unknown {
  try {
    const value = JSON.parse(text) as { Records?: unknown };
    if (Array.isArray(value.Records)) return value;
  } catch {
    // Not JSON: a text notification, or garbage the handler will reject on its own.
  }
  return {
    Records: [
      {
        messageId: id,
        receiptHandle: id,
        body: text,
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: String(Date.now()),
          SenderId: 'vm-registrar-cli',
          ApproximateFirstReceiveTimestamp: String(Date.now()),
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:local:000000000000:vm-registrar-cli',
        awsRegion: process.env.AWS_REGION ?? 'us-east-1',
      },
    ],
  };
}

/** Feeds event files through the registrar Lambda handler, in order, then shows the entries. */
export async function runReplay(files: readonly string[], output: 'table' | 'json'): Promise<number> {
  const { handler } = await import('../../functions/registrar/handler.ts');
  let failures = 0;
  const results: Array<{ file: string; failed: string[] }> = [];
  for (const [i, file] of files.entries()) {
    const event = toLambdaEvent(await readFile(file, 'utf8'), `replay-${i}`);
    const response = (await handler(event, cliContext())) as SQSBatchResponse;
    const failed = response.batchItemFailures.map((f) => f.itemIdentifier);
    failures += failed.length;
    results.push({ file, failed });
    if (output === 'table') {
      process.stderr.write(
        `${file}: ${failed.length === 0 ? 'ok' : `${failed.length} record(s) failed, would be retried`}\n`,
      );
    }
  }
  if (output === 'json') process.stdout.write(`${JSON.stringify({ results }, null, 2)}\n`);
  else await printEntries();
  return failures > 0 ? EXIT.errors : EXIT.ok;
}
