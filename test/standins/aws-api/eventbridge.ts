/**
 * EventBridge side of the stand-in: `PutEvents` (AWS JSON 1.1, `X-Amz-Target: AWSEvents.PutEvents`),
 * enough for the registrar's publisher and the benchmark. What the real service does and this keeps:
 *
 * | request | answer |
 * | --- | --- |
 * | more than 10 entries, or none | 400 `ValidationException` for the whole request |
 * | an `EventBusName` (name or ARN) that was not created (`default` always exists) | 400 `ResourceNotFoundException` |
 * | an entry without `Source`, `DetailType` or `Detail` | that entry fails: `InvalidArgument`, counted in `FailedEntryCount` |
 * | an entry whose `Detail` is not a JSON object | that entry fails: `MalformedDetail` |
 * | anything else | `{ EventId }` per entry, in request order |
 */
import { randomUUID } from 'node:crypto';
import { ApiError } from './protocol.ts';

export interface PublishedEvent {
  readonly eventBusName: string;
  readonly source: string;
  readonly detailType: string;
  readonly detail: unknown;
  readonly resources: readonly string[];
  readonly eventId: string;
}

interface PutEventsEntry {
  Source?: string;
  DetailType?: string;
  Detail?: string;
  EventBusName?: string;
  Resources?: string[];
}

export class EventBusStore {
  readonly #buses = new Set(['default']);
  readonly published: PublishedEvent[] = [];

  create(name: string): void {
    this.#buses.add(name);
  }

  putEvents(input: Record<string, unknown>): unknown {
    const entries = input.Entries;
    if (!Array.isArray(entries) || entries.length === 0 || entries.length > 10) {
      throw new ApiError(
        'ValidationException',
        `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10`,
      );
    }
    const results: unknown[] = [];
    let failed = 0;
    for (const raw of entries as PutEventsEntry[]) {
      const bus = busName(raw.EventBusName ?? 'default');
      if (!this.#buses.has(bus)) {
        throw new ApiError('ResourceNotFoundException', `Event bus ${bus} does not exist.`);
      }
      if (!raw.Source || !raw.DetailType || raw.Detail === undefined) {
        failed++;
        results.push({
          ErrorCode: 'InvalidArgument',
          ErrorMessage: 'Parameter(s) Source, DetailType or Detail is missing.',
        });
        continue;
      }
      let detail: unknown;
      try {
        detail = JSON.parse(raw.Detail);
      } catch {
        detail = undefined;
      }
      if (detail === null || typeof detail !== 'object' || Array.isArray(detail)) {
        failed++;
        results.push({ ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' });
        continue;
      }
      const eventId = randomUUID();
      this.published.push({
        eventBusName: bus,
        source: raw.Source,
        detailType: raw.DetailType,
        detail,
        resources: raw.Resources ?? [],
        eventId,
      });
      results.push({ EventId: eventId });
    }
    return { FailedEntryCount: failed, Entries: results };
  }
}

/** `arn:aws:events:<region>:<account>:event-bus/<name>` or a bare name. */
function busName(nameOrArn: string): string {
  const match = /^arn:[^:]+:events:[^:]*:[^:]*:event-bus\/(.+)$/.exec(nameOrArn);
  return match ? match[1]! : nameOrArn;
}

/** A JSON 1.1 error body as the SDK's protocol parser reads it. */
export function eventsError(error: ApiError): string {
  return JSON.stringify({ __type: error.code, message: error.message });
}
