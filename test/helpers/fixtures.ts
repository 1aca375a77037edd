import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
export const AWS_EVENTS = join(FIXTURES, 'aws-events');

/** Raw text of a fixture file under test/fixtures/aws-events. */
export function eventText(file: string): string {
  return readFileSync(join(AWS_EVENTS, file), 'utf8');
}

/** Every verbatim AWS event sample (JSON and text), by file name. */
export function allEventFixtures(): string[] {
  return readdirSync(AWS_EVENTS)
    .filter((f) => f.endsWith('.json') || f.endsWith('.txt'))
    .sort();
}

/** An SQS record wrapping `body`, shaped like the verbatim Powertools capture's record. */
export function sqsRecord(body: string, messageId: string) {
  const capture = JSON.parse(eventText('lambda-sqs-event-eventbridge-s3-object-created.powertools.json')) as {
    Records: Array<Record<string, unknown>>;
  };
  return { ...capture.Records[0]!, messageId, body };
}

/** A Lambda SQS event whose records carry the given bodies. */
export function sqsEvent(bodies: readonly string[], prefix = 'msg') {
  return { Records: bodies.map((body, i) => sqsRecord(body, `${prefix}-${i}`)) };
}

/**
 * The same EventBridge sample with another instance id or state: AWS publishes no sample for
 * running/stopping/stopped/shutting-down, and the detail shape is identical for every state.
 */
export function stateChange(instanceId: string, state: string, region = 'us-west-2'): string {
  const sample = JSON.parse(eventText('ec2-instance-state-change-terminated.json')) as Record<
    string,
    unknown
  >;
  return JSON.stringify({ ...sample, region, detail: { 'instance-id': instanceId, state } });
}

/** A sample with its EC2InstanceId (Auto Scaling) or instance-id (EC2) replaced. */
export function withInstance(file: string, instanceId: string): string {
  const sample = JSON.parse(eventText(file)) as { detail: Record<string, unknown> };
  const detail = { ...sample.detail };
  if ('EC2InstanceId' in detail) detail.EC2InstanceId = instanceId;
  if ('instance-id' in detail) detail['instance-id'] = instanceId;
  return JSON.stringify({ ...sample, detail });
}
