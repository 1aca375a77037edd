/**
 * SQS side of the stand-in: standard queues on the stand-in's clock, `SendMessage` over the AWS
 * JSON 1.0 protocol the SDK speaks (`X-Amz-Target: AmazonSQS.SendMessage`), and test controls that
 * do what EventBridge (enqueue) and the Lambda event source mapping (receive, delete) do.
 */
import { createHash, randomUUID } from 'node:crypto';
import { ApiError } from './protocol.ts';
import type { QueuedMessage } from './types.ts';

export const SQS_ACCOUNT = '123456789012';
const MAX_BODY_BYTES = 262_144;

interface Queue {
  readonly name: string;
  readonly url: string;
  readonly visibilityTimeoutSeconds: number;
  readonly maxReceiveCount: number | undefined;
  readonly deadLetterQueueUrl: string | undefined;
  messages: Array<QueuedMessage & { receiptHandle?: string }>;
}

export class QueueStore {
  readonly #baseUrl: string;
  readonly #now: () => number;
  readonly #queues = new Map<string, Queue>();

  constructor(baseUrl: string, now: () => number) {
    this.#baseUrl = baseUrl;
    this.#now = now;
  }

  create(
    name: string,
    options: {
      visibilityTimeoutSeconds?: number;
      maxReceiveCount?: number;
      deadLetterQueueUrl?: string;
    } = {},
  ): string {
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) throw new Error(`createQueue: invalid queue name ${name}`);
    const url = `${this.#baseUrl}/${SQS_ACCOUNT}/${name}`;
    if (options.deadLetterQueueUrl && !this.#queues.has(options.deadLetterQueueUrl))
      throw new Error(`createQueue: no dead-letter queue ${options.deadLetterQueueUrl}`);
    this.#queues.set(url, {
      name,
      url,
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30,
      maxReceiveCount: options.maxReceiveCount,
      deadLetterQueueUrl: options.deadLetterQueueUrl,
      messages: [],
    });
    return url;
  }

  #queue(url: string): Queue {
    const queue = this.#queues.get(url);
    if (!queue) {
      throw new ApiError(
        'AWS.SimpleQueueService.NonExistentQueue',
        'The specified queue does not exist.',
        400,
      );
    }
    return queue;
  }

  send(url: string, body: string, delaySeconds = 0): string {
    const queue = this.#queue(url);
    if (!Number.isInteger(delaySeconds) || delaySeconds < 0 || delaySeconds > 900) {
      throw new ApiError(
        'InvalidParameterValue',
        `Value ${delaySeconds} for parameter DelaySeconds is invalid. Reason: must be >= 0 and <= 900.`,
      );
    }
    if (body.length === 0 || Buffer.byteLength(body) > MAX_BODY_BYTES) {
      throw new ApiError(
        'InvalidParameterValue',
        'One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.',
      );
    }
    const now = this.#now();
    const messageId = randomUUID();
    queue.messages.push({
      messageId,
      body,
      visibleAt: now + delaySeconds * 1000,
      receiveCount: 0,
      sentAt: now,
      delaySeconds,
    });
    return messageId;
  }

  receive(url: string, max = 10) {
    const queue = this.#queue(url);
    const now = this.#now();
    const out: Array<{ messageId: string; receiptHandle: string; body: string; receiveCount: number }> = [];
    for (const m of [...queue.messages]) {
      if (out.length >= max) break;
      if (m.visibleAt > now) continue;
      // Redrive: a message already received maxReceiveCount times moves instead of being delivered.
      if (
        queue.maxReceiveCount !== undefined &&
        m.receiveCount >= queue.maxReceiveCount &&
        queue.deadLetterQueueUrl
      ) {
        queue.messages.splice(queue.messages.indexOf(m), 1);
        this.#queue(queue.deadLetterQueueUrl).messages.push({ ...m, visibleAt: now });
        continue;
      }
      m.receiveCount++;
      m.visibleAt = now + queue.visibilityTimeoutSeconds * 1000;
      m.receiptHandle = randomUUID();
      out.push({
        messageId: m.messageId,
        receiptHandle: m.receiptHandle,
        body: m.body,
        receiveCount: m.receiveCount,
      });
    }
    return out;
  }

  delete(url: string, receiptHandle: string): void {
    const queue = this.#queue(url);
    const at = queue.messages.findIndex((m) => m.receiptHandle === receiptHandle);
    if (at >= 0) queue.messages.splice(at, 1);
  }

  nextVisibleAt(url: string): number | undefined {
    const times = this.#queue(url).messages.map((m) => m.visibleAt);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  messages(url: string): QueuedMessage[] {
    return this.#queue(url).messages.map(({ receiptHandle: _r, ...m }) => ({ ...m }));
  }
}

/** The members of a JSON-protocol request, flattened to strings for the call log. */
export function flattenMembers(body: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return out;
}

/** Answers one SQS JSON-protocol request: `{ status, payload }` or an ApiError thrown. */
export function sqsAction(
  store: QueueStore,
  operation: string,
  input: Record<string, unknown>,
): Record<string, unknown> {
  switch (operation) {
    case 'SendMessage': {
      const url = input.QueueUrl;
      const body = input.MessageBody;
      if (typeof url !== 'string' || typeof body !== 'string') {
        throw new ApiError(
          'MissingParameter',
          'The request must contain the parameters QueueUrl and MessageBody.',
        );
      }
      const delay = input.DelaySeconds === undefined ? 0 : Number(input.DelaySeconds);
      const messageId = store.send(url, body, delay);
      return { MessageId: messageId, MD5OfMessageBody: createHash('md5').update(body).digest('hex') };
    }
    default:
      throw new ApiError('InvalidAction', `The action ${operation} is not valid for this endpoint.`);
  }
}

/** An SQS error in the JSON protocol's shape (the SDK reads `__type` and the query-error header). */
export function sqsError(error: ApiError): { body: string; headers: Record<string, string> } {
  const shape: Record<string, string> = {
    'AWS.SimpleQueueService.NonExistentQueue': 'QueueDoesNotExist',
  };
  const type = shape[error.code] ?? error.code;
  return {
    body: JSON.stringify({ __type: `com.amazonaws.sqs#${type}`, message: error.message }),
    headers: { 'x-amzn-query-error': `${error.code};${error.status >= 500 ? 'Receiver' : 'Sender'}` },
  };
}
