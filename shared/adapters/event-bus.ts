import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';

/** One event for the bus: its detail-type and detail (the envelope is EventBridge's). */
export interface BusEntry {
  readonly detailType: string;
  readonly detail: Readonly<Record<string, unknown>>;
  /** When it happened. @default - when EventBridge receives it */
  readonly time?: Date;
  /** ARNs the event is about (the instance). */
  readonly resources?: readonly string[];
}

export interface PublishResult {
  readonly published: number;
  /** Entries the bus refused after their retries, with why. */
  readonly failed: ReadonlyArray<{ readonly detailType: string; readonly error: string }>;
  /** Entries sent again after a partial failure. */
  readonly retried: number;
}

export interface EventBusOptions {
  /** `source` of every event. */
  readonly source: string;
  /** Attempts per entry for the error codes that may clear (throttling, internal errors). @default 3 */
  readonly maxAttempts?: number;
  /** Base of the exponential backoff with full jitter between attempts. @default 100 */
  readonly backoffBaseMs?: number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** PutEvents takes at most 10 entries and 256 KiB per request. */
export const PUT_EVENTS_MAX_ENTRIES = 10;
const PUT_EVENTS_MAX_BYTES = 256 * 1024;

/**
 * Error codes of a failed PutEvents entry (or request) worth another attempt; the rest (an
 * AccessDeniedException, a malformed detail, a bus that does not exist) fail the same way again.
 * https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html
 */
const RETRIABLE = new Set([
  'ThrottlingException',
  'InternalFailure',
  'InternalException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
]);

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/** Approximate size PutEvents counts for an entry (the UTF-8 lengths of its fields, plus 14 for Time). */
function entrySize(e: PutEventsRequestEntry): number {
  let size = e.Time ? 14 : 0;
  for (const s of [e.Source, e.DetailType, e.Detail, ...(e.Resources ?? [])])
    size += Buffer.byteLength(s ?? '');
  return size;
}

/**
 * Publishes to one EventBridge bus (name or ARN) with PutEvents: at most 10 entries per request,
 * entries a partial failure names retried with backoff when their error may clear. Never throws:
 * what could not be published is returned, for the caller to count and log.
 */
export class EventBus {
  readonly #client: EventBridgeClient;
  readonly #bus: string;
  readonly #options: Required<EventBusOptions>;

  constructor(client: EventBridgeClient, bus: string, options: EventBusOptions) {
    this.#client = client;
    this.#bus = bus;
    this.#options = { maxAttempts: 3, backoffBaseMs: 100, sleep: defaultSleep, ...options };
  }

  async publish(entries: readonly BusEntry[], signal?: AbortSignal): Promise<PublishResult> {
    const requests = entries.map((e) => this.#entry(e));
    const chunks: Array<Array<{ request: PutEventsRequestEntry; detailType: string }>> = [];
    let current: Array<{ request: PutEventsRequestEntry; detailType: string }> = [];
    let bytes = 0;
    for (const [i, request] of requests.entries()) {
      const size = entrySize(request);
      if (
        current.length === PUT_EVENTS_MAX_ENTRIES ||
        (current.length > 0 && bytes + size > PUT_EVENTS_MAX_BYTES)
      ) {
        chunks.push(current);
        current = [];
        bytes = 0;
      }
      current.push({ request, detailType: entries[i]!.detailType });
      bytes += size;
    }
    if (current.length > 0) chunks.push(current);
    const results = await Promise.all(chunks.map((chunk) => this.#put(chunk, signal)));
    return {
      published: results.reduce((n, r) => n + r.published, 0),
      failed: results.flatMap((r) => r.failed),
      retried: results.reduce((n, r) => n + r.retried, 0),
    };
  }

  #entry(e: BusEntry): PutEventsRequestEntry {
    return {
      EventBusName: this.#bus,
      Source: this.#options.source,
      DetailType: e.detailType,
      Detail: JSON.stringify(e.detail),
      ...(e.time ? { Time: e.time } : {}),
      ...(e.resources && e.resources.length > 0 ? { Resources: [...e.resources] } : {}),
    };
  }

  async #put(
    chunk: Array<{ request: PutEventsRequestEntry; detailType: string }>,
    signal: AbortSignal | undefined,
  ): Promise<PublishResult> {
    let pending = chunk;
    let published = 0;
    let retried = 0;
    const failed: Array<{ detailType: string; error: string }> = [];
    for (let attempt = 1; pending.length > 0; attempt++) {
      let answers: Array<PutEventsResultEntry | { ErrorCode: string; ErrorMessage: string }>;
      try {
        const out = await this.#client.send(
          new PutEventsCommand({ Entries: pending.map((p) => p.request) }),
          signal ? { abortSignal: signal } : {},
        );
        answers = out.Entries ?? [];
      } catch (error) {
        // The whole request failed (after the SDK's own retries): every entry shares its error.
        const code = (error as { name?: string }).name ?? 'Error';
        const message = (error as Error).message ?? String(error);
        answers = pending.map(() => ({ ErrorCode: code, ErrorMessage: message }));
      }
      const again: typeof pending = [];
      for (const [i, p] of pending.entries()) {
        const answer = answers[i];
        if (answer && !answer.ErrorCode) {
          published++;
          continue;
        }
        const code = answer?.ErrorCode ?? 'NoResult';
        if (RETRIABLE.has(code) && attempt < this.#options.maxAttempts && !signal?.aborted) again.push(p);
        else
          failed.push({
            detailType: p.detailType,
            error: `${code}: ${answer?.ErrorMessage ?? 'no result entry'}`,
          });
      }
      if (again.length > 0) {
        retried += again.length;
        await this.#options.sleep(Math.random() * this.#options.backoffBaseMs * 2 ** (attempt - 1), signal);
      }
      pending = again;
    }
    return { published, failed, retried };
  }
}
