import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { Deadline } from './deadline.ts';
import { AdapterError } from './errors.ts';

/**
 * The registrar's own queue, used to wait without a running Lambda: a continuation message is sent
 * with `DelaySeconds` (0-900) and comes back through the event source mapping when the wait is over.
 */
export class ContinuationQueue {
  readonly #client: SQSClient;
  readonly #queueUrl: string;
  readonly #deadline: Deadline;

  constructor(client: SQSClient, queueUrl: string, deadline: Deadline = Deadline.none()) {
    this.#client = client;
    this.#queueUrl = queueUrl;
    this.#deadline = deadline;
  }

  /** The same queue, every call cancelled when the invocation's deadline passes. */
  withDeadline(deadline: Deadline): ContinuationQueue {
    return new ContinuationQueue(this.#client, this.#queueUrl, deadline);
  }

  get queueUrl(): string {
    return this.#queueUrl;
  }

  /** Sends `body` to come back after `delaySeconds` (clamped to SQS's 0-900). */
  async send(body: string, delaySeconds: number): Promise<void> {
    const delay = Math.min(900, Math.max(0, Math.ceil(delaySeconds)));
    try {
      await this.#client.send(
        new SendMessageCommand({ QueueUrl: this.#queueUrl, MessageBody: body, DelaySeconds: delay }),
        { abortSignal: this.#deadline.signal },
      );
    } catch (error) {
      const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      throw new AdapterError(`SQS SendMessage failed: ${e.name ?? 'Error'}: ${e.message ?? String(error)}`, {
        retriable: status === undefined || status >= 500 || /Throttl|RequestThrottled/.test(e.name ?? ''),
        ...(status !== undefined ? { status } : {}),
        cause: error,
      });
    }
  }
}
