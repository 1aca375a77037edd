import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { AdapterError } from './errors.ts';

/** A record that cannot succeed on retry, and why. */
export interface DeadLetter {
  readonly messageId: string;
  readonly body: string;
  readonly reason: string;
}

/**
 * Moves records that cannot succeed on retry (a missing permission, a request the API rejects) to
 * the dead-letter queue at once, rather than letting SQS deliver them again until its redrive
 * policy gives up. The original body goes unchanged, so a DLQ redrive after the fix replays it.
 */
export class DeadLetters {
  readonly #client: SQSClient;
  readonly #queueUrl: string;

  constructor(client: SQSClient, queueUrl: string) {
    this.#client = client;
    this.#queueUrl = queueUrl;
  }

  async send(letter: DeadLetter, signal?: AbortSignal): Promise<void> {
    try {
      await this.#client.send(
        new SendMessageCommand({
          QueueUrl: this.#queueUrl,
          MessageBody: letter.body,
          MessageAttributes: {
            'istio-vm-registrar.failure': { DataType: 'String', StringValue: letter.reason.slice(0, 1024) },
            'istio-vm-registrar.message-id': { DataType: 'String', StringValue: letter.messageId },
          },
        }),
        signal ? { abortSignal: signal } : {},
      );
    } catch (error) {
      throw new AdapterError(
        `moving record ${letter.messageId} to the dead-letter queue failed: ${(error as Error).message}`,
        {
          retriable: true,
          cause: error,
        },
      );
    }
  }
}

/**
 * The permission a denial names, from the messages of IAM ("is not authorized to perform:
 * ec2:DescribeInstances") and of Kubernetes RBAC ("cannot patch resource \"workloadentries\" in API
 * group \"networking.istio.io\" in the namespace \"x\"").
 */
export function missingPermission(message: string): string | undefined {
  const iam = /is not authorized to perform: ([\w-]+:[\w-]+)/.exec(message);
  if (iam) return iam[1];
  const rbac = /cannot (\w+) resource "([^"]+)" in API group "([^"]*)"(?: in the namespace "([^"]+)")?/.exec(
    message,
  );
  if (rbac) {
    const [, verb, resource, group, namespace] = rbac;
    return `${verb} ${group ? `${resource}.${group}` : resource}${namespace ? ` in namespace ${namespace}` : ''}`;
  }
  return undefined;
}
